"""The closed-form KL, the VIB layer's sampling, and the information bound it rests on."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence
from zoo_vib.bottleneck import VariationalBottleneck, gaussian_kl, log_softplus

import zoo


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 16, generator=g, dtype=torch.float64) * 2
    log_var = torch.randn(64, 16, generator=g, dtype=torch.float64) * 3
    ref = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(gaussian_kl(mean, log_var), ref.mean(), rtol=0, atol=1e-6)
    assert torch.allclose(gaussian_kl(mean, log_var, "sum"), ref.sum(), rtol=1e-12)
    assert torch.allclose(gaussian_kl(mean, log_var, "none"), ref, rtol=0, atol=1e-6)
    m32, lv32 = mean.float(), log_var.float()
    assert torch.allclose(gaussian_kl(m32, lv32), ref.mean().float(), rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="reduction must be"):
        gaussian_kl(mean, log_var, "batchmean")


def test_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(8, 5)
    assert gaussian_kl(zeros, zeros).item() == 0.0
    assert gaussian_kl(zeros, zeros, "none").eq(0).all()
    assert gaussian_kl(zeros + 1e-3, zeros).item() > 0
    assert gaussian_kl(zeros, zeros - 1e-3).item() > 0


@settings(max_examples=200, deadline=None)
@given(st.floats(-30, 30), st.floats(-20, 20))
def test_kl_is_never_negative(mu, log_var):
    kl = gaussian_kl(
        torch.tensor([[mu]], dtype=torch.float64), torch.tensor([[log_var]], dtype=torch.float64)
    )
    assert kl.item() >= 0
    assert math.isclose(
        kl.item(), 0.5 * (mu**2 + math.exp(log_var) - log_var - 1), rel_tol=1e-12, abs_tol=1e-15
    )


def test_log_softplus_is_exact_where_softplus_underflows():
    x = torch.tensor([-200.0, -30.0, -20.5, 0.0, 5.0, 50.0])
    ref = torch.log(F.softplus(x.double()))  # float64 softplus(-200) = e^-200 is still representable
    assert torch.allclose(log_softplus(x).double(), ref, rtol=1e-6)
    assert torch.isfinite(log_softplus(x)).all()


def test_training_samples_have_mean_mu_and_variance_sigma2():
    torch.manual_seed(0)
    layer = VariationalBottleneck(3, latent=4).train()
    h = torch.randn(1, 3).expand(200_000, 3)
    z = layer(h)
    mean, log_var = layer.distribution(h[:1])
    var = log_var.exp()
    n = len(z)
    # 5 standard errors: var(z̄) = σ²/n; var(s²) ≈ 2σ⁴/n for a normal
    assert ((z.mean(0) - mean[0]).abs() <= 5 * (var[0] / n).sqrt()).all()
    assert ((z.var(0) - var[0]).abs() <= 5 * var[0] * math.sqrt(2 / n)).all()
    assert torch.allclose(layer.kl, gaussian_kl(mean, log_var), atol=1e-5)


def test_eval_returns_mu_exactly_and_samples_on_request():
    layer = VariationalBottleneck(6, latent=3).eval()
    h = torch.randn(5, 6)
    mean, log_var = layer.distribution(h)
    assert torch.equal(layer(h), mean)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    z = layer(h, samples=7, generator=g1)
    eps = torch.randn(7, 5, 3, generator=g2)
    assert z.shape == (7, 5, 3)
    assert torch.allclose(z, mean + (0.5 * log_var).exp() * eps, atol=1e-6)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        layer(h, samples=0)


def test_sampling_is_differentiable_and_uses_the_registry_sampler():
    layer = VariationalBottleneck(4, latent=2).train()
    assert type(layer.sampler) is type(zoo.load("normal-reparam"))
    z = layer(torch.randn(10, 4))
    (z.square().sum() + layer.kl).backward()
    for p in (layer.mean.weight, layer.log_var.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_alemi_softplus_scale():
    layer = VariationalBottleneck(4, latent=3, scale="softplus")
    h = torch.randn(6, 4)
    _, log_var = layer.distribution(h)
    sigma = F.softplus(layer.log_var(h) - 5)
    assert torch.allclose(log_var, 2 * sigma.log(), atol=1e-5)
    with pytest.raises(ValueError, match="scale must be 'log-var'"):
        VariationalBottleneck(4, scale="exp")


def test_registry_entry_builds_the_author_layer():
    layer = zoo.load("vib", in_features=250)
    assert isinstance(layer, VariationalBottleneck)
    assert layer.mean.out_features == 128 and layer.scale == "log-var"


# --- the information bound: E_x KL(p(z|x) ‖ q) = I(X;Z) + KL(p(z) ‖ q) >= I(X;Z) -------------------------
# A discrete x with three values and 1-d Gaussian encoders; p(z) is their mixture.
PI = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
MU = torch.tensor([-1.5, 0.4, 2.0], dtype=torch.float64)
LOG_VAR = torch.tensor([-1.0, 0.3, -2.0], dtype=torch.float64)


def log_mixture(z: torch.Tensor) -> torch.Tensor:
    comps = Normal(MU, (0.5 * LOG_VAR).exp()).log_prob(z.unsqueeze(-1))  # (..., 3)
    return torch.logsumexp(comps + PI.log(), -1)


def quadrature() -> tuple[float, float]:
    """I(X;Z) and KL(p(z) ‖ N(0,1)) by the trapezoid rule on a fine grid."""
    z = torch.linspace(-12, 12, 400_001, dtype=torch.float64)
    log_pz = log_mixture(z)
    mutual = 0.0
    for pi, mu, lv in zip(PI, MU, LOG_VAR, strict=True):
        log_p = Normal(mu, (0.5 * lv).exp()).log_prob(z)
        mutual += float(pi * torch.trapezoid(log_p.exp() * (log_p - log_pz), z))
    kl_marginal = float(torch.trapezoid(log_pz.exp() * (log_pz - Normal(0.0, 1.0).log_prob(z)), z))
    return mutual, kl_marginal


def test_kl_to_the_prior_bounds_the_mutual_information():
    mutual, kl_marginal = quadrature()
    bound = float((PI * gaussian_kl(MU[:, None], LOG_VAR[:, None], "none")).sum())
    assert mutual > 0.3 and kl_marginal > 0.01  # neither side is trivial here
    assert bound > mutual
    assert bound == pytest.approx(mutual + kl_marginal, abs=1e-6)


def test_mutual_information_by_monte_carlo_agrees():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x = torch.multinomial(PI, n, replacement=True, generator=g)
    z = MU[x] + (0.5 * LOG_VAR[x]).exp() * torch.randn(n, generator=g, dtype=torch.float64)
    log_ratio = Normal(MU[x], (0.5 * LOG_VAR[x]).exp()).log_prob(z) - log_mixture(z)
    estimate, se = log_ratio.mean().item(), log_ratio.std().item() / math.sqrt(n)
    mutual, _ = quadrature()
    assert abs(estimate - mutual) < 5 * se
    kl_terms = gaussian_kl(MU[x, None], LOG_VAR[x, None], "none")
    assert kl_terms.mean().item() > estimate + 10 * se  # the bound is strict, beyond Monte-Carlo noise
