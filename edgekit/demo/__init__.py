"""Real-photo demo dataset: MVTec-layout images, exact defect masks and demo videos.

Built from photographs that ship with scikit-image (no download): stationary textures
(``gravel``, ``brick``) and an aligned object under a fixed camera (``coffee``), with small
scratches, stains, holes and transplanted patches. Needs the ``demo`` extra. The wider benchmark
set (ten categories, a held-out validation split, six defect kinds from 0.02 % to 1 % of the frame)
is :mod:`edgekit.demo.wide`.

Example:
    >>> from edgekit.demo import DemoCounts, generate_demo_data
    >>> summary = generate_demo_data(Path("demo"), size=256, seed=0, counts=DemoCounts(train_good=20))
"""

from edgekit.demo.defects import AREA_FRACTION_RANGE, DefectKind, DefectSample, apply_defect
from edgekit.demo.files import MIN_SIZE
from edgekit.demo.scenes import DemoCategory, Scene, SceneKind
from edgekit.demo.summary import CategorySummary, DemoCounts, DemoSummary, StreamDefect, StreamInfo
from edgekit.demo.writer import generate_demo_data

__all__ = [
    "AREA_FRACTION_RANGE",
    "MIN_SIZE",
    "CategorySummary",
    "DefectKind",
    "DefectSample",
    "DemoCategory",
    "DemoCounts",
    "DemoSummary",
    "Scene",
    "SceneKind",
    "StreamDefect",
    "StreamInfo",
    "apply_defect",
    "generate_demo_data",
]
