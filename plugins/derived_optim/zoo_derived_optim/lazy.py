"""Lazy optimization (article 7094 §6): rows whose gradient is all zero are not updated.

For embeddings: a batch touches a few rows; Adam's momentum would still move all the others.
Row mask ``r = any(g ≠ 0 along the last axis)`` and ``p ← p_old + r⊙Δ``.

Modes:
    ``"params"`` (the reference's behaviour): only the parameter update is masked; the inner
        optimizer's moments of untouched rows still decay.
    ``"slots"``: the base optimizer's state tensors shaped like the parameter (Adam's ``exp_avg``
        and ``exp_avg_sq``…) are frozen at untouched rows too, like ``torch.optim.SparseAdam`` / TF
        LazyAdam. (State of wrappers between this one and the base, e.g. Lookahead's slow weights, is
        not frozen: put ``lazy`` directly around the base optimizer.)

Sparse gradients (``nn.Embedding(sparse=True)``) give the rows directly; they are made dense
for inner optimizers that do not take sparse gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch.optim import Optimizer

from zoo_derived_optim.base import Closure, DerivedOptimizer, compile_patterns, value_free

SPARSE_OK = (torch.optim.SGD, torch.optim.SparseAdam, torch.optim.Adagrad)


def touched_rows(grad: torch.Tensor) -> torch.Tensor:
    """Boolean ``(rows,)`` mask of the rows of a 2-d+ gradient that have a nonzero entry (dense or sparse)."""
    if grad.is_sparse:
        grad = grad.coalesce()
        mask = torch.zeros(grad.shape[0], dtype=torch.bool, device=grad.device)
        nonzero = grad.values().reshape(grad.values().shape[0], -1).ne(0).any(dim=1)
        mask[grad.indices()[0][nonzero]] = True
        return mask
    return grad.reshape(grad.shape[0], -1).any(dim=1)


class LazyOptimization(DerivedOptimizer):
    """Masks updates to the rows that received gradient, for parameters matching ``include``.

    Args:
        include: regexes (``re.search`` on names) of the parameters to treat lazily, e.g.
            ``["embed"]``; parameters with sparse gradients are always treated lazily.
        mode: ``"params"`` (reference) or ``"slots"`` (also freeze the inner state's rows).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        include: str | Sequence[str] | None = None,
        mode: Literal["params", "slots"] = "params",
    ) -> None:
        if mode not in ("params", "slots"):
            raise ValueError(f"mode must be 'params' or 'slots', got {mode!r}")
        super().__init__(optimizer)
        self.include = compile_patterns(include, "include")
        self.mode = mode

    def options(self) -> dict[str, object]:
        return {"include": [p.pattern for p in self.include], "mode": self.mode}

    def is_value_free(self) -> bool:
        return value_free(self.optimizer)

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        if not self.will_update:
            return self._inner_step(closure)
        base = self.base
        frozen: list[tuple[torch.Tensor, torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]] = []
        for _, name, p in self.named_params():
            g = p.grad
            if (
                g is None
                or p.dim() < 1
                or not (g.is_sparse or self.name_matches(p, name, self.include, "include"))
            ):
                continue
            rows = (~touched_rows(g)).nonzero().squeeze(1)  # the untouched rows, computed once
            if g.is_sparse and not isinstance(base, SPARSE_OK):
                p.grad = g.to_dense()
            saved = [(p, p.index_select(0, rows))]
            if self.mode == "slots":
                for value in base.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        saved.append((value, value.index_select(0, rows)))
            frozen.append((p, rows, saved))
        loss = self._inner_step(closure)
        if self.last_step_updated:
            for _, rows, saved in frozen:
                for tensor, values in saved:
                    tensor.index_copy_(0, rows, values)
        return loss
