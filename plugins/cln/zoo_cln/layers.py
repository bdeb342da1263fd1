"""Conditional Layer Normalization (article 7124): LayerNorm whose gain and bias are shifted by a condition.

``y = (x - mean) / sqrt(var + eps) * (γ + W_γ c) + (β + W_β c)`` over the last axis (biased variance, as
LayerNorm), with ``W_γ``, ``W_β`` bias-free and ZERO-initialized: at initialization the layer is exactly
the unconditional LayerNorm, so pretrained weights load unchanged and the condition is learned in. The
condition may first pass through a bias-free dense layer with an activation (bert4keras' ``hidden_units``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HIDDEN_ACTIVATIONS", "ConditionalLayerNorm"]

# activations for the optional hidden layer; all map 0 to 0, so a zero condition is always plain LN
HIDDEN_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "tanh": F.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
}


class ConditionalLayerNorm(nn.Module):
    """LayerNorm over the last axis whose ``weight`` (γ) and ``bias`` (β) are shifted by a condition.

    Args:
        hidden_size: size ``H`` of the normalized axis.
        condition_size: size ``C`` of the condition; None = an ordinary LayerNorm (no projections).
        hidden_units: if set, the condition first goes through ``Linear(C, hidden_units, bias=False)``
            (Glorot-uniform init) and ``hidden_activation``.
        hidden_activation: one of :data:`HIDDEN_ACTIVATIONS`.
        eps: added to the variance; BERT's 1e-12.

    Call ``norm(x)`` with ``x (..., H)`` for plain LayerNorm, or ``norm(x, c)`` with ``c (B, C)`` (one
    condition per sample, broadcast over the sequence of ``x (B, L, H)``) or any shape that broadcasts to
    ``x.shape[:-1] + (C,)`` after singleton axes are inserted before its last axis.
    """

    def __init__(
        self,
        hidden_size: int,
        condition_size: int | None = None,
        hidden_units: int | None = None,
        hidden_activation: str = "linear",
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        if hidden_activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"hidden_activation {hidden_activation!r} is not one of {sorted(HIDDEN_ACTIVATIONS)}"
            )
        self.hidden_size, self.condition_size, self.eps = hidden_size, condition_size, eps
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.condition_dense: nn.Linear | None = None
        self.gamma_dense: nn.Linear | None = None
        self.beta_dense: nn.Linear | None = None
        self.activation = HIDDEN_ACTIVATIONS[hidden_activation]
        self.hidden_activation = hidden_activation
        if condition_size is not None:
            size = condition_size
            if hidden_units is not None:
                self.condition_dense = nn.Linear(condition_size, hidden_units, bias=False)
                nn.init.xavier_uniform_(self.condition_dense.weight)
                size = hidden_units
            self.gamma_dense = nn.Linear(size, hidden_size, bias=False)
            self.beta_dense = nn.Linear(size, hidden_size, bias=False)
            nn.init.zeros_(self.gamma_dense.weight)
            nn.init.zeros_(self.beta_dense.weight)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        if condition is None:
            return F.layer_norm(x, (self.hidden_size,), self.weight, self.bias, self.eps)
        if self.gamma_dense is None or self.beta_dense is None:
            raise ValueError("this ConditionalLayerNorm has no condition_size: call it without a condition")
        if condition.shape[-1] != self.condition_size:
            raise ValueError(
                f"condition has size {condition.shape[-1]} on its last axis; this layer takes "
                f"condition_size={self.condition_size}"
            )
        if condition.dim() > x.dim():
            raise ValueError(f"condition {tuple(condition.shape)} has more axes than x {tuple(x.shape)}")
        c = condition if self.condition_dense is None else self.activation(self.condition_dense(condition))
        while c.dim() < x.dim():
            c = c.unsqueeze(-2)  # (B, C) -> (B, 1, C): one condition for every position
        gamma = self.weight + self.gamma_dense(c)
        beta = self.bias + self.beta_dense(c)
        return F.layer_norm(x, (self.hidden_size,), None, None, self.eps) * gamma + beta

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, condition_size={self.condition_size}, eps={self.eps}"
