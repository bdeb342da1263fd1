import math

import pytest
import torch
from torch.distributions import Normal
from zoo_reparam.gumbel import gumbel_softmax
from zoo_reparam.normal import normal_rsample
from zoo_reparam.score import ScoreFunction

import zoo

N = 200_000
THETA = torch.tensor([0.5, -0.3, 1.0, 0.0], dtype=torch.float64)
COST = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)


def grad_of(t: torch.Tensor) -> torch.Tensor:
    """``t.grad``, which must exist."""
    assert t.grad is not None
    return t.grad


def exact_discrete_gradient() -> torch.Tensor:
    """∇_θ E_{j~softmax θ}[c_j] = p_j (c_j - Σ p c)."""
    p = THETA.softmax(0)
    return p * (COST - (p * COST).sum())


# ---------------------------------------------------------------- normal sampler


def test_normal_samples_have_the_right_mean_and_variance():
    mean = torch.tensor([0.0, 1.5, -2.0], dtype=torch.float64)
    log_var = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    z = zoo.load("normal")(mean.expand(N, 3), log_var, generator=torch.Generator().manual_seed(0))
    var, k = log_var.exp(), 5
    assert ((z.mean(0) - mean).abs() < k * (var / N).sqrt()).all()
    assert ((z.var(0) - var).abs() < k * var * math.sqrt(2 / N)).all()  # normal: SE of s² is σ²·sqrt(2/N)


def test_normal_gradients_with_explicit_noise():
    g = torch.Generator().manual_seed(1)
    mean = torch.randn(5, 3, generator=g).requires_grad_()
    log_var = torch.randn(3, generator=g).requires_grad_()
    eps = torch.randn(5, 3, generator=g)
    z = normal_rsample(mean, log_var, noise=eps)
    assert z.shape == (5, 3)
    torch.testing.assert_close(z, mean + torch.exp(log_var / 2) * eps)
    z.sum().backward()
    assert torch.equal(grad_of(mean), torch.ones(5, 3))
    torch.testing.assert_close(grad_of(log_var), (0.5 * torch.exp(log_var / 2) * eps).sum(0).detach())


def test_normal_precision():
    mean = torch.randn(1000, generator=torch.Generator().manual_seed(2))
    z = normal_rsample(mean.half(), torch.zeros(1000).half())
    assert z.dtype == torch.float16 and torch.isfinite(z).all()
    z = normal_rsample(mean, torch.linspace(-20, 20, 1000))
    assert z.dtype == torch.float32 and torch.isfinite(z).all()


@pytest.mark.parametrize("shape", [(3,), (5,), (4, 5), (2, 3)])
def test_normal_noise_of_the_wrong_shape_raises(shape):
    with pytest.raises(ValueError, match="noise"):
        normal_rsample(torch.zeros(4, 3), torch.zeros(3), noise=torch.zeros(shape))


# ---------------------------------------------------------------- reparameterization vs score function


def test_normal_reparam_vs_score_function_on_z_squared():
    """f = z², z ~ N(μ=1, σ=1), z = μ + σε. Per-sample estimators and their closed-form moments:
    reparam   ∂μ = 2z = 2 + 2ε                     mean 2, var 4
              ∂σ = 2zε = 2ε + 2ε²                   mean 2, var 4 + 4·3 - 4 = 12
    score     ∂μ = f·ε = ε + 2ε² + ε³               mean 2, var 1 + 4·3 + 15 + 2·2·3 - 4 = 30
              ∂σ = f·(ε² - 1) = (1 + ε)²(ε² - 1)    mean E[ε⁴ - 1] = 2, var 136
    (expanding the polynomials with E[ε^2k] = (2k-1)!!). The central 4th moments m4 of the four
    estimators are 48, 1968, 37812 and 4683840, so the SE of a sample variance, sqrt((m4 - var²)/N),
    is 0.013, 0.095, 0.43 and 4.8 at N = 200k.
    """
    eps = torch.randn(N, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mu = torch.ones(N, dtype=torch.float64, requires_grad=True)
    sigma = torch.ones(N, dtype=torch.float64, requires_grad=True)

    z = zoo.load("normal")(mu, 2 * sigma.log(), noise=eps)
    (z**2).sum().backward()
    reparam = {"mu": grad_of(mu).clone(), "sigma": grad_of(sigma).clone()}
    torch.testing.assert_close(reparam["mu"], 2 * (1 + eps))
    torch.testing.assert_close(reparam["sigma"], 2 * (1 + eps) * eps)

    mu.grad = sigma.grad = None
    z = z.detach()
    surrogate = ScoreFunction().surrogate(z**2, Normal(mu, sigma).log_prob(z))
    assert torch.equal(surrogate, z**2)
    surrogate.sum().backward()
    score = {"mu": grad_of(mu), "sigma": grad_of(sigma)}

    for g in [*reparam.values(), *score.values()]:
        assert abs(g.mean().item() - 2) < 5 * g.std().item() / math.sqrt(N)  # unbiased
    for name, expected, sd_var in [("mu", 4, 0.013), ("sigma", 12, 0.095)]:
        assert reparam[name].var().item() == pytest.approx(expected, abs=5 * sd_var)
    for name, expected, sd_var in [("mu", 30, 0.43), ("sigma", 136, 4.8)]:
        assert score[name].var().item() == pytest.approx(expected, abs=5 * sd_var)
        assert score[name].var() > 5 * reparam[name].var()


# ---------------------------------------------------------------- discrete score function


def per_sample_score_gradients(sf: ScoreFunction, seed: int, n: int = N) -> torch.Tensor:
    """(n, K): each row is one sample's surrogate gradient wrt the logits θ."""
    logits = THETA.repeat(n, 1).requires_grad_()
    sample = sf(logits, generator=torch.Generator().manual_seed(seed))
    cost = COST[sample.index]
    surrogate = sf.surrogate(cost, sample.log_prob)
    assert torch.equal(surrogate, cost)  # the forward value is the cost itself
    surrogate.sum().backward()
    return grad_of(logits)


@pytest.mark.parametrize("baseline", [None, "loo", "ema"])
def test_score_function_is_unbiased_for_a_categorical(baseline):
    sf = zoo.load("score-function", baseline=baseline)
    if baseline == "ema":
        for seed in range(3):  # set the running mean from earlier batches
            per_sample_score_gradients(sf, 100 + seed, n=1000)
        assert sf.running_cost is not None
    grads = per_sample_score_gradients(sf, 4)
    se = grads.std(0) / math.sqrt(N)
    assert ((grads.mean(0) - exact_discrete_gradient()).abs() < 4 * se).all()


def exact_score_variance(b: float) -> float:
    """Σ_k Var[(c_z - b)(δ_zk - p_k)], z ~ p: the per-sample variance with a constant baseline b."""
    p = THETA.softmax(0)
    second_moment = (p[:, None] * (COST - b)[:, None] ** 2 * (torch.eye(4) - p) ** 2).sum(0)
    return (second_moment - exact_discrete_gradient() ** 2).sum().item()


def test_leave_one_out_baseline_reduces_variance():
    # closed forms: 1.962 with no baseline, 1.559 with b = E[c] (what leave-one-out tends to);
    # measured 1.971 and 1.565
    plain = per_sample_score_gradients(ScoreFunction(), 5).var(0).sum().item()
    loo = per_sample_score_gradients(ScoreFunction("loo"), 5).var(0).sum().item()
    assert plain == pytest.approx(exact_score_variance(0.0), rel=0.02)
    assert loo == pytest.approx(exact_score_variance((THETA.softmax(0) * COST).sum().item()), rel=0.02)
    assert loo < 0.85 * plain


def surrogate_weights(
    sf: ScoreFunction, cost: list[float], baseline: torch.Tensor | None = None
) -> torch.Tensor:
    """The factor (c - b) that multiplies ∇ log_prob for each sample."""
    log_prob = torch.zeros(len(cost), requires_grad=True)
    sf.surrogate(torch.tensor(cost), log_prob, baseline=baseline).sum().backward()
    return grad_of(log_prob)


def test_baselines_by_hand():
    cost = [1.0, 2.0, 4.0]
    assert torch.equal(surrogate_weights(ScoreFunction(), cost), torch.tensor(cost))
    # leave-one-out: b = mean of the others = [3, 2.5, 1.5]
    assert torch.equal(surrogate_weights(ScoreFunction("loo"), cost), torch.tensor([-2.0, -0.5, 2.5]))
    ema = ScoreFunction("ema", momentum=0.5)
    assert torch.equal(surrogate_weights(ema, [1.0, 3.0]), torch.tensor([1.0, 3.0]))  # no history: b = 0
    assert torch.equal(surrogate_weights(ema, [6.0, 10.0]), torch.tensor([4.0, 8.0]))  # b = 2
    assert torch.equal(surrogate_weights(ema, [0.0, 0.0]), torch.tensor([-5.0, -5.0]))  # b = .5·2 + .5·8
    assert ema.running_cost == 2.5
    custom = surrogate_weights(ScoreFunction("loo"), [1.0, 2.0], baseline=torch.tensor(0.5))
    assert torch.equal(custom, torch.tensor([0.5, 1.5]))  # an explicit baseline overrides the configured one


def test_score_function_sample_and_validation():
    sf = ScoreFunction("loo")
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(6))
    sample = sf(logits, generator=torch.Generator().manual_seed(7))
    assert torch.equal(sample.one_hot.argmax(-1), sample.index) and sample.one_hot.dtype == logits.dtype
    torch.testing.assert_close(
        sample.log_prob, logits.log_softmax(-1).gather(-1, sample.index[:, None])[:, 0]
    )
    with pytest.raises(ValueError, match="at least 2"):
        sf.surrogate(torch.ones(1), torch.zeros(1))
    with pytest.raises(ValueError, match="same shape"):
        sf.surrogate(torch.ones(6), torch.zeros(6, 4))
    with pytest.raises(ValueError, match="baseline"):
        ScoreFunction("mean")
    with pytest.raises(ValueError, match="momentum"):
        ScoreFunction("ema", momentum=1.0)


# ---------------------------------------------------------------- Gumbel-softmax bias/variance trade-off


def test_gumbel_softmax_bias_shrinks_and_variance_grows_as_tau_falls():
    # measured (100k draws, seed 0): bias 0.201, 0.083, 0.025, 0.006;
    # per-sample variance 0.024, 0.16, 0.66, 5.4
    n, exact = 100_000, exact_discrete_gradient()
    bias, variance = [], []
    for tau in (2.0, 1.0, 0.5, 0.1):
        logits = THETA.repeat(n, 1).requires_grad_()
        (gumbel_softmax(logits, tau, generator=torch.Generator().manual_seed(0)) @ COST).sum().backward()
        bias.append((grad_of(logits).mean(0) - exact).norm().item())
        variance.append(grad_of(logits).var(0).sum().item())
    assert bias == sorted(bias, reverse=True) and bias[0] > 10 * bias[-1]
    assert variance == sorted(variance) and variance[-1] > 100 * variance[0]
