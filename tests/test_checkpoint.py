"""The checkpoint folder: save, local-dir load, strict keys, safety (no pickles), atomic writes."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
import zoo_test_models
from safetensors.torch import load_file, save_file

import zoo
from zoo import checkpoint, hookimpl
from zoo.errors import CheckpointError, MissingPluginError


class ModelsPlugin:
    @hookimpl
    def zoo_register_models(self, register):
        register("tied-lm", "zoo_test_models:TiedLM", summary="tied", defaults={"vocab": 11, "dim": 4})
        register("rope", "zoo_test_models:WithRope", summary="non-persistent buffer")
        register(
            "linear", "torch.nn:Linear", summary="nn.Linear", defaults={"in_features": 3, "out_features": 2}
        )


@pytest.fixture(autouse=True)
def models(use_host, make_host):
    use_host(make_host(models=ModelsPlugin()))


def test_round_trip_gives_identical_outputs_and_files(tmp_path):
    model = zoo.load("tied-lm", dim=6)
    ids = torch.randint(0, 11, (2, 5))
    out = zoo.save(
        model, tmp_path / "ck", results={"metrics": {"acc": 0.5}, "article": "https://kexue.fm/archives/1"}
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "results.json",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config == {
        "architecture": "tied-lm",
        "model_args": {"vocab": 11, "dim": 6},
        "zoo_version": zoo.__version__,
        "plugin": {
            "name": "models",
            "distribution": "zoo-models",
            "version": "9.9",
        },  # the code that wrote it
    }
    card = (out / "README.md").read_text()
    assert (
        card.startswith("---\nlibrary_name: kexue-zoo\n") and "article: https://kexue.fm/archives/1" in card
    )
    back = zoo.load(f"local-dir:{out}")
    assert torch.equal(model(ids), back(ids))
    assert back.decoder.weight is back.emb.weight  # the tie survives the meta-device load


def test_load_builds_on_meta_device_and_pays_no_init(tmp_path):
    zoo.save(zoo.load("tied-lm"), tmp_path / "ck")
    zoo_test_models.BUILT_ON.clear()
    back = zoo.load(f"local-dir:{tmp_path / 'ck'}")
    assert zoo_test_models.BUILT_ON == ["meta"]
    assert not any(t.is_meta for t in back.state_dict().values())


def test_non_persistent_buffers_are_rebuilt_not_lost(tmp_path):
    model = zoo.load("rope")
    zoo.save(model, tmp_path / "ck")
    back = zoo.load(f"local-dir:{tmp_path / 'ck'}")
    x = torch.randn(3, 4)
    assert torch.equal(back.freqs, torch.tensor([1.0, 2.0, 3.0, 4.0])) and torch.equal(model(x), back(x))


def test_dtype_option(tmp_path):
    zoo.save(zoo.load("linear"), tmp_path / "ck")
    back = zoo.load(f"local-dir:{tmp_path / 'ck'}", dtype=torch.float64)
    assert back.weight.dtype == torch.float64


def test_sharded_save_writes_an_index_and_loads(tmp_path):
    model = zoo.load("linear", in_features=256, out_features=64)
    out = zoo.save(model, tmp_path / "ck", max_shard_size=20_000)
    index = json.loads((out / checkpoint.INDEX_NAME).read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2 and not (out / "model.safetensors").exists()
    back = zoo.load(f"local-dir:{out}")
    assert torch.equal(back.weight, model.weight) and torch.equal(back.bias, model.bias)


def test_mismatched_weights_give_a_readable_diff(tmp_path):
    out = zoo.save(zoo.load("linear"), tmp_path / "ck")
    state = load_file(out / "model.safetensors")
    state["extra.weight"] = torch.zeros(1)
    state["weight"] = torch.zeros(5, 3)
    del state["bias"]
    save_file(state, out / "model.safetensors")
    with pytest.raises(CheckpointError) as exc:
        zoo.load(f"local-dir:{out}")
    msg = str(exc.value)
    assert "missing (1): bias" in msg and "unexpected (1): extra.weight" in msg
    assert "mis-shaped (1): weight: checkpoint (5, 3) vs model (2, 3)" in msg


def test_model_args_mismatch_is_a_shape_error(tmp_path):
    out = zoo.save(zoo.load("linear"), tmp_path / "ck")
    with pytest.raises(CheckpointError, match="mis-shaped"):
        zoo.load(f"local-dir:{out}", out_features=7)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupted_or_truncated_file(tmp_path, damage):
    out = zoo.save(zoo.load("linear"), tmp_path / "ck")
    path = out / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x10\x00" + b"x" * 64)
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        zoo.load(f"local-dir:{out}")


class Boom:
    def __reduce__(self):
        raise AssertionError("unpickled!")


def test_pickles_are_refused_never_opened(tmp_path):
    out = zoo.save(zoo.load("linear"), tmp_path / "ck")
    (out / "model.safetensors").unlink()
    (out / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": 1}))
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin.*never unpickles"):
        zoo.load(f"local-dir:{out}")
    torch.save({"weight": torch.zeros(2, 3)}, out / "model.safetensors")  # a pickle wearing the right name
    with pytest.raises(CheckpointError, match=r"is a pickle .*refused, never unpickled"):
        zoo.load(f"local-dir:{out}")


def test_unknown_architecture_says_install_the_plugin(tmp_path):
    out = zoo.save(zoo.load("linear"), tmp_path / "ck")
    cfg = json.loads((out / "config.json").read_text())
    cfg["architecture"] = "on-lstm"
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MissingPluginError, match=r"needs the architecture 'on-lstm'.*Install the plugin"):
        zoo.load(f"local-dir:{out}")


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="is not a folder"):
        zoo.load(f"local-dir:{tmp_path / 'nope'}")
    with pytest.raises(CheckpointError, match=r"no config.json"):
        zoo.load(f"local-dir:{tmp_path}")


def test_save_replaces_atomically_and_a_failed_save_keeps_the_old(tmp_path, monkeypatch):
    dest = tmp_path / "ck"
    first = zoo.load("linear")
    zoo.save(first, dest)
    before = (dest / "model.safetensors").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("huggingface_hub.save_torch_state_dict", explode)
    with pytest.raises(OSError, match="disk full"):
        zoo.save(zoo.load("linear"), dest)
    monkeypatch.undo()
    assert (dest / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temp folders left behind
    second = zoo.load("linear")
    zoo.save(second, dest)
    assert torch.equal(zoo.load(f"local-dir:{dest}").weight, second.weight)


def test_save_refuses_to_replace_a_folder_of_user_data(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(CheckpointError, match="not a kexue-zoo checkpoint"):
        zoo.save(zoo.load("linear"), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_save_needs_a_config():
    with pytest.raises(CheckpointError, match=r"build it with zoo.load"):
        zoo.save(torch.nn.Linear(2, 2), "unused")


def test_tokenizer_is_saved_and_reattached(tmp_path):
    from tokenizers import Tokenizer, models

    model = zoo.load("linear")
    model.tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "hi": 1}, unk_token="[UNK]"))
    out = zoo.save(model, tmp_path / "ck")
    assert (out / "tokenizer.json").is_file()
    assert zoo.load(f"local-dir:{out}").tokenizer.encode("hi").ids == [1]


class ScorerV1(torch.nn.Module):
    """'Version 1' of a plugin's model: its layer is called ``lin``."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class Block(torch.nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(dim, 2)
        self.register_load_state_dict_pre_hook(self._from_v1)

    @staticmethod
    def _from_v1(module, state, prefix, *args):  # v1 called the layer "lin" and kept it at the top
        for name in ("weight", "bias"):
            old = prefix.removesuffix("block.") + f"lin.{name}"
            if old in state:
                state[f"{prefix}proj.{name}"] = state.pop(old)


class ScorerV2(torch.nn.Module):
    """'Version 2': the layer moved into ``block.proj``; the block's pre-hook upgrades v1 checkpoints."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.block = Block(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block.proj(x)


def _plugin_with(factory):
    class Versioned:
        @hookimpl
        def zoo_register_models(self, register):
            register("scorer", factory, summary="a model that renamed its keys")

    return Versioned()


def test_a_checkpoint_of_version_1_loads_into_version_2_through_its_pre_hook(tmp_path, use_host, make_host):
    use_host(make_host(versioned=_plugin_with(ScorerV1)))
    old = zoo.load("scorer", dim=3)
    x = torch.randn(5, 3)
    zoo.save(old, tmp_path / "v1")
    use_host(make_host(versioned=_plugin_with(ScorerV2)))  # the plugin upgraded
    new = zoo.load(f"local-dir:{tmp_path / 'v1'}")
    assert isinstance(new, ScorerV2) and torch.equal(new(x), old(x))
    assert not any(t.is_meta for t in new.parameters())
    Block._from_v1, saved = (lambda *a: None), Block._from_v1  # without the hook: the strict check refuses
    try:
        with pytest.raises(zoo.CheckpointError, match=r"unexpected \(2\): lin.bias, lin.weight"):
            zoo.load(f"local-dir:{tmp_path / 'v1'}")
    finally:
        Block._from_v1 = saved
