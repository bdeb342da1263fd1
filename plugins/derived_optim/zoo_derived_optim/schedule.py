"""Piecewise-linear learning rate (article 7094 §3), as a torch LR scheduler."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

Schedule = Mapping[int, float] | Iterable[tuple[int, float]]


def parse_schedule(schedule: Schedule) -> tuple[list[int], list[float]]:
    """Validate knots ``{step: multiplier}``: steps are ints >= 0 in strictly increasing order,
    multipliers finite and >= 0. ``(0, 0)`` is prepended when the first knot is not at 0."""
    items = list(schedule.items()) if isinstance(schedule, Mapping) else list(schedule)
    if not items:
        raise ValueError("the schedule needs at least one knot, e.g. {0: 1.0}")
    steps: list[int] = []
    values: list[float] = []
    for step, value in items:
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"schedule steps must be integers >= 0, got {step!r}")
        if steps and step <= steps[-1]:
            raise ValueError(f"schedule knots must be strictly increasing, got {step} after {steps[-1]}")
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"schedule multipliers must be finite and >= 0, got {value!r} at step {step}")
        steps.append(step)
        values.append(float(value))
    if steps[0] != 0:
        steps.insert(0, 0)
        values.insert(0, 0.0)
    return steps, values


def piecewise_linear(t: int, schedule: Schedule) -> float:
    """The multiplier at update ``t``: linear between knots, constant after the last one.

    ``{1000: 1, 2000: 0.1}`` gives 0 at 0, 0.5 at 500, 1 at 1000, 0.55 at 1500, 0.1 from 2000 on.
    """
    steps, values = parse_schedule(schedule)
    return _interpolate(t, steps, values)


def _interpolate(t: int, steps: list[int], values: list[float]) -> float:
    if t >= steps[-1]:
        return values[-1]
    i = bisect.bisect_right(steps, t) - 1
    frac = (t - steps[i]) / (steps[i + 1] - steps[i])
    return values[i] + frac * (values[i + 1] - values[i])


class PiecewiseLinearLR(LRScheduler):
    """``lr_t = base_lr · f(t)`` with ``f`` piecewise linear through the knots of ``schedule``.

    ``t`` counts real updates: when the optimizer reports ``last_step_updated = False`` (an
    accumulation cycle still collecting), ``scheduler.step()`` does not advance. With the default
    schedule ``{0: 1}`` the learning rate is constant. Call ``scheduler.step()`` after each
    ``optimizer.step()``, as with any torch scheduler.
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule | None = None, last_epoch: int = -1) -> None:
        self.knots, self.values = parse_schedule({0: 1.0} if schedule is None else schedule)
        self._started = False
        super().__init__(optimizer, last_epoch)  # calls step() once to set the initial lr
        self._started = True

    def step(self, epoch: int | None = None) -> None:
        if self._started and epoch is None and not getattr(self.optimizer, "last_step_updated", True):
            return  # the optimizer only collected gradients: not an update, not a schedule step
        super().step(epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        factor = _interpolate(max(self.last_epoch, 0), self.knots, self.values)
        return [float(base) * factor for base in self.base_lrs]
