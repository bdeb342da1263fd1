"""Pushes and pulls against the loopback Hub with hostile folders, hostile repos and injected faults.

Each push case checks the remote, not only the exception: a failed push must leave the repo as it
was (same commit on main, same files, same refs) and a retry must succeed.
"""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo import modelcard
from zoo.cli import main
from zoo.errors import CheckpointError, MissingPluginError
from zoo.testing import TEST_TOKEN, set_hub_offline

X = torch.randn(4, 2)


@pytest.fixture
def run(tmp_path):
    """A model and its checkpoint folder (with results.json and a card)."""
    model = zoo.load("example-mlp", hidden=8, depth=1)
    zoo.save(model, tmp_path / "run", results={"metrics": {"accuracy": 0.9}})
    return model, tmp_path / "run"


def snapshot(hub, repo_id):
    """Everything a push may change: files on main, and every ref."""
    return hub.list_files(repo_id), hub.refs(repo_id)


# -- items 3 and 4: a push is validated like a load before any network call ------------------------
def _link_card_to_secret(folder, tmp_path):
    secret = tmp_path / "secrets.txt"
    secret.write_text("HF_TOKEN=hf_very_secret")
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(secret)


def _link_weights_outside(folder, tmp_path):
    (folder / "model.safetensors").rename(tmp_path / "elsewhere.safetensors")
    (folder / "model.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")


def _pickle_as_safetensors(folder, tmp_path):
    torch.save({"w": torch.zeros(2)}, folder / "model.safetensors")


def _only_a_pickle(folder, tmp_path):
    (folder / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")


def _index(folder, weight_map):
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )


def _index_escaping_the_folder(folder, tmp_path):
    save_file({"x": torch.zeros(1)}, tmp_path / "x.safetensors")
    _index(folder, {"x": "../x.safetensors"})


def _index_absolute(folder, tmp_path):
    save_file({"x": torch.zeros(1)}, tmp_path / "x.safetensors")
    _index(folder, {"x": str(tmp_path / "x.safetensors")})


def _index_shard_is_link_outside(folder, tmp_path):
    save_file({"x": torch.zeros(1)}, tmp_path / "x.safetensors")
    (folder / "model-00001-of-00001.safetensors").symlink_to(tmp_path / "x.safetensors")
    _index(folder, {"x": "model-00001-of-00001.safetensors"})


def _same_key_in_two_shards(folder, tmp_path):
    save_file({"x": torch.zeros(1)}, folder / "a.safetensors")
    save_file({"x": torch.ones(1)}, folder / "b.safetensors")
    _index(folder, {"x": "a.safetensors", "y": "b.safetensors"})


def _truncated_weights(folder, tmp_path):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _lying_header(folder, tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)


def _config_not_json(folder, tmp_path):
    (folder / "config.json").write_text("{not json")


def _unknown_architecture(folder, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architecture": "no-such-model"}))


def _model_args_the_factory_rejects(folder, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_args": {"no_such_arg": 1}}))


def _weights_of_another_size(folder, tmp_path):
    zoo.save(zoo.load("example-mlp", hidden=16, depth=1), tmp_path / "other")
    (folder / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())


def _config_is_a_fifo(folder, tmp_path):
    import os

    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")  # reading it would hang: refused as "not a regular file"


HOSTILE = {
    "README.md linked to a secrets file": (_link_card_to_secret, CheckpointError, "outside the checkpoint"),
    "model.safetensors linked outside": (_link_weights_outside, CheckpointError, "outside the checkpoint"),
    "a pickle named model.safetensors": (_pickle_as_safetensors, CheckpointError, "is a pickle"),
    "only pytorch_model.bin": (_only_a_pickle, CheckpointError, "pickles are never uploaded"),
    "index shard ../x.safetensors": (_index_escaping_the_folder, CheckpointError, "plain file names"),
    "index shard an absolute path": (_index_absolute, CheckpointError, "plain file names"),
    "index shard linked outside": (_index_shard_is_link_outside, CheckpointError, "outside the checkpoint"),
    "one tensor in two shards": (_same_key_in_two_shards, CheckpointError, "is in both"),
    "truncated model.safetensors": (_truncated_weights, CheckpointError, "not a readable safetensors"),
    "header lying about sizes": (_lying_header, CheckpointError, "not a readable safetensors"),
    "config.json not JSON": (_config_not_json, CheckpointError, "not valid JSON"),
    "unknown architecture": (_unknown_architecture, MissingPluginError, "no-such-model"),
    "config.json a FIFO": (_config_is_a_fifo, CheckpointError, "not a regular file"),
    "model_args the factory rejects": (_model_args_the_factory_rejects, CheckpointError, "does not load"),
    "weights that do not fit the model": (_weights_of_another_size, CheckpointError, "does not load"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_folder_is_refused_before_any_request(hub_env, run, tmp_path, case):
    spoil, error, message = HOSTILE[case]
    _, folder = run
    spoil(folder, tmp_path)
    with pytest.raises(error, match=message):
        zoo.push(folder, "alice/mlp")
    assert hub_env.request_log == []
    assert not hub_env.repo_exists("alice/mlp")


def test_cli_push_of_a_linked_secret_is_one_error_line(hub_env, run, tmp_path, capsys):
    _, folder = run
    _link_card_to_secret(folder, tmp_path)
    assert main(["push", str(folder), "alice/mlp"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and "outside the checkpoint" in err and "very_secret" not in err
    assert hub_env.request_log == []


def test_a_missing_folder_is_refused_before_any_request(hub_env, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        zoo.push(tmp_path / "nothing", "alice/mlp")
    assert hub_env.request_log == []


def test_files_that_are_not_part_of_the_checkpoint_are_not_uploaded(hub_env, run):
    _, folder = run
    (folder / "notes.txt").write_text("private notes")
    torch.save({"w": torch.zeros(2)}, folder / "optimizer.pt")
    zoo.push(folder, "alice/mlp")
    assert set(hub_env.list_files("alice/mlp")) == {
        ".gitattributes",
        "config.json",
        "model.safetensors",
        "results.json",
        "README.md",
    }


# -- item 5: a push is one all-or-nothing change ---------------------------------------------------
def test_an_existing_tag_fails_before_committing(hub_env, run):
    model, folder = run
    zoo.push(folder, "alice/mlp", tag="v1")
    before = snapshot(hub_env, "alice/mlp")
    new = zoo.load("example-mlp", hidden=8, depth=1)
    start = len(hub_env.request_log)
    with pytest.raises(zoo.HubError, match="already has a tag 'v1'"):
        zoo.push(new, "alice/mlp", tag="v1")
    assert snapshot(hub_env, "alice/mlp") == before
    assert not any(method == "POST" for method, _ in hub_env.request_log[start:])  # only reads
    zoo.push(new, "alice/mlp", tag="v2")
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v2")(X), new(X))
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), model(X))


def test_a_bad_token_changes_nothing_and_names_the_fix(hub_env, run, monkeypatch):
    _, folder = run
    zoo.push(folder, "alice/mlp")
    before = snapshot(hub_env, "alice/mlp")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(zoo.HubError, match="HF_TOKEN"):
        zoo.push(folder, "alice/mlp", tag="v1")
    with pytest.raises(zoo.HubError, match="HF_TOKEN"):
        zoo.push(folder, "alice/new-repo")
    assert snapshot(hub_env, "alice/mlp") == before
    assert not hub_env.repo_exists("alice/new-repo")
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    zoo.push(folder, "alice/mlp", tag="v1")
    assert "v1" in hub_env.refs("alice/mlp")["tags"]


def test_a_hub_down_before_the_push_changes_nothing_and_a_retry_succeeds(hub_env, run):
    _, folder = run
    zoo.push(folder, "alice/mlp")
    before = snapshot(hub_env, "alice/mlp")
    hub_env.stop()
    new = zoo.load("example-mlp", hidden=8, depth=1)
    with pytest.raises(zoo.HubError, match="alice/mlp"):
        zoo.push(new, "alice/mlp", tag="v1")
    assert snapshot(hub_env, "alice/mlp") == before
    hub_env.start()  # the same port: the Hub is back
    zoo.push(new, "alice/mlp", tag="v1")
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), new(X))


def test_a_hub_dying_during_the_upload_changes_nothing(hub_env, run):
    """Regular (non-Xet) uploads send the files in the commit request: the server dies reading it."""
    _, folder = run
    zoo.push(folder, "alice/mlp")
    before = snapshot(hub_env, "alice/mlp")
    new = zoo.load("example-mlp", hidden=8, depth=1)
    hub_env.fail_next("POST", "/commit/", disconnect=True, count=100)  # client retries are cut too
    with pytest.raises(zoo.HubError, match="alice/mlp"):
        zoo.push(new, "alice/mlp", revision="dev", tag="v1")
    assert snapshot(hub_env, "alice/mlp") == before  # no tag, and the branch it created was removed
    hub_env._faults.clear()
    zoo.push(new, "alice/mlp", revision="dev", tag="v1")
    assert torch.equal(zoo.load("hf-hub:alice/mlp@v1")(X), new(X))


def test_a_push_offline_says_so_and_changes_nothing(hub_env, run, monkeypatch):
    _, folder = run
    set_hub_offline(monkeypatch)
    with pytest.raises(zoo.HubError, match="HF_HUB_OFFLINE=1 is set"):
        zoo.push(folder, "alice/mlp")
    assert hub_env.request_log == [] and not hub_env.repo_exists("alice/mlp")


# -- item 6: a push replaces exactly the files zoo owns --------------------------------------------
def _with_tokenizer(model):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    model.tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    return model


def test_a_push_deletes_the_stale_files_of_an_earlier_push(hub_env, tmp_path):
    old = _with_tokenizer(zoo.load("example-mlp", hidden=8, depth=1))
    zoo.save(old, tmp_path / "old", results={"metrics": {"accuracy": 0.64}})
    zoo.push(tmp_path / "old", "alice/mlp")
    assert {"tokenizer.json", "results.json"} <= set(hub_env.list_files("alice/mlp"))
    new = zoo.load("example-mlp", hidden=8, depth=1)
    zoo.push(new, "alice/mlp")  # no results, no tokenizer
    files = hub_env.list_files("alice/mlp")
    assert "tokenizer.json" not in files and "results.json" not in files
    loaded = zoo.load("hf-hub:alice/mlp")
    assert getattr(loaded, "tokenizer", None) is None
    assert torch.equal(loaded(X), new(X))


def test_a_push_never_deletes_files_zoo_did_not_write(hub_env, run):
    _, folder = run
    hub_env.create_repo("alice/mlp")
    others = {
        "fp16/variant.safetensors": b"someone else's weights",
        "other.safetensors": b"x",
        "notes.txt": b"n",
    }
    hub_env.commit("alice/mlp", others)
    zoo.push(folder, "alice/mlp")
    zoo.push(zoo.load("example-mlp", hidden=8, depth=1), "alice/mlp")
    files = hub_env.list_files("alice/mlp")
    assert {name: files.get(name) for name in others} == others


def test_the_pushed_card_lists_the_files_zoo_owns(hub_env, run):
    _, folder = run
    zoo.push(folder, "alice/mlp")
    card = hub_env.list_files("alice/mlp")["README.md"].decode()
    assert modelcard.owned_files(card) == {"config.json", "model.safetensors", "results.json", "README.md"}


# -- item 7: a load downloads only what the checkpoint names ---------------------------------------
def _downloaded(hub):
    return {
        path.split("/resolve/", 1)[1].split("/", 1)[1] for m, path in hub.request_log if "/resolve/" in path
    }


def test_a_load_fetches_only_the_checkpoint_not_other_weights(hub_env, run):
    model, folder = run
    zoo.push(folder, "alice/mlp")
    hub_env.commit(
        "alice/mlp",
        {"big.safetensors": b"\0" * 2_000_000, "fp16/model.safetensors": b"\0" * 1000, "x.bin": b"\x80\x04"},
    )
    hub_env.request_log.clear()
    assert torch.equal(zoo.load("hf-hub:alice/mlp")(X), model(X))
    got = _downloaded(hub_env)
    assert got <= {"config.json", "model.safetensors", "results.json", "README.md"}
    assert "model.safetensors" in got and "config.json" in got
    cache = hub_env_cache_files(hub_env)
    assert not any(name.endswith(("big.safetensors", "x.bin")) for name in cache)


def hub_env_cache_files(hub):
    import os

    home = os.environ["HF_HOME"]
    return [os.path.join(d, f) for d, _, fs in os.walk(home) for f in fs]


def test_a_sharded_load_fetches_the_index_and_its_shards(hub_env, tmp_path):
    big = zoo.load("example-mlp", hidden=128, depth=2)
    zoo.save(big, tmp_path / "sharded", max_shard_size=40_000)
    shards = sorted(p.name for p in (tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1
    zoo.push(tmp_path / "sharded", "alice/big")
    hub_env.commit("alice/big", {"unrelated.safetensors": b"\0" * 100_000})
    hub_env.request_log.clear()
    assert torch.equal(zoo.load("hf-hub:alice/big")(X), big(X))
    got = _downloaded(hub_env)
    assert set(shards) <= got and "unrelated.safetensors" not in got
    pulled = zoo.pull("alice/big", tmp_path / "pulled")
    assert sorted(p.name for p in pulled.iterdir()) == sorted(
        ["config.json", "README.md", "model.safetensors.index.json", *shards]
    )


def test_a_hostile_index_on_the_hub_fetches_nothing_outside(hub_env, run):
    _, folder = run
    hub_env.create_repo("eve/model")
    index = {"weight_map": {"w": "../../../../etc/passwd"}}
    hub_env.commit(
        "eve/model",
        {
            "config.json": (folder / "config.json").read_bytes(),
            "model.safetensors.index.json": json.dumps(index).encode(),
        },
    )
    with pytest.raises(CheckpointError, match="plain file names"):
        zoo.load("hf-hub:eve/model")
    assert not any("passwd" in path for _, path in hub_env.request_log)


# -- item 11: quiet progress and a card that names the repo ----------------------------------------
@pytest.mark.parametrize("quiet", [True, False])
def test_zoo_progress_0_silences_huggingface_hub_bars(hub_env, run, monkeypatch, capfd, quiet):
    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr("huggingface_hub.utils.tqdm.HF_HUB_DISABLE_PROGRESS_BARS", None, raising=False)
    enable_progress_bars()
    monkeypatch.setenv("ZOO_PROGRESS", "0" if quiet else "1")
    _, folder = run
    zoo.push(folder, "alice/mlp")
    zoo.load("hf-hub:alice/mlp")
    err = capfd.readouterr().err
    if quiet:
        assert err == ""
    else:  # the control: without ZOO_PROGRESS=0 huggingface_hub draws its bars
        assert "it/s]" in err or "B/s]" in err
    assert not are_progress_bars_disabled()  # the global setting is restored


def test_the_pushed_card_names_the_real_repo(hub_env, run):
    _, folder = run
    zoo.push(folder, "alice/mlp")
    zoo.push(folder, "alice/mlp", revision="dev")
    main_card = hub_env.list_files("alice/mlp")["README.md"].decode()
    dev_card = hub_env.list_files("alice/mlp", "dev")["README.md"].decode()
    assert 'zoo.load("hf-hub:alice/mlp")' in main_card and "ORG/REPO" not in main_card
    assert 'zoo.load("hf-hub:alice/mlp@dev")' in dev_card
    assert "ORG/REPO" in (folder / "README.md").read_text()  # the local folder is not changed
