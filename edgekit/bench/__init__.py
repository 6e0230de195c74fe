"""``edgekit bench``: edgekit against the inference bound, its own FP32 build, naive OpenVINO and anomalib.

Every mode runs in its own process (``python -m edgekit.bench.worker MODE ...``) on the same frames
of the same video, so each peak RSS is its own and no mode warms another's caches.
"""
