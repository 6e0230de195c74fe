"""PaDiM's per-patch Gaussians, accumulated batch by batch: memory independent of the number of images.

anomalib's ``PadimModel`` keeps every training embedding (``memory_bank``) and fits
``MultiVariateGaussian`` at the end: ``images x C x P`` floats per position, which at 2448x2048 with
hundreds of positions is tens of GB. :class:`GaussianAccumulator` keeps, per patch location, the
running mean and the centred sum of outer products, merged batch by batch with Chan et al.'s
parallel update (numerically stable in float32), and ends with a ridge on the covariance
(``+ reg I``; anomalib's is ``reg = 0.01``), anomalib's stabilizing ``+ 1e-5 I`` and the inverse.
Its memory is ``P x C x C`` floats, whatever the number of images; the inverse is written over the
sums, chunk by chunk, so finishing adds one chunk.
"""

from __future__ import annotations

from edgekit._extras import require

torch = require("torch", "train")

#: Patch locations processed at once (bounds the temporaries of one batch's outer products).
CHUNK = 4096


class GaussianAccumulator:
    """Mean and covariance per patch location from embeddings ``[B, C, P]`` added batch by batch.

    Args:
        channels: Embedding channels C.
        locations: Patch locations P.
        reg: Added to the covariance's diagonal before inverting (anomalib: 0.01; training passes
            :attr:`TrainConfig.cov_reg <edgekit.train.config.TrainConfig>`).
        pool: Radius R: each location's covariance is the scatter of its ``(2R+1) x (2R+1)``
            neighbour locations (the grid's border: those that exist), each about its own mean, over
            their degrees of freedom; the means stay per location. 0 (default, anomalib's): no pooling.
        hw: The locations' grid ``(H, W)`` (row-major), needed for pooling.
    """

    def __init__(
        self, channels: int, locations: int, reg: float, pool: int = 0, hw: tuple[int, int] | None = None
    ) -> None:
        self.n = 0
        self.reg = reg
        self.pool = pool
        self.hw = hw
        if pool and (hw is None or hw[0] * hw[1] != locations):
            msg = f"pooling covariances needs the locations' grid, got {hw} for {locations} locations"
            raise ValueError(msg)
        self.mean = torch.zeros(locations, channels)
        self.m2 = torch.zeros(locations, channels, channels)

    def add(self, emb: torch.Tensor) -> None:
        """Merge a batch of embeddings ``[B, C, P]``."""
        emb = emb.detach().float()
        nb = emb.shape[0]
        if nb == 0:
            return
        if tuple(emb.shape[1:]) != (self.mean.shape[1], self.mean.shape[0]):
            msg = f"embedding of shape {tuple(emb.shape)} does not fit [B, {self.mean.shape[1]}, {self.mean.shape[0]}]"
            raise ValueError(msg)
        na, n = self.n, self.n + nb
        for lo in range(0, self.mean.shape[0], CHUNK):
            x = emb[:, :, lo : lo + CHUNK].permute(2, 0, 1)  # [p, B, C]
            mb = x.mean(dim=1)  # [p, C]
            xc = x - mb.unsqueeze(1)
            m2 = self.m2[lo : lo + CHUNK]
            m2.add_(torch.bmm(xc.transpose(1, 2), xc))
            if na:
                delta = mb - self.mean[lo : lo + CHUNK]
                m2.add_(delta.unsqueeze(2) * delta.unsqueeze(1), alpha=na * nb / n)
                self.mean[lo : lo + CHUNK].add_(delta, alpha=nb / n)
            else:
                self.mean[lo : lo + CHUNK] = mb
        self.n = n

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian anomalib fits: mean ``[C, P]`` and inverse covariance ``[P, C, C]``.

        The accumulator is spent: its sums become the inverse covariances (no second ``P x C x C``).

        Raises:
            ValueError: Fewer than 2 embeddings were added (no covariance).
        """
        if self.n < 2:
            msg = f"a Gaussian needs at least 2 training images per patch, got {self.n}"
            raise ValueError(msg)
        channels = self.mean.shape[1]
        eye = torch.eye(channels)
        inv = self.m2
        dof = torch.full((inv.shape[0], 1, 1), float(self.n - 1))
        if self.pool:
            inv, dof = _box_sum(inv, self.hw, self.pool), _box_sum(dof, self.hw, self.pool)
        for lo in range(0, inv.shape[0], CHUNK):
            cov = inv[lo : lo + CHUNK] / dof[lo : lo + CHUNK] + self.reg * eye  # anomalib: _cov(...) + 0.01 * identity
            inv[lo : lo + CHUNK] = torch.linalg.inv(cov + 1e-5 * eye)  # then its stabilizing 1e-5 * identity
        mean = self.mean.t().contiguous()
        self.m2 = self.mean = None  # spent
        return mean, inv


def _box_sum(x: torch.Tensor, hw: tuple[int, int], r: int) -> torch.Tensor:
    """Sum of ``x [P, ...]`` over the ``(2r+1) x (2r+1)`` neighbourhood of each location of grid ``hw``.

    Locations near the grid's border sum over the neighbours that exist.
    """
    h, w = hw
    g = x.reshape(h, w, *x.shape[1:])
    for dim, size in ((0, h), (1, w)):
        c = torch.cumsum(g, dim=dim)
        zero = torch.zeros_like(c.narrow(dim, 0, 1))
        c = torch.cat([zero, c], dim=dim)  # c[i] = sum of g[:i]
        idx = torch.arange(size)
        hi = (idx + r + 1).clamp(max=size)
        lo = (idx - r).clamp(min=0)
        g = c.index_select(dim, hi) - c.index_select(dim, lo)
        del c
    return g.reshape(x.shape)
