"""``edgekit bench``: edgekit against the inference bound, its own FP32 build, naive OpenVINO and anomalib.

The source is decoded once in the parent and stored (:mod:`edgekit.bench.frames`); every mode then
runs in its own process (``python -m edgekit.bench.worker MODE ...``) on exactly those frames, so each
peak RSS is its own and no mode warms another's caches, and all are timed one way
(:mod:`edgekit.bench.timing`).
"""
