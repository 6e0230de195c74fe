"""Model families: one anomalib model class each, adapted to a shared trunk. Importing registers them."""

from edgekit.train.families import (  # noqa: F401 - registration side effect
    fastflow,
    padim,
    patchcore,
    reverse_distillation,
    stfpm,
)
from edgekit.train.families.base import Family, family_for, register

__all__ = ["Family", "family_for", "register"]
