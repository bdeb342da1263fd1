import pytest
import torch
from derived_optim_helpers import assert_same_params, batches, make_model, train
from zoo_derived_optim.lookahead import Lookahead


def test_alpha_one_is_the_inner_optimizer():
    a, b = make_model(), make_model()
    train(a, Lookahead(torch.optim.Adam(a.parameters(), lr=1e-2), k=3, alpha=1.0), batches(12))
    train(b, torch.optim.Adam(b.parameters(), lr=1e-2), batches(12))
    assert_same_params(a, b)


def test_k1_sgd_is_sgd_with_lr_times_alpha():
    a, b = make_model(), make_model()
    train(a, Lookahead(torch.optim.SGD(a.parameters(), lr=0.2), k=1, alpha=0.25), batches(10))
    train(b, torch.optim.SGD(b.parameters(), lr=0.2 * 0.25), batches(10))
    assert_same_params(a, b)


def test_inner_lr_zero_leaves_weights_unchanged():
    """Regression test for the reference, whose slow weights start at zero and halve the weights."""
    model = make_model()
    start = [p.detach().clone() for p in model.parameters()]
    train(model, Lookahead(torch.optim.SGD(model.parameters(), lr=0.0), k=2, alpha=0.5), batches(6))
    for p, s in zip(model.parameters(), start, strict=True):
        assert torch.equal(p, s)


def test_sync_every_k_updates_by_hand():
    """SGD lr 1, grad 1, from 1: fast 0, −1 → sync φ = 1 + .5(−1 − 1) = 0; fast −1, −2 → φ = −1."""
    w2 = torch.nn.Parameter(torch.tensor([1.0]))
    opt2 = Lookahead(torch.optim.SGD([w2], lr=1.0), k=2, alpha=0.5)
    seen = []
    for _ in range(4):
        w2.grad = torch.tensor([1.0])
        opt2.step()
        seen.append(w2.item())
    assert seen == [0.0, 0.0, -1.0, -1.0]


def test_bad_options():
    opt = torch.optim.SGD(make_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"alpha .* must be a finite number in \(0, 1\]"):
        Lookahead(opt, alpha=1.5)
    with pytest.raises(ValueError, match=r"k .* must be an integer >= 1"):
        Lookahead(opt, k=0)


def test_grad_scaler_drives_a_wrapper_and_an_inf_step_does_not_count():
    """Power-of-two scales are exact: the AMP run equals the plain one, and the inf step is skipped."""
    data = batches(7)
    plain = make_model()
    train(plain, Lookahead(torch.optim.Adam(plain.parameters(), lr=1e-2), k=2), data[:3] + data[4:])
    amp = make_model()
    opt = Lookahead(torch.optim.Adam(amp.parameters(), lr=1e-2), k=2)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=10**6)
    for i, (x, y) in enumerate(data):
        opt.zero_grad()
        loss = ((amp(x) - y) ** 2).mean() * (float("inf") if i == 3 else 1.0)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    assert opt.phase == 6 % 2
    assert_same_params(plain, amp, atol=0)
