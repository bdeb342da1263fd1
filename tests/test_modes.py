"""Checkpoints load in eval mode; zoo.eval_mode and @zoo.inference restore the caller's modes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo


def test_models_with_weights_load_in_eval_mode_built_ones_in_training_mode(hub_env, tmp_path):
    built = zoo.load("example-mlp", hidden=8)
    assert built.training and all(m.training for m in built.modules())  # as torch builds every module
    zoo.save(built, tmp_path / "mlp")
    zoo.push(tmp_path / "mlp", "alice/mlp", tag="v1")
    for spec in (f"local-dir:{tmp_path / 'mlp'}", "hf-hub:alice/mlp@v1"):
        loaded = zoo.load(spec)
        assert not any(m.training for m in loaded.modules()), spec


class Noisy(nn.Module):
    """Dropout inside: training-mode outputs are random, eval-mode outputs are the input."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.frozen = nn.BatchNorm1d(3)

    @zoo.inference
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """eval mode, no autograd."""
        assert not torch.is_grad_enabled() and not self.training and not self.drop.training
        return self.drop(x) * 1.0  # a new tensor, computed without autograd


def test_inference_runs_in_eval_mode_and_restores_each_submodules_mode():
    model = Noisy()
    model.frozen.eval()  # a caller's mixed modes come back as they were
    x = torch.ones(4, 3, requires_grad=True)
    out = model.predict(x)
    assert torch.equal(out, x.detach()) and not out.requires_grad
    assert model.training and model.drop.training and not model.frozen.training
    assert Noisy.predict.__doc__ == "eval mode, no autograd."
    model.eval()
    model.predict(x)
    assert not model.training and not model.drop.training


def test_eval_mode_restores_after_an_error_and_may_keep_autograd():
    model = Noisy()
    with pytest.raises(RuntimeError, match="boom"), zoo.eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert model.training and model.drop.training and model.frozen.training
    x = torch.ones(2, 3, requires_grad=True)
    with zoo.eval_mode(model, no_grad=False):
        assert model.drop(x).requires_grad
    assert model.training
