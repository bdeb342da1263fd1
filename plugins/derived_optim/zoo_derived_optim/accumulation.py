"""Gradient accumulation (article 7094 §4): one update with the mean of ``steps`` micro-batch gradients.

``p.grad`` itself is the accumulator, so DDP's ``no_sync`` works: gradients add up locally and
are all-reduced by the last micro-batch's backward. ``zero_grad()`` is a no-op inside a cycle, so
both usual loops work (``zero_grad`` before ``backward``, or after ``step``).

    opt = GradientAccumulation(torch.optim.AdamW(model.parameters()), steps=4)
    for x, y in batches:                      # micro-batches of equal size, mean losses
        with opt.no_sync(ddp_model):          # optional, under DDP
            loss_fn(model(x), y).backward()
        opt.step()                            # updates on every 4th call
        opt.zero_grad()

With AMP, call ``opt.scaler_step(scaler)`` instead of ``scaler.step(opt); scaler.update()``:
the scale then changes only between cycles, and an inf/NaN anywhere in a cycle skips it whole
(no wrapper of the stack acts on a skipped cycle: parameters and every state stay as they were).

At each update the summed gradients are divided by ``k`` (and GradScaler's scale): in place before the inner
step, or, around a fused torch Adam/AdamW/SGD/Adagrad, inside its kernel (passed as its ``grad_scale``),
which saves a pass over all gradients. Either way ``p.grad`` is not the summed gradient after an update.

The zero_grad rule: inside a cycle clear gradients only through this optimizer (``opt.zero_grad()``,
a no-op until the cycle ends), never ``model.zero_grad()`` or the inner optimizer's: those drop the
micro-batches collected so far. When ``p.grad`` was set to None and rebuilt in between (torch's default
``set_to_none=True``), the next ``step()`` warns once; ``zero_grad(set_to_none=False)`` cannot be told
from a second ``backward()`` and goes unnoticed.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from torch.optim import Optimizer

from zoo_derived_optim.base import Closure, DerivedOptimizer, value_free

# torch optimizers whose fused step divides the gradients by ``grad_scale`` inside its kernel
_UNSCALE_INSIDE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad)


class GradientAccumulation(DerivedOptimizer):
    """Accumulates ``steps`` (k >= 1) micro-batch gradients, then steps the inner optimizer once.

    Exactly equal to one step on the concatenated batch (parameters and inner state: Adam's step
    count advances once per cycle) when each micro-loss is a mean over equal-size micro-batches.

    Inside a cycle ``p.grad`` is the accumulator: clear it only with ``opt.zero_grad()`` (a no-op until
    the cycle ends), never with ``model.zero_grad()``, which drops the micro-batches collected so far
    (warned once at the next ``step()`` when it set the grads to None, torch's default).
    """

    _handles_amp = True

    def __init__(self, optimizer: Optimizer, steps: int = 2) -> None:
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps (micro-batches per update) must be an integer >= 1, got {steps!r}")
        super().__init__(optimizer)
        self.steps = steps
        self.micro_step = 0  # micro-batches collected in the current cycle
        # (param, weak reference to its grad) when the last micro-batch was counted: a grad object that
        # changed since means the accumulator was cleared (model.zero_grad() inside the cycle)
        self._held: list[tuple[torch.Tensor, weakref.ref[torch.Tensor]]] = []
        self._warned_lost = False

    def options(self) -> dict[str, object]:
        return {"steps": self.steps}

    def is_value_free(self) -> bool:
        return value_free(self.optimizer)

    @property
    def will_update(self) -> bool:
        return self.micro_step + 1 >= self.steps

    @property
    def _step_supports_amp_scaling(self) -> bool:
        return True  # GradScaler hands us grad_scale / found_inf; we unscale once per cycle

    def collect(self) -> None:
        """Count a micro-batch without updating (used by ``scaler_step`` inside a cycle)."""
        if self.will_update:
            raise RuntimeError("collect() at the end of a cycle: call step() instead")
        self._check_held()
        self.micro_step += 1
        self._hold()
        self.last_step_updated = False

    def skip_cycle(self) -> None:
        """Drop the current cycle (e.g. an inf under AMP): clear gradients, restart counting."""
        self.micro_step = 0
        self._held = []
        self.last_step_updated = False
        self.optimizer.zero_grad(set_to_none=True)

    def _hold(self) -> None:
        """Remember which gradient tensors hold the cycle so far (weakly: no memory is kept alive)."""
        self._held = [(p, weakref.ref(p.grad)) for _, _, p in self.named_params() if p.grad is not None]

    def _check_held(self) -> None:
        """Warn once if a gradient collected earlier in this cycle is gone (cleared from outside)."""
        if not self.micro_step or self._warned_lost:
            return
        # A new .grad that autograd built from the old one (backward(create_graph=True) accumulates out of
        # place: the new tensor has a grad_fn) still holds the cycle; None or a fresh leaf does not.
        lost = sum(
            ref() is not p.grad and (p.grad is None or p.grad.grad_fn is None) for p, ref in self._held
        )
        if lost:
            self._warned_lost = True
            warnings.warn(
                f"GradientAccumulation: the gradients of {self.micro_step} micro-batch(es) collected in this "
                f"cycle are gone ({lost} parameter(s) have a new or no .grad): something cleared them "
                "inside the cycle, e.g. model.zero_grad(). Inside a cycle clear gradients only with "
                "opt.zero_grad() (a no-op until the cycle ends). Warned once.",
                UserWarning,
                stacklevel=3,
            )

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        scale = getattr(self, "grad_scale", None)
        self._check_held()
        if not self.will_update:
            if scale is not None:
                raise RuntimeError(
                    "GradScaler.step() was called inside an accumulation cycle, where the scale must not "
                    "change: call opt.scaler_step(scaler) instead of scaler.step(opt); scaler.update()"
                )
            self.micro_step += 1
            self._hold()
            self.last_step_updated = False
            return loss
        self._held = []
        grads = [p.grad for _, _, p in self.named_params() if p.grad is not None]
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None and bool(found_inf.item()):
            self.skip_cycle()
            return loss
        divisor = self.steps * (1.0 if scale is None else float(scale.item()))
        if divisor != 1.0 and self._unscales_inside(grads):
            self._step_dividing_inside(grads[0].device, divisor)
        else:
            if divisor != 1.0:
                factor = 1.0 / divisor
                dense = [g for g in grads if not g.is_sparse]
                if dense:  # every gradient may be sparse (nn.Embedding(sparse=True) alone)
                    torch._foreach_mul_(dense, factor)
                for g in grads:
                    if g.is_sparse:
                        g.mul_(factor)
            self.optimizer.step()  # unscaled here: grad_scale / found_inf are not passed on
        self.micro_step = 0
        self.last_step_updated = getattr(self.optimizer, "last_step_updated", True)
        return loss

    def _unscales_inside(self, grads: list[torch.Tensor]) -> bool:
        """Whether the inner optimizer can divide the gradients by ``k·scale`` in its own pass.

        True for a torch Adam/AdamW/SGD/Adagrad whose every group is fused (their fused step takes a
        GradScaler's ``grad_scale``; the group flag, not ``_step_supports_amp_scaling``, which a copy of
        the optimizer loses) when every gradient is dense and on one device: the kernel then divides
        each gradient as it reads it, which saves the separate read-write pass over all gradients.
        """
        inner = self.optimizer
        if type(inner) not in _UNSCALE_INSIDE or not all(g.get("fused") for g in inner.param_groups):
            return False
        return bool(grads) and all(not g.is_sparse and g.device == grads[0].device for g in grads)

    def _step_dividing_inside(self, device: torch.device, divisor: float) -> None:
        """Step the inner (fused) optimizer with ``grad_scale = k·scale``: it uses ``g / (k·scale)``.

        The mean of the micro-batch gradients, divided once (the separate pass multiplies by a rounded
        reciprocal; the two agree bit for bit when ``k·scale`` is a power of two). torch's CPU kernel
        writes the divided gradients back into ``p.grad``; the next ``zero_grad()`` clears them. No
        ``found_inf``: an inf was dealt with above (the cycle was skipped).
        """
        inner = self.optimizer
        inner.grad_scale = torch.tensor(divisor, dtype=torch.float32, device=device)
        try:
            inner.step()
        finally:
            del inner.grad_scale

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self.micro_step == 0:  # between cycles only: inside one, gradients are the accumulator
            self.optimizer.zero_grad(set_to_none=set_to_none)

    @contextlib.contextmanager
    def no_sync(self, model: torch.nn.Module) -> Iterator[None]:
        """Around a micro-batch's backward: skips DDP's all-reduce unless this backward ends a cycle."""
        no_sync = getattr(model, "no_sync", None)
        if self.will_update or not callable(no_sync):
            yield
        else:
            with no_sync():
                yield

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_held"] = []  # weak references do not pickle; a copy has no history to check against
        return state

    def extra_state(self) -> dict[str, Any]:
        """The micro-step and, inside a cycle, the gradients collected so far (they live in ``p.grad``)."""
        grads: dict[int, torch.Tensor] = {}
        if self.micro_step:
            grads = {i: p.grad.detach().clone() for i, p in self.index_of().items() if p.grad is not None}
        return {**super().extra_state(), "micro_step": self.micro_step, "accumulated_grads": grads}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        super().load_extra_state(extra)
        self.micro_step = int(extra.get("micro_step", 0))
        params = self.index_of()
        for index, grad in (extra.get("accumulated_grads") or {}).items():
            p = params[int(index)]
            p.grad = grad.to(device=p.device, dtype=p.dtype)
        self._held = []
        if self.micro_step:
            self._hold()
