"""edgekit: tiled-ensemble visual anomaly detection on Intel edge hardware.

Stages meet only through files on disk: ``train`` -> ``export`` -> ``runtime``. The leaves
``tiling`` and ``devices`` serve every stage.
"""

__version__ = "0.1.0"
