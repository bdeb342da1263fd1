"""Exponential moving average of the weights (bert4keras' EMA extension), bias-corrected."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.optim import Optimizer

from zoo_derived_optim.base import Closure, DerivedOptimizer, check_fraction, value_free


class EMA(DerivedOptimizer):
    """After every real update: ``m_t = β·m_{t−1} + (1 − β)·θ`` with ``m_0 = 0``.

    The average is ``m_t / (1 − β^t)`` (bias-corrected, so early averages are not pulled to 0).
    ``with opt.averaged():`` swaps the averaged weights in (e.g. to evaluate) and restores after;
    ``opt.apply_average()`` / ``opt.restore()`` do the same in two calls.
    """

    def __init__(self, optimizer: Optimizer, momentum: float = 0.999) -> None:
        super().__init__(optimizer)
        self.momentum = check_fraction(momentum, "momentum", 0.0, 1.0)
        if self.momentum == 1.0:
            raise ValueError("momentum must be < 1 (1 would never move the average)")
        self.updates = 0
        self._backup: list[torch.Tensor] | None = None

    def options(self) -> dict[str, object]:
        return {"momentum": self.momentum}

    def is_value_free(self) -> bool:
        return value_free(self.optimizer)

    def _params(self) -> list[torch.Tensor]:
        return [p for _, _, p in self.named_params()]

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        if self._backup is not None:
            raise RuntimeError("the averaged weights are applied: call restore() before training on")
        loss = self._inner_step(closure)
        if self.last_step_updated:
            params = self._params()
            for p in params:
                state = self.state[p]
                if "average" not in state:
                    state["average"], state["updates"] = torch.zeros_like(p), 0
                state["updates"] += 1
            torch._foreach_lerp_([self.state[p]["average"] for p in params], params, 1.0 - self.momentum)
            self.updates += 1
        return loss

    @torch.no_grad()
    def averages(self) -> list[torch.Tensor]:
        """Bias-corrected averages, one per parameter (the parameters themselves before any update)."""
        out = []
        for p in self._params():
            state = self.state.get(p)
            if not state or not state.get("updates"):  # never averaged yet (e.g. added later)
                out.append(p.detach().clone())
            else:
                out.append(state["average"] / (1.0 - self.momentum ** state["updates"]))
        return out

    @torch.no_grad()
    def apply_average(self) -> None:
        """Put the averaged weights into the parameters (keeping the trained ones aside)."""
        if self._backup is not None:
            return
        params = self._params()
        self._backup = [p.detach().clone() for p in params]
        torch._foreach_copy_(params, self.averages())

    @torch.no_grad()
    def restore(self) -> None:
        """Put the trained weights back after :meth:`apply_average`."""
        if self._backup is None:
            return
        torch._foreach_copy_(self._params(), self._backup)
        self._backup = None

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        self.apply_average()
        try:
            yield
        finally:
            self.restore()

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "updates": self.updates}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        super().load_extra_state(extra)
        self.updates = int(extra.get("updates", 0))
