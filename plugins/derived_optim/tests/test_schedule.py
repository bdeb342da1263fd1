import pytest
import torch
from zoo_derived_optim.schedule import PiecewiseLinearLR, piecewise_linear

SPEC = {1000: 1, 2000: 0.1}


@pytest.mark.parametrize(
    ("t", "value"), [(0, 0.0), (500, 0.5), (1000, 1.0), (1500, 0.55), (2000, 0.1), (10**6, 0.1)]
)
def test_values_at_the_knots(t, value):
    assert piecewise_linear(t, SPEC) == pytest.approx(value, abs=1e-12)


def test_scheduler_follows_the_function_and_first_warmup_step_is_a_noop():
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=2.0)
    sched = PiecewiseLinearLR(opt, {4: 1.0, 8: 0.5})
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        w.grad = torch.ones(3)
        opt.step()
        sched.step()
        if len(seen) == 1:
            assert w.detach().eq(1.0).all()  # lr 0 at the first update: a no-op
    assert seen == pytest.approx([2 * piecewise_linear(t, {4: 1.0, 8: 0.5}) for t in range(10)])


def test_default_is_constant():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.3)
    sched = PiecewiseLinearLR(opt)
    for _ in range(3):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({-1: 1.0}, "integers >= 0"),
        ([(100, 1.0), (50, 0.5)], "strictly increasing"),
        ({}, "at least one knot"),
        ({0: -1.0}, "finite and >= 0"),
        ({1.5: 1.0}, "integers >= 0"),
    ],
)
def test_bad_schedules(schedule, message):
    with pytest.raises(ValueError, match=message):
        piecewise_linear(0, schedule)
