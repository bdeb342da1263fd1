"""Lookahead (article 7094 §5; Zhang et al. 2019): slow weights pulled towards the fast ones."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer

from zoo.checks import check_number
from zoo_derived_optim.base import Closure, DerivedOptimizer


class Lookahead(DerivedOptimizer):
    """Every ``k`` real updates of the inner (fast) optimizer: ``φ ← φ + α(θ − φ)``; ``θ ← φ``.

    The slow weights φ start as a COPY of θ, taken at the first step (the reference starts them
    at zero, which halves the weights at the first sync: fixed here, with a regression test).
    Only real updates count (an accumulation cycle still collecting does not).
    """

    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k (inner steps per sync) must be an integer >= 1, got {k!r}")
        super().__init__(optimizer)
        self.k = k
        self.alpha = check_number(alpha, "alpha (slow step size; 0 never moves the weights)", low=0, high=1,
                                  low_open=True)  # fmt: skip
        self.phase = 0  # real inner updates since the last sync

    def options(self) -> dict[str, object]:
        return {"k": self.k, "alpha": self.alpha}

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        params = [p for _, _, p in self.named_params()]
        fresh = [p for p in params if "slow" not in self.state[p]]
        for p in fresh:
            self.state[p]["slow"] = p.detach().clone()
        loss = self._inner_step(closure)
        if not self.last_step_updated:
            return loss
        self.phase += 1
        if self.phase >= self.k:
            self.phase = 0
            slow = [self.state[p]["slow"] for p in params]
            # θ ← θ + (1 − α)(φ − θ) = φ + α(θ − φ), then φ ← θ: the copy reads the freshly written θ
            torch._foreach_lerp_(params, slow, 1.0 - self.alpha)
            torch._foreach_copy_(slow, params)
        return loss

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "phase": self.phase}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        super().load_extra_state(extra)
        self.phase = int(extra.get("phase", 0))
