"""The categorical VAE's objective under each gradient estimator, and its test-set negative ELBO.

All quantities are per example in nats: ``-ELBO = E_q[-log p(x|z)] + KL(q(z|x) || uniform)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

import zoo
from zoo_reparam.gumbel import gumbel_max, gumbel_softmax, one_hot_like
from zoo_reparam.score import ScoreFunction
from zoo_reparam.vae import CategoricalVAE

__all__ = ["ESTIMATORS", "Objective", "negative_elbo", "relaxed_negative_elbo"]

ESTIMATORS = ("gumbel-softmax", "st-gumbel-softmax", "score-function")


def reconstruction_nll(model: CategoricalVAE, z: Tensor, x: Tensor) -> Tensor:
    """``-log p(x | z)`` per example ``(B,)``: Bernoulli over the 784 binary pixels."""
    return F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1)


class Objective:
    """The training loss of a categorical VAE with one estimator of the encoder's gradient.

    - ``gumbel-softmax``: decode the relaxed sample at temperature ``tau`` (Jang et al.'s "Gumbel-S.").
    - ``st-gumbel-softmax``: decode the exact one-hot sample, backpropagate the soft sample's gradient.
    - ``score-function``: decode an exact sample; the encoder learns from ``(nll - b) ∇ log q`` with
      a leave-one-out baseline ``b`` (the decoder and the KL keep their exact gradients).
    """

    def __init__(self, estimator: str, baseline: str | None = "loo") -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; choose one of {ESTIMATORS}")
        self.estimator = estimator
        self.score = ScoreFunction(baseline=baseline) if estimator == "score-function" else None

    def __call__(
        self, model: CategoricalVAE, x: Tensor, tau: float, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(loss, nelbo)``: the scalar to minimise, and the per-example objective value ``(B,)``
        (the relaxed one for ``gumbel-softmax``), detached."""
        logits = model.encode(x)
        kl = model.kl_to_uniform(logits)
        if self.score is not None:
            sample = self.score(logits, generator=generator)
            nll = reconstruction_nll(model, sample.one_hot, x)
            per_example = self.score.surrogate(nll, sample.log_prob.sum(-1)) + kl
        else:
            hard = self.estimator == "st-gumbel-softmax"
            z = gumbel_softmax(logits, tau, hard, generator=generator)
            per_example = reconstruction_nll(model, z, x) + kl
        return per_example.mean(), per_example.detach()


@torch.no_grad()
def negative_elbo(
    model: CategoricalVAE,
    images: Tensor,
    *,
    samples: int = 1,
    batch_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """The test-set negative ELBO of the DISCRETE model (exact categorical z, no relaxation).

    ``images`` are binary ``(N, 784)``; each example's reconstruction term averages ``samples``
    draws of z ~ q(z|x). Returns ``{"nelbo", "reconstruction", "kl"}`` means over examples, in nats.
    """
    total = {"nelbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
    with _evaluating(model, seed) as (device, generator):
        for x in _batches(images, batch_size):
            x = x.to(device)
            logits = model.encode(x)
            kl = model.kl_to_uniform(logits)
            nll = torch.zeros(len(x), device=device)
            for _ in range(samples):
                index = gumbel_max(logits, generator=generator)
                nll += reconstruction_nll(model, one_hot_like(logits, index), x)
            nll /= samples
            total["reconstruction"] += nll.sum().item()
            total["kl"] += kl.sum().item()
            total["nelbo"] += (nll + kl).sum().item()
    return {k: v / len(images) for k, v in total.items()}


@torch.no_grad()
def relaxed_negative_elbo(
    model: CategoricalVAE, images: Tensor, tau: float, *, batch_size: int = 1000, seed: int = 0
) -> float:
    """The Gumbel-softmax training objective on ``images`` at temperature ``tau``, in nats.

    This is what a relaxed model's training loop reports; it decodes relaxed codes the discrete
    model never produces, so it is NOT a bound on ``-log p(x)`` (:func:`negative_elbo` is).
    """
    objective = Objective("gumbel-softmax")
    total = 0.0
    with _evaluating(model, seed) as (device, generator):
        for x in _batches(images, batch_size):
            total += objective(model, x.to(device), tau, generator)[1].sum().item()
    return total / len(images)


@contextmanager
def _evaluating(model: CategoricalVAE, seed: int) -> Iterator[tuple[torch.device, torch.Generator]]:
    """Eval mode for the block (restored after), the model's device and a seeded generator there."""
    device = next(model.parameters()).device
    with zoo.eval_mode(model):
        yield device, torch.Generator(device=device).manual_seed(seed)


def _batches(x: Tensor, size: int) -> Iterator[Tensor]:
    for i in range(0, len(x), size):
        yield x[i : i + size]
