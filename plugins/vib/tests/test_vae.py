"""The Gaussian VAE: its loss is the negative ELBO, its parts match torch.distributions."""

from __future__ import annotations

import torch
from torch.distributions import Bernoulli, Normal, kl_divergence
from zoo_vib.vae import GaussianVAE, negative_elbo

import zoo


def test_loss_is_the_negative_elbo_by_torch_distributions():
    torch.manual_seed(0)
    model = GaussianVAE(pixels=20, hidden=8, latent=3)
    x = torch.bernoulli(torch.full((5, 20), 0.4))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    parts = model.loss(x, generator=g1)
    mean, log_var = model.encode(x)
    std = (0.5 * log_var).exp()
    z = mean + std * torch.randn(mean.shape, generator=g2)
    rec = -Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mean, std), Normal(0.0, 1.0)).sum(-1).mean()
    assert torch.allclose(parts["reconstruction"], rec, atol=1e-5)
    assert torch.allclose(parts["kl"], kl, atol=1e-5)
    assert torch.allclose(parts["loss"], rec + kl, atol=1e-5)


def test_shapes_forward_is_deterministic_and_samples_are_probabilities():
    model = zoo.load("gaussian-vae").eval()
    assert model.latent == 2 and model.encoder[0].out_features == 256
    assert zoo.load("gaussian-vae.z32").latent == 32 and zoo.load("vae").latent == 2
    x = torch.rand(4, 784)
    assert torch.equal(model(x), model(x)) and model(x).shape == (4, 784)
    s = model.sample(6, torch.Generator().manual_seed(0))
    assert s.shape == (6, 784) and ((s > 0) & (s < 1)).all()


def test_negative_elbo_is_seeded_and_averages_samples():
    torch.manual_seed(0)
    model = GaussianVAE(pixels=20, hidden=8, latent=3)
    x = torch.bernoulli(torch.full((30, 20), 0.5))
    a, b = negative_elbo(model, x, batch_size=7), negative_elbo(model, x, batch_size=7)
    assert a == b and model.training  # evaluation leaves the mode as it was
    assert abs(a["nelbo"] - a["reconstruction"] - a["kl"]) < 1e-4
    many = negative_elbo(model, x, samples=200)
    g = torch.Generator().manual_seed(0)
    ref = torch.stack([model.loss(x, generator=g)["loss"] for _ in range(200)]).mean()
    assert abs(many["nelbo"] - ref.item()) < 1e-3
    mean, log_var = model.encode(x)
    assert (
        abs(many["kl"] - kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1).mean())
        < 1e-4
    )


def test_training_lowers_the_negative_elbo_on_real_digits():
    from zoo.datasets import binarize, binarized_mnist_test, load_mnist

    torch.manual_seed(0)
    x = load_mnist().train[0][:2000]
    test = binarized_mnist_test(limit=500)
    model = GaussianVAE(latent=8)
    before = negative_elbo(model, test)["nelbo"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        batch = binarize(x[torch.randint(0, len(x), (100,), generator=g)], g)
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = negative_elbo(model, test)["nelbo"]
    assert before > 500 and after < 230  # 784 * log 2 = 543 nats is a coin per pixel
