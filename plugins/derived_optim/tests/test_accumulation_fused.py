"""Gradient accumulation around a fused torch optimizer divides the gradients inside the fused kernel.

The mean of the micro-batch gradients is ``sum / (k·scale)``: the fused step takes ``k·scale`` as its
``grad_scale`` instead of a separate ``p.grad *= 1/(k·scale)`` pass. References are independent: a plain
fused optimizer stepped on gradients summed and divided by hand (float64, see conftest).
"""

from __future__ import annotations

import copy

import pytest
import torch
from derived_optim_helpers import assert_same_params, assert_same_tree, batches, loss_of, make_model
from zoo_derived_optim.accumulation import GradientAccumulation
from zoo_derived_optim.stack import stack

FUSED = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2, fused=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, fused=True),
    "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, fused=True),
}


def summed_grads(model: torch.nn.Module, data: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    model.zero_grad()
    for x, y in data:
        loss_of(model, x, y).backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("name", list(FUSED))
@pytest.mark.parametrize("k", [3, 4])
def test_a_fused_inner_steps_on_the_sum_divided_by_k_bit_exactly(name, k, monkeypatch):
    """k=3 too: ``g / 3`` exactly (a separate ``g * (1/3)`` pass rounds differently), and no extra pass."""
    data = batches(3 * k)
    ref = make_model()
    ref_opt = FUSED[name](ref.parameters())
    for c in range(3):
        grads = summed_grads(ref, data[c * k : (c + 1) * k])
        for p, g in zip(ref.parameters(), grads, strict=True):
            p.grad = g / k
        ref_opt.step()

    model = make_model()
    opt = GradientAccumulation(FUSED[name](model.parameters()), steps=k)
    passes = []
    real_mul = torch._foreach_mul_

    def foreach_mul_(*args, **kwargs):
        passes.append(1)
        return real_mul(*args, **kwargs)

    monkeypatch.setattr(torch, "_foreach_mul_", foreach_mul_)
    for x, y in data:
        loss_of(model, x, y).backward()
        opt.step()
        opt.zero_grad()
    monkeypatch.undo()
    assert not passes, "the gradients were rescaled in a pass of their own"
    assert not hasattr(opt.optimizer, "grad_scale")
    for p, q in zip(ref.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert_same_tree(ref_opt.state_dict()["state"], opt.optimizer.state_dict()["state"])


def test_the_fused_path_equals_the_for_loop_path_and_survives_a_copy():
    """A deep copy of a fused Adam loses ``_step_supports_amp_scaling`` (torch): the group flag decides."""
    data = batches(9)
    models = []
    for fused in (True, False):
        model = make_model()
        opt = GradientAccumulation(torch.optim.Adam(model.parameters(), lr=1e-2, fused=fused), steps=3)
        if fused:
            model, opt = copy.deepcopy((model, opt))
            assert not getattr(opt.optimizer, "_step_supports_amp_scaling", False)
        for x, y in data:
            loss_of(model, x, y).backward()
            opt.step()
            opt.zero_grad()
        models.append(model)
    assert_same_params(*models, atol=1e-12)


def run_amp(model, opt, scaler, data, inf_at=-1):
    for i, (x, y) in enumerate(data):
        loss = loss_of(model, x, y) * (float("inf") if i == inf_at else 1.0)
        scaler.scale(loss).backward()
        opt.scaler_step(scaler)
        opt.zero_grad()


def test_amp_with_an_inf_and_a_resume_mid_cycle_on_the_fused_path():
    """k=3, scale 2^10: clean cycles equal a fused Adam on ``sum(scaled grads) / (3·2^10)``; the cycle with
    an inf is skipped whole (weights, step count); a resume mid-cycle continues bit-exactly."""
    k, data = 3, batches(12)
    model = make_model()
    opt = stack(model.parameters(), "gradient_accumulation+adam", adam={"lr": 1e-2},
                gradient_accumulation={"steps": k})  # fmt: skip
    assert opt.base.param_groups[0]["fused"] is True  # the default: torch's fastest on CPU
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)

    ref = make_model()
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2, fused=True)
    grads = summed_grads(ref, data[:k])
    for p, g in zip(ref.parameters(), grads, strict=True):
        p.grad = g * 2.0**10 / (k * 2.0**10)  # what the scaled backward sums, divided once
    ref_opt.step()

    run_amp(model, opt, scaler, data[:k])  # cycle 1: clean
    for p, q in zip(ref.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-15)
    before = [p.detach().clone() for p in model.parameters()]
    run_amp(model, opt, scaler, data[k : 2 * k], inf_at=1)  # cycle 2: an inf in its second micro-batch
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    assert all(float(s["step"]) == 1 for s in opt.base.state.values())
    assert scaler.get_scale() == 2.0**9
    assert not hasattr(opt.base, "grad_scale") and not hasattr(opt.base, "found_inf")

    run_amp(model, opt, scaler, data[2 * k : 2 * k + 2])  # two micro-batches into cycle 3, then resume
    saved = copy.deepcopy((opt.state_dict(), model.state_dict(), scaler.state_dict()))  # torch's: no copies
    run_amp(model, opt, scaler, data[2 * k + 2 :])
    fresh = make_model(seed=5)
    fresh.load_state_dict(saved[1])
    opt2 = stack(fresh.parameters(), "gradient_accumulation+adam", adam={"lr": 1e-2},
                 gradient_accumulation={"steps": k})  # fmt: skip
    opt2.load_state_dict(saved[0])
    scaler2 = torch.amp.GradScaler("cpu")
    scaler2.load_state_dict(saved[2])
    run_amp(fresh, opt2, scaler2, data[2 * k + 2 :])
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(p, q)
    assert all(float(s["step"]) == 3 for s in opt2.base.state.values())
