"""Shared pytest fixtures: a seeded RNG guard so that no test depends on another's randomness."""

from __future__ import annotations

import random
import urllib.request
from pathlib import Path

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


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No model hub, an empty Hugging Face cache, and any network attempt fails the test at once."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network call was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return cache
