"""zoo.load: defaults, validated overrides, kinds, aliases, tags, device and dtype."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo import hookimpl
from zoo.building import config_of
from zoo.errors import InvalidArgumentsError, UnknownEntryError


def test_model_defaults_and_overrides():
    m = zoo.load("example-mlp")
    assert isinstance(m, torch.nn.Module)
    assert m.net[0].out_features == 64 and len(m.net) == 2 * 3 + 1
    m = zoo.load("example-mlp", hidden=8, depth=1)
    assert m.net[0].out_features == 8 and len(m.net) == 3
    cfg = config_of(m)
    assert (
        cfg is not None
        and cfg.architecture == "example-mlp"
        and dict(cfg.model_args) == {"hidden": 8, "depth": 1}
    )


def test_alias_and_tag():
    assert zoo.load("spiral-mlp").net[0].out_features == 64
    m = zoo.load("example-mlp.wide")
    assert m.net[0].out_features == 256 and config_of(m).tag == "wide"
    assert zoo.load("example-mlp.wide", hidden=32).net[0].out_features == 32


def test_unknown_override_is_an_error_with_suggestion():
    with pytest.raises(InvalidArgumentsError) as exc:
        zoo.load("example-mlp", hiden=8)
    msg = str(exc.value)
    assert "does not take 'hiden' (did you mean 'hidden'?)" in msg
    assert "in_features=2" in msg and "plugin 'example'" in msg


def test_missing_required_argument():
    with pytest.raises(InvalidArgumentsError, match="needs 'params'"):
        zoo.load("example-signsgd")


def test_optimizer_and_sampler_kinds():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = zoo.load("example-signsgd", params=[p], lr=0.5)
    assert isinstance(opt, torch.optim.Optimizer)
    p.grad = torch.tensor([3.0, -0.1])
    opt.step()
    assert torch.equal(p.detach(), torch.tensor([0.5, -1.5]))
    sampler = zoo.load("example-temperature", temperature=0.01)
    ids = sampler(torch.tensor([[0.0, 5.0, 1.0]]).repeat(100, 1))
    assert ids.shape == (100,) and bool((ids == 1).all())


def test_device_and_dtype_for_models():
    m = zoo.load("example-mlp", dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 for p in m.parameters())
    with pytest.raises(TypeError, match="apply to models"):
        zoo.load("example-temperature", dtype=torch.float64)


def test_unknown_name_error():
    with pytest.raises(UnknownEntryError, match="did you mean 'example-mlp'"):
        zoo.load("example-mpl")


def test_catalog_name_of_missing_plugin_says_what_to_install(use_host, make_host, monkeypatch, tmp_path):
    catalog = tmp_path / "registry.yaml"
    catalog.write_text(
        "schema: 1\nplugins:\n  on_lstm: {distribution: zoo-on-lstm}\n"
        "entries:\n  - {name: on-lstm, kind: model, plugin: on_lstm, summary: s}\n"
    )
    monkeypatch.setattr("zoo.catalog.default_path", lambda: catalog)
    use_host(make_host())
    with pytest.raises(
        UnknownEntryError, match="plugin 'on_lstm', which is not installed: pip install zoo-on-lstm"
    ):
        zoo.load("on-lstm.ptb")
    use_host(make_host(on_lstm=ImportError("No module named 'scipy'")))
    with pytest.raises(
        UnknownEntryError, match="failed to load: failed to import: ImportError: No module named 'scipy'"
    ):
        zoo.load("on-lstm")


def test_list_and_info():
    names = [e.name for e in zoo.list(kind="model")]
    assert "example-mlp" in names and "example-signsgd" not in names
    assert [e.name for e in zoo.list("example-s*")] == ["example-signsgd"]
    info = zoo.info("spiral-mlp")
    assert info["name"] == "example-mlp" and info["plugin"] == "example" and info["recipe"] is True
    assert info["defaults"] == {"hidden": 64, "depth": 3} and info["plugin_version"] == "0.1.0"


def test_a_wrong_typed_override_names_the_entry_and_the_argument():
    with pytest.raises(InvalidArgumentsError) as exc:
        zoo.load("example-mlp", hidden="wide")
    assert (
        str(exc.value)
        == "model 'example-mlp' (plugin 'example'): argument 'hidden' must be int; got 'wide' (str)"
    )
    with pytest.raises(InvalidArgumentsError, match="'depth' must be int; got True"):
        zoo.load("example-mlp", depth=True)  # a bool is no count
    import numpy as np

    assert zoo.load("example-mlp", hidden=np.int64(8)).net[0].out_features == 8  # numpy integers are ints


def test_the_factorys_own_error_keeps_its_type_and_gains_the_entry(use_host, make_host):
    def picky_factory(width: int = 2, activation: object = "gelu") -> torch.nn.Module:
        if activation not in ("gelu", "relu"):
            raise ValueError(f"unknown activation {activation!r}")
        return torch.nn.Linear(width, width)

    class Picky:
        @hookimpl
        def zoo_register_models(self, register):
            register("picky", picky_factory, summary="x")

    use_host(make_host(picky=Picky()))
    with pytest.raises(ValueError, match="unknown activation 'tanh'") as exc:  # the factory's own error
        zoo.load("picky", activation="tanh")  # an annotation the type check leaves to the factory
    assert "while building model 'picky' (plugin 'picky') with activation='tanh'" in exc.value.__notes__
