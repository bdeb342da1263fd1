import pytest
import torch

import zoo


def test_step_is_lr_times_sign_of_grad_and_skips_params_without_grad():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    frozen = torch.nn.Parameter(torch.tensor([5.0]))
    opt = zoo.load("example-signsgd", params=[w, frozen], lr=0.25)
    w.grad = torch.tensor([10.0, -0.001, 0.0])
    opt.step()
    assert torch.equal(w.detach(), torch.tensor([0.75, 2.25, 3.0]))
    assert torch.equal(frozen.detach(), torch.tensor([5.0]))


def test_lr_validation_and_scheduler_compatibility():
    with pytest.raises(ValueError, match="lr must be > 0"):
        zoo.load("example-signsgd", params=[torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    opt = zoo.load("example-signsgd", params=[torch.nn.Parameter(torch.zeros(1))])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.005)
