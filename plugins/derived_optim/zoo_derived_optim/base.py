"""The base of every derived optimizer: a real ``torch.optim.Optimizer`` wrapping another one.

A wrapper's ``param_groups`` IS the innermost optimizer's list, read through on every access (so LR
schedulers, manual ``group["lr"]`` edits, ``zero_grad`` and ``add_param_group`` act on the whole stack,
also after ``load_state_dict()``, which makes torch optimizers replace their list). A wrapper keeps its
own per-parameter state in ``self.state`` (never mixed into the inner state, whose emptiness torch
optimizers use to initialise).
``state_dict()`` nests the inner one: ``{"inner": …, "derived": {"state": {index: …}, "extra": …}}``
with parameters keyed by their index in ``param_groups``, so it reloads into fresh objects and
across devices.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from zoo.checks import check_number

Closure = Callable[[], float] | None


class DerivedOptimizer(Optimizer):
    """Wraps ``optimizer``; subclasses implement :meth:`step`.

    Attributes:
        optimizer: the wrapped optimizer (itself possibly a derived one).
        last_step_updated: whether the last ``step()`` changed the parameters (False while a
            gradient accumulation cycle is still collecting); counters count real updates only.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__} wraps a torch.optim.Optimizer, got {type(optimizer).__name__}; "
                "build one first, e.g. torch.optim.Adam(model.parameters(), lr=1e-3)"
            )
        kinds = [type(o) for o in walk(optimizer)]
        if type(self) in kinds:
            raise ValueError(f"the stack already contains a {type(self).__name__}; use it once")
        self._ready = False  # Optimizer.__init__ must neither add nor replace the shared groups
        self.optimizer = optimizer
        super().__init__(optimizer.param_groups, optimizer.defaults)
        self._ready = True
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)
        self.last_step_updated = False
        self._pattern_hits: dict[int, bool] = {}  # id(param) → its name matches this wrapper's patterns

    # -- the stack ---------------------------------------------------------------------------
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The innermost optimizer's list itself: one set of groups for the whole stack.

        Read through (not a copy kept at construction): ``torch.optim.Optimizer.load_state_dict``
        replaces the list of the optimizer it loads, and the wrappers must keep seeing it.
        """
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        if self.__dict__.get("_ready"):  # Optimizer.__init__ sets [] before the stack is wired: ignored
            self.optimizer.param_groups = groups

    @property
    def base(self) -> Optimizer:
        """The innermost (plain torch) optimizer."""
        return list(walk(self))[-1]

    def _inner_step(self, closure: Closure = None) -> Any:
        """Step the wrapped optimizer, passing on AMP attributes set by a GradScaler."""
        for attr in ("grad_scale", "found_inf"):
            if hasattr(self, attr):
                setattr(self.optimizer, attr, getattr(self, attr))
        try:
            loss = self.optimizer.step(closure)
        finally:
            for attr in ("grad_scale", "found_inf"):
                if hasattr(self, attr) and hasattr(self.optimizer, attr):
                    delattr(self.optimizer, attr)
        self.last_step_updated = getattr(self.optimizer, "last_step_updated", True)
        return loss

    def _amp_skips(self) -> bool:
        """Whether a GradScaler found an inf/NaN for this step: the stack skips it whole.

        ``found_inf`` is only set when the stack holds a :class:`GradientAccumulation` (which then skips
        the cycle): a wrapper that acts BEFORE its inner step (e.g. weight decay in place) must not.
        """
        found_inf = getattr(self, "found_inf", None)
        return found_inf is not None and bool(found_inf.item())

    @property
    def _step_supports_amp_scaling(self) -> bool:
        return bool(getattr(self.optimizer, "_step_supports_amp_scaling", False)) and any(
            isinstance(o, DerivedOptimizer) and o._handles_amp for o in walk(self)
        )

    _handles_amp = False

    @property
    def will_update(self) -> bool:
        """Whether the next ``step()`` will change the parameters (False inside an accumulation cycle)."""
        return bool(getattr(self.optimizer, "will_update", True))

    def is_value_free(self) -> bool:
        """See :func:`value_free`; conservative by default."""
        return False

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self._ready:  # during Optimizer.__init__ the shared groups are already in place
            self.optimizer.add_param_group(param_group)

    def scaler_step(self, scaler: torch.amp.GradScaler) -> None:
        """With AMP, call this instead of ``scaler.step(opt); scaler.update()``.

        Inside an accumulation cycle it only counts the micro-batch (the scale must not change within
        a cycle); at the end of a cycle, or at every call without accumulation, it steps through the
        scaler. An inf/NaN skips the whole cycle: no wrapper acts, and ``last_step_updated`` is False on
        every level, so counters of real updates (``PiecewiseLinearLR``) do not advance either.
        """
        from zoo_derived_optim.accumulation import GradientAccumulation

        wrappers = [o for o in walk(self) if isinstance(o, DerivedOptimizer)]
        for o in wrappers:  # a step that runs sets them again; one the scaler skips leaves them False
            o.last_step_updated = False
        acc = next((o for o in wrappers if isinstance(o, GradientAccumulation)), None)
        if acc is not None and not acc.will_update:
            acc.collect()
            return
        scaler.step(self)
        scaler.update()
        if acc is not None and not acc.last_step_updated:  # an inf anywhere in the cycle: skip it whole
            acc.skip_cycle()

    # -- parameters --------------------------------------------------------------------------
    def named_params(self) -> Iterator[tuple[dict[str, Any], str | None, torch.Tensor]]:
        """``(group, name, param)`` for every parameter; names come from ``named_parameters()``."""
        for group in self.param_groups:
            names = group.get("param_names")
            for i, p in enumerate(group["params"]):
                yield group, (names[i] if names else None), p

    def name_matches(
        self, p: torch.Tensor, name: str | None, patterns: list[re.Pattern[str]], what: str
    ) -> bool:
        """:func:`matches`, computed once per parameter (names do not change; steps are hot)."""
        hit = self._pattern_hits.get(id(p))
        if hit is None:
            hit = self._pattern_hits[id(p)] = matches(name, patterns, what)
        return hit

    def index_of(self) -> dict[int, torch.Tensor]:
        """Parameters by their position across ``param_groups`` (the state_dict key)."""
        return dict(enumerate(p for _, _, p in self.named_params()))

    # -- checkpoints -------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Scalars of the wrapper (counters, phases); subclasses extend."""
        return {"last_step_updated": self.last_step_updated}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        self.last_step_updated = bool(extra.get("last_step_updated", False))

    def state_dict(self) -> dict[str, Any]:
        ids = {id(p): i for i, p in self.index_of().items()}
        state = {ids[id(p)]: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
                 for p, s in self.state.items() if s}  # fmt: skip
        return {
            "inner": self.optimizer.state_dict(),
            "derived": {"type": type(self).__name__, "state": state, "extra": self.extra_state()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        derived = state_dict.get("derived")
        if not isinstance(derived, dict) or "inner" not in state_dict:
            raise ValueError(
                f"not a state_dict of {type(self).__name__} (expected keys 'inner' and 'derived')"
            )
        if derived.get("type") != type(self).__name__:
            raise ValueError(f"state_dict is of a {derived.get('type')}, not a {type(self).__name__}")
        self.optimizer.load_state_dict(state_dict["inner"])
        params = self.index_of()
        self.state = defaultdict(dict)
        for index, saved in derived["state"].items():
            p = params[int(index)]
            self.state[p] = {k: v.to(device=p.device, dtype=p.dtype if v.is_floating_point() else v.dtype)
                             if torch.is_tensor(v) else v for k, v in saved.items()}  # fmt: skip
        self.load_extra_state(derived.get("extra", {}))

    def __getstate__(self) -> dict[str, Any]:
        """Everything (torch's keeps only defaults, state and groups, losing the wrapped optimizer), so
        ``copy.deepcopy`` and pickling give a working stack."""
        state = self.__dict__.copy()
        state["_pattern_hits"] = {}  # keyed by id(param): the copy's parameters are new objects
        if "_buffers" in state:
            state["_buffers"] = {}  # scratch space (see buffer_for), made again at the next step
        return state

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        inner = "\n".join("  " + line for line in repr(self.optimizer).splitlines())
        return f"{type(self).__name__}({options})(\n{inner}\n)"

    def options(self) -> dict[str, Any]:
        return {}


def walk(optimizer: Optimizer) -> Iterator[Optimizer]:
    """The optimizer and everything it wraps, outermost first."""
    while True:
        yield optimizer
        if not isinstance(optimizer, DerivedOptimizer):
            return
        optimizer = optimizer.optimizer


def buffer_for(
    buffers: dict[torch.Tensor, torch.Tensor], p: torch.Tensor, zeros: bool = False
) -> torch.Tensor:
    """A reused scratch tensor like ``p`` from ``buffers``, made again (empty, or zero with ``zeros``) when
    there is none or p's shape, dtype or device changed."""
    buf = buffers.get(p)
    if buf is None or buf.shape != p.shape or buf.dtype != p.dtype or buf.device != p.device:
        make = torch.zeros_like if zeros else torch.empty_like
        buf = buffers[p] = make(p, memory_format=torch.preserve_format)
    return buf


def step_on_buffers(optimizer: Optimizer, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``optimizer.step()`` with each ``(p, buffer)``'s buffer standing in for p's data.

    The optimizer (its state keyed by p, its gradient p.grad) updates the buffer in place; p keeps its
    values and storage. With a :func:`value_free` optimizer and zeroed buffers, the buffers end holding
    the step Δ itself, which spares the snapshot of the weights and the subtraction ``p_new − p_old``.
    """
    swapped: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        for p, buf in pairs:
            swapped.append((p, p.data))
            p.data = buf
        optimizer.step()
    finally:
        for p, data in swapped:
            p.data = data


def compile_patterns(patterns: str | Sequence[str] | None, what: str) -> list[re.Pattern[str]]:
    """Regexes matched with ``re.search`` on parameter names."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = list(patterns) if isinstance(patterns, Sequence | set) else [patterns]
    bad = [p for p in patterns if not isinstance(p, str)]
    if bad:
        raise ValueError(f'{what} takes regular expressions (strings), e.g. ["embed"]; got {bad[0]!r}')
    try:
        return [re.compile(p) for p in patterns]
    except re.error as exc:
        raise ValueError(f"{what}: invalid regular expression: {exc}") from exc


def matches(name: str | None, patterns: list[re.Pattern[str]], what: str) -> bool:
    if not patterns:
        return False
    if name is None:
        raise ValueError(
            f"{what} patterns match parameter names, but the optimizer has none: "
            "build it from model.named_parameters() instead of model.parameters()"
        )
    return any(p.search(name) for p in patterns)


def value_free(optimizer: Optimizer) -> bool:
    """True if the update of ``optimizer`` does not depend on the parameters' current values.

    Then a change made to the parameters just before its step carries through unchanged
    (``p_new = p + Δ(grads, state)``), which lets decoupled weight decay run in place.
    """
    if isinstance(optimizer, DerivedOptimizer):
        return optimizer.is_value_free()
    o = torch.optim
    free_types = (
        o.SGD,
        o.Adam,
        o.AdamW,
        o.Adamax,
        o.NAdam,
        o.RAdam,
        o.Adagrad,
        o.RMSprop,
        o.Adadelta,
        o.SparseAdam,
    )
    return type(optimizer) in free_types and all(not g.get("weight_decay") for g in optimizer.param_groups)


def check_fraction(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]`` (not a bool), else a ValueError."""
    return check_number(value, name, low=low, high=high)
