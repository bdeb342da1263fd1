"""Lazy optimization (article 7094 §6): rows whose gradient is all zero are not updated.

For embeddings: a batch touches a few rows; Adam's momentum would still move all the others.
Row mask ``r = any(g ≠ 0 along the last axis)`` and ``p ← p_old + r⊙Δ``, as in the spec and the
reference (``K.any(K.not_equal(g, 0), axis=-1, keepdims=True)``): a row is one slice along the LAST
axis, indexed by all the leading ones, so the mask has shape ``p.shape[:-1]``:

- a 2-d ``(vocab, dim)`` embedding has ``vocab`` rows;
- a 1-d parameter (a bias, a LayerNorm weight that ``include="embed"`` also matches) is ONE row: it
  moves whole as soon as any entry has a gradient (grad ``[1, 0, 1, 0]`` moves all four entries);
- a ``(a, b, c)`` parameter has ``a·b`` rows of length ``c``;
- 0-d parameters are left to the inner optimizer.

Modes:
    ``"params"`` (the reference's behaviour): only the parameter update is masked; the inner
        optimizer's moments of untouched rows still decay.
    ``"slots"``: the base optimizer's state tensors shaped like the parameter (Adam's ``exp_avg``
        and ``exp_avg_sq``…) are frozen at the same untouched rows too, like ``torch.optim.SparseAdam`` /
        TF LazyAdam. (State of wrappers between this one and the base, e.g. Lookahead's slow weights, is
        not frozen: put ``lazy`` directly around the base optimizer.)

In ``"params"`` mode directly around a torch Adam/AdamW (without weight decay), when most rows are
untouched, the inner step is made in a buffer standing in for the weight and only the touched rows get it;
otherwise the untouched rows are saved before the inner step and put back after it. Both are bit-exact
with the rule on CPU (tested); on a device whose Adam kernel fuses ``p − s·q`` into one multiply-add, the
first can differ from the in-place update in the last bit of the touched rows.

Sparse gradients (``nn.Embedding(sparse=True)``) give the rows directly and are always treated
lazily; they are made dense for inner optimizers that do not take sparse gradients. Without
``include`` and without sparse gradients nothing is lazy (the optimizer equals its inner one): the
first step where that happens warns once, naming what to pass (``include=["embed"]``). A warning, not
an error at construction: whether gradients are sparse is only known at the first step.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import torch
from torch.optim import Optimizer

from zoo_derived_optim.base import (
    Closure,
    DerivedOptimizer,
    buffer_for,
    compile_patterns,
    step_on_buffers,
    value_free,
)

SPARSE_OK = (torch.optim.SGD, torch.optim.SparseAdam, torch.optim.Adagrad)


def touched_rows(grad: torch.Tensor) -> torch.Tensor:
    """Boolean mask of shape ``grad.shape[:-1]``: the rows with a nonzero entry along the last axis.

    ``grad`` is dense or sparse COO, of 1 or more dimensions (1-d: a 0-d mask, the whole vector is
    one row).
    """
    if grad.dim() < 1:
        raise ValueError("touched_rows needs a gradient of 1 or more dimensions (rows along the last axis)")
    if not grad.is_sparse:
        # max ≠ 0 or min ≠ 0 along the row: NaN counts as touched (both propagate it), −0.0 does not, as
        # `any(g != 0)`; two reading passes, no copy (any() first makes a bool copy of the whole gradient)
        return grad.amax(dim=-1).ne(0) | grad.amin(dim=-1).ne(0)
    grad = grad.coalesce()
    values, indices = grad.values(), grad.indices()
    if grad.dim() == 1:
        return values.any()
    mask = torch.zeros(grad.shape[:-1], dtype=torch.bool, device=grad.device)
    if grad.sparse_dim() == grad.dim():  # one scalar per entry: its row is given by its leading indices
        mask[tuple(indices[:-1, values.ne(0)])] = True
    else:  # hybrid: each entry is a dense block of shape shape[sparse_dim:], the last axis inside it
        mask[tuple(indices)] = values.any(dim=-1)
    return mask


def _rows(t: torch.Tensor) -> torch.Tensor | None:
    """``t`` as a ``(rows, last)`` view sharing its memory, or None when no view exists."""
    return t.view(-1, t.shape[-1]) if t.is_contiguous() else None


class _Frozen:
    """The untouched rows of one tensor, saved before the inner step and put back after it."""

    def __init__(self, tensor: torch.Tensor, untouched: torch.Tensor, index: torch.Tensor) -> None:
        self.tensor, self.untouched, self.index = tensor, untouched, index
        rows = _rows(tensor)
        self.values = rows.index_select(0, index) if rows is not None else tensor[untouched]

    def restore(self) -> None:
        rows = _rows(self.tensor)
        if rows is not None:
            rows.index_copy_(0, self.index, self.values)
        else:
            self.tensor[self.untouched] = self.values


class LazyOptimization(DerivedOptimizer):
    """Masks updates to the rows that received gradient, for parameters matching ``include``.

    Args:
        include: regexes (``re.search`` on names) of the parameters to treat lazily, e.g.
            ``["embed"]``; parameters with sparse gradients are always treated lazily. Rows are slices
            along the last axis (see the module docstring for 1-d and 3-d+ parameters).
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
        self._warned_not_lazy = False
        self._buffers: dict[torch.Tensor, torch.Tensor] = {}  # reused scratch tensors (not state)

    def options(self) -> dict[str, object]:
        return {"include": [p.pattern for p in self.include], "mode": self.mode}

    def is_value_free(self) -> bool:
        return value_free(self.optimizer)

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        if not self.will_update:
            return self._inner_step(closure)
        loss = None
        if closure is not None:  # first: the rows are read from the gradients it makes
            with torch.enable_grad():
                loss = closure()
        base = self.base
        # "params" mode directly around a torch Adam/AdamW without weight decay: the step Δ is made in a
        # zeroed buffer and only the touched rows get it, p ← p + r⊙Δ, which spares saving and restoring
        # the untouched rows. Bit-exact with the in-place update on every CPU path (tested: its kernels
        # round p + (−s·q) and 0 + (−s·q) alike); not taken for SGD, whose foreach kernel fuses p + α·g
        in_buffers = (
            self.mode == "params"
            and type(base) in (torch.optim.Adam, torch.optim.AdamW)
            and base is self.optimizer
            and value_free(base)
            and not (hasattr(self, "grad_scale") or hasattr(self, "found_inf"))
        )
        frozen: list[_Frozen] = []
        moved: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (p, its Δ buffer, touched rows)
        lazy = seen = 0  # parameters treated lazily / with a gradient
        for _, name, p in self.named_params():
            g = p.grad
            if g is None or p.dim() < 1:
                continue
            seen += 1
            if not (g.is_sparse or self.name_matches(p, name, self.include, "include")):
                continue
            lazy += 1
            touched = touched_rows(g)
            rows = touched.reshape(-1).nonzero().squeeze(1)  # the touched rows, computed once
            if g.is_sparse and not isinstance(base, SPARSE_OK):
                p.grad = g.to_dense()
            if rows.numel() == touched.numel():
                continue
            if in_buffers and p.is_contiguous() and 2 * rows.numel() < touched.numel():
                # most rows untouched: add Δ to the few touched ones rather than restore the many others.
                # Only the touched rows of the buffer are read back, so only they must start at 0 (the
                # others hold earlier steps, finite, made zero once)
                delta = buffer_for(self._buffers, p, zeros=True)
                _rows(delta).index_fill_(0, rows, 0)  # type: ignore[union-attr]
                moved.append((p, delta, rows))
                continue
            untouched = ~touched
            index = untouched.reshape(-1).nonzero().squeeze(1)
            frozen.append(_Frozen(p, untouched, index))
            if self.mode == "slots":
                for value in base.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        frozen.append(_Frozen(value, untouched, index))
        if seen and not lazy:
            self._warn_not_lazy()
        if not moved:
            self._inner_step()
        else:
            step_on_buffers(base, [(p, delta) for p, delta, _ in moved])
            self.last_step_updated = True
            for p, delta, rows in moved:  # p ← p + Δ on the touched rows (p + 0 elsewhere, skipped)
                _rows(p).index_add_(0, rows, _rows(delta).index_select(0, rows))  # type: ignore[union-attr]
        if self.last_step_updated:
            for f in frozen:
                f.restore()
        return loss

    def _warn_not_lazy(self) -> None:
        if self._warned_not_lazy:
            return
        self._warned_not_lazy = True
        patterns = [p.pattern for p in self.include]
        why = f"no parameter name matches include={patterns}" if patterns else "include is not set"
        warnings.warn(
            f"lazy optimization treated no parameter lazily ({why} and no gradient is sparse), so it "
            "equals its inner optimizer: pass include= regexes of the embedding parameters' names, e.g. "
            'include=["embed"] (names come from model.named_parameters()), or use sparse embeddings '
            "(nn.Embedding(sparse=True)). Warned once.",
            UserWarning,
            stacklevel=3,
        )
