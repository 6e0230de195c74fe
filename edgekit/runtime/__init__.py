"""Runtime stage (openvino + numpy + opencv only): sources, scheduler, ensemble runner, join, sinks."""
