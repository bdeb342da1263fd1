import pytest
import torch
from derived_optim_helpers import assert_same_params, batches, make_model, train
from zoo_derived_optim import stack as S
from zoo_derived_optim.weight_decay import WeightDecay


def test_weight_decay_around_adam_is_adamw_over_100_steps():
    a, b = make_model(), make_model()
    ours = WeightDecay(torch.optim.Adam(a.parameters(), lr=1e-2, weight_decay=0), rate=0.1)
    ref = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1)
    data = batches(100)
    train(a, ours, data)
    train(b, ref, data)
    assert_same_params(a, b)


def test_exact_formula_when_the_inner_update_depends_on_p():
    """Adam with its own L2 term reads p: the wrapper must use p_old, p ← p_new − η·λ·p_old."""
    a, b = make_model(), make_model()
    ours = WeightDecay(torch.optim.Adam(a.parameters(), lr=1e-2, weight_decay=0.3), rate=0.1)
    plain = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=0.3)
    for x, y in batches(5):
        for model, opt in ((a, ours), (b, plain)):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
        old = [p.detach().clone() for p in b.parameters()]
        ours.step()
        plain.step()
        with torch.no_grad():
            for p, o in zip(b.parameters(), old, strict=True):
                p.sub_(1e-2 * 0.1 * o)
    assert_same_params(a, b)


class Two(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.linspace(-1, 1, 6))
        self.bias = torch.nn.Parameter(torch.linspace(2, 3, 4))


def test_excluded_parameters_behave_like_plain_adam():
    """A separable loss, so each parameter's gradients depend on itself only."""
    a, b = Two(), Two()
    ours = WeightDecay(torch.optim.Adam(a.named_parameters(), lr=1e-2), rate=0.5, exclude=["bias"])
    ref = torch.optim.Adam(b.parameters(), lr=1e-2)
    for _ in range(30):
        for m, o in ((a, ours), (b, ref)):
            o.zero_grad()
            (((m.weight - 0.3) ** 2).sum() + ((m.bias + 1) ** 2).sum()).backward()
            o.step()
    torch.testing.assert_close(a.bias, b.bias, atol=1e-10, rtol=0)
    assert (a.weight - b.weight).abs().max() > 1e-3


def test_bad_input():
    m = make_model()
    with pytest.raises(ValueError, match=r"rate .* must be a finite number >= 0"):
        WeightDecay(torch.optim.Adam(m.parameters()), rate=-1)
    with pytest.raises(TypeError, match=r"wraps a torch.optim.Optimizer, got Sequential"):
        WeightDecay(m)
    with pytest.raises(ValueError, match="named_parameters"):
        opt = WeightDecay(torch.optim.Adam(m.parameters()), exclude=["bias"])
        train(m, opt, batches(1))
    with pytest.raises(ValueError, match="already contains a WeightDecay"):
        S.stack(m.parameters(), "weight_decay+weight_decay+adam")
