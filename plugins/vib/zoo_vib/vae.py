"""A Gaussian VAE for binarized MNIST: the VIB with ``y = x`` (article 6181; the author's ``vae_keras.py``).

Encoder ``784 -> hidden`` ReLU, then the bottleneck's heads give ``μ, log σ²``; decoder
``latent -> hidden`` ReLU ``-> 784`` Bernoulli logits. Loss per image: ``−log q(x|z) + KL(p(z|x) ‖ N(0, I))``,
the negative ELBO in nats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from zoo.checks import check_int
from zoo_vib.bottleneck import VariationalBottleneck, gaussian_kl

__all__ = ["GaussianVAE", "negative_elbo"]


class GaussianVAE(nn.Module):
    """``forward(x (B, 784)) -> (B, 784)`` reconstruction probabilities through the posterior mean.

    Defaults are the author's (``hidden=256, latent=2``: two dimensions to draw the latent plane).
    """

    def __init__(self, pixels: int = 784, hidden: int = 256, latent: int = 2) -> None:
        super().__init__()
        for value, name in ((pixels, "pixels"), (hidden, "hidden"), (latent, "latent")):
            check_int(value, name, low=1)
        self.pixels, self.latent = pixels, latent
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU())
        self.bottleneck = VariationalBottleneck(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, pixels))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)`` of ``p(z|x)``, each ``(B, latent)``."""
        return self.bottleneck.distribution(self.encoder(x))

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli logits ``(..., pixels)`` of ``q(x|z)``."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.decode(self.encode(x)[0]))

    def loss(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Negative ELBO with one ``z`` sample: ``{"loss", "reconstruction", "kl"}``, nats per image."""
        mean, log_var = self.encode(x)
        z = self.bottleneck.sampler(mean, log_var, generator=generator)
        rec = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1).mean()
        kl = gaussian_kl(mean, log_var)
        return {"loss": rec + kl, "reconstruction": rec, "kl": kl}

    @zoo.inference
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images ``(n, pixels)``: pixel probabilities decoded from ``z ~ N(0, I)``.

        Eval mode, no grad; the model's mode is restored."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent, generator=generator, device=device)
        return torch.sigmoid(self.decode(z))


@torch.no_grad()
def negative_elbo(
    model: GaussianVAE, x: Tensor, samples: int = 1, batch_size: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Test negative ELBO of binary images ``x (N, 784)`` in nats per image, ``samples`` z per image.

    Returns ``{"nelbo", "reconstruction", "kl"}``; the noise is seeded, so a checkpoint scores the same
    every time.
    """
    g = torch.Generator(device=x.device).manual_seed(seed)
    totals = torch.zeros(3, dtype=torch.float64)
    with zoo.eval_mode(model):
        for batch in x.split(batch_size):
            for _ in range(samples):
                parts = model.loss(batch, generator=g)
                totals += torch.tensor(
                    [float(parts[k]) for k in ("loss", "reconstruction", "kl")], dtype=torch.float64
                ) * len(batch)
    nelbo, rec, kl = (totals / (len(x) * samples)).tolist()
    return {"nelbo": nelbo, "reconstruction": rec, "kl": kl}
