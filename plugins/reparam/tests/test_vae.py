"""The categorical VAEs and their objective, against closed forms and exact enumeration."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, kl_divergence
from zoo_reparam.elbo import Objective, negative_elbo, reconstruction_nll, relaxed_negative_elbo
from zoo_reparam.vae import MLPCategoricalVAE

import zoo


@pytest.mark.parametrize(("name", "n", "k"), [("gumbel-vae", 32, 10), ("categorical-vae", 20, 10)])
def test_shapes_and_prior_samples(name, n, k):
    model = zoo.load(name)
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, n, k) and model(x).shape == x.shape
    assert model(x.reshape(3, 784)).shape == (3, 784)
    images = model.sample(5, torch.Generator().manual_seed(0))
    assert images.shape == (5, 784) and images.min() >= 0 and images.max() <= 1


def test_forward_decodes_the_posterior_mode():
    model = MLPCategoricalVAE(latents=4, classes=3, hidden=(16,))
    x = torch.rand(6, 784)
    mode = F.one_hot(model.encode(x).argmax(-1), 3).float()
    assert torch.equal(model(x), model.decode(mode))


def test_kl_to_uniform_matches_torch_distributions_and_is_zero_at_the_prior():
    model = MLPCategoricalVAE(latents=5, classes=7, hidden=(8,))
    logits = torch.randn(4, 5, 7, dtype=torch.float64)
    uniform = Categorical(logits=torch.zeros(7, dtype=torch.float64))
    expected = kl_divergence(Categorical(logits=logits), uniform).sum(-1)
    torch.testing.assert_close(model.kl_to_uniform(logits), expected, rtol=0, atol=1e-12)
    assert model.kl_to_uniform(torch.full((2, 5, 7), 3.0)).abs().max() < 1e-5  # fp32 rounding of 5 log 7
    one_hot_limit = model.kl_to_uniform(torch.tensor([[[1e4] + [0.0] * 6] * 5]))
    assert one_hot_limit.item() == pytest.approx(5 * math.log(7), rel=1e-6)


def test_reconstruction_nll_is_the_bernoulli_log_likelihood():
    model = MLPCategoricalVAE(latents=2, classes=3, hidden=(8,))
    z = F.one_hot(torch.tensor([[0, 2], [1, 1]]), 3).float()
    x = torch.bernoulli(torch.full((2, 784), 0.3), generator=torch.Generator().manual_seed(0))
    expected = -Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
    torch.testing.assert_close(reconstruction_nll(model, z, x), expected)


def exact_nelbo(model, x):
    """-ELBO by enumerating every code of a model with a single latent variable."""
    q = torch.softmax(model.encode(x), -1)[:, 0]  # (B, K)
    k = model.classes
    nll = torch.stack(
        [reconstruction_nll(model, F.one_hot(torch.full((len(x), 1), j), k).float(), x) for j in range(k)], 1
    )
    return ((q * nll).sum(1) + model.kl_to_uniform(model.encode(x))).mean().item()


def test_test_nelbo_is_the_discrete_elbo_by_enumeration():
    torch.manual_seed(0)
    model = MLPCategoricalVAE(latents=1, classes=4, hidden=(32,))
    with torch.no_grad():  # spread the posterior so sampling matters
        model.encoder[-1].weight.mul_(20)
    x = torch.bernoulli(torch.rand(64, 784), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        exact = exact_nelbo(model, x)
    mc = negative_elbo(model, x, samples=400, batch_size=16)
    assert mc["nelbo"] == pytest.approx(exact, rel=2e-3)
    assert mc["nelbo"] == pytest.approx(mc["reconstruction"] + mc["kl"])
    assert negative_elbo(model, x, samples=3) == negative_elbo(model, x, samples=3)  # seeded


@pytest.mark.parametrize("estimator", ["gumbel-softmax", "st-gumbel-softmax", "score-function"])
def test_every_estimator_trains_encoder_and_decoder(estimator):
    torch.manual_seed(0)
    model = MLPCategoricalVAE(latents=3, classes=4, hidden=(16,))
    x = torch.bernoulli(torch.rand(8, 784))
    loss, per_example = Objective(estimator)(model, x, tau=0.7, generator=torch.Generator().manual_seed(0))
    loss.backward()
    enc, dec = model.encoder[0].weight.grad, model.decoder[-1].weight.grad
    assert enc is not None and enc.abs().sum() > 0 and dec is not None and dec.abs().sum() > 0
    assert per_example.shape == (8,) and not per_example.requires_grad
    assert loss.item() == pytest.approx(per_example.mean().item(), rel=1e-6)


def test_hard_estimators_decode_exact_samples_so_their_value_is_the_discrete_elbo_sample():
    torch.manual_seed(0)
    model = MLPCategoricalVAE(latents=3, classes=4, hidden=(16,))
    x = torch.bernoulli(torch.rand(8, 784))
    logits = model.encode(x)
    noise = -torch.log(-torch.log(torch.rand(logits.shape, generator=torch.Generator().manual_seed(5))))
    z = F.one_hot((logits + noise).argmax(-1), 4).float()
    expected = reconstruction_nll(model, z, x) + model.kl_to_uniform(logits)
    for estimator in ("st-gumbel-softmax", "score-function"):
        g = torch.Generator().manual_seed(5)
        _, value = Objective(estimator)(model, x, tau=0.5, generator=g)
        torch.testing.assert_close(value, expected.detach())


def test_relaxed_objective_approaches_the_discrete_one_as_tau_falls():
    torch.manual_seed(0)
    model = MLPCategoricalVAE(latents=1, classes=4, hidden=(32,))
    x = torch.bernoulli(torch.rand(256, 784), generator=torch.Generator().manual_seed(1))
    discrete = negative_elbo(model, x, samples=50)["nelbo"]
    gaps = [abs(relaxed_negative_elbo(model, x, tau) - discrete) for tau in (5.0, 0.05)]
    assert gaps[1] < gaps[0] and gaps[1] < 0.01 * discrete


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown estimator 'rebar'"):
        Objective("rebar")
    with pytest.raises(ValueError, match="need latents >= 1 and classes >= 2"):
        MLPCategoricalVAE(latents=2, classes=1)
