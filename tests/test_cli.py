"""The zoo command: output, --json schemas, errors and exit codes, train/eval."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

import zoo
from zoo import hookimpl
from zoo.cli import main

LIST_KEYS = {"name", "kind", "plugin", "article", "summary", "aliases", "tags"}
PLUGIN_KEYS = {"name", "distribution", "version", "hooks", "entries", "error"}
EVAL_KEYS = {"entry", "tag", "name", "checkpoint", "metrics", "reference", "data", "trained_on", "warnings"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_and_json(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "KIND", "PLUGIN", "SUMMARY"]
    assert "example-mlp (.wide)" in out
    code, out, _ = run(capsys, "list", "--json", "--kind", "sampler", "--plugin", "example")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["example-temperature"]
    assert all(set(r) == LIST_KEYS for r in rows)
    code, out, _ = run(capsys, "list", "spiral*", "--json")
    assert [r["name"] for r in json.loads(out)] == ["example-mlp"]


def test_info(capsys):
    code, out, _ = run(capsys, "info", "example-mlp")
    assert code == 0 and "zoo_example.model:SpiralMLP" in out and "plugin_version" in out
    code, out, _ = run(capsys, "info", "example-mlp", "--json")
    data = json.loads(out)
    assert data["article"] == "https://kexue.fm" and data["defaults"] == {"hidden": 64, "depth": 3}


def test_plugins_json_schema(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    rows = json.loads(out)
    assert code == 0 and all(set(r) == PLUGIN_KEYS for r in rows)
    assert any(r["name"] == "example" and r["error"] is None for r in rows)


def test_unknown_name_is_exit_1_with_a_clear_message(capsys):
    code, _, err = run(capsys, "info", "exmple-mlp")
    assert code == 1 and "zoo: error: no entry named 'exmple-mlp'; did you mean 'example-mlp'" in err


def test_no_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "usage: zoo" in out


def test_train_then_eval(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "train", "example-mlp", "--preset", "smoke", "--out", str(out_dir))
    assert code == 0 and "outputs identical" in out
    results = json.loads((out_dir / "results.json").read_text())
    assert results["entry"] == "example-mlp" and results["seed"] == 0 and results["reload_identical"] is True
    assert set(results) >= {"metrics", "reference", "command", "git_commit", "machine", "wall_time_s"}
    code, out, _ = run(capsys, "eval", str(out_dir), "--json")
    report = json.loads(out)
    assert (
        code == 0 and set(report) == EVAL_KEYS and report["name"] == "example-mlp" and report["tag"] is None
    )
    assert report["metrics"]["accuracy"] == pytest.approx(results["metrics"]["accuracy"])


def test_train_with_a_data_file_and_bad_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    data = tmp_path / "points.csv"
    data.write_text("x1,x2,label\n" + "".join(f"{i / 50},{-i / 50},{i % 2}\n" for i in range(100)))
    code, _, _ = run(
        capsys, "train", "example-mlp", "--preset", "smoke", "--data", str(data), "--out", str(tmp_path / "r")
    )
    assert code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    code, _, err = run(capsys, "eval", str(tmp_path / "r"), "--data", str(bad))
    assert (
        code == 1
        and "zoo: error: ValueError:" in err
        and "expected a CSV header with columns x1,x2,label" in err
    )
    assert "(run with --debug for the traceback)" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="expected a CSV header with columns x1,x2,label"):
        main(["--debug", "eval", str(tmp_path / "r"), "--data", str(bad)])
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(ValueError, match="expected a CSV header"):
        main(["eval", str(tmp_path / "r"), "--data", str(bad)])


def test_each_recipe_states_its_data_format_in_info_and_train_help(capsys):
    from zoo import recipes

    with_recipe = [e.name for e in zoo.list(kind="model") if zoo.info(e.name)["recipe"]]
    assert {"example-mlp", "vib-textcnn", "vib-mnist", "gaussian-vae", "gumbel-vae"} <= set(with_recipe)
    for name in with_recipe:
        _, out, _ = run(capsys, "info", name, "--json")
        stated = json.loads(out)["data_format"]
        assert stated and stated == recipes.get_recipe(name).data_format, name
    assert "sentiment.test.data" in zoo.info("vib-textcnn")["data_format"]
    assert "t10k-images-idx3-ubyte" in zoo.info("gumbel-vae")["data_format"]
    with pytest.raises(SystemExit) as exit_:
        main(["train", "example-mlp", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "--data for example-mlp: a CSV file with the header x1,x2,label" in out
    assert "--option for example-mlp: none" in out and "data file" not in out
    assert "--nproc / --nnodes for example-mlp: yes; --checkpoint-every / --resume: yes" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "`zoo train NAME --help` shows NAME's --data format" in capsys.readouterr().out


def test_a_recipe_without_a_stated_format_falls_back_to_its_summary(use_host, make_host):
    from zoo import recipes

    use_host(make_host(opts=OptionsPlugin()))
    assert zoo.info("tiny-linear")["data_format"] == "records what it was given"
    assert (
        recipes.data_format("tiny-linear", recipes.get_recipe("tiny-linear")) == "records what it was given"
    )


def test_train_json_is_the_record_on_stdout(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    code, out, err = run(
        capsys, "train", "example-mlp", "--preset", "smoke", "--out", str(tmp_path / "r"), "--json"
    )
    assert code == 0 and json.loads(out) == json.loads((tmp_path / "r" / "results.json").read_text())
    assert "example-mlp: " in err and "outputs identical" in err


def test_eval_of_an_entry_without_weights_explains(capsys):
    code, _, err = run(capsys, "eval", "example-mlp")
    assert code == 1 and "train it first" in err


class OptionsRecipe:
    summary = "records what it was given"
    options: ClassVar[dict] = {"epochs": 1, "mode": "fast", "lr": 0.1}
    seen: ClassVar[list] = []

    def train(self, config):
        import torch

        OptionsRecipe.seen.append((dict(config.options), dict(config.model_args)))
        model = zoo.load("tiny-linear", **config.model_args)
        return zoo.TrainResult(model=model, metrics={"score": 1.0}, example_inputs=(torch.ones(2, 3),))

    def evaluate(self, model, data, device="cpu"):
        return {"score": 1.0}


class OptionsPlugin:
    @hookimpl
    def zoo_register_models(self, register):
        import torch

        register("tiny-linear", lambda out=2: torch.nn.Linear(3, out), summary="a linear layer")

    @hookimpl
    def zoo_register_recipes(self, register):
        register("tiny-linear", OptionsRecipe)


def test_train_options_and_model_args(capsys, tmp_path, monkeypatch, use_host, make_host):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    use_host(make_host(opts=OptionsPlugin()))
    OptionsRecipe.seen.clear()
    argv = ["train", "tiny-linear", "--out", str(tmp_path / "r"), "--option", "epochs=3", "--set", "out=4"]
    code, _, _ = run(capsys, *argv)
    assert code == 0 and OptionsRecipe.seen == [({"epochs": 3, "mode": "fast", "lr": 0.1}, {"out": 4})]
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["options"] == {"epochs": 3, "mode": "fast", "lr": 0.1} and results["model_args"] == {
        "out": 4
    }
    code, _, err = run(capsys, "train", "tiny-linear", "--out", str(tmp_path / "s"), "--option", "epoch=3")
    assert code == 1 and "has no option 'epoch' (did you mean 'epochs'?)" in err and "mode='fast'" in err
    code, _, err = run(capsys, "train", "tiny-linear", "--option", "epochs")
    assert code == 1 and "--option takes KEY=VALUE, got 'epochs'" in err
    code, _, err = run(capsys, "train", "tiny-linear", "--option", "epochs=three")
    assert code == 1 and "option 'epochs' of 'tiny-linear' takes a number (default 1); got 'three'" in err
    assert len(OptionsRecipe.seen) == 1  # nothing ran for the bad calls
    # YAML 1.1 reads 1e-3 as a string: the CLI reads it as the number a user means; ints become floats
    argv = [
        "train",
        "tiny-linear",
        "--out",
        str(tmp_path / "t"),
        "--option",
        "lr=1e-3",
        "--option",
        "mode=2e5x",
    ]
    assert run(capsys, *argv)[0] == 0 and OptionsRecipe.seen[-1][0] == {
        "epochs": 1,
        "mode": "2e5x",
        "lr": 1e-3,
    }
    assert run(capsys, "train", "tiny-linear", "--out", str(tmp_path / "u"), "--option", "lr=1")[0] == 0
    assert OptionsRecipe.seen[-1][0]["lr"] == 1.0 and isinstance(OptionsRecipe.seen[-1][0]["lr"], float)


class CommandPlugin:
    @hookimpl
    def zoo_register_commands(self, cli):
        p = cli.add_parser("hello", help="say hello")
        p.add_argument("who")
        p.set_defaults(func=lambda args: print(f"hello {args.who}") or 0)


class BrokenCommandPlugin:
    @hookimpl
    def zoo_register_commands(self, cli):
        raise RuntimeError("bad command")


def test_plugins_add_commands_and_a_broken_one_does_not_take_the_cli_down(capsys, use_host, make_host):
    use_host(make_host(greeter=CommandPlugin(), broken=BrokenCommandPlugin()))
    code, out, _ = run(capsys, "hello", "world")
    assert code == 0 and out == "hello world\n"
    use_host(make_host(greeter=CommandPlugin(), broken=BrokenCommandPlugin()))  # a fresh process
    code, out, _ = run(capsys, "plugins", "--json")
    errors = {r["name"]: r["error"] for r in json.loads(out)}
    assert errors["greeter"] is None
    assert errors["broken"] == "zoo_register_commands failed: RuntimeError: bad command"


# -- issue 12 item 10: every failure is `zoo: error: …` naming the input, exit 1, no traceback -----------


def assert_clean_error(code: int, err: str, *names: str) -> None:
    assert code == 1 and err.startswith("zoo: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)


@pytest.fixture
def mlp_checkpoint(tmp_path):
    folder = tmp_path / "ck"
    zoo.save(zoo.load("example-mlp", hidden=8, depth=1), folder)
    return folder


def edit_config(folder, **changes):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("hidden", [-3, "wide", [1, 2]])
def test_model_args_the_factory_rejects_are_a_checkpoint_error(capsys, mlp_checkpoint, hidden):
    edit_config(mlp_checkpoint, model_args={"hidden": hidden, "depth": 1})
    code, _, err = run(capsys, "eval", str(mlp_checkpoint))
    assert_clean_error(code, err, str(mlp_checkpoint))


@pytest.mark.parametrize("hidden", [-3, "wide", [1, 2]])
def test_python_load_of_rejected_model_args_names_the_checkpoint(mlp_checkpoint, hidden):
    """zoo.load in Python, not only the CLI: a CheckpointError naming the folder and the entry."""
    edit_config(mlp_checkpoint, model_args={"hidden": hidden, "depth": 1})
    with pytest.raises(zoo.CheckpointError, match=r"model 'example-mlp' rejects the model_args") as info:
        zoo.load(f"local-dir:{mlp_checkpoint}")
    assert str(mlp_checkpoint) in str(info.value)


def test_a_deeply_nested_config_is_a_checkpoint_error(capsys, mlp_checkpoint):
    deep = "[" * 100_000 + "]" * 100_000
    (mlp_checkpoint / "config.json").write_text(
        '{"architecture": "example-mlp", "model_args": {"hidden": ' + deep + "}}"
    )
    code, _, err = run(capsys, "eval", str(mlp_checkpoint))
    assert_clean_error(code, err, str(mlp_checkpoint))


@pytest.mark.parametrize("weight_map", [["model.safetensors"], "model.safetensors", {"w": 3}, 7])
def test_an_index_with_a_weight_map_of_the_wrong_type_is_a_checkpoint_error(
    capsys, mlp_checkpoint, weight_map
):
    (mlp_checkpoint / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    code, _, err = run(capsys, "eval", str(mlp_checkpoint))
    assert_clean_error(code, err, str(mlp_checkpoint))


@pytest.mark.parametrize("repo_id", ["bad//id", "org/re..po", "a" * 200 + "/x"])
def test_repo_ids_the_hub_rejects_are_a_hub_error(capsys, hub_env, mlp_checkpoint, tmp_path, repo_id):
    assert_clean_error(*run(capsys, "push", str(mlp_checkpoint), repo_id)[::2], repo_id)
    assert_clean_error(*run(capsys, "pull", repo_id, str(tmp_path / "p"))[::2], repo_id)
    assert_clean_error(*run(capsys, "eval", f"hf-hub:{repo_id}")[::2], repo_id)


def test_push_with_a_bad_token_offline_or_without_a_folder(
    capsys, hub_server, monkeypatch, tmp_path, mlp_checkpoint
):
    from zoo.testing import apply_hub_env, set_hub_offline

    apply_hub_env(monkeypatch, hub_server, tmp_path / "hf_home", token="hf_not_the_token")
    assert_clean_error(*run(capsys, "push", str(mlp_checkpoint), "alice/mlp")[::2], "alice/mlp")
    apply_hub_env(monkeypatch, hub_server, tmp_path / "hf_home")
    set_hub_offline(monkeypatch)
    assert_clean_error(*run(capsys, "push", str(mlp_checkpoint), "alice/mlp")[::2], "alice/mlp")
    set_hub_offline(monkeypatch, False)
    missing = tmp_path / "nope"
    assert_clean_error(*run(capsys, "push", str(missing), "alice/mlp")[::2], str(missing))
    hub_server.stop()  # the network is gone
    assert_clean_error(*run(capsys, "push", str(mlp_checkpoint), "alice/mlp")[::2], "alice/mlp")


def test_train_checks_that_out_is_writable_before_training(
    capsys, tmp_path, monkeypatch, use_host, make_host
):
    use_host(make_host(opts=OptionsPlugin()))
    OptionsRecipe.seen.clear()
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    user_data = tmp_path / "mine"
    user_data.mkdir()
    (user_data / "notes.txt").write_text("precious")
    for out in (a_file, a_file / "run", user_data):
        code, _, err = run(capsys, "train", "tiny-linear", "--out", str(out))
        assert_clean_error(code, err, str(out))
    assert (user_data / "notes.txt").read_text() == "precious"

    def denied(*args, **kwargs):  # a read-only folder (chmod does not stop root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    code, _, err = run(capsys, "train", "tiny-linear", "--out", str(tmp_path / "ro" / "run"))
    assert_clean_error(code, err, str(tmp_path / "ro" / "run"), "Permission denied")
    assert OptionsRecipe.seen == []  # no training was wasted on a run that could not be saved


def test_train_and_eval_through_a_users_symlink_keep_the_link(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    real, link = tmp_path / "disk" / "run", tmp_path / "run"
    real.parent.mkdir()
    link.symlink_to(real)  # dangling until the first save
    for _ in range(2):  # a first save through the link, then a replacement
        code, _, err = run(capsys, "train", "example-mlp", "--preset", "smoke", "--out", str(link))
        assert code == 0, err
        assert link.is_symlink() and (real / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "run"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["run"]
    code, out, _ = run(capsys, "eval", str(link), "--json")
    assert code == 0 and json.loads(out)["name"] == "example-mlp"
    assert zoo.load(f"local-dir:{link}").zoo_config.architecture == "example-mlp"


class _ClosedPipe:
    """A stdout whose reader has gone (``zoo list --json | head -1``): every write raises EPIPE."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise ValueError("not a real file")


@pytest.mark.parametrize("argv", [["list", "--json"], ["list"], ["info", "example-mlp"]])
def test_a_closed_pipe_ends_quietly(argv, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    code = main(argv)
    monkeypatch.undo()
    _, err = capsys.readouterr()
    assert code == 141 and err == "", err  # no "zoo: error: BrokenPipeError", no traceback
