"""The edgekit error family.

Every error a user can cause derives from :class:`EdgekitError`. The CLI catches this family,
prints ``str(error)`` as one line on stderr and exits with ``error.exit_code`` (1). Anything else
is a bug and keeps its traceback.

Messages follow one rule: say what was wrong, the value received, and what is accepted, e.g.
``tile_hw (300, 300) is larger than image_hw (256, 256): tiles must fit inside the image``.
"""

from __future__ import annotations


class EdgekitError(Exception):
    """Base class of every user-facing edgekit error (exit code 1)."""

    exit_code = 1


class ConfigError(EdgekitError):
    """A parameter or configuration value is out of range or inconsistent."""


class DataError(EdgekitError):
    """Input data (dataset folder, image, frame, video) is missing or unusable."""


class ArtifactError(EdgekitError):
    """A run folder or bundle on disk is missing, incomplete, tampered with or too new."""


class DeviceError(EdgekitError):
    """An inference device is unknown, unavailable or failed to compile the model."""


class MissingExtraError(EdgekitError):
    """An optional dependency group is not installed.

    Args:
        extra: Name of the ``pip install 'edgekit[extra]'`` group that provides the module.
        module: The module that failed to import.
    """

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"module {module!r} is not installed: it comes with the {extra!r} extra, "
            f"install it with: pip install 'edgekit[{extra}]'"
        )
        self.extra = extra
        self.module = module
