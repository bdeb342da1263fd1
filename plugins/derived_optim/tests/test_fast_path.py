"""The registry entries default to torch's fastest implementation (fused Adam/AdamW, else foreach), and
every implementation path gives the same results (float64, see conftest)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from derived_optim_helpers import assert_same_params, batches, loss_of, make_model
from zoo_derived_optim.stack import fastest_impl, stack
from zoo_derived_optim.weight_decay import WeightDecay

import zoo

# entry -> its options (besides params); every one builds an inner Adam from a name
ENTRIES: dict[str, dict[str, Any]] = {
    "lamb": {"lr": 1e-2, "exclude": ["bias"]},
    "adamw-lookahead": {"lr": 1e-2, "k": 3},
    "lazy-adam": {"lr": 1e-2, "include": ["0.weight"]},
    "derived-stack": {"spec": "ema+lookahead+weight_decay+adam", "adam": {"lr": 1e-2}, "lookahead": {"k": 2}},
    "weight-decay": {"rate": 0.1, "inner_options": {"lr": 1e-2}},
    "layer-adaptation": {"inner_options": {"lr": 1e-2}},
    "gradient-accumulation": {"steps": 2, "inner_options": {"lr": 1e-2}},
    "lookahead": {"k": 3, "inner_options": {"lr": 1e-2}},
    "lazy-optimization": {"include": ["0.weight"], "inner_options": {"lr": 1e-2}},
    "ema": {"momentum": 0.9, "inner_options": {"lr": 1e-2}},
}
PATHS = {"for-loop": {"fused": False, "foreach": False}, "foreach": {"foreach": True}}


def with_impl(entry: str, options: dict[str, Any], impl: dict[str, bool]) -> dict[str, Any]:
    """``options`` with the inner Adam's implementation chosen (where each entry takes it)."""
    options = copy.deepcopy(options)
    if "inner_options" in options:
        options["inner_options"].update(impl)
    elif entry == "derived-stack":
        options["adam"].update(impl)
    else:
        options.update(impl)
    return options


def run(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    data: list[tuple[torch.Tensor, torch.Tensor]],
    scaler: torch.amp.GradScaler | None = None,
    inf_at: int = -1,
) -> None:
    for i, (x, y) in enumerate(data):
        loss = loss_of(model, x, y) * (float("inf") if i == inf_at else 1.0)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            if hasattr(opt, "scaler_step"):
                opt.scaler_step(scaler)
            else:
                scaler.step(opt)
                scaler.update()
        opt.zero_grad()


def test_fastest_impl_is_fused_for_adam_and_adamw_else_foreach():
    floats = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2, dtype=torch.float16))]
    assert fastest_impl(torch.optim.Adam, floats) == {"fused": True}
    assert fastest_impl(torch.optim.AdamW, floats) == {"fused": True}
    # fused SGD / Adagrad would refuse the sparse gradients their other paths take: foreach
    assert fastest_impl(torch.optim.SGD, floats) == {"foreach": True}
    assert fastest_impl(torch.optim.Adagrad, floats) == {"foreach": True}
    assert fastest_impl(torch.optim.Adam, [torch.nn.Parameter(torch.zeros(2, dtype=torch.cfloat))]) == {
        "foreach": True
    }
    assert fastest_impl(torch.optim.LBFGS, floats) == {}  # neither flag exists
    # an explicit choice, differentiable, or a tensor lr: left to the caller / torch
    for options in ({"fused": False}, {"foreach": False}, {"foreach": True}, {"differentiable": True}):
        assert fastest_impl(torch.optim.Adam, floats, options) == {}
    assert fastest_impl(torch.optim.Adam, floats, {"lr": torch.tensor(0.1)}) == {}


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_entries_default_to_the_fused_inner_and_an_explicit_choice_wins(entry):
    model = make_model()
    opt = zoo.load(entry, params=model.named_parameters(), **ENTRIES[entry])
    assert isinstance(opt.base, torch.optim.Adam)
    assert opt.base.param_groups[0]["fused"] is True
    for impl in ({"fused": False}, {"foreach": True}):
        opt = zoo.load(
            entry, params=make_model().named_parameters(), **with_impl(entry, ENTRIES[entry], impl)
        )
        group = opt.base.param_groups[0]
        assert not group["fused"] and group["foreach"] == impl.get("foreach")


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_every_entry_gives_the_same_results_on_every_path(entry):
    data = batches(12)
    fused = make_model()
    run(fused, zoo.load(entry, params=fused.named_parameters(), **ENTRIES[entry]), data)
    for impl in PATHS.values():
        other = make_model()
        run(
            other,
            zoo.load(entry, params=other.named_parameters(), **with_impl(entry, ENTRIES[entry], impl)),
            data,
        )
        assert_same_params(fused, other, atol=1e-12)


def test_param_group_dicts_with_generators_and_their_own_choice():
    model = make_model()
    groups = [{"params": model[0].parameters(), "lr": 1e-2}, {"params": model[2].parameters()}]
    opt = zoo.load("weight-decay", params=groups)
    assert [g["fused"] for g in opt.param_groups] == [True, True]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
    mine = zoo.load("weight-decay", params=[{"params": model.parameters(), "foreach": False}])
    assert not mine.param_groups[0]["fused"] and mine.param_groups[0]["foreach"] is False


@pytest.mark.parametrize("impl", [{"fused": True}, {"foreach": True}, {"foreach": False}])
def test_weight_decay_around_each_adam_path_is_that_adamw_bit_exactly(impl):
    """Directly around Adam the decay runs as Adam's own decoupled weight decay for the step."""
    a, b = make_model(), make_model()
    ours = WeightDecay(torch.optim.Adam(a.parameters(), lr=1e-2, **impl), rate=0.1)
    seen = []  # the inner group's flags while it steps: the decay runs inside it (the fused kernel's pass)
    ours.optimizer.register_step_pre_hook(
        lambda o, *_: seen.append(
            (o.param_groups[0]["weight_decay"], o.param_groups[0]["decoupled_weight_decay"])
        )
    )
    ref = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1, **impl)
    data = batches(30)
    run(a, ours, data)
    run(b, ref, data)
    assert_same_params(a, b, atol=0)
    assert seen == [(0.1, True)] * len(data)
    group = ours.optimizer.param_groups[0]  # the step's flags are put back
    assert group["weight_decay"] == 0 and group["decoupled_weight_decay"] is False


def test_weight_decay_with_excluded_parameters_on_the_fused_path():
    a, b = make_model(), make_model()
    ours = stack(a.named_parameters(), "weight_decay+adam", adam={"lr": 1e-2},
                 weight_decay={"rate": 0.1, "exclude": ["bias"]})  # fmt: skip
    assert ours.base.param_groups[0]["fused"] is True
    weights = [p for n, p in b.named_parameters() if "bias" not in n]
    biases = [p for n, p in b.named_parameters() if "bias" in n]
    groups: list[dict[str, Any]] = [{"params": weights}, {"params": biases, "weight_decay": 0.0}]
    ref = torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.1, fused=True)
    data = batches(20)
    run(a, ours, data)
    run(b, ref, data)
    assert_same_params(a, b, atol=1e-12)


def test_lazy_with_sparse_embedding_gradients_on_the_default_fused_path():
    """Fused Adam takes no sparse gradients: lazy makes them dense for it; SGD stays unfused and sparse."""
    results = {}
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("fused", "lazy-adam", {}),
        ("for-loop", "lazy-adam", {"fused": False}),
        ("sgd", "lazy-optimization", {"inner": "sgd", "inner_options": {"lr": 0.1}}),
    ]
    for name, entry, options in cases:
        torch.manual_seed(0)
        emb = torch.nn.Embedding(10, 3, sparse=True)
        start = emb.weight.detach().clone()
        opt = zoo.load(entry, params=emb.named_parameters(), include=["weight"], **options)
        for ids in ([1, 2], [2, 5]):
            emb(torch.tensor(ids)).square().sum().backward()
            opt.step()
            opt.zero_grad()
        untouched = [i for i in range(10) if i not in (1, 2, 5)]
        assert torch.equal(emb.weight[untouched], start[untouched])
        results[name] = emb.weight.detach()
    assert torch.allclose(results["fused"], results["for-loop"], rtol=0, atol=1e-12)
    assert not torch.equal(results["sgd"], results["fused"])


def lamb(params, impl):
    return zoo.load("lamb", params=params, lr=1e-2, **impl)


def decay_outside_accumulation(params, impl):
    return stack(params, "weight_decay+gradient_accumulation+adam", adam={"lr": 1e-2, **impl},
                 gradient_accumulation={"steps": 2})  # fmt: skip


@pytest.mark.parametrize(("build", "period"), [(lamb, 1), (decay_outside_accumulation, 2)])
def test_a_fused_inner_under_grad_scaler_skips_an_inf_like_the_for_loop_path(build, period):
    """The inf (at batch 3) skips its step / accumulation cycle whole: weights and Adam's step count stay."""
    data, inf_at = batches(8), 3
    cycle = inf_at - inf_at % period  # the first batch of the cycle that gets the inf
    finals = []
    for impl in ({}, {"fused": False, "foreach": False}):
        model = make_model()
        opt = build(model.named_parameters(), impl)
        assert opt.base.param_groups[0]["fused"] is (not impl)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
        run(model, opt, data[:cycle], scaler)
        before = [p.detach().clone() for p in model.parameters()]
        steps = [s["step"].item() for s in opt.base.state.values()]
        run(model, opt, data[cycle : inf_at + 1], scaler, inf_at=inf_at - cycle)
        for p, q in zip(model.parameters(), before, strict=True):
            assert torch.equal(p, q)
        assert [s["step"].item() for s in opt.base.state.values()] == steps
        assert scaler.get_scale() == 2.0**9
        run(model, opt, data[inf_at + 1 :], scaler)
        finals.append(model)
    assert_same_params(*finals, atol=1e-12)
