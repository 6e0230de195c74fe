"""Bring any incoming frame to the grid's size and BGR uint8, saying so once."""

from __future__ import annotations

import logging
import threading

import numpy as np

from edgekit.data.images import resize_to, to_bgr
from edgekit.errors import DataError

logger = logging.getLogger(__name__)


class FramePrep:
    """Converts frames to ``uint8 [H, W, 3]`` BGR at ``image_hw``.

    Gray and BGRA frames are converted; a frame of another size is resized (antialiased, as in
    training) with a one-time warning, or refused with ``strict``.

    Args:
        image_hw: The grid's image size.
        strict: Refuse frames of another size instead of resizing them.
    """

    def __init__(self, image_hw: tuple[int, int], strict: bool = False) -> None:
        self.image_hw = tuple(image_hw)
        self.strict = strict
        self._warned: set[tuple[int, int]] = set()
        self._lock = threading.Lock()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Convert one frame.

        Raises:
            DataError: A frame of unusable shape or dtype, or of another size under ``strict``.
        """
        image, _ = to_bgr(frame, source="frame")
        hw = image.shape[:2]
        if hw != self.image_hw:
            if self.strict:
                msg = (
                    f"frame is {hw[0]}x{hw[1]}, the bundle's grid expects {self.image_hw[0]}x{self.image_hw[1]} "
                    "(--strict refuses resizing; drop --strict to resize)"
                )
                raise DataError(msg)
            with self._lock:
                if hw not in self._warned:
                    self._warned.add(hw)
                    logger.warning(
                        "frames are %dx%d, the grid expects %dx%d: resizing (antialiased); use --strict to refuse",
                        hw[0],
                        hw[1],
                        *self.image_hw,
                    )
            image = resize_to(image, self.image_hw)
        return image
