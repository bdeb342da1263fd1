"""``zoo.recipes.outputs_equal``: the reload check of ``zoo train`` compares structured model outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from zoo.recipes import outputs_equal


class Out(NamedTuple):
    logits: torch.Tensor
    state: list[tuple[torch.Tensor, torch.Tensor]]
    distances: torch.Tensor | None


@dataclass
class Box:
    x: torch.Tensor
    extra: dict[str, torch.Tensor]


def test_nested_outputs_are_compared_tensor_by_tensor():
    t = torch.arange(6.0).view(2, 3)
    a = Out(t, [(t, t + 1)], None)
    assert outputs_equal(a, Out(t.clone(), [(t.clone(), t + 1)], None))
    assert not outputs_equal(a, Out(t, [(t, t + 2)], None))  # a difference deep inside
    assert not outputs_equal(a, Out(t, [(t, t + 1)], t))  # None vs a tensor
    assert not outputs_equal(a, Out(t, [(t, t + 1), (t, t)], None))  # a different length
    assert outputs_equal(Box(t, {"k": t}), Box(t.clone(), {"k": t.clone()}))
    assert not outputs_equal(Box(t, {"k": t}), Box(t, {"j": t}))
    nan = torch.tensor([float("nan")])
    assert not outputs_equal(nan, nan.clone())  # torch.equal semantics: NaN is not equal
    assert not outputs_equal((t,), [t])  # a tuple is not a list
