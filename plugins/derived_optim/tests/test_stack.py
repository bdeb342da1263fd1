import copy
import io
from typing import Any

import pytest
import torch
from derived_optim_helpers import assert_same_params, batches, loss_of, make_model
from zoo_derived_optim.base import DerivedOptimizer
from zoo_derived_optim.stack import stack

import zoo

SPECS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "lamb": ("layer_adaptation+weight_decay+adam", {"adam": {"lr": 1e-2}}),
    "lookahead-accum-adamw": (
        "lookahead+gradient_accumulation+weight_decay+adam",
        {"adam": {"lr": 1e-2}, "lookahead": {"k": 3}, "gradient_accumulation": {"steps": 2}},
    ),
    "ema-lazy-adam": ("ema+lazy+adam", {"adam": {"lr": 1e-2}, "lazy": {"include": ["0.weight"]}}),
}


def run(model, opt, data):
    for x, y in data:
        loss_of(model, x, y).backward()
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("name", list(SPECS))
def test_checkpoint_mid_cycle_resumes_bit_exactly(name):
    spec, options = SPECS[name]
    data = batches(13)
    straight = make_model()
    opt = stack(straight.named_parameters(), spec, **copy.deepcopy(options))
    run(straight, opt, data)

    first = make_model()
    opt1 = stack(first.named_parameters(), spec, **copy.deepcopy(options))
    run(first, opt1, data[:7])  # stops mid-cycle (lookahead phase 1 of 3, accumulation 1 of 2)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = make_model(seed=99)  # fresh objects
    resumed.load_state_dict(saved["model"])
    opt2 = stack(resumed.named_parameters(), spec, **copy.deepcopy(options))
    opt2.load_state_dict(saved["opt"])
    run(resumed, opt2, data[7:])
    assert_same_params(straight, resumed, atol=0)


@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_foreach_and_fused_inner_optimizers_give_the_same_results(impl):
    spec, options = SPECS["lookahead-accum-adamw"]
    data = batches(12)
    results = []
    for flags in ({"foreach": False}, {impl: True}):
        model = make_model()
        opts = copy.deepcopy(options)
        opts["adam"].update(flags)
        run(model, stack(model.parameters(), spec, **opts), data)
        results.append(model)
    assert_same_params(*results, atol=1e-12)


def test_wrappers_are_optimizers_sharing_param_groups_with_schedulers():
    model = make_model()
    opt = stack(model.parameters(), "lookahead+weight_decay+adam", adam={"lr": 0.1})
    assert isinstance(opt, DerivedOptimizer)
    assert opt.param_groups is opt.base.param_groups and len(opt.param_groups) == 1
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    run(model, opt, batches(1))
    sched.step()
    assert opt.base.param_groups[0]["lr"] == pytest.approx(0.05)
    extra = torch.nn.Parameter(torch.zeros(2))
    opt.add_param_group({"params": [extra], "lr": 0.3})
    assert len(opt.base.param_groups) == 2


def test_registry_entries_build_ready_optimizers():
    model = make_model()
    lamb = zoo.load("lamb", params=model.named_parameters(), lr=1e-3, exclude=["bias"])
    assert [type(o).__name__ for o in _walk(lamb)] == ["LayerAdaptation", "WeightDecay", "Adam"]
    look = zoo.load("lookahead", params=model.parameters(), k=3, inner="sgd", inner_options={"lr": 0.1})
    assert isinstance(look, DerivedOptimizer) and look.k == 3 and isinstance(look.base, torch.optim.SGD)
    acc = zoo.load("accumulate", optimizer=torch.optim.Adam(model.parameters()), steps=4)
    assert acc.steps == 4
    sched = zoo.load("piecewise-linear-lr", optimizer=acc, schedule={10: 1.0})
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    custom = zoo.load("derived-stack", params=model.parameters(), spec="ema+adamw", adamw={"lr": 1e-3})
    assert type(custom).__name__ == "EMA"


def _walk(opt):
    from zoo_derived_optim.base import walk

    return list(walk(opt))


def test_bad_input_is_a_clear_error():
    model = make_model()
    with pytest.raises(zoo.InvalidArgumentsError, match=r"does not take 'alhpa' \(did you mean 'alpha'\?\)"):
        zoo.load("lookahead", params=model.parameters(), alhpa=0.5)
    with pytest.raises(zoo.InvalidArgumentsError, match="'betas'"):
        zoo.load("lookahead", params=model.parameters(), inner_options={"beta": (0.9, 0.99)})
    with pytest.raises(ValueError, match="unknown technique 'lookahed'"):
        stack(model.parameters(), "lookahed+adam")
    with pytest.raises(ValueError, match="unknown base optimizer 'adma'"):
        stack(model.parameters(), "lookahead+adma")
    with pytest.raises(ValueError, match="must end with a base optimizer"):
        stack(model.parameters(), "lookahead+weight_decay")
    with pytest.raises(ValueError, match="does not name"):
        stack(model.parameters(), "lookahead+adam", weight_decay={"rate": 0.1})
    with pytest.raises(ValueError, match="either params"):
        zoo.load("lookahead", params=model.parameters(), optimizer=torch.optim.SGD(model.parameters(), lr=1))
    with pytest.raises(ValueError, match="not a state_dict of Lookahead"):
        zoo.load("lookahead", params=model.parameters()).load_state_dict(
            torch.optim.Adam(model.parameters()).state_dict()
        )
