"""The model: a plain MLP over 2-d points."""

from __future__ import annotations

import torch
from torch import nn


class SpiralMLP(nn.Module):
    """MLP classifier. Input ``(B, in_features)`` floats, output ``(B, num_classes)`` logits."""

    def __init__(self, in_features: int = 2, hidden: int = 64, depth: int = 3, num_classes: int = 2) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
