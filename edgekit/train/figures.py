"""PNG panels (image, ground truth, anomaly map, predicted mask) for the best and worst test cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._extras import require
from edgekit.artifacts.record import Thresholds
from edgekit.data.mvtec import LoadedSplit
from edgekit.train.infer import Predictions


def _ranked(scores: np.ndarray, labels: np.ndarray, thr: float) -> dict[str, list[int]]:
    """Best and worst cases: confident right answers and the most wrong ones, per label."""
    margin = np.where(labels == 1, scores - thr, thr - scores)  # > 0 is right
    order = np.argsort(margin)
    return {"worst": [int(i) for i in order[:3]], "best": [int(i) for i in order[::-1][:3]]}


def write_panels(out: Path, test: LoadedSplit, preds: Predictions, thresholds: Thresholds) -> list[Path]:
    """Write one PNG per selected case into ``out``.

    Args:
        out: Folder to create.
        test: The loaded test split.
        preds: The ensemble's predictions on it.
        thresholds: Thresholds used for the predicted mask.

    Returns:
        The files written.
    """
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "train")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, indices in _ranked(preds.scores, test.labels, thresholds.image_threshold).items():
        for rank, i in enumerate(indices):
            fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
            panels = [
                (test.images[i][..., ::-1], "image", None),
                (test.masks[i], "ground truth", "gray"),
                (preds.maps[i], f"anomaly map (score {preds.scores[i]:.3g})", "jet"),
                (preds.maps[i] > thresholds.pixel_threshold, "predicted mask", "gray"),
            ]
            for ax, (img, title, cmap) in zip(axes, panels, strict=True):
                ax.imshow(img, cmap=cmap)
                ax.set_title(title)
                ax.axis("off")
            name = test.samples[i].path
            fig.suptitle(f"{kind} #{rank + 1}: {name.parent.name}/{name.name} (label {int(test.labels[i])})")
            path = out / f"{kind}_{rank + 1}_{name.parent.name}_{name.stem}.png"
            fig.savefig(path, dpi=80, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    return written
