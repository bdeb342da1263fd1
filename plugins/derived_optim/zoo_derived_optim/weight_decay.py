"""Decoupled weight decay (article 7094 §1): ``p ← p_new − η_t·λ·p_old``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.optim import Optimizer

from zoo_derived_optim.base import Closure, DerivedOptimizer, compile_patterns, value_free


class WeightDecay(DerivedOptimizer):
    """Adds decoupled weight decay to ``optimizer`` (around Adam this is exactly AdamW).

    Args:
        rate: λ, decay per unit of learning rate (applied as ``η_t·λ`` each update).
        exclude: regexes (``re.search`` on parameter names) of parameters not to decay,
            e.g. ``["bias", "LayerNorm"]``; needs ``named_parameters()``.

    When the inner update does not depend on the parameters' values (Adam, SGD, … without
    their own weight decay) the decay is applied in place before the inner step, as
    ``torch.optim.AdamW`` does; otherwise ``p_old`` is kept and subtracted after it.
    """

    def __init__(
        self, optimizer: Optimizer, rate: float = 0.01, exclude: str | Sequence[str] | None = None
    ) -> None:
        if not isinstance(rate, int | float) or rate < 0:
            raise ValueError(f"weight decay rate must be >= 0, got {rate!r}")
        super().__init__(optimizer)
        self.rate = float(rate)
        self.exclude = compile_patterns(exclude, "exclude")

    def options(self) -> dict[str, object]:
        return {"rate": self.rate, "exclude": [p.pattern for p in self.exclude]}

    def _decayed(self) -> list[tuple[list[torch.Tensor], float]]:
        """(params, η_t·λ) per group, for parameters that have a gradient and are not excluded."""
        chosen: dict[int, tuple[list[torch.Tensor], float]] = {}
        for group, name, p in self.named_params():
            if p.grad is not None and self.rate and not self.name_matches(p, name, self.exclude, "exclude"):
                chosen.setdefault(id(group), ([], float(group["lr"]) * self.rate))[0].append(p)
        return list(chosen.values())

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        if not self.will_update:
            return self._inner_step(closure)
        groups = self._decayed()
        if value_free(self.optimizer):
            for ps, factor in groups:
                torch._foreach_mul_(ps, 1.0 - factor)
            return self._inner_step(closure)
        old = [(ps, torch._foreach_mul(ps, factor)) for ps, factor in groups]
        loss = self._inner_step(closure)
        if self.last_step_updated:
            for ps, decay in old:
                torch._foreach_sub_(ps, decay)
        return loss
