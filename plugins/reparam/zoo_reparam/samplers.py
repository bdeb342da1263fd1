"""The sampler objects the registry builds (``zoo.load("gumbel-softmax", tau=0.5)``).

Each is a small callable holding its defaults; the functions they call live in
:mod:`zoo_reparam.gumbel` and :mod:`zoo_reparam.normal`. Every call accepts ``generator=`` and an
explicit ``noise=`` tensor, so draws are reproducible and estimators comparable on shared noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from zoo_reparam.gumbel import (
    check_tau,
    compute_dtype,
    gumbel_max,
    gumbel_noise,
    gumbel_softmax,
    one_hot_like,
)
from zoo_reparam.normal import normal_rsample

__all__ = ["GumbelMax", "GumbelNoise", "GumbelSoftmax", "NormalReparam"]


class NormalReparam:
    """``sampler(mean, log_var) -> z = mean + exp(log_var / 2) * eps`` (differentiable in both)."""

    def __call__(
        self,
        mean: Tensor,
        log_var: Tensor,
        *,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        return normal_rsample(mean, log_var, generator=generator, noise=noise)

    def __repr__(self) -> str:
        return "NormalReparam()"


class GumbelNoise:
    """``sampler(shape_or_tensor) -> g``: standard Gumbel noise (float32, or float64 for float64 input)."""

    def __call__(
        self,
        shape_or_like: Sequence[int] | Tensor,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        if isinstance(shape_or_like, Tensor):
            like = shape_or_like
            dtype = compute_dtype(like.dtype)
            return gumbel_noise(like.shape, generator=generator, device=device or like.device, dtype=dtype)
        return gumbel_noise(tuple(shape_or_like), generator=generator, device=device)

    def __repr__(self) -> str:
        return "GumbelNoise()"


class GumbelMax:
    """``sampler(logits) -> index`` (int64, exact categorical sample); ``one_hot=True`` returns
    one-hot vectors in the logits' dtype instead. ``one_hot`` and ``dim`` can also be given per call
    (they win over the sampler's own)."""

    def __init__(self, one_hot: bool = False, dim: int = -1) -> None:
        self.one_hot, self.dim = one_hot, dim

    def __call__(
        self,
        logits: Tensor,
        *,
        one_hot: bool | None = None,
        dim: int | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        dim = self.dim if dim is None else dim
        index = gumbel_max(logits, dim=dim, generator=generator, noise=noise)
        if not (self.one_hot if one_hot is None else one_hot):
            return index
        return one_hot_like(logits, index, dim)

    def __repr__(self) -> str:
        return f"GumbelMax(one_hot={self.one_hot}, dim={self.dim})"


class GumbelSoftmax:
    """``sampler(logits, tau=None, hard=None, *, dim=None) -> y``: Gumbel-softmax at temperature ``tau``;
    ``hard=True`` is straight-through (exact one-hot forward, soft gradient). Like
    ``torch.nn.functional.gumbel_softmax``, every option can be given per call; one given per call wins
    over the sampler's own (set at construction)."""

    def __init__(self, tau: float | Tensor = 1.0, hard: bool = False, dim: int = -1) -> None:
        self.tau, self.hard, self.dim = check_tau(tau), hard, dim

    def __call__(
        self,
        logits: Tensor,
        tau: float | Tensor | None = None,
        hard: bool | None = None,
        *,
        dim: int | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        return gumbel_softmax(
            logits,
            self.tau if tau is None else tau,
            self.hard if hard is None else hard,
            dim=self.dim if dim is None else dim,
            generator=generator,
            noise=noise,
        )

    def __repr__(self) -> str:
        return f"GumbelSoftmax(tau={self.tau}, hard={self.hard}, dim={self.dim})"
