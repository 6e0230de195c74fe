"""PatchCore's coreset: the fast greedy k-center picks what a plain float64 loop and anomalib's sampler pick."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("anomalib")

from anomalib.models.components.sampling.k_center_greedy import KCenterGreedy  # noqa: E402

from edgekit.train.coreset import coreset_size, greedy_k_center, select_coreset  # noqa: E402


def reference_greedy(x: np.ndarray, k: int, start: int) -> list[int]:
    """Farthest-first traversal written out plainly, in float64: the independent answer."""
    x = x.astype(np.float64)
    picks = [start][:k]
    nearest = np.linalg.norm(x - x[start], axis=1)
    while len(picks) < k:
        j = int(np.argmax(nearest))  # the lowest index among equal maxima
        picks.append(j)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[j], axis=1))
    return picks


def _blobs(rng: np.random.Generator, n: int, dim: int, centres: int = 12, offset: float = 0.0) -> np.ndarray:
    """Clustered vectors, like patch features of a few kinds of surface."""
    means = rng.normal(0.0, 4.0, (centres, dim))
    labels = rng.integers(0, centres, n)
    return (offset + means[labels] + rng.normal(0.0, 1.0, (n, dim))).astype(np.float32)


def _picks(x: np.ndarray, k: int, start: int, **kwargs: int) -> list[int]:
    return greedy_k_center(torch.from_numpy(x), k, start, **kwargs).tolist()


@pytest.mark.parametrize(
    ("n", "dim", "k", "start", "offset"),
    [
        (400, 8, 40, 0, 0.0),
        (1500, 40, 150, 777, 0.0),
        (1200, 100, 60, 5, 0.0),  # more dims than the bound's 64 principal axes
        (900, 3, 90, 899, 0.0),  # fewer dims than axes
        (800, 16, 80, 3, 1000.0),  # far from the origin: the bound must survive float32 cancellation
    ],
)
def test_matches_a_plain_float64_greedy(
    rng: np.random.Generator, n: int, dim: int, k: int, start: int, offset: float
) -> None:
    x = _blobs(rng, n, dim, offset=offset)
    assert _picks(x, k, start) == reference_greedy(x, k, start)


@pytest.mark.parametrize("rank", [0, 2, 64])
def test_the_bound_changes_speed_only(rng: np.random.Generator, rank: int) -> None:
    x = _blobs(rng, 1000, 24)
    assert _picks(x, 100, 17, rank=rank) == reference_greedy(x, 100, 17)


def test_every_point_when_k_is_n(rng: np.random.Generator) -> None:
    x = rng.normal(size=(300, 6)).astype(np.float32)
    picks = _picks(x, 300, 42)
    assert sorted(picks) == list(range(300))
    assert picks == reference_greedy(x, 300, 42)


def test_duplicates_are_picked_once_then_the_pick_repeats(rng: np.random.Generator) -> None:
    distinct = rng.normal(size=(25, 10)).astype(np.float32)
    x = distinct[rng.integers(0, 25, 400)]  # every vector many times over
    n_distinct = len(np.unique(x, axis=0))
    picks = _picks(x, 60, 7)
    assert picks == reference_greedy(x, 60, 7)
    assert len(np.unique(x[picks[:n_distinct]], axis=0)) == n_distinct  # each distinct vector once
    assert len(set(picks[n_distinct:])) == 1  # then all covered: the lowest index at distance 0, again


def test_all_equal_vectors(rng: np.random.Generator) -> None:
    x = np.ones((50, 4), np.float32)
    assert _picks(x, 5, 9) == reference_greedy(x, 5, 9) == [9, 0, 0, 0, 0]


@pytest.mark.parametrize(("k", "want"), [(0, []), (1, [3])])
def test_zero_or_one_pick(rng: np.random.Generator, k: int, want: list[int]) -> None:
    assert _picks(rng.normal(size=(20, 4)).astype(np.float32), k, 3) == want


def test_a_ratio_that_keeps_nothing_selects_nothing(rng: np.random.Generator) -> None:
    assert coreset_size(32, 0.001) == 0
    assert coreset_size(61440, 0.01) == 614  # anomalib truncates
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert select_coreset(torch.from_numpy(rng.normal(size=(32, 4)).astype(np.float32)), 0).numel() == 0
    assert torch.equal(torch.get_rng_state(), before)  # nothing drawn


def test_deterministic_and_independent_of_threads(rng: np.random.Generator) -> None:
    x = torch.from_numpy(_blobs(rng, 2000, 32))
    threads = torch.get_num_threads()
    first = greedy_k_center(x, 120, 11)
    torch.set_num_threads(2)
    try:
        second = greedy_k_center(x, 120, 11)
        assert torch.get_num_threads() == 2  # the caller's setting is restored
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(first, second)


def test_same_indices_as_anomalib_kcentergreedy(rng: np.random.Generator) -> None:
    embedding = torch.from_numpy(_blobs(rng, 3000, 48))
    ratio = 0.05
    torch.manual_seed(3)
    np.random.seed(3)  # anomalib's projection draws from numpy's global RNG too
    want = KCenterGreedy(embedding, ratio).select_coreset_idxs()
    torch.manual_seed(3)
    np.random.seed(3)
    got = select_coreset(embedding, coreset_size(len(embedding), ratio))
    assert got.tolist() == want
    assert len(want) == 150


@pytest.mark.parametrize(
    ("features", "k", "start", "match"),
    [
        (torch.zeros(10, 3, dtype=torch.float64), 2, 0, "float32 \\[N, D\\] CPU tensor"),
        (torch.zeros(10), 2, 0, "float32 \\[N, D\\] CPU tensor"),
        (torch.zeros(10, 3), 2, 10, "start 10 out of range"),
        (torch.zeros(10, 3), -1, 0, "k -1"),
        (torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), 2, 0, "NaN or infinite"),
    ],
)
def test_bad_input_is_one_line(features: torch.Tensor, k: int, start: int, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        greedy_k_center(features, k, start)
    assert "\n" not in str(info.value)
