"""Sharing checkpoints (journey 4) with the REAL huggingface_hub client against the loopback Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.errors import CheckpointError, MissingPluginError
from zoo.testing import set_hub_offline

X = torch.randn(4, 2)


@pytest.fixture
def trained(tmp_path):
    model = zoo.load("example-mlp", hidden=8, depth=1)
    zoo.save(model, tmp_path / "run", results={"metrics": {"accuracy": 0.9}, "article": "https://kexue.fm"})
    return model, tmp_path / "run"


def test_push_folder_then_load_by_tag_branch_and_commit(hub_env, trained, tmp_path):
    model, folder = trained
    oid = zoo.push(folder, "alice/mlp", tag="v1")
    files = hub_env.list_files("alice/mlp")
    assert {"config.json", "model.safetensors", "README.md", "results.json"} <= set(files)
    assert files["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    for spec in ("alice/mlp", "alice/mlp@v1", f"alice/mlp@{oid}"):
        assert torch.equal(zoo.load(f"hf-hub:{spec}")(X), model(X))


def test_a_push_is_one_commit_and_a_second_push_updates(hub_env, trained):
    model, folder = trained
    zoo.push(folder, "alice/mlp", tag="v1")
    commits_before = len(hub_env.history("alice/mlp"))
    new = zoo.load("example-mlp", hidden=8, depth=1)
    zoo.push(new, "alice/mlp", commit_message="retrain")
    assert len(hub_env.history("alice/mlp")) == commits_before + 1
    assert torch.equal(zoo.load("hf-hub:alice/mlp")(X), new(X))
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), model(X))  # the tag still pins the old weights


def test_push_to_a_branch_and_private(hub_env, trained):
    _, folder = trained
    zoo.push(folder, "alice/private-mlp", revision="dev", private=True)
    assert "dev" in hub_env.refs("alice/private-mlp")["branches"]
    assert zoo.load("hf-hub:alice/private-mlp@dev") is not None


def test_resharded_push_deletes_stale_shards(hub_env, tmp_path):
    big = zoo.load("example-mlp", hidden=128, depth=2)
    zoo.save(big, tmp_path / "sharded", max_shard_size=40_000)
    zoo.push(tmp_path / "sharded", "alice/big")
    assert any(name.startswith("model-0000") for name in hub_env.list_files("alice/big"))
    zoo.push(big, "alice/big")  # one file now
    names = set(hub_env.list_files("alice/big"))
    assert "model.safetensors" in names and not any(n.startswith("model-0000") for n in names)
    assert "model.safetensors.index.json" not in names
    assert torch.equal(zoo.load("hf-hub:alice/big")(X), big(X))


def test_a_failed_push_leaves_the_remote_unchanged_and_a_retry_succeeds(hub_env, trained):
    _, folder = trained
    zoo.push(folder, "alice/mlp")
    before = hub_env.list_files("alice/mlp")
    new = zoo.load("example-mlp", hidden=8, depth=1)
    hub_env.fail_next("POST", "/commit/", status=500)
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises; the remote is what matters
        zoo.push(new, "alice/mlp")
    assert hub_env.list_files("alice/mlp") == before
    zoo.push(new, "alice/mlp")
    assert torch.equal(zoo.load("hf-hub:alice/mlp")(X), new(X))


def test_pull_to_a_folder_and_offline_from_cache(hub_env, trained, tmp_path, monkeypatch):
    model, folder = trained
    zoo.push(folder, "alice/mlp", tag="v1")
    dest = zoo.pull("alice/mlp@v1", tmp_path / "pulled")
    assert json.loads((dest / "config.json").read_text())["architecture"] == "example-mlp"
    assert not any(p.is_symlink() for p in dest.iterdir())
    assert torch.equal(zoo.load(f"local-dir:{dest}")(X), model(X))
    hub_env.stop()
    set_hub_offline(monkeypatch)
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), model(X))  # from the cache
    with pytest.raises(zoo.HubError, match="not in the local cache"):
        zoo.load("hf-hub:alice/never-fetched")


def test_missing_repo_and_revision(hub_env, trained):
    with pytest.raises(zoo.HubError, match="does not exist or is private"):
        zoo.load("hf-hub:alice/nothing")
    zoo.push(trained[1], "alice/mlp")
    with pytest.raises(zoo.HubError, match="has no revision 'v9'"):
        zoo.load("hf-hub:alice/mlp@v9")
    with pytest.raises(zoo.HubError, match="not a Hub repo id"):
        zoo.load("hf-hub:just-a-name")


def test_a_checkpoint_naming_an_uninstalled_architecture(hub_env, trained):
    folder = trained[1]
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = "seq2seq-qa"  # provided by no installed plugin
    hub_env.create_repo("bob/qa")  # zoo.push refuses an unknown architecture: write the repo directly
    files = {name: (folder / name).read_bytes() for name in ("model.safetensors", "README.md")}
    hub_env.commit("bob/qa", {**files, "config.json": json.dumps(config).encode()})
    with pytest.raises(MissingPluginError, match=r"'seq2seq-qa'.*Install the plugin"):
        zoo.load("hf-hub:bob/qa")


def test_pickles_on_the_hub_are_never_downloaded(hub_env, trained):
    hub_env.create_repo("eve/model")
    config = (trained[1] / "config.json").read_bytes()
    hub_env.commit("eve/model", {"config.json": config, "pytorch_model.bin": b"\x80\x04pickle"})
    with pytest.raises(CheckpointError, match=r"no model.safetensors"):
        zoo.load("hf-hub:eve/model")
    assert not any("pytorch_model.bin" in path for _, path in hub_env.request_log if "resolve" in path)


def test_cli_push_and_pull(hub_env, trained, tmp_path, capsys):
    _, folder = trained
    assert main(["push", str(folder), "carol/mlp", "--tag", "v1"]) == 0
    assert 'zoo.load("hf-hub:carol/mlp@v1")' in capsys.readouterr().out
    assert main(["pull", "carol/mlp@v1", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "model.safetensors").is_file()
    assert main(["eval", "hf-hub:carol/mlp@v1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["entry"] == "example-mlp"


def test_unreachable_hub_uses_the_cache_or_says_so(hub_env, trained):
    model, folder = trained
    zoo.push(folder, "alice/mlp", tag="v1")
    zoo.load("hf-hub:alice/mlp@v1")  # fills the cache
    hub_env.stop()  # the network is gone, HF_HUB_OFFLINE is not set
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), model(X))
    with pytest.raises(zoo.HubError, match="cannot reach the Hub"):
        zoo.load("hf-hub:alice/other")


def _damage_cached_weights(spec: str) -> Path:
    """Flip one byte inside the tensor data of the cached ``model.safetensors`` (the header stays valid, so
    safetensors alone would load a wrong number); return the snapshot folder."""
    snapshot = zoo.hub.download(spec)
    blob = (snapshot / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0xFF
    blob.write_bytes(bytes(data))
    return snapshot


def test_a_file_damaged_in_the_hub_cache_is_downloaded_again_never_loaded(hub_env, trained):
    model, folder = trained
    zoo.push(folder, "alice/mlp", tag="v1")
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), model(X))  # cached now
    snapshot = _damage_cached_weights("alice/mlp@v1")
    assert zoo.hub.corrupted(snapshot, ["config.json", "model.safetensors"]) == ["model.safetensors"]
    requests = len(hub_env.request_log)
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), model(X))  # the right weights again
    assert any("model.safetensors" in path for _, path in hub_env.request_log[requests:])  # fetched again


def test_a_damaged_cache_offline_is_refused_with_the_reason(hub_env, trained, monkeypatch):
    _, folder = trained
    zoo.push(folder, "alice/mlp", tag="v1")
    zoo.load("hf-hub:alice/mlp@v1")
    _damage_cached_weights("alice/mlp@v1")
    set_hub_offline(monkeypatch)
    refused = r"do not match their hashes .*\(HF_HUB_OFFLINE=1\) cannot fetch them again"
    with pytest.raises(CheckpointError, match=refused):
        zoo.load("hf-hub:alice/mlp@v1")
