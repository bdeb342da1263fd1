"""Bad constructor values fail at once with an error naming the argument and its valid range (issue 11,
bug 3), instead of NaN weights or an optimizer that never moves."""

import math

import pytest
import torch
from derived_optim_helpers import make_model
from zoo_derived_optim.accumulation import GradientAccumulation
from zoo_derived_optim.ema import EMA
from zoo_derived_optim.layer_adaptation import LayerAdaptation
from zoo_derived_optim.lazy import LazyOptimization
from zoo_derived_optim.lookahead import Lookahead
from zoo_derived_optim.weight_decay import WeightDecay

import zoo

NAN, INF = math.nan, math.inf


def adam():
    return torch.optim.Adam(make_model().named_parameters(), lr=1e-3)


@pytest.mark.parametrize("rate", [NAN, INF, -INF, -0.1, True, "0.01", None])
def test_weight_decay_rate_must_be_finite_and_not_negative(rate):
    with pytest.raises(ValueError, match=r"rate.*must be a finite number >= 0"):
        WeightDecay(adam(), rate=rate)


@pytest.mark.parametrize("entry", ["lamb", "adamw-lookahead"])
@pytest.mark.parametrize("value", [NAN, INF, -1.0])
def test_the_entries_weight_decay_is_checked_too(entry, value):
    with pytest.raises(ValueError, match=r"weight_decay.*must be a finite number >= 0"):
        zoo.load(entry, params=make_model().named_parameters(), weight_decay=value)


@pytest.mark.parametrize("alpha", [0, 0.0, -0.5, 1.5, NAN, INF, True])
def test_lookahead_alpha_must_be_in_0_excluded_to_1(alpha):
    with pytest.raises(ValueError, match=r"alpha.*must be a finite number in \(0, 1\]"):
        Lookahead(adam(), alpha=alpha)


@pytest.mark.parametrize("k", [0, -1, 2.0, True, None])
def test_lookahead_k_must_be_an_integer_of_at_least_1(k):
    with pytest.raises(ValueError, match=r"k .* must be an integer >= 1"):
        Lookahead(adam(), k=k)


@pytest.mark.parametrize("momentum", [NAN, INF, -0.1, 1.0, 1.5, True, False])
def test_ema_momentum_must_be_in_0_to_1_excluded(momentum):
    with pytest.raises(ValueError, match="momentum"):
        EMA(adam(), momentum=momentum)


@pytest.mark.parametrize("min_lr", [0, -1e-7, NAN, INF, "1e-7"])
def test_layer_adaptation_min_lr_must_be_finite_and_positive(min_lr):
    with pytest.raises(ValueError, match=r"min_lr.*must be a finite number > 0"):
        LayerAdaptation(adam(), min_lr=min_lr)


@pytest.mark.parametrize("steps", [0, -2, 1.5, NAN, True])
def test_accumulation_steps_must_be_an_integer_of_at_least_1(steps):
    with pytest.raises(ValueError, match=r"steps .* must be an integer >= 1"):
        GradientAccumulation(adam(), steps=steps)


@pytest.mark.parametrize("patterns", [5, [r"emb", 3], [None]])
def test_patterns_must_be_regular_expressions(patterns):
    with pytest.raises(ValueError, match="include takes regular expressions"):
        LazyOptimization(adam(), include=patterns)
    with pytest.raises(ValueError, match="exclude takes regular expressions"):
        WeightDecay(adam(), exclude=patterns)


def test_the_edges_of_the_ranges_are_accepted():
    assert WeightDecay(adam(), rate=0).rate == 0.0
    assert Lookahead(adam(), alpha=1).alpha == 1.0
    assert EMA(adam(), momentum=0).momentum == 0.0
    assert LayerAdaptation(adam(), min_lr=1e-30).min_lr == 1e-30
    assert GradientAccumulation(adam(), steps=1).steps == 1
