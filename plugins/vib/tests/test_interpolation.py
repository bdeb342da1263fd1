"""Spherical interpolation keeps N(0, I); the straight line shrinks the variance to (1-t)^2 + t^2."""

from __future__ import annotations

import math

import pytest
import torch
from zoo_vib.interpolation import SphericalInterpolation, linear_interpolate, spherical_interpolate

import zoo

T = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])


def pairs(n: int = 400_000) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


def test_spherical_path_keeps_unit_variance():
    z1, z2 = pairs()
    path = spherical_interpolate(z1, z2, T)  # (5, n)
    se = math.sqrt(2 / z1.numel())  # standard error of a sample variance of a unit normal
    assert ((path.var(-1) - 1).abs() < 5 * se).all()
    assert (path.mean(-1).abs() < 5 / math.sqrt(z1.numel())).all()
    # and the components stay uncorrelated with each other: a standard normal, not just unit variance
    assert torch.corrcoef(torch.stack([path[2][:-1], path[2][1:]]))[0, 1].abs() < 5 / math.sqrt(z1.numel())


def test_linear_path_shrinks_the_variance():
    z1, z2 = pairs()
    path = linear_interpolate(z1, z2, T)
    expected = (1 - T.double()) ** 2 + T.double() ** 2
    se = expected * math.sqrt(2 / z1.numel())
    assert ((path.var(-1) - expected).abs() < 5 * se).all()
    assert abs(path[2].var().item() - 0.5) < 0.01  # half the variance at the midpoint


def test_endpoints_shapes_and_errors():
    z1, z2 = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(spherical_interpolate(z1, z2, 0.0), z1)
    assert torch.allclose(spherical_interpolate(z1, z2, 1.0), z2, atol=1e-6)
    assert torch.allclose(linear_interpolate(z1, z2, 0.5), (z1 + z2) / 2)
    assert spherical_interpolate(z1, z2, T).shape == (5, 3, 4)
    theta = math.pi / 6  # t = 1/3
    assert torch.allclose(spherical_interpolate(z1, z2, 1 / 3), z1 * math.cos(theta) + z2 * math.sin(theta))
    with pytest.raises(ValueError, match="same shape"):
        spherical_interpolate(z1, torch.randn(4), 0.5)
    with pytest.raises(ValueError, match="same shape"):
        linear_interpolate(z1, torch.randn(4), 0.5)


def test_registry_entry():
    path = zoo.load("spherical-interpolation", steps=6)
    assert isinstance(path, SphericalInterpolation)
    z1, z2 = torch.randn(7), torch.randn(7)
    out = path(z1, z2)
    assert out.shape == (6, 7) and torch.allclose(out[0], z1) and torch.allclose(out[-1], z2, atol=1e-6)
    assert path(z1, z2, steps=3).shape == (3, 7)
    with pytest.raises(ValueError, match=r"steps .* must be an integer >= 2; got 1"):
        zoo.load("spherical-interpolation", steps=1)
    with pytest.raises(ValueError, match=r"steps .* must be an integer >= 2; got 0"):
        path(z1, z2, steps=0)  # was silently the default
    with pytest.raises(ValueError, match=r"got 2\.5"):
        zoo.load("spherical-interpolation", steps=2.5)
