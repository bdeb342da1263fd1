import copy

import torch
from derived_optim_helpers import batches, loss_of, make_model
from zoo_derived_optim.layer_adaptation import LayerAdaptation


def test_step_norm_and_direction():
    model = make_model()
    lr = 0.05
    inner = torch.optim.Adam(model.parameters(), lr=lr)
    opt = LayerAdaptation(inner, min_lr=1e-7)
    shadow = make_model()  # the same init, stepped by the bare inner optimizer
    shadow_opt = torch.optim.Adam(shadow.parameters(), lr=lr)
    for x, y in batches(6):
        with torch.no_grad():  # the inner step from the same point, with the same gradients
            for s, p in zip(shadow.parameters(), model.parameters(), strict=True):
                s.copy_(p)
        for m, o in ((model, opt), (shadow, shadow_opt)):
            o.zero_grad()
            loss_of(m, x, y).backward()
        shadow_opt.load_state_dict(copy.deepcopy(inner.state_dict()))  # state_dict() shares tensors
        old = [p.detach().clone() for p in model.parameters()]
        shadow_opt.step()
        opt.step()
        for p, o, s in zip(model.parameters(), old, shadow.parameters(), strict=True):
            applied, inner_step = (p - o).flatten(), (s - o).flatten()
            torch.testing.assert_close(applied.norm(), lr * o.norm(), atol=1e-12, rtol=1e-10)
            cos = applied @ inner_step / (applied.norm() * inner_step.norm())
            torch.testing.assert_close(cos, torch.tensor(1.0), atol=1e-12, rtol=0)


def test_zero_norm_tensors_use_ratio_one_and_min_lr():
    w = torch.nn.Parameter(torch.zeros(3))  # ‖p_old‖ = 0: r = 1, the plain SGD step
    opt = LayerAdaptation(torch.optim.SGD([w], lr=0.5))
    w.grad = torch.tensor([1.0, -2.0, 0.0])
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([-0.5, 1.0, 0.0]))
    v = torch.nn.Parameter(torch.ones(4))  # lr 0: η̃ = 1e-7 sets the step norm
    opt = LayerAdaptation(torch.optim.SGD([v], lr=0.0))
    v.grad = torch.ones(4)
    opt.step()
    assert v.detach().eq(1.0).all()  # the inner step is zero: Δ = 0, r = 1
