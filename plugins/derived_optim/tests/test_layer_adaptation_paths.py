"""LAMB's two paths against a hand-written LAMB: the inner optimizer writes its step into a buffer (value-free
inner, optionally inside one WeightDecay) or the general snapshot path. float64 (see conftest)."""

from __future__ import annotations

import math

import pytest
import torch
from derived_optim_helpers import batches, loss_of, make_model
from zoo_derived_optim.layer_adaptation import LayerAdaptation
from zoo_derived_optim.stack import stack

LR, BETAS, EPS, DECAY = 1e-2, (0.9, 0.999), 1e-6, 0.1


def reference_lamb(model, data, adapt=lambda name: True, decay=lambda name: True):
    """LAMB by hand: Adam's bias-corrected step u, Δ = −η·u − η·λ·p, then p ← p + r·Δ with
    r = max(η, 1e-7)·‖p‖/‖Δ‖ (1 when a norm is 0) for adapted tensors, p ← p + Δ for the others."""
    m = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    v = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for t, (x, y) in enumerate(data, start=1):
        model.zero_grad()
        loss_of(model, x, y).backward()
        with torch.no_grad():
            for n, p in model.named_parameters():
                g = p.grad
                m[n] = BETAS[0] * m[n] + (1 - BETAS[0]) * g
                v[n] = BETAS[1] * v[n] + (1 - BETAS[1]) * g * g
                u = (m[n] / (1 - BETAS[0] ** t)) / ((v[n] / (1 - BETAS[1] ** t)).sqrt() + EPS)
                delta = -LR * u - (LR * DECAY * p if decay(n) else 0.0)
                r = 1.0
                if adapt(n):
                    pn, dn = p.norm().item(), delta.norm().item()
                    r = max(LR, 1e-7) * pn / dn if pn > 0 and dn > 0 else 1.0
                p.add_(r * delta)


def spy(name, real, calls):
    """``real`` (a tensor method), recording ``name`` in ``calls`` at each call."""

    def wrapper(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    return wrapper


def run(model, opt, data):
    for x, y in data:
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()


@pytest.mark.parametrize("impl", [{"fused": True}, {"foreach": True}, {"fused": False, "foreach": False}])
@pytest.mark.parametrize("general", [False, True])
def test_lamb_equals_the_hand_written_lamb_on_both_paths(impl, general, monkeypatch):
    if general:  # the snapshot path, which every other inner takes
        monkeypatch.setattr(LayerAdaptation, "_delta_plan", lambda self: None)
    data = batches(6)
    ref = make_model()
    reference_lamb(ref, data, adapt=lambda n: "bias" not in n, decay=lambda n: "bias" not in n)
    model = make_model()
    opt = stack(model.named_parameters(), "layer_adaptation+weight_decay+adam",
                adam={"lr": LR, "betas": BETAS, "eps": EPS, **impl},
                weight_decay={"rate": DECAY, "exclude": ["bias"]},
                layer_adaptation={"exclude": ["bias"]})  # fmt: skip
    run(model, opt, data)
    for (name, p), q in zip(ref.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(q, p, atol=1e-12, rtol=1e-10, msg=name)


def test_decayed_but_not_adapted_and_no_decay_on_the_buffer_path():
    """Biases: decayed, not adapted (AdamW's step); first weight: adapted, not decayed (Δ from a zero
    buffer)."""
    data = batches(5)
    ref = make_model()
    reference_lamb(ref, data, adapt=lambda n: "bias" not in n, decay=lambda n: not n.startswith("0.weight"))
    model = make_model()
    opt = stack(model.named_parameters(), "layer_adaptation+weight_decay+adam",
                adam={"lr": LR, "betas": BETAS, "eps": EPS},
                weight_decay={"rate": DECAY, "exclude": ["0.weight"]},
                layer_adaptation={"exclude": ["bias"]})  # fmt: skip
    assert opt._delta_plan() is not None
    run(model, opt, data)
    for (name, p), q in zip(ref.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(q, p, atol=1e-12, rtol=1e-10, msg=name)


def test_the_buffer_path_takes_no_snapshot_and_the_closure_sees_the_weights(monkeypatch):
    """A closure runs first, on the real weights, and the tensors it gave a gradient are adapted (also on
    the first step, when no gradient existed before it); the buffer path then makes no copy of p and no
    p_new − p_old subtraction (the passes it saves); the weights keep their storage."""
    model = make_model()
    opt = stack(model.named_parameters(), "layer_adaptation+weight_decay+adam", adam={"lr": LR},
                weight_decay={"rate": DECAY})  # fmt: skip
    data = batches(2)

    def closure():
        opt.zero_grad()
        loss = loss_of(model, *data[len(losses)])
        loss.backward()
        return loss

    storages = [p.data_ptr() for p in model.parameters()]
    losses: list[float] = []
    calls: list[str] = []
    for step in range(2):
        expected = loss_of(model, *data[step]).item()
        old = [p.detach().clone() for p in model.parameters()]
        if step:  # spy on the second step (the first one builds the buffers)
            for method in ("copy_", "sub_"):
                real = getattr(torch.Tensor, method)
                monkeypatch.setattr(torch.Tensor, method, spy(method, real, calls))
        losses.append(float(opt.step(closure).detach()))
        monkeypatch.undo()
        assert math.isclose(losses[-1], expected, rel_tol=1e-12)
        for p, o in zip(model.parameters(), old, strict=True):  # every step has norm η·‖p_old‖
            torch.testing.assert_close((p - o).norm(), LR * o.norm(), atol=1e-12, rtol=1e-9)
    assert not calls, f"the buffer path made {calls}"
    assert [p.data_ptr() for p in model.parameters()] == storages
