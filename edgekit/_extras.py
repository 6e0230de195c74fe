"""Import optional dependencies with a message that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgekit.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail with the ``pip install 'edgekit[extra]'`` line.

    Args:
        module: Dotted module name, e.g. ``"torch"`` or ``"skimage.data"``.
        extra: The edgekit extra that installs it, e.g. ``"train"``.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: If the module (or one it needs) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise MissingExtraError(extra, error.name or module) from error
