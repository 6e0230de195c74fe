"""Shared pytest fixtures: a seeded RNG guard so that no test depends on another's randomness."""

from __future__ import annotations

import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _rng_guard() -> None:
    """Seed the global RNGs before every test (torch too, where it is already imported)."""
    import sys

    random.seed(0)
    np.random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded numpy Generator."""
    return np.random.default_rng(1234)
