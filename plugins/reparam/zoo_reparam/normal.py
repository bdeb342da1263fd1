"""The normal reparameterization ``z = μ + σ·ε``, ``ε ~ N(0, I)`` (article 6705, first section)."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo_reparam.gumbel import compute_dtype

__all__ = ["normal_rsample"]


def normal_rsample(
    mean: Tensor,
    log_var: Tensor,
    *,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """``mean + exp(log_var / 2) * eps``: a sample of N(mean, exp(log_var)) differentiable in both.

    ``mean`` and ``log_var`` broadcast together (e.g. ``(B, D)``); ``noise`` is ``eps`` (standard
    normal, drawn if None; its shape must be the broadcast shape). Half precision computes in float32
    and is cast back.
    """
    dtype = compute_dtype(torch.promote_types(mean.dtype, log_var.dtype))
    mu, lv = mean.to(dtype), log_var.to(dtype)
    shape = torch.broadcast_shapes(mu.shape, lv.shape)
    if noise is None:
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=dtype)
    elif noise.shape != shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}; mean, log_var broadcast to {tuple(shape)}")
    else:
        eps = noise.to(dtype)
    return (mu + torch.exp(0.5 * lv) * eps).to(mean.dtype)
