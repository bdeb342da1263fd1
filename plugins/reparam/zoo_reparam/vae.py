"""Categorical VAEs for binarized MNIST: the author's conv model and Jang et al.'s MLP.

Shapes: images ``x`` are ``(B, 784)`` or ``(B, 1, 28, 28)`` in [0, 1]; the posterior's logits are
``(B, N, K)`` for N latent variables of K classes; a latent code ``z`` is ``(B, N, K)`` (one-hot or a
relaxed sample on the simplex); the decoder returns Bernoulli logits ``(B, 784)`` (nats via
``binary_cross_entropy_with_logits``). The prior is uniform over the K classes of each variable.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

import zoo
from zoo_reparam.gumbel import one_hot_like

__all__ = ["CategoricalVAE", "ConvCategoricalVAE", "MLPCategoricalVAE"]

PIXELS = 784


class CategoricalVAE(nn.Module):
    """Shared behaviour; subclasses define ``encoder`` (x -> N·K logits) and ``decoder`` (N·K -> 784)."""

    encoder: nn.Module
    decoder: nn.Module

    def __init__(self, latents: int, classes: int) -> None:
        super().__init__()
        if latents < 1 or classes < 2:
            raise ValueError(f"need latents >= 1 and classes >= 2, got latents={latents}, classes={classes}")
        self.latents, self.classes = latents, classes

    def encode(self, x: Tensor) -> Tensor:
        """Posterior logits ``(B, N, K)`` of q(z | x)."""
        return self.encoder(x.reshape(len(x), PIXELS)).view(len(x), self.latents, self.classes)

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli logits ``(B, 784)`` of p(x | z) for codes ``z`` ``(B, N, K)``."""
        return self.decoder(z.reshape(len(z), self.latents * self.classes))

    def forward(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction logits (shaped like ``x``) through the posterior's mode."""
        logits = self.encode(x)
        return self.decode(one_hot_like(logits, logits.argmax(-1))).reshape(x.shape)

    def kl_to_uniform(self, logits: Tensor) -> Tensor:
        """KL(q(z|x) || uniform) per example ``(B,)`` in nats: Σ q log q + N log K (≥ 0)."""
        log_q = torch.log_softmax(logits, -1)
        return (log_q.exp() * log_q).sum((-1, -2)) + self.latents * math.log(self.classes)

    @zoo.inference
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images ``(n, 784)`` of pixel probabilities, decoded from codes drawn from the prior
        (eval mode, no grad; the model's mode is restored)."""
        device = next(self.parameters()).device
        index = torch.randint(self.classes, (n, self.latents), generator=generator, device=device)
        like = torch.empty(n, self.latents, self.classes, device=device)
        return torch.sigmoid(self.decode(one_hot_like(like, index)))


class MLPCategoricalVAE(CategoricalVAE):
    """Jang et al. (2017): 784-512-256 ReLU encoder to N·K logits, mirrored decoder."""

    def __init__(self, latents: int = 20, classes: int = 10, hidden: tuple[int, ...] = (512, 256)) -> None:
        super().__init__(latents, classes)
        code = latents * classes
        self.encoder = _mlp([PIXELS, *hidden, code])
        self.decoder = _mlp([code, *reversed(hidden), PIXELS])


class ConvCategoricalVAE(CategoricalVAE):
    """The author's model (bojone): two stride-2 3×3 convs (32, 64 channels) -> Dense(hidden) ->
    N·K logits; the decoder mirrors it with transposed convs. Keras "same" padding becomes padding 1."""

    def __init__(self, latents: int = 32, classes: int = 10, hidden: int = 32, channels: int = 32) -> None:
        super().__init__(latents, classes)
        c1, c2 = channels, 2 * channels
        code = latents * classes
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, c1, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code, hidden),
            nn.ReLU(),
            nn.Linear(hidden, c2 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c2, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 3, padding=1),
            nn.Flatten(),
        )


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
