"""AMP: an inf/NaN skips the whole cycle whatever the order of the stack (issue 11, bug 2).

A skipped cycle leaves the parameters, the inner optimizer's state and every wrapper's state (Lookahead
phase and slow weights, EMA averages and counts) as they were; a normal cycle under a GradScaler equals
the plain run that never saw the skipped micro-batches. The scales are powers of two, so every
comparison is bit-exact.
"""

import copy

import pytest
import torch
from derived_optim_helpers import assert_same_tree, batches, loss_of, make_model
from zoo_derived_optim.base import walk
from zoo_derived_optim.stack import stack

K = 2  # micro-batches per cycle when the stack accumulates
OPTIONS = {
    "adam": {"lr": 1e-2},
    "weight_decay": {"rate": 0.5},  # large, so that a decay on a skipped cycle shows
    "lookahead": {"k": 2},
    "ema": {"momentum": 0.9},
    "lazy": {"include": ["weight"]},
    "gradient_accumulation": {"steps": K},
}
TECHNIQUES = ["weight_decay", "layer_adaptation", "lookahead", "ema", "lazy"]
SIX = ["ema", "lookahead", "layer_adaptation", "weight_decay", "lazy"]
SPECS = (
    [f"{t}+adam" for t in TECHNIQUES]
    + [f"{t}+gradient_accumulation+adam" for t in TECHNIQUES]
    + [f"gradient_accumulation+{t}+adam" for t in TECHNIQUES]
    + ["+".join([*SIX[:i], "gradient_accumulation", *SIX[i:], "adam"]) for i in range(len(SIX) + 1)]
    + ["+".join([*reversed(SIX), "adam"]), "+".join(["gradient_accumulation", *reversed(SIX), "adam"])]
)
CYCLES, BAD = 4, 1  # the second cycle gets an inf


def build(spec):
    model = make_model()
    names = spec.split("+")
    options = {n: copy.deepcopy(v) for n, v in OPTIONS.items() if n in names}
    return model, stack(model.named_parameters(), spec, **options)


def micro_batches(spec):
    return K if "gradient_accumulation" in spec else 1


def comparable(opt):
    """The optimizer's whole state, minus the flag that says whether the last step updated."""
    state = copy.deepcopy(opt.state_dict())
    node = state
    while isinstance(node, dict) and "derived" in node:
        node["derived"]["extra"].pop("last_step_updated", None)
        node = node["inner"]
    return state


@pytest.mark.parametrize("spec", SPECS)
def test_an_inf_skips_the_whole_cycle_and_clean_cycles_equal_the_plain_run(spec):
    k = micro_batches(spec)
    data = batches(CYCLES * k)
    model, opt = build(spec)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=10**6)
    for cycle in range(CYCLES):
        if cycle == BAD:
            params = [p.detach().clone() for p in model.parameters()]
            state = comparable(opt)
        for micro in range(k):
            x, y = data[cycle * k + micro]
            scaler.scale(loss_of(model, x, y)).backward()
            if cycle == BAD and micro == 0:
                next(model.parameters()).grad[0, 0] = float("inf")
            opt.scaler_step(scaler)
            opt.zero_grad()
        if cycle == BAD:
            assert scaler.get_scale() == 2.0**9  # the inf was seen, once
            assert not opt.last_step_updated
            for p, q in zip(model.parameters(), params, strict=True):
                assert torch.equal(p, q), "a skipped cycle changed the parameters"
            assert_same_tree(state, comparable(opt), "state")
            assert all(p.grad is None for p in model.parameters())

    plain, plain_opt = build(spec)  # fp32, no scaler, never sees the skipped cycle's micro-batches
    for x, y in data[: BAD * k] + data[(BAD + 1) * k :]:
        loss_of(plain, x, y).backward()
        plain_opt.step()
        plain_opt.zero_grad()
    for (name, p), q in zip(plain.named_parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert_same_tree(comparable(plain_opt), comparable(opt), "state")


@pytest.mark.parametrize("spec", [s for s in SPECS if "gradient_accumulation" in s][-4:])
def test_an_inf_in_the_very_first_cycle_is_skipped_too(spec):
    data = batches(3 * K)
    model, opt = build(spec)
    start = [p.detach().clone() for p in model.parameters()]
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=10**6)
    for i, (x, y) in enumerate(data):
        scaler.scale(loss_of(model, x, y)).backward()
        if i == K - 1:  # the last micro-batch of the first cycle
            next(model.parameters()).grad[0, 0] = float("nan")
        opt.scaler_step(scaler)
        opt.zero_grad()
        if i == K - 1:
            assert all(torch.equal(p, s) for p, s in zip(model.parameters(), start, strict=True))
            assert all(getattr(o, "updates", 0) == 0 and getattr(o, "phase", 0) == 0 for o in walk(opt))
    plain, plain_opt = build(spec)
    for x, y in data[K:]:
        loss_of(plain, x, y).backward()
        plain_opt.step()
        plain_opt.zero_grad()
    for p, q in zip(plain.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)
