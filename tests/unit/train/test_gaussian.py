"""PaDiM's Gaussians accumulated batch by batch equal anomalib's fit over the whole memory bank."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgekit.train.gaussian import GaussianAccumulator  # noqa: E402

#: anomalib's ``MultiVariateGaussian`` adds 0.01 to the covariance's diagonal.
ANOMALIB_REG = 0.01


def _bank(n: int, c: int = 12, h: int = 5, w: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(n)
    # an offset far from zero and unequal scales: where a naive sum of squares loses float32 digits
    return torch.randn(n, c, h, w, generator=g) * torch.linspace(0.1, 4.0, c).view(1, c, 1, 1) + 50.0


@pytest.mark.parametrize("batches", [(2,), (1, 1, 1), (3, 5, 1, 8), (17,)])
def test_equals_anomalib_multivariate_gaussian(batches: tuple[int, ...]) -> None:
    from anomalib.models.components.stats import MultiVariateGaussian

    bank = _bank(sum(batches))
    want = MultiVariateGaussian()
    want.fit(bank)
    acc = GaussianAccumulator(bank.shape[1], bank.shape[2] * bank.shape[3], reg=ANOMALIB_REG)
    start = 0
    for size in batches:
        acc.add(bank[start : start + size].flatten(2))
        start += size
    mean, inv = acc.finish()
    torch.testing.assert_close(mean, want.mean, rtol=1e-5, atol=1e-4)
    # float64 truth: with few images the covariance is ill-conditioned (rank n-1 plus 0.01 I), and both
    # float32 fits sit about 1e-4 of the largest entry from it
    x = bank.double().flatten(2).permute(2, 0, 1)
    xc = x - x.mean(dim=1, keepdim=True)
    eye = torch.eye(bank.shape[1], dtype=torch.float64)
    truth = torch.linalg.inv(xc.transpose(1, 2) @ xc / (len(bank) - 1) + 0.01 * eye + 1e-5 * eye)
    scale = truth.abs().amax()
    for fit in (inv, want.inv_covariance):
        assert float((fit.double() - truth).abs().amax() / scale) < 5e-4


def test_memory_does_not_grow_with_images_and_chunks_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit.train.gaussian as module

    bank = _bank(9)
    whole = GaussianAccumulator(12, 35, reg=ANOMALIB_REG)
    whole.add(bank.flatten(2))
    monkeypatch.setattr(module, "CHUNK", 4)  # 35 locations in 9 chunks
    chunked = GaussianAccumulator(12, 35, reg=ANOMALIB_REG)
    before = chunked.m2.data_ptr()
    for i in range(9):
        chunked.add(bank[i : i + 1].flatten(2))
    assert chunked.m2.data_ptr() == before and chunked.m2.shape == (35, 12, 12)  # updated in place
    for a, b in zip(whole.finish(), chunked.finish(), strict=True):  # up to float32 rounding of the largest entry
        assert float((a - b).abs().amax() / a.abs().amax()) < 1e-4


def test_refusals_are_one_line() -> None:
    acc = GaussianAccumulator(12, 35, reg=ANOMALIB_REG)
    with pytest.raises(ValueError, match=r"does not fit \[B, 12, 35\]"):
        acc.add(torch.zeros(2, 12, 36))
    acc.add(_bank(1).flatten(2))
    with pytest.raises(ValueError, match="at least 2 training images per patch, got 1"):
        acc.finish()


@pytest.mark.parametrize("reg", [0.01, 1.0])
def test_ridge_is_added_before_the_inverse(reg: float) -> None:
    bank = _bank(40)
    acc = GaussianAccumulator(12, 35, reg=reg)
    acc.add(bank.flatten(2))
    _, inv = acc.finish()
    x = bank.double().flatten(2).permute(2, 0, 1)  # [P, N, C]
    xc = x - x.mean(dim=1, keepdim=True)
    cov = xc.transpose(1, 2) @ xc / (len(bank) - 1) + (reg + 1e-5) * torch.eye(12, dtype=torch.float64)
    truth = torch.linalg.inv(cov)
    assert float((inv.double() - truth).abs().amax() / truth.abs().amax()) < 1e-4


# --- covariance pooled over neighbouring patch locations (--cov-pool) -----------------------------


@pytest.mark.parametrize("radius", [1, 2])
def test_pooled_covariance_is_the_neighbourhoods_scatter_about_each_own_mean(radius: int) -> None:
    h, w, reg = 5, 7, 0.05
    bank = _bank(20, h=h, w=w)
    acc = GaussianAccumulator(12, h * w, reg=reg, pool=radius, hw=(h, w))
    acc.add(bank[:7].flatten(2))
    acc.add(bank[7:].flatten(2))
    mean, inv = acc.finish()
    x = bank.double().flatten(2).permute(2, 0, 1)  # [P, N, C]
    torch.testing.assert_close(mean.double(), x.mean(dim=1).t(), rtol=0, atol=1e-4)  # means stay per location
    xc = x - x.mean(dim=1, keepdim=True)
    scatter = (xc.transpose(1, 2) @ xc).reshape(h, w, 12, 12)
    eye = torch.eye(12, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            near = scatter[max(0, i - radius) : i + radius + 1, max(0, j - radius) : j + radius + 1].flatten(0, 1)
            cov = near.sum(0) / (len(near) * (len(bank) - 1)) + (reg + 1e-5) * eye
            truth = torch.linalg.inv(cov)
            assert float((inv[i * w + j].double() - truth).abs().amax() / truth.abs().amax()) < 1e-4, (i, j)


def test_pooling_without_the_grid_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"needs the locations' grid, got \(5, 6\) for 35 locations"):
        GaussianAccumulator(12, 35, reg=ANOMALIB_REG, pool=1, hw=(5, 6))
