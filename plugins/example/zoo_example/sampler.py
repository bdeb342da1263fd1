"""The sampler: categorical draws from logits at a temperature."""

from __future__ import annotations

import torch


class TemperatureSampler:
    """``sampler(logits) -> ids``: draw from ``softmax(logits / temperature)`` over the last dim.

    ``logits`` is ``(..., C)``; the result is ``(...)`` int64. ``temperature`` must be > 0.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def __call__(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
