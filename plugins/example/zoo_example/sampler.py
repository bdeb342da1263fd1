"""The sampler: categorical draws from logits at a temperature."""

from __future__ import annotations

import torch


class TemperatureSampler:
    """``sampler(logits) -> ids``: draw from ``softmax(logits / temperature)`` over the last dim.

    ``logits`` is ``(..., C)``; the result is ``(...)`` int64. ``temperature`` must be > 0.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = check_temperature(temperature)

    def __call__(
        self,
        logits: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        temperature: float | None = None,
    ) -> torch.Tensor:
        """``temperature`` given here wins over the sampler's own, for this call."""
        t = self.temperature if temperature is None else check_temperature(temperature)
        probs = torch.softmax(logits.float() / t, dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return temperature
