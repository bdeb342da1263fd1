"""Gumbel noise, Gumbel-max and Gumbel-softmax (article 6705, Jang et al. 2017).

Conventions: ``logits`` are unnormalised log-probabilities ``(..., K)`` along ``dim``; ``tau`` is the
temperature (> 0). Half-precision inputs are computed in float32 and the result is cast back, so
fp16/bf16 never produce NaN or inf. Noise is drawn from ``U(0, 1)`` (clamped away from 0) rather than
torch's ``exponential_``: the same distribution at about half the cost on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["check_tau", "compute_dtype", "gumbel_max", "gumbel_noise", "gumbel_softmax", "one_hot_like"]


def check_tau(tau: float | Tensor) -> float | Tensor:
    """``tau`` as a float, or a tensor kept as it is (a learnable temperature keeps its gradient).

    Raises a ValueError unless every value is a finite number > 0. A tensor ``tau`` may have any
    shape that broadcasts against the logits (e.g. ``(B, 1)``: one temperature per row).
    """
    if isinstance(tau, Tensor):
        with torch.no_grad():
            bad = tau.numel() == 0 or not bool((torch.isfinite(tau) & (tau > 0)).all())
        if bad:
            shown = tau.detach().flatten()[:8].tolist()
            raise ValueError(
                f"the temperature tau must be finite and > 0 everywhere; got a tensor with values {shown}"
                + (" ..." if tau.numel() > 8 else "")
            )
        return tau
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(
            f"the temperature tau must be a finite number > 0, got {tau!r} "
            "(tau -> 0 is the one-hot limit: use hard=True or gumbel-max instead of tau=0)"
        )
    return float(tau)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype (fp16, bf16, fp32) computes in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def one_hot_like(logits: Tensor, index: Tensor, dim: int = -1) -> Tensor:
    """One-hot vectors shaped and typed like ``logits``, with a 1 at ``index`` (``dim`` removed)."""
    return torch.zeros_like(logits).scatter_(dim, index.unsqueeze(dim), 1.0)


def gumbel_noise(
    shape: Sequence[int] | torch.Size,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Standard Gumbel noise ``g = -log(-log u)``, ``u ~ U(0, 1)``: mean γ ≈ 0.5772, variance π²/6.

    ``u`` is clamped to the smallest normal number, so a draw of exactly 0 gives a finite value
    (≈ -4.5 in float32) instead of -inf. Returns a ``shape`` tensor of ``dtype`` (float32 or float64;
    draw half-precision noise in float32 and cast it yourself).
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"gumbel_noise draws float32 or float64 noise, not {dtype}")
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return u.clamp_(min=torch.finfo(dtype).tiny).log_().neg_().log_().neg_()


def _scores(logits: Tensor, noise: Tensor | None, generator: torch.Generator | None) -> Tensor:
    """``logits + g`` in the compute dtype, with ``g`` given or freshly drawn."""
    x = logits.to(compute_dtype(logits.dtype))
    if noise is None:
        g = gumbel_noise(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return g.add_(x) if not x.requires_grad else x + g
    if noise.shape != logits.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)} but logits {tuple(logits.shape)}: must match")
    return x + noise.to(x.dtype)


def gumbel_max(
    logits: Tensor,
    *,
    dim: int = -1,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """An exact categorical sample ``argmax(logits + g)``: P(i) = softmax(logits)_i.

    Returns int64 indices with ``dim`` removed. Not differentiable (see :func:`gumbel_softmax`).
    """
    with torch.no_grad():
        return _scores(logits, noise, generator).argmax(dim)


def gumbel_softmax(
    logits: Tensor,
    tau: float | Tensor = 1.0,
    hard: bool = False,
    *,
    dim: int = -1,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """``softmax((logits + g) / tau)`` along ``dim``: the Gumbel-softmax (Concrete) relaxation.

    Same semantics as ``torch.nn.functional.gumbel_softmax``: given the same noise ``g`` the soft
    output is bitwise identical, and a tensor ``tau`` (e.g. a learnable ``nn.Parameter``, or one
    temperature per row, broadcast against ``logits``) gets the same gradient as torch's. Differences:
    ``tau <= 0`` raises; half precision computes in float32; ``noise`` and ``generator`` make draws
    reproducible; with ``hard=True`` the forward value is EXACTLY one-hot at ``argmax(logits + g)``
    (the Gumbel-max sample, for every tau) and the gradient is the soft sample's (straight-through).
    """
    tau = check_tau(tau)
    scores = _scores(logits, noise, generator)
    if isinstance(tau, Tensor):
        if torch.broadcast_shapes(tau.shape, scores.shape) != scores.shape:
            raise ValueError(
                f"a tensor tau of shape {tuple(tau.shape)} must broadcast against the logits "
                f"{tuple(logits.shape)} without enlarging them"
            )
        tau = tau.to(scores.dtype)
    tracked = scores.requires_grad or (isinstance(tau, Tensor) and tau.requires_grad)
    needs_soft = not hard or tracked
    if needs_soft:
        y_soft = (scores / tau).softmax(dim) if tracked else scores.div_(tau).softmax(dim)
    if not hard:
        return y_soft.to(logits.dtype)
    y_hard = one_hot_like(logits, scores.argmax(dim), dim)
    if not needs_soft:
        return y_hard
    # y_soft - y_soft.detach() is exactly 0, so the forward value stays exactly one-hot.
    return y_hard + (y_soft - y_soft.detach()).to(logits.dtype)
