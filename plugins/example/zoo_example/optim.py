"""The optimizer: signSGD (Bernstein et al., 2018), ``p ← p − lr·sign(g)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class SignSGD(torch.optim.Optimizer):
    """signSGD over ``params`` with learning rate ``lr`` (> 0)."""

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float = 0.01) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(torch.sign(p.grad), alpha=-group["lr"])
        return loss
