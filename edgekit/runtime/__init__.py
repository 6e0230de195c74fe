"""Runtime stage (openvino + numpy + opencv only): sources, async inference, join, sinks, report.

>>> from edgekit.runtime import load, run, stream
>>> engine = load("bundle", "CPU"); result = engine.predict(frame)
>>> for result in stream("bundle", "video.avi"): ...
"""

from edgekit.runtime.api import load, run, stream
from edgekit.runtime.engine import Engine
from edgekit.runtime.report import RunReport
from edgekit.runtime.result import Box, FrameResult

__all__ = ["Box", "Engine", "FrameResult", "RunReport", "load", "run", "stream"]
