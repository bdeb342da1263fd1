"""The score-function (REINFORCE) estimator with optional baselines (article 6705).

``∇_θ E_{z~p_θ}[f(z)] = E[(f(z) - b) ∇_θ log p_θ(z)]`` for any baseline ``b`` independent of ``z``.
It needs no gradient of ``f`` and works for discrete ``z``, at the price of high variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from zoo_reparam.gumbel import compute_dtype, gumbel_max, one_hot_like

__all__ = ["BASELINES", "CategoricalSample", "ScoreFunction"]

BASELINES = (None, "loo", "ema")


@dataclass
class CategoricalSample:
    """A categorical draw: ``index`` (...) int64, ``one_hot`` (..., K) in the logits' dtype, no
    gradient, and ``log_prob`` (...) = log p_θ(index), differentiable in the logits."""

    index: Tensor
    one_hot: Tensor
    log_prob: Tensor


class ScoreFunction:
    """Draw categorical samples and build the surrogate whose gradient is the REINFORCE estimate.

    Args:
        baseline: None; ``"loo"``, leave-one-out mean of the other costs in the batch (unbiased,
            needs batch ≥ 2); or ``"ema"``, a running mean of earlier batches' mean cost.
        momentum: the EMA's weight on the past, in [0, 1).
    """

    def __init__(self, baseline: str | None = None, momentum: float = 0.9) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINES}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.baseline = baseline
        self.momentum = momentum
        self.running_cost: float | None = None

    def __call__(
        self,
        logits: Tensor,
        *,
        dim: int = -1,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> CategoricalSample:
        """Sample ``index ~ softmax(logits)`` (Gumbel-max; ``noise`` is Gumbel noise)."""
        index = gumbel_max(logits, dim=dim, generator=generator, noise=noise)
        log_p = torch.log_softmax(logits.to(compute_dtype(logits.dtype)), dim)
        log_prob = log_p.gather(dim, index.unsqueeze(dim)).squeeze(dim)
        return CategoricalSample(index, one_hot_like(logits, index, dim), log_prob)

    def surrogate(self, cost: Tensor, log_prob: Tensor, baseline: Tensor | None = None) -> Tensor:
        """A tensor equal to ``cost`` whose gradient adds ``(cost - b) * ∇ log_prob``.

        ``cost`` is per sample ``(B,)`` (its own pathwise gradient, if any, is kept); ``log_prob``
        is ``(B,)``, the log-probability of each sample (sum it over independent latent variables
        first). ``baseline``, if given, overrides the configured one (e.g. a learned baseline; it
        must not depend on the sample). Take ``.mean()`` of the result as the loss.
        """
        if cost.shape != log_prob.shape:
            raise ValueError(
                f"cost {tuple(cost.shape)} and log_prob {tuple(log_prob.shape)} must have the same shape "
                "(sum log_prob over the latent variables of each sample)"
            )
        c = cost.detach()
        b = baseline.detach() if baseline is not None else self._baseline(c)
        return cost + (c - b) * (log_prob - log_prob.detach())

    def _baseline(self, c: Tensor) -> Tensor | float:
        if self.baseline is None:
            return 0.0
        if self.baseline == "loo":
            if c.numel() < 2:
                raise ValueError("the leave-one-out baseline needs at least 2 samples in the batch")
            return (c.sum() - c) / (c.numel() - 1)
        previous = self.running_cost
        mean = c.mean().item()
        m = self.momentum
        self.running_cost = mean if previous is None else m * previous + (1 - m) * mean
        return 0.0 if previous is None else previous
