"""Interpolating latent codes under a standard normal prior (article 6181, last section).

If ``z1, z2 ~ N(0, I)`` are independent, ``z1·cos θ + z2·sin θ ~ N(0, I)`` for every θ: the path stays
where the prior puts its mass. The straight line ``(1 − t)·z1 + t·z2`` has variance
``(1 − t)² + t²`` per dimension (0.5 at ``t = 0.5``): its middle codes are atypically short, and a
decoder trained on the prior's shell has rarely seen them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.checks import check_int

__all__ = ["SphericalInterpolation", "linear_interpolate", "spherical_interpolate"]


def _steps(t: Tensor | float | int, like: Tensor) -> Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(*t.shape, *([1] * like.dim()))  # (T, 1, ..., 1): broadcast over the code's shape


def spherical_interpolate(z1: Tensor, z2: Tensor, t: Tensor | float) -> Tensor:
    """``z1·cos(πt/2) + z2·sin(πt/2)``: ``z1`` at ``t = 0``, ``z2`` at ``t = 1``.

    ``z1``, ``z2``: codes of one shape ``S``; ``t``: a number (output ``S``) or a 1-D tensor of ``T``
    steps (output ``(T, *S)``).
    """
    if z1.shape != z2.shape:
        raise ValueError(f"z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)} must have the same shape")
    theta = _steps(t, z1) * (math.pi / 2)
    return z1 * torch.cos(theta) + z2 * torch.sin(theta)


def linear_interpolate(z1: Tensor, z2: Tensor, t: Tensor | float) -> Tensor:
    """``(1 − t)·z1 + t·z2``, shapes as in :func:`spherical_interpolate` (for comparison)."""
    if z1.shape != z2.shape:
        raise ValueError(f"z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)} must have the same shape")
    t = _steps(t, z1)
    return (1 - t) * z1 + t * z2


class SphericalInterpolation:
    """``path(z1, z2, steps=8) -> (steps, *z1.shape)``: codes from ``z1`` to ``z2`` that stay N(0, I)."""

    STEPS = "steps (points on the path, both ends included)"

    def __init__(self, steps: int = 8) -> None:
        self.steps = check_int(steps, self.STEPS, low=2)

    def __call__(self, z1: Tensor, z2: Tensor, steps: int | None = None) -> Tensor:
        n = self.steps if steps is None else check_int(steps, self.STEPS, low=2)
        return spherical_interpolate(z1, z2, torch.linspace(0, 1, n, dtype=z1.dtype, device=z1.device))

    def __repr__(self) -> str:
        return f"SphericalInterpolation(steps={self.steps})"
