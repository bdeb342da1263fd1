import pytest
import torch
from derived_optim_helpers import batches, make_model, train
from zoo_derived_optim.ema import EMA


def test_bias_corrected_average_by_hand():
    w = torch.nn.Parameter(torch.tensor([0.0]))
    opt = EMA(torch.optim.SGD([w], lr=1.0), momentum=0.5)
    for _ in range(3):  # w: -1, -2, -3
        w.grad = torch.tensor([1.0])
        opt.step()
    # m = .5·(.5·(.5·0 + .5·-1) + .5·-2) + .5·-3 = -2.125; corrected by 1 − .5³ = .875
    torch.testing.assert_close(opt.averages()[0], torch.tensor([-2.125 / 0.875]))


def test_averaged_context_swaps_and_restores():
    model = make_model()
    opt = EMA(torch.optim.Adam(model.parameters(), lr=1e-2), momentum=0.9)
    train(model, opt, batches(5))
    trained = [p.detach().clone() for p in model.parameters()]
    with opt.averaged():
        for p, a in zip(model.parameters(), opt.averages(), strict=True):
            assert torch.equal(p, a)
        with pytest.raises(RuntimeError, match="restore"):
            opt.step()
    for p, t in zip(model.parameters(), trained, strict=True):
        assert torch.equal(p, t)


def test_momentum_validation():
    with pytest.raises(ValueError, match="momentum"):
        EMA(torch.optim.SGD(make_model().parameters(), lr=0.1), momentum=1.0)


def test_a_group_added_later_is_corrected_by_its_own_count():
    w = torch.nn.Parameter(torch.tensor([0.0]))
    opt = EMA(torch.optim.SGD([w], lr=1.0), momentum=0.5)
    for _ in range(3):
        w.grad = torch.tensor([1.0])
        opt.step()
    v = torch.nn.Parameter(torch.tensor([4.0]))
    opt.add_param_group({"params": [v]})
    v.grad = torch.tensor([0.0])
    w.grad = torch.tensor([0.0])
    opt.step()
    torch.testing.assert_close(opt.averages()[1], torch.tensor([4.0]))  # one update of a constant: unbiased
