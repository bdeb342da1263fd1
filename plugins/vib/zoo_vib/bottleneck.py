"""The variational information bottleneck layer and its closed-form KL (article 6181).

For an encoder ``p(z|x) = N(μ(x), diag σ²(x))`` and the prior ``q(z) = N(0, I)``,
``E_x KL(p(z|x) ‖ q) = I(X;Z) + KL(p(z) ‖ q) ≥ I(X;Z)``: penalizing the closed-form KL bounds the
information ``z`` keeps about ``x``. The VIB loss is ``E[−log p(y|z)] + β·KL``; a VAE is ``y = x``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from zoo.checks import check_int

__all__ = ["Reduction", "Scale", "VariationalBottleneck", "gaussian_kl"]

Reduction = Literal["mean", "sum", "none"]
Scale = Literal["log-var", "softplus"]


def gaussian_kl(mean: Tensor, log_var: Tensor, reduction: Reduction = "mean") -> Tensor:
    """``KL(N(mean, exp(log_var)) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1)`` in nats.

    ``mean``, ``log_var``: ``(..., D)``. The sum runs over the last (latent) dimension, giving one KL
    per example ``(...)``; ``reduction="mean"`` (the default, and the article's) averages those over
    the batch, ``"sum"`` adds them, ``"none"`` returns them. β multiplies this per-example mean, so its
    scale does not depend on the batch size but does grow with the latent size ``D``.
    """
    # expm1(v) - v >= 0 holds in floating point too (exp(v) - v - 1 can round to -1e-17 near v = 0)
    kl = 0.5 * (mean.square() + torch.expm1(log_var) - log_var).sum(-1)
    if reduction == "mean":
        return kl.mean()
    if reduction == "sum":
        return kl.sum()
    if reduction == "none":
        return kl
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


def log_softplus(x: Tensor) -> Tensor:
    """``log(softplus(x))``, exact for very negative ``x`` where softplus underflows (→ ``x``)."""
    return torch.where(x < -20.0, x, torch.log(F.softplus(x).clamp_min(torch.finfo(x.dtype).tiny)))


class VariationalBottleneck(nn.Module):
    """``h (..., in_features) -> z (..., latent)``: sample ``z ~ N(μ(h), σ²(h))`` in training, ``μ`` in eval.

    Two linear heads give ``μ`` and the scale. ``scale="log-var"`` is the author's layer (the second
    head is ``log σ²``); ``scale="softplus"`` is Alemi et al.'s ``σ = softplus(pre − 5)``, which starts
    with tiny noise. Every forward stores the batch's KL to ``N(0, I)`` (:func:`gaussian_kl`, mean over
    the batch) in ``self.kl``, so ``loss = task_loss + β * layer.kl`` (Keras' ``add_loss``).

    ``forward(h, samples=S)`` draws ``S`` samples in any mode: ``z`` is ``(S, ..., latent)``, for
    Monte-Carlo evaluation. Noise comes from the registry's ``normal-reparam`` sampler.
    """

    kl: Tensor | None

    def __init__(self, in_features: int, latent: int = 128, scale: Scale = "log-var") -> None:
        super().__init__()
        check_int(in_features, "in_features", low=1)
        check_int(latent, "latent (the bottleneck's size)", low=1)
        if scale not in ("log-var", "softplus"):
            raise ValueError(
                f"scale must be 'log-var' (the author's) or 'softplus' (Alemi et al.'s); got {scale!r}"
            )
        self.scale = scale
        self.latent = latent
        self.mean = nn.Linear(in_features, latent)
        self.log_var = nn.Linear(in_features, latent)  # for "softplus": the pre-activation of σ
        self.sampler = zoo.load("normal-reparam")
        self.kl = None

    def distribution(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)``, each ``(..., latent)``."""
        mean, pre = self.mean(h), self.log_var(h)
        log_var = 2.0 * log_softplus(pre - 5.0) if self.scale == "softplus" else pre
        return mean, log_var

    def forward(
        self, h: Tensor, samples: int | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        mean, log_var = self.distribution(h)
        self.kl = gaussian_kl(mean, log_var)
        if samples is not None:
            if samples < 1:
                raise ValueError(f"samples must be >= 1; got {samples}")
            shape = (samples, *mean.shape)
            return self.sampler(mean.expand(shape), log_var.expand(shape), generator=generator)
        if self.training:
            return self.sampler(mean, log_var, generator=generator)
        return mean

    def extra_repr(self) -> str:
        return f"in_features={self.mean.in_features}, latent={self.latent}, scale={self.scale!r}"
