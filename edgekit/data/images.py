"""Decode, convert and resize images the same way in every stage.

Every frame and image becomes ``uint8 [H, W, 3]`` BGR (OpenCV's order) before anything else sees
it. Grayscale is replicated to three channels, BGRA loses its alpha, 16-bit is scaled to 8-bit.
Resizing uses ``INTER_AREA`` when shrinking, which antialiases: training, export calibration and
the runtime all resize with this one function, so the exported model never sees a resize the
trained model did not (anomalib's export resizes without antialiasing and loses accuracy for it).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from edgekit.errors import DataError


class ImageConversion(StrEnum):
    """What :func:`to_bgr` had to do to an input."""

    NONE = "none"
    GRAY = "gray"
    BGRA = "bgra"
    DEPTH = "16bit"


def to_bgr(image: np.ndarray, source: str = "image") -> tuple[np.ndarray, ImageConversion]:
    """Convert a decoded image to ``uint8 [H, W, 3]`` BGR.

    Args:
        image: ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]``, uint8 or uint16.
        source: Name of the image for error messages.

    Returns:
        The converted image and what was converted.

    Raises:
        DataError: If the shape or dtype is not one of the accepted ones.
    """
    conversion = ImageConversion.NONE
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
        conversion = ImageConversion.DEPTH
    elif image.dtype != np.uint8:
        msg = f"{source} has dtype {image.dtype}; accepted: uint8 or uint16"
        raise DataError(msg)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        conversion = ImageConversion.GRAY
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        conversion = ImageConversion.BGRA
    elif image.ndim != 3 or image.shape[2] != 3:
        msg = f"{source} has shape {image.shape}; accepted: [H, W] gray, [H, W, 3] BGR or [H, W, 4] BGRA"
        raise DataError(msg)
    return np.ascontiguousarray(image), conversion


def read_image(path: Path) -> tuple[np.ndarray, ImageConversion]:
    """Decode an image file to ``uint8 [H, W, 3]`` BGR.

    Args:
        path: Image file (any format OpenCV decodes).

    Returns:
        The image and what was converted.

    Raises:
        DataError: If the file is missing, unreadable or truncated.
    """
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    if data is None:
        msg = f"image {path} does not exist"
        raise DataError(msg)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        msg = f"image {path} is unreadable or truncated (OpenCV could not decode its {data.size} bytes)"
        raise DataError(msg)
    return to_bgr(image, source=f"image {path}")


def resize_to(image: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Resize to ``image_hw`` (antialiased when shrinking, bilinear when growing).

    Args:
        image: ``[H, W(, C)]`` array.
        image_hw: Target (height, width).

    Returns:
        The resized image (the input itself when it already has that size).
    """
    if image.shape[:2] == tuple(image_hw):
        return image
    shrinking = image.shape[0] >= image_hw[0] and image.shape[1] >= image_hw[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (image_hw[1], image_hw[0]), interpolation=interpolation)
