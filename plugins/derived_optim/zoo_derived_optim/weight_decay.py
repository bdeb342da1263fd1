"""Decoupled weight decay (article 7094 §1): ``p ← p_new − η_t·λ·p_old``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from zoo.checks import check_number
from zoo_derived_optim.base import Closure, DerivedOptimizer, compile_patterns, value_free


class WeightDecay(DerivedOptimizer):
    """Adds decoupled weight decay to ``optimizer`` (around Adam this is exactly AdamW).

    Args:
        rate: λ, decay per unit of learning rate (applied as ``η_t·λ`` each update).
        exclude: regexes (``re.search`` on parameter names) of parameters not to decay,
            e.g. ``["bias", "LayerNorm"]``; needs ``named_parameters()``.

    When the inner update does not depend on the parameters' values (Adam, SGD, … without
    their own weight decay) the decay is applied in place before the inner step, as
    ``torch.optim.AdamW`` does; otherwise ``p_old`` is kept and subtracted after it. Directly around a
    torch Adam/AdamW, the decay of every group without excluded parameters runs inside that optimizer's
    own decoupled weight decay for the step (in its fused kernel when fused: no extra pass; bit-exact).
    """

    def __init__(
        self, optimizer: Optimizer, rate: float = 0.01, exclude: str | Sequence[str] | None = None
    ) -> None:
        rate = check_number(rate, "weight decay rate (rate=; weight_decay= of lamb, adamw-lookahead)", low=0)
        super().__init__(optimizer)
        self.rate = rate
        self.exclude = compile_patterns(exclude, "exclude")
        self._folded: list[tuple[dict[str, Any], dict[str, Any]]] = []  # during a step: see _fold_into_adam
        optimizer.register_state_dict_post_hook(self._unfolded_state_dict)

    def _unfolded_state_dict(self, optimizer: Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        """A state_dict of the inner optimizer taken DURING a step (a step hook, a closure) records its
        groups' own weight-decay flags, not the rate folded in for that step (else a resume decays twice)."""
        if self._folded:
            index = {id(group): i for i, group in enumerate(optimizer.param_groups)}
            for group, saved in self._folded:
                if id(group) in index:
                    state_dict["param_groups"][index[id(group)]].update(saved)
        return state_dict

    def options(self) -> dict[str, object]:
        return {"rate": self.rate, "exclude": [p.pattern for p in self.exclude]}

    def _decayed(self, skip: Collection[int] = ()) -> list[tuple[list[torch.Tensor], float]]:
        """(params, η_t·λ) per group (but those whose ``id`` is in ``skip``), for parameters that have a
        gradient and are not excluded."""
        chosen: dict[int, tuple[list[torch.Tensor], float]] = {}
        for group, name, p in self.named_params():
            if id(group) in skip:
                continue
            if p.grad is not None and self.rate and not self.name_matches(p, name, self.exclude, "exclude"):
                chosen.setdefault(id(group), ([], float(group["lr"]) * self.rate))[0].append(p)
        return list(chosen.values())

    def _fold_into_adam(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Hands the decay of whole groups to a torch Adam/AdamW directly inside, for this step.

        Its decoupled weight decay, ``p ← p·(1 − η_t·λ)`` before its update, is what :meth:`step` would
        do (bit-exact on the for-loop, foreach and fused paths; tested) and runs in the same pass as the
        update in the fused kernel. Only groups with no excluded parameter; returns ``(group, its saved
        flags)`` for the caller to restore after the step.
        """
        inner = self.optimizer
        if not self.rate or type(inner) not in (torch.optim.Adam, torch.optim.AdamW):
            return []
        folded = []
        for group in inner.param_groups:
            if group.get("weight_decay") or "decoupled_weight_decay" not in group:
                continue  # its own L2 term (value_free said no), or an older torch Adam without the flag
            names = group.get("param_names")
            if any(
                self.name_matches(p, names[i] if names else None, self.exclude, "exclude")
                for i, p in enumerate(group["params"])
            ):
                continue
            folded.append((group, {k: group[k] for k in ("weight_decay", "decoupled_weight_decay")}))
            group["weight_decay"], group["decoupled_weight_decay"] = self.rate, True
        return folded

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        if not self.will_update or self._amp_skips():  # an inf under AMP skips the cycle: no decay either
            return self._inner_step(closure)
        if value_free(self.optimizer):
            self._folded = self._fold_into_adam()
            for ps, factor in self._decayed(skip={id(group) for group, _ in self._folded}):
                torch._foreach_mul_(ps, 1.0 - factor)
            try:
                return self._inner_step(closure)
            finally:
                for group, saved in self._folded:
                    group.update(saved)
                self._folded = []
        groups = self._decayed()
        old = [(ps, torch._foreach_mul(ps, factor)) for ps, factor in groups]
        loss = self._inner_step(closure)
        if self.last_step_updated:
            for ps, decay in old:
                torch._foreach_sub_(ps, decay)
        return loss
