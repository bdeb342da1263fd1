"""Lazy "params" mode around a plain value-free optimizer makes the step Δ in a buffer and adds it to the
touched rows only: bit-exact with the in-place update of the rule ``p ← p_old + r⊙Δ`` (float64, conftest)."""

from __future__ import annotations

import copy

import pytest
import torch
from zoo_derived_optim.lazy import LazyOptimization, touched_rows

ROWS, DIM = 12, 5


def row_grads(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of a (12, 5) table touching 3 rows that change every step (one with a single entry and
    one with a NaN-free −0.0 that must not count), and of a dense (5,) vector."""
    g = torch.zeros(ROWS, DIM)
    gen = torch.Generator().manual_seed(step)
    rows = torch.randperm(ROWS, generator=gen)[:3]
    g[rows[0]] = torch.randn(DIM, generator=gen)
    g[rows[1], 2] = 0.5
    g[rows[2], 1] = -0.0  # untouched: −0.0 == 0
    return g, torch.randn(DIM, generator=gen)


@pytest.mark.parametrize(
    "impl", [{"fused": True}, {"foreach": True}, {"fused": False, "foreach": False}, {"sgd": True}]
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_params_mode_is_bit_exact_with_the_rule_over_changing_rows(impl, dtype):
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(ROWS, DIM, dtype=dtype))
    vec = torch.nn.Parameter(torch.randn(DIM, dtype=dtype))
    named = [("embed", table), ("bias", vec)]
    base: torch.optim.Optimizer
    if impl.get("sgd"):  # not taken by the buffer path (its foreach kernel fuses p + α·g): the general one
        base = torch.optim.SGD(named, lr=0.1, momentum=0.9)
    else:
        base = torch.optim.Adam(named, lr=0.1, **impl)
    lazy = LazyOptimization(base, include=["embed"])
    for step in range(6):
        g_table, g_vec = row_grads(step)
        old = table.detach().clone()
        shadow = [torch.nn.Parameter(table.detach().clone()), torch.nn.Parameter(vec.detach().clone())]
        plain = type(base)([("embed", shadow[0]), ("bias", shadow[1])], **base.defaults)
        plain.load_state_dict(copy.deepcopy(base.state_dict()))  # the same state, on the copies
        for p, g in zip((table, vec, *shadow), (g_table, g_vec, g_table, g_vec), strict=True):
            p.grad = g.to(dtype)
        plain.step()
        lazy.step()
        r = (g_table != 0).any(-1, keepdim=True)
        assert torch.equal(table, torch.where(r, shadow[0], old)), step
        assert torch.equal(vec, shadow[1]), step  # not included: the plain step
        for key, value in base.state[table].items():  # params mode: the state moves as the plain one
            assert torch.equal(value, plain.state[shadow[0]][key]), key


def test_the_buffer_path_saves_no_rows_and_reads_rows_after_the_closure(monkeypatch):
    """No untouched row is saved and put back (index_copy_ of ~all rows, the old cost); a closure runs
    first, so even the first step (no gradient before it) is lazy."""
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(ROWS, DIM))
    lazy = LazyOptimization(torch.optim.Adam([("embed", table)], lr=0.1), include=["embed"])
    copies: list[int] = []
    real = torch.Tensor.index_copy_

    def index_copy_(*args, **kwargs):
        copies.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "index_copy_", index_copy_)
    for step in range(3):
        g = row_grads(step)[0]
        old = table.detach().clone()

        def closure(g=g, step=step):
            table.grad = g.clone()
            return torch.tensor(float(step))

        assert float(lazy.step(closure)) == step
        untouched = (g == 0).all(-1)
        assert torch.equal(table[untouched], old[untouched])
        assert not torch.equal(table[~untouched], old[~untouched])
    assert not copies


def test_touched_rows_reads_nan_inf_subnormal_and_negative_zero_as_any_nonzero():
    """The row test (max and min along the row) agrees with ``any(g != 0)`` on the awkward values."""
    nan, inf, tiny = float("nan"), float("inf"), 1e-45
    g = torch.tensor(
        [
            [0.0, -0.0, 0.0],
            [0.0, nan, 0.0],
            [-inf, 0.0, 0.0],
            [0.0, 0.0, tiny],
            [-tiny, -0.0, 0.0],
            [-1.0, 0.0, 2.0],
        ],
        dtype=torch.float32,
    )
    expected = (g != 0).any(-1)
    assert expected.tolist() == [False, True, True, True, True, True]
    for t in (g, g.double(), g.half(), g.bfloat16()):
        expected = (t != 0).any(-1)
        assert torch.equal(touched_rows(t), expected), t.dtype
        assert torch.equal(touched_rows(t.reshape(2, 3, 3)), expected.reshape(2, 3)), t.dtype
