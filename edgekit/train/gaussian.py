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
    """

    def __init__(self, channels: int, locations: int, reg: float) -> None:
        self.n = 0
        self.reg = reg
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
        for lo in range(0, inv.shape[0], CHUNK):
            cov = inv[lo : lo + CHUNK] / (self.n - 1) + self.reg * eye  # anomalib: _cov(...) + 0.01 * identity
            inv[lo : lo + CHUNK] = torch.linalg.inv(cov + 1e-5 * eye)  # then its stabilizing 1e-5 * identity
        mean = self.mean.t().contiguous()
        self.m2 = self.mean = None  # spent
        return mean, inv
