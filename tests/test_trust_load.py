"""The load side of the trust boundary: a checkpoint's content is data (issue 12, items 1-3 and 9).

Every hostile folder is built here by hand: configs naming other checkpoints, index files naming shards
outside the folder, links leading out of it, weights of the wrong dtype.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import zoo
from zoo import checkpoint, hookimpl, hub
from zoo.errors import CheckpointError, InvalidArgumentsError

NESTED_SPEC: list[str] = []  # what Nested's factory loads (set by a test)
LINEAR = {"in_features": 3, "out_features": 2}


class Nested(nn.Module):
    """A factory that loads a checkpoint by itself: the guard must stop it inside a load."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = zoo.load(NESTED_SPEC[0])


class Stack(nn.Module):
    """A factory that builds its parts with zoo.load from names nested in its arguments."""

    def __init__(self, parts: list[dict[str, Any]]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(zoo.load(p["name"], **p.get("args", {})) for p in parts)


class ModelsPlugin:
    @hookimpl
    def zoo_register_models(self, register):
        register(
            "linear", "torch.nn:Linear", summary="nn.Linear", defaults={"in_features": 3, "out_features": 2}
        )
        register("rope", "zoo_test_models:WithRope", summary="non-persistent buffer")
        register("nested", f"{__name__}:Nested", summary="loads another checkpoint in its factory")
        register("stack", f"{__name__}:Stack", summary="loads the parts its arguments name")


@pytest.fixture
def models(use_host, make_host):
    use_host(make_host(models=ModelsPlugin()))


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything tries to download from the Hub."""

    def refuse(*args: Any, **kwargs: Any) -> Path:
        pytest.fail(f"hub.download was called with {args} {kwargs}")

    monkeypatch.setattr(hub, "download", refuse)


@pytest.fixture
def reads(monkeypatch) -> list[Path]:
    """The folders whose config.json or weights were read during the test."""
    seen: list[Path] = []
    read_config, read_weights = checkpoint.read_config, checkpoint.read_weights

    def spy_config(directory: Path) -> Any:
        seen.append(Path(directory))
        return read_config(directory)

    def spy_weights(directory: Path, device: Any = "cpu") -> Any:
        seen.append(Path(directory))
        return read_weights(directory, device)

    monkeypatch.setattr(checkpoint, "read_config", spy_config)
    monkeypatch.setattr(checkpoint, "read_weights", spy_weights)
    return seen


def write_folder(
    folder: Path, architecture: str, model_args: dict[str, Any], state: dict[str, torch.Tensor]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"architecture": architecture, "model_args": model_args}
    (folder / "config.json").write_text(json.dumps(config))
    save_file(state, folder / "model.safetensors")
    return folder


def linear_state(dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"weight": torch.randn(2, 3, generator=g).to(dtype), "bias": torch.randn(2, generator=g).to(dtype)}


def vib_encoder_state() -> dict[str, torch.Tensor]:
    """The weights of a vib-classifier around example-mlp (to make a hostile folder otherwise valid)."""
    model = zoo.load(
        "vib-classifier", encoder="example-mlp", encoder_args={"num_classes": 32}, features=32, classes=3
    )
    return {k: v.contiguous() for k, v in model.state_dict().items()}


# -- 1. model_args are data; loading never recurses ----------------------------------------------------
@pytest.mark.parametrize(
    "encoder",
    ["local-dir:{other}", "hf-hub:org/x", "local-dir:{self}"],
    ids=["other-folder", "hub-repo", "itself"],
)
def test_a_config_naming_a_location_is_refused_and_nothing_else_is_read(tmp_path, encoder, no_hub, reads):
    pytest.importorskip("zoo_vib")
    state = vib_encoder_state()
    other = tmp_path / "other"
    zoo.save(zoo.load("example-mlp", num_classes=32), other)
    hostile = tmp_path / "hostile"
    args = {"encoder": encoder.format(other=other, self=hostile), "features": 32, "classes": 3}
    write_folder(hostile, "vib-classifier", args, state)
    with pytest.raises(CheckpointError, match=r"model_args\.encoder is .*, a location: .* passes it in code"):
        zoo.load(f"local-dir:{hostile}")
    assert reads == [hostile]  # its config only: no weights, no other folder


def test_a_location_nested_deep_in_model_args_is_named(tmp_path, models, no_hub, reads):
    parts = [{"name": "linear", "args": LINEAR}, {"name": "hf-hub:org/x"}]
    state = {f"parts.0.{k}": v for k, v in linear_state().items()}
    folder = write_folder(tmp_path / "ck", "stack", {"parts": parts}, state)
    with pytest.raises(CheckpointError, match=r"model_args\.parts\[1\]\.name is 'hf-hub:org/x'"):
        zoo.load(f"local-dir:{folder}")
    assert reads == [folder]


def test_a_factory_that_loads_a_checkpoint_during_a_load_is_stopped(tmp_path, models, no_hub, reads):
    inner = tmp_path / "inner"
    write_folder(inner, "linear", LINEAR, linear_state())
    outer = write_folder(
        tmp_path / "outer", "nested", {}, {f"inner.{k}": v for k, v in linear_state().items()}
    )
    for spec in (f"local-dir:{inner}", "hf-hub:org/x", f"local-dir:{outer}"):
        NESTED_SPEC[:] = [spec]
        reads.clear()
        with pytest.raises(CheckpointError, match=rf"while loading {outer}.*asked to load .*never"):
            zoo.load(f"local-dir:{outer}")
        assert reads == [outer, outer]  # the outer config and weights: nothing of the inner one
    NESTED_SPEC[:] = [f"local-dir:{inner}"]
    assert isinstance(zoo.load("nested").inner, nn.Linear)  # in code, outside a load, it is allowed


def test_vib_wrap_takes_registry_names_only(no_hub):
    pytest.importorskip("zoo_vib")
    for spec in ("hf-hub:org/x", "local-dir:/other/ckpt", "./ckpt"):
        with pytest.raises(InvalidArgumentsError, match=r"encoder=.* is a location.*pass the module"):
            zoo.load("vib-classifier", encoder=spec, features=3, classes=2)


def test_a_saved_vib_wrapper_reloads_its_encoder_from_its_own_weights(tmp_path, no_hub):
    pytest.importorskip("zoo_vib")
    model = zoo.load(
        "vib-classifier", encoder="example-mlp", encoder_args={"num_classes": 32}, features=32, classes=3
    )
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)  # trained: no longer what the encoder's factory would build
    zoo.save(model, tmp_path / "m")
    back = zoo.load(f"local-dir:{tmp_path / 'm'}")
    got = back.encoder.state_dict()
    assert list(got) == list(model.encoder.state_dict())
    for name, want in model.encoder.state_dict().items():
        assert torch.equal(want, got[name]), name


# -- 2. the index names plain files inside the folder, each tensor once ---------------------------------
def sharded(tmp_path: Path, weight_map: Any, shards: dict[str, dict[str, torch.Tensor]]) -> Path:
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "linear", "model_args": LINEAR}))
    for name, state in shards.items():
        path = Path(name) if os.path.isabs(name) else folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, path)
    (folder / checkpoint.INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


@pytest.mark.parametrize(
    "shard", ["../outside.safetensors", "{abs}", "sub/w.safetensors", "sub\\w.safetensors"]
)
def test_an_index_naming_a_shard_outside_the_folder_is_refused(tmp_path, models, shard):
    shard = shard.format(abs=tmp_path / "elsewhere" / "w.safetensors")
    state = linear_state()
    folder = sharded(
        tmp_path, {"weight": shard, "bias": "b.safetensors"}, {shard: {"weight": state["weight"]}}
    )
    save_file({"bias": state["bias"]}, folder / "b.safetensors")
    with pytest.raises(CheckpointError, match=r"tensor 'weight' names the shard .* not a plain file name"):
        zoo.load(f"local-dir:{folder}")


@pytest.mark.parametrize("name", ["", "..", "."])
def test_an_index_naming_an_empty_or_dot_shard_is_refused(tmp_path, models, name):
    folder = sharded(tmp_path, {"weight": name, "bias": name}, {})
    with pytest.raises(CheckpointError, match="not a plain file name"):
        zoo.load(f"local-dir:{folder}")


def test_a_tensor_in_two_shards_is_an_error_not_the_later_wins(tmp_path, models):
    state = linear_state()
    folder = sharded(
        tmp_path,
        {"weight": "a.safetensors", "bias": "b.safetensors"},
        {
            "a.safetensors": {"weight": state["weight"]},
            "b.safetensors": {**state, "weight": -state["weight"]},
        },
    )
    with pytest.raises(CheckpointError, match=r"\['weight'\] are in more than one shard"):
        zoo.load(f"local-dir:{folder}")


def test_an_index_naming_a_key_twice_is_an_error(tmp_path, models):
    state = linear_state()
    folder = sharded(tmp_path, {}, {"a.safetensors": state, "b.safetensors": state})
    text = '{"weight_map": {"weight": "a.safetensors", "bias": "a.safetensors", "weight": "b.safetensors"}}'
    (folder / checkpoint.INDEX_NAME).write_text(text)
    with pytest.raises(CheckpointError, match=r"names \['weight'\] twice"):
        zoo.load(f"local-dir:{folder}")


@pytest.mark.parametrize("weight_map", [["a.safetensors"], "a.safetensors", {"weight": 3}, None, 7])
def test_a_weight_map_of_the_wrong_type_is_a_checkpoint_error(tmp_path, models, weight_map):
    folder = sharded(tmp_path, weight_map, {"a.safetensors": linear_state()})
    with pytest.raises(CheckpointError, match="'weight_map' must be an object mapping tensor names"):
        zoo.load(f"local-dir:{folder}")


# -- 3. links that leave the folder ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "tokenizer.json", "index"])
def test_local_dir_refuses_files_that_link_outside_the_folder(tmp_path, models, name):
    outside = write_folder(tmp_path / "outside", "linear", LINEAR, linear_state())
    folder = write_folder(tmp_path / "ck", "linear", LINEAR, linear_state())
    if name == "index":
        name = checkpoint.INDEX_NAME
        shard = {"weight": "model.safetensors", "bias": "model.safetensors"}  # loads on main
        (outside / name).write_text(json.dumps({"weight_map": shard}))
    elif name == "tokenizer.json":
        (outside / name).write_text("{}")
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(outside / name)
    with pytest.raises(CheckpointError, match=rf"{name} is a link to .*outside the checkpoint folder"):
        zoo.load(f"local-dir:{folder}")


def test_a_link_to_a_shard_outside_is_refused_and_links_inside_are_fine(tmp_path, models):
    state = linear_state()
    folder = sharded(tmp_path, {"weight": "a.safetensors", "bias": "a.safetensors"}, {})
    save_file(state, tmp_path / "secret.safetensors")
    (folder / "a.safetensors").symlink_to(tmp_path / "secret.safetensors")
    with pytest.raises(CheckpointError, match=r"a\.safetensors is a link to .*outside"):
        zoo.load(f"local-dir:{folder}")
    (folder / "a.safetensors").unlink()
    (folder / "real").mkdir()
    save_file(state, folder / "real" / "v2.safetensors")
    (folder / "a.safetensors").symlink_to(Path("real") / "v2.safetensors")  # inside: fine
    assert torch.equal(zoo.load(f"local-dir:{folder}").weight, state["weight"])
    linked = tmp_path / "linked-folder"
    linked.symlink_to(folder)  # the folder itself may be a link (e.g. "latest")
    assert torch.equal(zoo.load(f"local-dir:{linked}").bias, state["bias"])


# -- 9. dtypes: floating weights are cast, integer/floating mismatches refused ------------------------------
def test_fp16_weights_load_into_an_fp32_model_as_fp32_and_predict(tmp_path, models):
    half = linear_state(torch.float16)
    folder = write_folder(tmp_path / "ck", "linear", LINEAR, half)
    model = zoo.load(f"local-dir:{folder}")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    x = torch.randn(4, 3)
    want = torch.nn.functional.linear(x, half["weight"].float(), half["bias"].float())
    assert torch.equal(model(x), want)
    as64 = zoo.load(f"local-dir:{folder}", dtype=torch.float64)  # dtype= wins
    assert {p.dtype for p in as64.parameters()} == {torch.float64}
    assert torch.allclose(as64(x.double()), want.double(), atol=1e-6)


@pytest.mark.parametrize("architecture", ["linear", "rope"])
def test_integer_weights_for_floating_parameters_are_a_named_error(tmp_path, models, architecture):
    state = {"weight": torch.ones(2, 3, dtype=torch.int64), "bias": torch.zeros(2)}
    args: dict[str, Any] = dict(LINEAR)
    if architecture == "rope":
        args = {}  # the path that builds for real (non-persistent buffers)
        state = {"proj.weight": torch.ones(4, 4, dtype=torch.int32), "proj.bias": torch.zeros(4)}
    folder = write_folder(tmp_path / "ck", architecture, args, state)
    key, stored = next((k, v.dtype) for k, v in state.items() if not v.is_floating_point())
    with pytest.raises(
        CheckpointError, match=rf"'{key}' is stored as {stored} but the model's is torch.float32"
    ):
        zoo.load(f"local-dir:{folder}")


def test_an_index_that_does_not_describe_its_shards_is_refused(tmp_path, models):
    """Found by tests/test_fuzz.py: an index listing only some keys of a shard loaded the shard whole."""
    state = linear_state()
    folder = sharded(tmp_path, {"weight": "a.safetensors"}, {"a.safetensors": state})
    with pytest.raises(CheckpointError, match=r"does not describe a.safetensors: it holds \['bias'\]"):
        zoo.load(f"local-dir:{folder}")
    (tmp_path / "2").mkdir()
    folder = sharded(
        tmp_path / "2",
        {"weight": "a.safetensors", "bias": "a.safetensors"},
        {"a.safetensors": {"weight": state["weight"]}},
    )
    with pytest.raises(CheckpointError, match=r"the index puts \['bias'\] there, which it does not hold"):
        zoo.load(f"local-dir:{folder}")
