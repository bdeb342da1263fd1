import math

import pytest
import torch
import torch.nn.functional as F
from zoo_reparam.gumbel import gumbel_max, gumbel_noise, gumbel_softmax

import zoo

EULER_GAMMA = 0.5772156649015329
P = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)


def chi2_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Goodness of fit of ``counts`` to ``probs``: P(χ²_{K-1} > statistic) = Q((K-1)/2, χ²/2)."""
    expected = counts.sum() * probs
    chi2 = ((counts.double() - expected) ** 2 / expected).sum()
    return torch.special.gammaincc(torch.tensor((len(probs) - 1) / 2.0), chi2 / 2).item()


def gumbel_bins(x: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """Counts in ``bins`` equal-probability bins of the Gumbel CDF exp(-exp(-x))."""
    u = torch.exp(-torch.exp(-x.double()))
    return torch.bincount((u * bins).long().clamp(max=bins - 1), minlength=bins)


def torch_gumbels(like: torch.Tensor) -> torch.Tensor:
    """Exactly the noise F.gumbel_softmax draws."""
    return -torch.empty_like(like).exponential_().log()


# ---------------------------------------------------------------- noise


@pytest.mark.parametrize(
    "draw",
    [
        lambda n, g: gumbel_noise((n,), generator=g, dtype=torch.float64),
        lambda n, g: zoo.load("gumbel-noise")(torch.empty(n, dtype=torch.float64), generator=g),
    ],
    ids=["function", "entry"],
)
def test_noise_mean_and_variance(draw):
    n, k = 10**6, 5
    x = draw(n, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64 and x.shape == (n,)
    var = math.pi**2 / 6
    # SE of the mean sqrt(var/n); of the sample variance var·sqrt((kurtosis - 1)/n), Gumbel kurtosis 5.4
    assert abs(x.mean().item() - EULER_GAMMA) < k * math.sqrt(var / n)
    assert abs(x.var().item() - var) < k * var * math.sqrt(4.4 / n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_extremes_are_clamped_to_finite_values(monkeypatch, dtype):
    fi = torch.finfo(dtype)
    for u, expected in [
        (0.0, -math.log(-math.log(fi.tiny))),
        (1 - fi.eps / 2, -math.log(-math.log1p(-fi.eps / 2))),
    ]:
        monkeypatch.setattr(torch, "rand", lambda shape, u=u, **kw: torch.full(shape, u, dtype=kw["dtype"]))
        g = gumbel_noise((7,), dtype=dtype)
        assert g.dtype == dtype and torch.isfinite(g).all()
        torch.testing.assert_close(g, torch.full((7,), expected, dtype=dtype), rtol=1e-5, atol=0)


def test_noise_dtypes():
    assert gumbel_noise((3,), dtype=torch.float64).dtype == torch.float64
    assert zoo.load("gumbel-noise")([2, 3]).dtype == torch.float32
    for dtype in (torch.float16, torch.bfloat16):
        with pytest.raises(ValueError, match="float32 or float64"):
            gumbel_noise((3,), dtype=dtype)


def test_noise_has_the_same_distribution_as_torchs():
    n, g = 10**6, torch.Generator().manual_seed(1)
    ours = gumbel_bins(gumbel_noise((n,), generator=g))
    theirs = gumbel_bins(-torch.empty(n).exponential_(generator=g).log())
    uniform = torch.full((20,), 1 / 20, dtype=torch.float64)
    assert chi2_pvalue(ours, uniform) > 1e-3
    assert chi2_pvalue(theirs, uniform) > 1e-3
    # two-sample homogeneity with equal sizes: Σ (a - b)² / (a + b) ~ χ²_{19}
    chi2 = ((ours - theirs).double() ** 2 / (ours + theirs)).sum()
    assert torch.special.gammaincc(torch.tensor(19 / 2), chi2 / 2) > 1e-3


# ---------------------------------------------------------------- Gumbel-max


@pytest.mark.parametrize(
    "sample",
    [
        lambda logits, g: gumbel_max(logits, generator=g),
        lambda logits, g: gumbel_softmax(logits, 0.5, hard=True, generator=g).argmax(-1),
        lambda logits, g: zoo.load("gumbel-max")(logits, generator=g),
    ],
    ids=["gumbel_max", "hard_gumbel_softmax", "entry"],
)
def test_gumbel_max_frequencies_chi_square(sample):
    n = 200_000
    logits = P.log().expand(n, 4)
    index = sample(logits, torch.Generator().manual_seed(2))
    assert index.dtype == torch.int64 and index.shape == (n,)
    assert chi2_pvalue(torch.bincount(index, minlength=4), P) > 1e-3


def test_chi_square_rejects_wrong_probabilities():
    index = gumbel_max(P.log().expand(200_000, 4), generator=torch.Generator().manual_seed(2))
    assert chi2_pvalue(torch.bincount(index, minlength=4), torch.tensor([0.49, 0.31, 0.15, 0.05])) < 1e-3


@pytest.mark.parametrize("tau", [0.01, 0.1, 0.5, 1.0, 10.0, 100.0])
def test_argmax_of_gumbel_softmax_is_the_gumbel_max_sample(tau):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(5000, 6, generator=g, dtype=torch.float64) * 3
    noise = gumbel_noise(logits.shape, generator=g, dtype=torch.float64)
    expected = gumbel_max(logits, noise=noise)
    assert torch.equal(gumbel_softmax(logits, tau, noise=noise).argmax(-1), expected)
    assert torch.equal(gumbel_softmax(logits, tau, hard=True, noise=noise).argmax(-1), expected)


# ---------------------------------------------------------------- equality with torch


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("dim", [-1, 1])
def test_soft_output_equals_torch_bitwise(tau, dim):
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(4)) * 2
    torch.manual_seed(5)
    theirs = F.gumbel_softmax(logits, tau, hard=False, dim=dim)
    torch.manual_seed(5)
    assert torch.equal(gumbel_softmax(logits, tau, dim=dim, noise=torch_gumbels(logits)), theirs)


@pytest.mark.parametrize("tau", [0.1, 1.0, 3.0])
@pytest.mark.parametrize("dim", [-1, 1])
def test_hard_output_is_exactly_one_hot_and_matches_torch(tau, dim):
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(6)).requires_grad_()
    torch.manual_seed(7)
    theirs = F.gumbel_softmax(logits, tau, hard=True, dim=dim)
    torch.manual_seed(7)
    ours = gumbel_softmax(logits, tau, hard=True, dim=dim, noise=torch_gumbels(logits))
    assert ((ours == 0) | (ours == 1)).all()
    assert torch.equal(ours.sum(dim), torch.ones_like(ours.sum(dim)))
    assert torch.equal(ours.argmax(dim), theirs.argmax(dim))
    torch.testing.assert_close(theirs, ours, atol=1e-6, rtol=0)  # torch's is one-hot up to rounding


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_straight_through_gradient_is_the_soft_gradient_and_torchs(dtype):
    g = torch.Generator().manual_seed(8)
    logits = torch.randn(64, 10, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(64, 10, generator=g, dtype=dtype)

    def grad(y):
        (logits_grad,) = torch.autograd.grad((y * w).sum(), logits)
        return logits_grad

    torch.manual_seed(9)
    theirs = grad(F.gumbel_softmax(logits, 0.7, hard=True))
    torch.manual_seed(9)
    noise = torch_gumbels(logits)
    hard = grad(gumbel_softmax(logits, 0.7, hard=True, noise=noise))
    assert torch.equal(hard, grad(gumbel_softmax(logits, 0.7, noise=noise)))
    assert torch.equal(hard, theirs)
    assert hard.abs().sum() > 0


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau_shape", [(), (64, 1)], ids=["scalar", "per-row"])
def test_a_tensor_tau_gets_torchs_gradient(hard, tau_shape):
    """A learnable temperature: value and d/dtau equal F.gumbel_softmax's (issue 11: .item() lost it)."""
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(64, 10, generator=g, dtype=torch.float64)
    w = torch.randn(64, 10, generator=g, dtype=torch.float64)
    start = 0.3 + torch.rand(tau_shape, generator=g, dtype=torch.float64)

    def run(fn):
        tau = start.clone().requires_grad_()
        torch.manual_seed(12)
        y = fn(tau)
        (y * w).sum().backward()
        return y.detach(), tau.grad

    theirs, their_grad = run(lambda tau: F.gumbel_softmax(logits, tau, hard=hard))
    ours, our_grad = run(lambda tau: gumbel_softmax(logits, tau, hard=hard, noise=torch_gumbels(logits)))
    sampler, sampler_grad = run(
        lambda tau: zoo.load("gumbel-softmax", hard=hard)(logits, tau=tau, noise=torch_gumbels(logits))
    )
    if hard:
        assert torch.equal(ours.argmax(-1), theirs.argmax(-1))
    else:
        assert torch.equal(ours, theirs)
    assert their_grad is not None and their_grad.abs().sum() > 0
    torch.testing.assert_close(our_grad, their_grad, rtol=1e-12, atol=1e-12)
    assert torch.equal(sampler, ours) and torch.equal(sampler_grad, our_grad)


@pytest.mark.parametrize("tau", [torch.tensor(0.0), torch.tensor([0.5, -1.0]), torch.tensor(math.nan),
                                 torch.tensor([]), torch.full((2, 1), math.inf)])  # fmt: skip
def test_bad_tensor_tau_raises(tau):
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(torch.randn(2, 3), tau)


def test_tensor_tau_must_not_enlarge_the_logits():
    with pytest.raises(ValueError, match="broadcast"):
        gumbel_softmax(torch.randn(2, 3), torch.ones(4, 2, 3))


# ---------------------------------------------------------------- temperature limits


def test_small_tau_is_one_hot_and_large_tau_is_uniform():
    g = torch.Generator().manual_seed(10)
    logits = torch.randn(2000, 10, generator=g, dtype=torch.float64)
    noise = gumbel_noise(logits.shape, generator=g, dtype=torch.float64)
    one_hot = F.one_hot(gumbel_max(logits, noise=noise), 10).double()
    cold = gumbel_softmax(logits, 1e-3, noise=noise)
    assert (cold - one_hot).abs().sum(-1).mean() < 1e-2
    assert (cold.max(-1).values > 0.999).double().mean() > 0.98
    hot = gumbel_softmax(logits, 1e4, noise=noise)
    assert (hot - 0.1).abs().max() < 5e-4


def test_expected_max_rises_towards_one_as_tau_falls():
    # 10 standard-normal logits (seed 0), 100k draws; measured E[max y] ≈ 0.132, 0.519, 0.944, 0.9945
    # against the spec's ≈ 0.13, 0.51, 0.94, 0.995.
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(10, generator=g, dtype=torch.float64).expand(100_000, 10)
    means = [
        gumbel_softmax(logits, tau, generator=g).max(-1).values.mean().item() for tau in (10, 1, 0.1, 0.01)
    ]
    assert means == sorted(means)
    assert means == pytest.approx([0.13, 0.51, 0.94, 0.995], abs=0.05)


# ---------------------------------------------------------------- validation, precision, reproducibility


@pytest.mark.parametrize("tau", [0, 0.0, -1.0, math.nan, math.inf, -math.inf])
def test_bad_tau_raises(tau):
    logits = torch.randn(2, 3)
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(logits, tau)
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(logits, tau, hard=True)
    with pytest.raises(ValueError, match="tau"):
        zoo.load("gumbel-softmax", tau=tau)
    with pytest.raises(ValueError, match="tau"):
        zoo.load("gumbel-softmax")(logits, tau=tau)


@pytest.mark.parametrize(
    ("dtype", "scale"),
    [(torch.float16, 60.0), (torch.bfloat16, 60.0), (torch.float32, 60.0), (torch.float32, 1e4)],
)
def test_half_precision_and_large_logits_stay_finite(dtype, scale):
    g = torch.Generator().manual_seed(11)
    logits = ((torch.rand(200 * 256, 10, generator=g) * 2 - 1) * scale).to(dtype)  # 200 batches of (256, 10)
    logits[::7, 0], logits[::7, 1] = scale, -scale
    for tau in (0.1, 1.0):
        y = gumbel_softmax(logits, tau, generator=g)
        assert y.dtype == dtype and torch.isfinite(y).all()
        # casting back rounds each y_i by ≤ y_i·eps/2, so the row sum moves by ≤ eps/2 (+ fp32 softmax error)
        assert (y.double().sum(-1) - 1).abs().max() <= 4 * torch.finfo(dtype).eps
        hard = gumbel_softmax(logits, tau, hard=True, generator=g)
        assert hard.dtype == dtype and torch.equal(hard.sum(-1), torch.ones(len(hard), dtype=dtype))


def test_torch_gumbel_softmax_on_fp16_returns_fp16():
    # documentation only: torch keeps fp16 (no NaN here on CPU); ours computes in fp32 and casts back
    logits = torch.randn(256, 10).half() * 60
    assert F.gumbel_softmax(logits, 0.1).dtype == torch.float16


@pytest.mark.parametrize(
    "sample",
    [
        lambda x, **kw: gumbel_softmax(x, 0.5, **kw),
        lambda x, **kw: gumbel_softmax(x, 0.5, hard=True, **kw),
        lambda x, **kw: gumbel_max(x, **kw),
        lambda x, **kw: zoo.load("gumbel-softmax")(x, **kw),
        lambda x, **kw: zoo.load("gumbel-max", one_hot=True)(x, **kw),
    ],
)
def test_generator_reproducibility_and_noise_shape(sample):
    logits = torch.randn(16, 6)
    first = sample(logits, generator=torch.Generator().manual_seed(12))
    assert torch.equal(first, sample(logits, generator=torch.Generator().manual_seed(12)))
    assert not torch.equal(first, sample(logits, generator=torch.Generator().manual_seed(13)))
    with pytest.raises(ValueError, match="shape"):
        sample(logits, noise=torch.zeros(16, 5))
    with pytest.raises(ValueError, match="shape"):
        sample(logits, noise=torch.zeros(6))
