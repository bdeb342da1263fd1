"""Resuming from a checkpoint: the whole stack shares one ``param_groups`` list after ``load_state_dict``,
and a run with an LR scheduler, checkpointed mid-way and resumed into fresh objects, equals the
uninterrupted run bit for bit (issue 11, bug 1)."""

import copy
import io
from typing import Any

import pytest
import torch
from derived_optim_helpers import assert_same_tree, batches, loss_of, make_model
from zoo_derived_optim.base import walk
from zoo_derived_optim.schedule import PiecewiseLinearLR
from zoo_derived_optim.stack import stack

import zoo

LAZY = {"include": ["0.weight"]}
SPECS: dict[str, dict[str, Any]] = {
    "weight_decay+adam": {},
    "layer_adaptation+adam": {},
    "gradient_accumulation+adam": {"gradient_accumulation": {"steps": 2}},
    "lookahead+adam": {"lookahead": {"k": 3}},
    "lazy+adam": {"lazy": LAZY},
    "ema+adam": {"ema": {"momentum": 0.9}},
    "layer_adaptation+weight_decay+adam": {},  # LAMB
    "lookahead+weight_decay+gradient_accumulation+adam": {
        "lookahead": {"k": 2},
        "gradient_accumulation": {"steps": 3},
    },
    "ema+lookahead+adam": {"ema": {"momentum": 0.9}, "lookahead": {"k": 3}},
    "ema+lookahead+layer_adaptation+weight_decay+gradient_accumulation+lazy+adam": {
        "ema": {"momentum": 0.9},
        "lookahead": {"k": 2},
        "gradient_accumulation": {"steps": 2},
        "lazy": LAZY,
    },
}


def build(spec: str, seed: int = 0) -> tuple[torch.nn.Module, Any]:
    model = make_model(seed)
    options = copy.deepcopy(SPECS[spec])
    options["adam"] = {"lr": 1e-2}
    return model, stack(model.named_parameters(), spec, **options)


def round_trip(obj: Any) -> Any:
    """What a user's checkpoint goes through: torch.save, then torch.load(weights_only=True)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def assert_one_list(opt: torch.optim.Optimizer) -> None:
    groups = opt.param_groups
    for o in walk(opt):
        assert o.param_groups is groups, f"{type(o).__name__} holds its own param_groups list"


@pytest.mark.parametrize("spec", list(SPECS))
def test_the_stack_shares_one_param_groups_list_after_load_state_dict(spec):
    model, opt = build(spec)
    for x, y in batches(3):
        loss_of(model, x, y).backward()
        opt.step()
        opt.zero_grad()
    saved = round_trip(opt.state_dict())
    _, fresh = build(spec, seed=5)
    fresh.load_state_dict(saved)
    assert_one_list(fresh)
    fresh.param_groups[0]["lr"] = 0.25  # a manual edit on the outermost object reaches the base
    assert fresh.base.param_groups[0]["lr"] == 0.25
    extra = torch.nn.Parameter(torch.zeros(2))
    fresh.add_param_group({"params": [extra], "param_names": ["extra"], "lr": 0.5})
    assert_one_list(fresh)
    assert len(fresh.param_groups) == 2 and fresh.param_groups[1]["params"][0] is extra


def test_resumed_lookahead_sgd_steps_with_the_scheduled_lr():
    """The issue's example: Lookahead(SGD lr 0.1) + StepLR(γ=0.5), resumed, 3 scheduler steps → 0.0125."""
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = stack([w], "lookahead+sgd", sgd={"lr": 0.1}, lookahead={"k": 100})
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    saved = round_trip({"opt": opt.state_dict(), "sched": sched.state_dict()})
    w2 = torch.nn.Parameter(torch.tensor([1.0]))
    opt2 = stack([w2], "lookahead+sgd", sgd={"lr": 0.1}, lookahead={"k": 100})
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    for _ in range(3):
        w2.grad = torch.ones(1)
        opt2.step()
        sched2.step()
    assert opt2.base.param_groups[0]["lr"] == opt2.param_groups[0]["lr"] == 0.0125
    before = w2.item()
    w2.grad = torch.ones(1)
    opt2.step()
    assert w2.item() == before - 0.0125  # SGD itself stepped with the scheduled lr


SCHEDULERS = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "piecewise": lambda opt: PiecewiseLinearLR(opt, {3: 1.0, 8: 0.1}),
}
RESUME_SPECS = [
    "weight_decay+adam",
    "layer_adaptation+weight_decay+adam",
    "gradient_accumulation+adam",
    "lookahead+weight_decay+gradient_accumulation+adam",
    "ema+lookahead+adam",
    "lazy+adam",
    "ema+lookahead+layer_adaptation+weight_decay+gradient_accumulation+lazy+adam",
]


def run(model, opt, sched, data):
    for x, y in data:
        loss_of(model, x, y).backward()
        opt.step()
        sched.step()
        opt.zero_grad()


@pytest.mark.parametrize("spec", RESUME_SPECS)
@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_a_scheduled_run_resumed_into_fresh_objects_is_bit_identical(spec, scheduler):
    data = batches(14)
    straight, opt = build(spec)
    sched = SCHEDULERS[scheduler](opt)
    run(straight, opt, sched, data)

    first, opt1 = build(spec)
    sched1 = SCHEDULERS[scheduler](opt1)
    run(first, opt1, sched1, data[:7])  # 7 micro-batches: mid-cycle for every accumulation here
    if "gradient_accumulation" in spec:  # saved mid-cycle, with the collected gradients
        assert any(getattr(o, "micro_step", 0) for o in walk(opt1))
    saved = round_trip({"model": first.state_dict(), "opt": opt1.state_dict(), "sched": sched1.state_dict()})
    del first, opt1, sched1

    resumed, opt2 = build(spec, seed=99)  # fresh model, optimizer and scheduler, as after a restart
    sched2 = SCHEDULERS[scheduler](opt2)
    resumed.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    run(resumed, opt2, sched2, data[7:])

    for (name, p), q in zip(straight.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert_same_tree(opt.state_dict(), opt2.state_dict())
    assert sched.get_last_lr() == sched2.get_last_lr()
    assert opt2.base.param_groups[0]["lr"] == sched2.get_last_lr()[0]


def test_lamb_resumed_mid_warm_up_keeps_warming_up():
    """The issue's LAMB case: resumed at update 5 of a 20-update warm-up, the lr must keep rising."""

    def fresh(seed):
        model = make_model(seed)
        opt = zoo.load("lamb", params=model.named_parameters(), lr=1e-2)
        return model, opt, PiecewiseLinearLR(opt, {20: 1.0})

    data = batches(15)
    straight, opt, sched = fresh(0)
    run(straight, opt, sched, data)
    first, opt1, sched1 = fresh(0)
    run(first, opt1, sched1, data[:5])
    saved = round_trip({"model": first.state_dict(), "opt": opt1.state_dict(), "sched": sched1.state_dict()})
    resumed, opt2, sched2 = fresh(7)
    resumed.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    run(resumed, opt2, sched2, data[5:])
    for o in walk(opt2):
        assert o.param_groups[0]["lr"] == pytest.approx(1e-2 * 15 / 20, rel=1e-12)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_copied_stack_works_and_shares_its_own_groups():
    """copy.deepcopy goes through DerivedOptimizer.__getstate__, as pickling would (never unpickled here)."""
    spec = "lookahead+weight_decay+gradient_accumulation+adam"
    model, opt = build(spec)
    data = batches(12)
    for x, y in data[:6]:  # two whole cycles (copies of a model do not carry .grad, torch's choice)
        loss_of(model, x, y).backward()
        opt.step()
        opt.zero_grad()
    pair = (model, opt)
    model2, opt2 = copy.deepcopy(pair)
    assert_one_list(opt2)
    assert opt2.param_groups[0]["params"][0] is next(model2.parameters())
    for m, o in ((model, opt), (model2, opt2)):
        for x, y in data[6:]:
            loss_of(m, x, y).backward()
            o.step()
            o.zero_grad()
    for p, q in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p, q)
