"""Shared helpers of the derived_optim tests: a tiny model, fixed batches, a training loop."""

from __future__ import annotations

from typing import Any

import torch


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def batches(n: int, size: int = 8, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 5, generator=g), torch.randn(size, 3, generator=g)) for _ in range(n)]


def loss_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((model(x) - y) ** 2).mean()


def train(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    data: list[tuple[torch.Tensor, torch.Tensor]],
    sched: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    for x, y in data:
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def assert_same_params(a: torch.nn.Module, b: torch.nn.Module, atol: float = 1e-10) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        diff = (p - q).abs().max().item()
        assert diff <= atol, f"{name}: max |difference| {diff:.3g} > {atol:g}"


def assert_same_tree(a: Any, b: Any, where: str = "") -> None:
    """Bit-exact equality of nested state dicts (tensors with torch.equal)."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_same_tree(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
