"""Layer adaptation, the LAMB trust ratio (article 7094 §2): per tensor, ``p ← p_old + r·Δ``.

``Δ = p_new − p_old`` is the inner optimizer's step, ``η̃ = max(η_t, 1e-7)`` and
``r = ‖p_old‖ / ‖Δ/η̃‖`` when both norms are positive, else 1: the applied step has norm
``η̃·‖p_old‖`` and the direction of the inner step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.optim import Optimizer

from zoo.checks import check_number
from zoo_derived_optim.base import Closure, DerivedOptimizer, compile_patterns


def _sq_norm(t: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm through BLAS dot (fp32/fp64): ~2.5x faster than a norm kernel on CPU."""
    flat = t.reshape(-1)
    if flat.dtype in (torch.float32, torch.float64):
        return torch.dot(flat, flat)
    return flat.float().pow(2).sum()


class LayerAdaptation(DerivedOptimizer):
    """Scales each tensor's update to ``max(lr, min_lr)·‖p‖`` (LAMB's trust ratio).

    Args:
        exclude: regexes of parameter names left as the inner optimizer makes them.
        min_lr: the floor η̃ of the learning rate in the ratio (1e-7 in the reference).
    """

    def __init__(
        self, optimizer: Optimizer, exclude: str | Sequence[str] | None = None, min_lr: float = 1e-7
    ) -> None:
        min_lr = check_number(min_lr, "min_lr (floor of the lr in the trust ratio)", low=0, low_open=True)
        super().__init__(optimizer)
        self.exclude = compile_patterns(exclude, "exclude")
        self.min_lr = float(min_lr)
        self._old: dict[torch.Tensor, torch.Tensor] = {}  # reused snapshot buffers (not state)

    def options(self) -> dict[str, object]:
        return {"exclude": [p.pattern for p in self.exclude], "min_lr": self.min_lr}

    def _buffer(self, p: torch.Tensor) -> torch.Tensor:
        """The reused snapshot buffer of ``p`` (made again if ``p`` changed shape, dtype or device)."""
        buf = self._old.get(p)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype or buf.device != p.device:
            buf = self._old[p] = torch.empty_like(p, memory_format=torch.preserve_format)
        return buf

    @torch.no_grad()
    def step(self, closure: Closure = None) -> float | None:
        if not self.will_update:
            return self._inner_step(closure)
        chosen = [
            (group, p)
            for group, name, p in self.named_params()
            if p.grad is not None and not self.name_matches(p, name, self.exclude, "exclude")
        ]
        olds = [self._buffer(p) for _, p in chosen]
        old_sqs = []
        # tensor by tensor (no foreach): the copy is still in cache when its norm reads it
        for (_, p), old in zip(chosen, olds, strict=True):
            old.copy_(p)
            old_sqs.append(_sq_norm(old))
        loss = self._inner_step(closure)
        if not self.last_step_updated:
            return loss
        for (group, p), minus_delta, old_sq in zip(chosen, olds, old_sqs, strict=True):
            lr = max(float(group["lr"]), self.min_lr)
            minus_delta.sub_(p)  # the buffer now holds p_old − p_new = −Δ, in place
            delta_sq = _sq_norm(minus_delta)
            if p.device.type == "cpu":  # reading a CPU scalar costs no sync: plain-float ratio and alpha
                o, d = float(old_sq), float(delta_sq)
                ratio = lr * math.sqrt(o / d) if o > 0 and d > 0 else 1.0
                p.add_(minus_delta, alpha=1.0 - ratio)  # p_new + (1 − r)(p_old − p_new) = p_old + r·Δ
            else:  # on an accelerator: no host sync, the ratio stays a tensor
                ratio_t = torch.where((old_sq > 0) & (delta_sq > 0), lr * (old_sq / delta_sq).sqrt(), 1.0)
                p.addcmul_(minus_delta, (1.0 - ratio_t).to(p.dtype))
        return loss
