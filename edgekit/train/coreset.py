"""PatchCore's coreset: greedy k-center selection, the same picks as anomalib's ``KCenterGreedy``, fast on CPU.

anomalib 2.7's ``KCenterGreedy`` projects the memory bank with ``SparseRandomProjection(eps=0.9)``,
draws a random start and then, for every centre it picks, recomputes the distance of every vector to
that centre: ``norm(features - centre)`` writes a new ``[N, D]`` tensor per pick. On one position of
a 3x3 grid of 256 px tiles (60 images, 61,440 vectors of lite0's 152 dims, ratio 0.01: 614 picks)
that is 26.5-28.3 s on one core of a shared 2-core EPYC (benchmarks/coreset.py, load 1.5-2.4), 9x that
per 3x3 ensemble. Its Johnson-Lindenstrauss size at eps 0.9 is 272 dims for 61,440 vectors: the
projection reduces nothing here, it only rotates and distorts.

:func:`select_coreset` keeps everything that decides the picks (the projection and the start, drawn
from the same RNGs in the same order, the greedy rule with anomalib's tie-break, float32 distances
computed the same way) and skips the work that cannot change them. A vector's min distance to the
centres changes at a pick only if the new centre is nearer than its current one, and a cheap lower
bound rules that out for almost all vectors (measured: ~670 of 61,440 vectors per pick pass it).
Same bank, same machine: 1.1-1.3 s, the same 614 indices in the same order (ratio 0.1: 4.8 s for 6,144
picks, where anomalib's per-pick cost predicts ~280 s). How the bound works:

With ``B`` the top ``r`` principal axes of the centred vectors ``g = f - mean`` (any orthonormal
``B`` gives a valid bound; principal axes make it tight), ``z = Bᵀg`` and ``ρ = g - Bz``,
``‖g_i - g_j‖² = ‖z_i - z_j‖² + ‖ρ_i - ρ_j‖² ≥ ‖w_i - w_j‖²`` with ``w = [z, ‖ρ‖]``, and
``‖w_i - w_j‖² = s_i + s_j - 2 w_i·w_j`` (``s = ‖w‖²``) is one ``[N, r + 1]`` matrix-vector product
per pick (16 MB at r = 64: it stays in a 32 MB L3 cache) instead of a pass over the ``[N, D]`` features.
Vectors whose bound is within ``d_i² + tol_i`` get their exact distance, computed as anomalib
computes it; the others keep their min distance, exactly what anomalib's ``torch.minimum`` keeps.
``tol_i = 1e-3 (s_i + max s)`` absorbs float32 rounding in the bound with a wide margin (the
worst-case rounding of the centring, the rotation, the residual norm and the dot product is below
1e-4 of that scale). The result is the same index list as anomalib's, checked on real features by
the benchmark and on random data against a float64 reference by the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from edgekit._extras import require

torch = require("torch", "train")

#: anomalib's ``KCenterGreedy`` projection distortion (its Johnson-Lindenstrauss ``eps``).
JL_EPS = 0.9
#: Principal axes in the lower bound: r = 64 was fastest on 61,440 lite0 vectors (16: 7,200 vectors per
#: pick pass the bound, 32: 2,100, 64: 670, 96: 460, but the bound's matrix leaves the cache).
BOUND_RANK = 64
_TOL = 1e-3  # of (s_i + max s): the bound's float32 rounding margin (see the module docstring)
_COV_ROWS = 4096  # vectors used to estimate the principal axes (only the bound's tightness depends on it)
_CHUNK = 8192  # vectors per block when computing the bound's coordinates (caps temporary memory)


def coreset_size(n_vectors: int, ratio: float) -> int:
    """Vectors kept for a sampling ratio: ``int(n_vectors * ratio)``, as anomalib rounds it.

    Args:
        n_vectors: Vectors in the memory bank.
        ratio: Fraction to keep.

    Returns:
        The coreset size (0 where the ratio keeps nothing).
    """
    return int(n_vectors * ratio)


def select_coreset(embedding: torch.Tensor, k: int) -> torch.Tensor:
    """The indices anomalib's ``KCenterGreedy(embedding, ratio).select_coreset_idxs()`` returns.

    ``k`` is the coreset size of that ratio, :func:`coreset_size` (0 selects nothing and draws nothing).

    Draws from the global RNGs exactly as anomalib does: the random projection from torch's and
    (through scikit-learn) numpy's, then the start index from torch's. Seed them as for anomalib.

    Args:
        embedding: ``[N, D]`` float32 memory bank on the CPU.
        k: Coreset size (see :func:`coreset_size`).

    Returns:
        ``[k]`` int64 indices into ``embedding``, in the order they were picked.
    """
    projection_module = require("anomalib.models.components.dimensionality_reduction", "train")
    if k < 1:
        return torch.empty(0, dtype=torch.long)
    projection = projection_module.SparseRandomProjection(eps=JL_EPS).fit(embedding)
    features = projection.transform(embedding)
    start = int(torch.randint(high=embedding.shape[0], size=(1,), device=features.device)[0])
    return greedy_k_center(features, k, start)


def greedy_k_center(features: torch.Tensor, k: int, start: int, *, rank: int = BOUND_RANK) -> torch.Tensor:
    """Greedy k-center (farthest-first) selection from a given first centre.

    Each pick is the vector with the largest Euclidean distance to its nearest centre so far, ties
    to the lowest index; picked vectors count as at distance 0 (once every vector is a centre or a
    duplicate of one, the pick repeats the lowest index, as anomalib's does).

    Args:
        features: ``[N, D]`` float32 vectors on the CPU.
        k: Number of centres to pick, the start included.
        start: Index of the first centre.
        rank: Principal axes in the lower bound (speed only: the picks do not depend on it).

    Returns:
        ``[k]`` int64 indices in pick order.

    Raises:
        ValueError: For a tensor that is not a finite float32 matrix, ``k < 0``, ``start`` out of range.
    """
    n = features.shape[0] if features.ndim == 2 else 0
    if features.ndim != 2 or features.dtype != torch.float32 or features.device.type != "cpu":
        msg = f"features must be a float32 [N, D] CPU tensor, got {features.dtype} {tuple(features.shape)}"
        raise ValueError(msg)
    if k < 0 or not 0 <= start < n:
        msg = f"k {k} / start {start} out of range; accepted: k >= 0 and 0 <= start < {n}"
        raise ValueError(msg)
    picks = torch.full((k,), start, dtype=torch.long)
    if k <= 1:
        return picks
    with _one_thread():
        _greedy(features.detach().contiguous(), picks, rank)
    return picks


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch single-threaded inside, then restore the caller's thread count.

    The loop is hundreds of small ops per pick; with 2 intra-op threads on a 2-core machine that
    another process keeps busy, every op waits for the descheduled thread (measured at load ~2:
    7.5-14 s per position with 2 threads, 1.2-2.1 s with one).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _greedy(features: torch.Tensor, picks: torch.Tensor, rank: int) -> None:
    """Fill ``picks[1:]`` (``picks[0]`` is the start) by the greedy rule, skipping bounded-out vectors."""
    k, start = picks.shape[0], int(picks[0])
    mean = features.mean(0, dtype=torch.float64)  # float64 sums of float32 cannot overflow: finite iff all are
    if not bool(torch.isfinite(mean).all()):
        msg = "features hold NaN or infinite values; accepted: finite vectors"
        raise ValueError(msg)
    # the first step anomalib takes: distances of every vector to the start
    min_d = torch.linalg.norm(features - features[start], dim=1)
    w, s = _bound_coordinates(features, mean, rank)
    tol = _TOL * (s + s.max())
    # vector i can get nearer to centre j only if s_i + s_j - 2 w_i.w_j <= d_i^2 + tol_i, i.e. if
    # h_i - 2 w_i.w_j <= -s_j with h = s - d^2 - tol kept up to date for the vectors that change
    h = s - (min_d.square() + tol)
    bound = torch.empty_like(h)
    s_np, bound_np, picks_np = s.numpy(), bound.numpy(), picks.numpy()
    for t in range(1, k):
        farthest, index = torch.max(min_d, dim=0)  # anomalib's call: the lowest index among equals
        j = int(index)
        picks_np[t] = j
        if float(farthest) == 0.0:  # every vector is a centre or a duplicate: the pick never changes
            picks_np[t:] = j
            break
        min_d[j] = 0.0
        if t == k - 1:
            break
        h[j] = s[j] - tol[j]
        torch.addmv(h, w, w[j], alpha=-2.0, out=bound)
        # numpy's flatnonzero is ~8x faster than torch's nonzero on a mostly-False [N] mask
        rows = torch.from_numpy(np.flatnonzero(bound_np <= -s_np[j]))
        d = torch.linalg.norm(features.index_select(0, rows) - features[j], dim=1)  # as anomalib computes it
        nearest = torch.minimum(min_d.index_select(0, rows), d)
        min_d.index_copy_(0, rows, nearest)
        h.index_copy_(0, rows, s.index_select(0, rows) - (nearest.square() + tol.index_select(0, rows)))


def _bound_coordinates(
    features: torch.Tensor, mean: torch.Tensor, rank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``w = [Bᵀg, ‖g - BBᵀg‖]`` per vector (``g`` centred, ``B`` the top principal axes) and ``s = ‖w‖²``."""
    n, dim = features.shape
    sample = features[:: max(1, n // _COV_ROWS)].double() - mean
    _, axes = torch.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
    r = min(rank, dim)
    basis = axes[:, dim - r :].float()  # orthonormal to float32 precision
    mean32 = mean.float()
    w = torch.empty(n, r + 1, dtype=torch.float32)
    for first in range(0, n, _CHUNK):
        g = features[first : first + _CHUNK] - mean32
        z = g @ basis
        w[first : first + _CHUNK, :r] = z
        w[first : first + _CHUNK, r] = torch.linalg.norm(g - z @ basis.T, dim=1)
    return w, w.double().square().sum(1).float()
