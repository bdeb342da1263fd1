"""ConditionalLayerNorm against torch's LayerNorm, a float64 hand computation of bert4keras'
``LayerNormalization(conditional=True)`` and the properties of article 7124."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo_cln.layers import HIDDEN_ACTIVATIONS, ConditionalLayerNorm

import zoo

ACTIVATIONS = sorted(HIDDEN_ACTIVATIONS)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    hidden=st.integers(1, 24),
    eps=st.sampled_from([1e-12, 1e-5]),
    with_condition_size=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_no_condition_is_torch_layer_norm(
    shape: list[int], hidden: int, eps: float, with_condition_size: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    norm = ConditionalLayerNorm(hidden, 3 if with_condition_size else None, eps=eps)
    reference = torch.nn.LayerNorm(hidden, eps=eps)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
        reference.weight.copy_(norm.weight)
        reference.bias.copy_(norm.bias)
    x = torch.randn(*shape, hidden) * 3 + 1
    torch.testing.assert_close(norm(x), reference(x), rtol=0, atol=0)


def test_eps_reaches_the_normalization() -> None:
    # a constant row: (x - mean) = 0, so only eps decides; a tiny-variance row shows eps 1e-5 vs 1e-12
    x = torch.tensor([[1.0, 1.0 + 1e-3, 1.0 - 1e-3, 1.0]])
    for eps in (1e-12, 1e-5):
        expected = torch.nn.LayerNorm(4, eps=eps)(x)
        torch.testing.assert_close(ConditionalLayerNorm(4, 2, eps=eps)(x), expected)
    assert not torch.allclose(ConditionalLayerNorm(4, eps=1e-5)(x), ConditionalLayerNorm(4, eps=1e-12)(x))


@pytest.mark.parametrize(
    ("hidden_units", "activation"), [(None, "linear"), *((6, name) for name in ACTIVATIONS)]
)
def test_zero_condition_is_plain_layer_norm_at_any_step(
    one_torch_thread: None, hidden_units: int | None, activation: str
) -> None:
    torch.manual_seed(0)
    hidden, cond = 8, 5
    norm = ConditionalLayerNorm(hidden, cond, hidden_units, activation)
    opt = torch.optim.Adam(norm.parameters(), lr=0.05)
    x, zero = torch.randn(4, 3, hidden), torch.zeros(4, cond)
    for _ in range(5):
        conditions, target = torch.randn(4, cond), torch.randn(4, 3, hidden)
        loss = F.mse_loss(norm(x, conditions), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        plain = F.layer_norm(x, (hidden,), norm.weight, norm.bias, norm.eps)
        torch.testing.assert_close(norm(x, zero), plain, rtol=0, atol=1e-6)
    # the test means something: everything moved, and a nonzero condition is no longer plain LN
    assert norm.gamma_dense is not None and norm.beta_dense is not None
    assert norm.gamma_dense.weight.abs().min() > 0 and norm.beta_dense.weight.abs().min() > 0
    assert not torch.allclose(norm.weight, torch.ones(hidden))
    assert not torch.allclose(norm(x, conditions), F.layer_norm(x, (hidden,), norm.weight, norm.bias))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_hidden_activation_maps_zero_to_zero(activation: str) -> None:
    assert HIDDEN_ACTIVATIONS[activation](torch.zeros(3)).eq(0).all()


def bert4keras_conditional_ln(
    x: np.ndarray,
    cond: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    w_gamma: np.ndarray,
    w_beta: np.ndarray,
    eps: float,
    w_hidden: np.ndarray | None = None,
    activation: Callable[[np.ndarray], np.ndarray] = lambda h: h,
) -> np.ndarray:
    """bert4keras' ``LayerNormalization(conditional=True).call``, step by step in float64; kernels are
    Keras-shaped ``(in, out)``; ``cond (B, C)`` gets axes inserted after the batch axis."""
    if w_hidden is not None:
        cond = activation(cond @ w_hidden)
    for _ in range(x.ndim - cond.ndim):
        cond = cond[:, None]
    beta_c = cond @ w_beta + beta
    gamma_c = cond @ w_gamma + gamma
    out = x - x.mean(axis=-1, keepdims=True)
    std = np.sqrt((out**2).mean(axis=-1, keepdims=True) + eps)
    return out / std * gamma_c + beta_c


@pytest.mark.parametrize(("hidden_units", "activation"), [(None, "linear"), (7, "tanh"), (7, "relu")])
@pytest.mark.parametrize("eps", [1e-12, 1e-5])
def test_formula_by_hand_with_nonzero_projections(
    hidden_units: int | None, activation: str, eps: float
) -> None:
    torch.manual_seed(1)
    hidden, cond = 6, 4
    norm = ConditionalLayerNorm(hidden, cond, hidden_units, activation, eps=eps).double()
    assert norm.gamma_dense is not None and norm.beta_dense is not None
    with torch.no_grad():
        for p in (norm.weight, norm.bias, norm.gamma_dense.weight, norm.beta_dense.weight):
            p.normal_()
    x, c = torch.randn(3, 5, hidden, dtype=torch.float64) * 2 + 0.5, torch.randn(3, cond, dtype=torch.float64)
    numpy_activations: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "linear": lambda h: h,
        "tanh": np.tanh,
        "relu": lambda h: np.maximum(h, 0),
    }
    expected = bert4keras_conditional_ln(
        x.numpy(),
        c.numpy(),
        norm.weight.detach().numpy(),
        norm.bias.detach().numpy(),
        norm.gamma_dense.weight.detach().numpy().T,
        norm.beta_dense.weight.detach().numpy().T,
        eps,
        None if norm.condition_dense is None else norm.condition_dense.weight.detach().numpy().T,
        numpy_activations[activation],
    )
    np.testing.assert_allclose(norm(x, c).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_per_sample_condition_broadcasts_over_the_sequence() -> None:
    torch.manual_seed(2)
    b, length, hidden, cond = 3, 5, 8, 4
    norm = ConditionalLayerNorm(hidden, cond, hidden_units=6, hidden_activation="gelu")
    assert norm.gamma_dense is not None and norm.beta_dense is not None
    with torch.no_grad():
        norm.gamma_dense.weight.normal_()
        norm.beta_dense.weight.normal_()
    x, c = torch.randn(b, length, hidden), torch.randn(b, cond)
    out = norm(x, c)
    torch.testing.assert_close(out, norm(x, c[:, None, :].expand(b, length, cond)))
    for i in range(b):  # row i is normalized with its own condition only
        torch.testing.assert_close(out[i], norm(x[i : i + 1], c[i : i + 1])[0])
    assert not torch.allclose(out[0], norm(x[:1], c[1:2])[0])
    # one condition for a deeper input (B, L1, L2, H) applies to every position of its sample
    x4 = torch.randn(b, 2, length, hidden)
    torch.testing.assert_close(norm(x4, c)[:, 1], norm(x4[:, 1], c))


def test_projections_are_bias_free_and_zero_at_init() -> None:
    torch.manual_seed(3)
    norm = ConditionalLayerNorm(8, 5, hidden_units=6, hidden_activation="relu")
    assert sorted(name for name, _ in norm.named_parameters()) == [
        "beta_dense.weight",
        "bias",
        "condition_dense.weight",
        "gamma_dense.weight",
        "weight",
    ]
    assert norm.gamma_dense is not None and norm.beta_dense is not None and norm.condition_dense is not None
    assert norm.gamma_dense.weight.shape == norm.beta_dense.weight.shape == (8, 6)
    assert norm.gamma_dense.weight.eq(0).all() and norm.beta_dense.weight.eq(0).all()
    assert norm.condition_dense.weight.abs().sum() > 0  # the hidden layer is Glorot, not zero
    bound = (6 / (5 + 6)) ** 0.5
    assert norm.condition_dense.weight.abs().max() <= bound
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(
        norm(x, torch.randn(2, 5) * 10), F.layer_norm(x, (8,), eps=1e-12), rtol=0, atol=0
    )
    plain = ConditionalLayerNorm(8)
    assert sorted(name for name, _ in plain.named_parameters()) == ["bias", "weight"]


def test_registry_entry_builds_the_layer() -> None:
    norm = zoo.load("conditional-layer-norm", hidden_size=8, condition_size=3)
    assert isinstance(norm, ConditionalLayerNorm)
    assert (norm.hidden_size, norm.condition_size, norm.eps) == (8, 3, 1e-12)
    assert isinstance(zoo.load("cln"), ConditionalLayerNorm)


def test_errors_name_the_argument() -> None:
    norm = ConditionalLayerNorm(8, 5)
    x = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match=r"condition has size 4 .*condition_size=5"):
        norm(x, torch.randn(2, 4))
    with pytest.raises(ValueError, match="has more axes than x"):
        norm(torch.randn(2, 8), torch.randn(2, 1, 1, 5))
    with pytest.raises(ValueError, match="no condition_size: call it without a condition"):
        ConditionalLayerNorm(8)(x, torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"hidden_activation 'softmax' is not one of \['gelu'"):
        ConditionalLayerNorm(8, 5, hidden_units=4, hidden_activation="softmax")
