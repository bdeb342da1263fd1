"""Seams found by an independent review of the issue 11 fixes (derived_optim).

Each test states the behaviour a user expects and failed before its fix: a state_dict taken inside the
step recorded the weight-decay rate folded into Adam for that step (a resume decayed twice); accumulation
over only sparse gradients crashed in ``torch._foreach_mul_([])``; ``backward(create_graph=True)`` inside
a cycle gave a false "gradients are gone" warning.
"""

import copy
import warnings

import torch
from zoo_derived_optim.stack import stack

import zoo


def test_a_checkpoint_taken_inside_the_step_resumes_with_one_decay():
    from torch.optim.optimizer import register_optimizer_step_post_hook

    def make(p):
        return stack([p], "weight_decay+adam", adam={"lr": 0.1}, weight_decay={"rate": 0.5})

    p = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    opt = make(p)
    saved: dict[str, dict] = {}

    def checkpoint_after_any_step(optimizer: object, args: object, kwargs: object) -> None:
        """Fires after every optimizer's step; the first is the inner Adam's, inside the stack's step."""
        saved.setdefault("sd", copy.deepcopy(opt.state_dict()))

    handle = register_optimizer_step_post_hook(checkpoint_after_any_step)
    try:
        p.grad = torch.zeros_like(p)
        opt.step()
    finally:
        handle.remove()
    # a zero gradient: Adam moves nothing, only the decay acts: p ← p·(1 − lr·rate)
    start = p.detach().clone()
    q = torch.nn.Parameter(start.clone())
    resumed = make(q)
    resumed.load_state_dict(saved["sd"])
    q.grad = torch.zeros_like(q)
    resumed.step()
    torch.testing.assert_close(q.detach(), start * (1 - 0.1 * 0.5), rtol=0, atol=1e-15)


def test_accumulation_over_only_sparse_embeddings_updates_with_the_mean_gradient():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(6, 3, sparse=True)
    opt = zoo.load("gradient-accumulation", params=emb.named_parameters(), steps=2, inner="sgd",
                   inner_options={"lr": 1.0})  # fmt: skip
    before = emb.weight.detach().clone()
    for ids in ([1, 2], [2, 4]):
        emb(torch.tensor(ids)).sum().backward()
        opt.step()
        opt.zero_grad()
    expected = before.clone()
    expected[[1, 4]] -= 0.5
    expected[2] -= 1.0
    torch.testing.assert_close(emb.weight.detach(), expected)  # w − lr·(mean grad), up to rounding


def test_double_backward_inside_a_cycle_does_not_warn():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = zoo.load("gradient-accumulation", params=model.named_parameters(), steps=2, inner="sgd",
                   inner_options={"lr": 1.0})  # fmt: skip
    xs = [torch.randn(4, 3) for _ in range(2)]
    mean_grad = sum(torch.autograd.grad(model(x).pow(2).mean(), model.weight)[0] for x in xs) / 2
    before = model.weight.detach().clone()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
        warnings.filterwarnings("error", message="GradientAccumulation")
        for x in xs:
            model(x).pow(2).mean().backward(create_graph=True)
            opt.step()
            opt.zero_grad()
    torch.testing.assert_close(before - model.weight.detach(), mean_grad)
