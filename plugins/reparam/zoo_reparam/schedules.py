"""Temperature schedules for Gumbel-softmax: ``schedule(step) -> tau`` (step = batches seen, from 0)."""

from __future__ import annotations

import math

from zoo.checks import check_int, check_number

__all__ = ["ExponentialTemperature", "JangTemperature"]


class ExponentialTemperature:
    """The author's schedule: ``tau_n = end + (start - end) * rate**n``, updated every batch.

    Defaults are the article's: from 1 towards 0.01 with rate 0.999 (τ ≈ 0.37 after 1000 batches).
    """

    def __init__(self, start: float = 1.0, end: float = 0.01, rate: float = 0.999) -> None:
        end = check_number(end, "end", low=0.0, low_open=True)
        start = check_number(start, "start", low=end)
        rate = check_number(rate, "rate", low=0.0, high=1.0, low_open=True)
        self.start, self.end, self.rate = start, end, rate

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        return self.end + (self.start - self.end) * self.rate**step

    def __repr__(self) -> str:
        return f"ExponentialTemperature(start={self.start}, end={self.end}, rate={self.rate})"


class JangTemperature:
    """Jang et al.'s schedule: ``tau = max(minimum, start * exp(-rate * n))``, with ``n`` rounded down
    to a multiple of ``every`` (their code updates τ every 1000 steps with rate 3e-5, floor 0.5)."""

    def __init__(
        self, start: float = 1.0, minimum: float = 0.5, rate: float = 3e-5, every: int = 1000
    ) -> None:
        start = check_number(start, "start", low=0.0, low_open=True)
        minimum = check_number(minimum, "minimum", low=0.0, low_open=True)
        rate = check_number(rate, "rate", low=0.0)
        every = check_int(every, "every", low=1)
        self.start, self.minimum, self.rate, self.every = start, minimum, rate, every

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        n = step // self.every * self.every
        return max(self.minimum, self.start * math.exp(-self.rate * n))

    def __repr__(self) -> str:
        args = f"start={self.start}, minimum={self.minimum}, rate={self.rate}, every={self.every}"
        return f"JangTemperature({args})"
