"""A trained model used as a user would (issue 11): train on one's own folder through the CLI, evaluate,
reload in Python, tagged variants, path-looking arguments. The VIB text CNN is kept tiny (seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.datasets import sentiment_split

SMALL = ["--set", "embedding=8", "--set", "filters=16", "--set", "maxlen=12", "--set", "latent=8"]
OPTIONS = ["--option", "epochs=2", "--option", "batch_size=16"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_reviews(folder: Path, n: int = 60, splits=("train", "valid", "test")) -> None:
    """bert4keras files of short reviews; a quarter of the labels are flipped, so the model is unsure."""
    folder.mkdir(parents=True, exist_ok=True)
    good, bad = "很好喜欢推荐满意", "太差失望退货糟糕"
    g = torch.Generator().manual_seed(0)
    for split in splits:
        lines = []
        for i in range(n):
            chars = good if i % 2 else bad
            idx = torch.randint(0, len(chars), (6,), generator=g).tolist()
            label = i % 2 if i % 4 else 1 - i % 2
            lines.append("".join(chars[j] for j in idx) + f"\t{label}")
        (folder / f"sentiment.{split}.data").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``zoo train vib-textcnn --data FOLDER --json`` on a user's folder: (data, run, record)."""
    root = tmp_path_factory.mktemp("trained")
    data, out = root / "reviews", root / "run"
    write_reviews(data)
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_PROGRESS", "0")
    try:
        from io import StringIO
        from unittest import mock

        stdout, stderr = StringIO(), StringIO()
        with mock.patch("sys.stdout", stdout), mock.patch("sys.stderr", stderr):
            code = main(["train", "vib-textcnn", "--data", str(data), "--out", str(out), "--preset", "smoke",
                         *OPTIONS, *SMALL, "--json"])  # fmt: skip
    finally:
        mp.undo()
    assert code == 0, stderr.getvalue()
    return data, out, json.loads(stdout.getvalue()), stderr.getvalue()


def test_train_json_prints_the_results_record_alone_on_stdout(trained):
    _, out, record, stderr = trained
    assert record == json.loads((out / "results.json").read_text())
    assert record["reload_identical"] is True and "outputs identical" in stderr and "saved to" in stderr


def test_a_reloaded_model_predicts_like_zoo_eval(trained, capsys, monkeypatch):
    data, out, _, _ = trained
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    code, stdout, _ = run(capsys, "eval", out, "--json")
    report = json.loads(stdout)
    model = zoo.load(f"local-dir:{out}")  # no .eval(): a loaded checkpoint is ready for inference
    assert code == 0 and model.training is False
    texts, labels = sentiment_split(data, "test")
    p = model.classify(texts)
    correct = float(((p > 0.5).long() == labels).sum())
    assert 100 * (correct / len(labels)) == report["metrics"]["accuracy"]
    assert 0 < report["metrics"]["accuracy"] < 100  # the labels are noisy: the test would be vacuous at 100
    # inference helpers run in eval mode whatever the caller left, and restore the caller's mode
    model.train()
    again, twice = model.classify(texts), model.classify(texts)
    assert torch.equal(again, p) and torch.equal(twice, p) and model.training and model.bottleneck.training
    ids = model.encode(texts)
    assert torch.equal(model.predict(ids), (p > 0.5).long()) and model.training
    assert not again.requires_grad
    # a model built without weights stays in training mode, as torch builds it
    assert zoo.load("vib-textcnn", vocab_size=10).training is True


def test_eval_without_data_scores_the_data_the_run_was_trained_on(trained, capsys, monkeypatch, tmp_path):
    data, out, record, _ = trained
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    assert record["data"] == str(data.resolve())
    code, stdout, err = run(capsys, "eval", out, "--json")
    report = json.loads(stdout)
    assert code == 0 and report["data"] == str(data.resolve()) and report["warnings"] == [] and err == ""
    for key in ("accuracy", "error", "ce", "kl"):
        assert report["metrics"][key] == record["metrics"][key]
    # a pulled copy on a machine without that folder: a loud warning, the embedded data is scored
    moved = tmp_path / "run-elsewhere"
    shutil.copytree(out, moved)
    saved = json.loads((moved / "results.json").read_text())
    saved["data"] = str(tmp_path / "not-on-this-machine")
    (moved / "results.json").write_text(json.dumps(saved))
    code, stdout, err = run(capsys, "eval", moved, "--json")
    report = json.loads(stdout)
    assert code == 0 and report["data"] == "embedded default"
    assert "zoo: WARNING: the run was trained on" in err and "not-on-this-machine" in err and "--data" in err
    assert report["warnings"] and report["trained_on"] == saved["data"]


def test_eval_data_needs_only_the_test_split(trained, capsys, monkeypatch, tmp_path):
    data, out, record, _ = trained
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    only_test = tmp_path / "only-test"
    only_test.mkdir()
    shutil.copy(data / "sentiment.test.data", only_test)
    for given in (only_test, only_test / "sentiment.test.data"):
        code, stdout, err = run(capsys, "eval", out, "--data", given, "--json")
        assert code == 0, err
        assert json.loads(stdout)["metrics"]["accuracy"] == record["metrics"]["accuracy"]
    code, _, err = run(capsys, "eval", out, "--data", tmp_path)
    assert code == 1 and "has no sentiment.test.data: expected a folder of bert4keras" in err


def test_a_tagged_variant_is_described_as_itself(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    write_reviews(tmp_path / "data", n=20)
    tag_summary = zoo.resolve("vib-textcnn.baseline").tag_info.summary
    argv = ["train", "vib-textcnn.baseline", "--data", tmp_path / "data", "--out", tmp_path / "r",
            "--preset", "smoke", "--option", "epochs=1", *SMALL[:-2]]  # fmt: skip
    code, stdout, _ = run(capsys, *argv)
    assert code == 0 and f"vib-textcnn.baseline: {tag_summary}" in stdout
    record = json.loads((tmp_path / "r" / "results.json").read_text())
    assert record["name"] == "vib-textcnn.baseline" and record["summary"] == tag_summary
    card = (tmp_path / "r" / "README.md").read_text()
    assert "# vib-textcnn.baseline\n" in card and tag_summary in card and "variant `baseline`" in card
    code, stdout, _ = run(capsys, "eval", tmp_path / "r", "--json")
    report = json.loads(stdout)
    assert (report["entry"], report["tag"], report["name"]) == (
        "vib-textcnn",
        "baseline",
        "vib-textcnn.baseline",
    )
    code, stdout, _ = run(capsys, "info", "vib-textcnn.baseline", "--json")
    info = json.loads(stdout)
    assert info["tag"] == "baseline" and info["summary"] == tag_summary
    assert info["defaults"] == {"vocab_size": 5000, "maxlen": 200, "latent": None, "beta": 0.1}
    assert info["entry_summary"] == zoo.resolve("vib-textcnn").entry.summary
    code, stdout, _ = run(capsys, "info", "vib-textcnn")
    assert "baseline" not in stdout.split("tags")[0] and zoo.resolve("vib-textcnn").entry.summary in stdout


@pytest.mark.parametrize("target", ["runs/missing", "./missing", "~/surely-missing-zoo-run", "missing/"])
def test_a_missing_path_gets_the_folder_message(capsys, target):
    code, _, err = run(capsys, "eval", target)
    assert code == 1 and "is not a folder (it does not exist)" in err and "no entry named" not in err
    code, _, err = run(capsys, "push", target, "alice/repo")
    assert code == 1 and "is not a folder (it does not exist)" in err


def test_load_of_a_path_points_to_local_dir():
    with pytest.raises(zoo.UnknownEntryError, match=r"looks like a path.*zoo\.load\('local-dir:runs/x'\)"):
        zoo.load("runs/x")


@pytest.mark.parametrize("command", [["info"], ["train"], ["info", "--json"]])
@pytest.mark.parametrize("target", ["./x", "runs/x", "~/x"])
def test_a_path_where_a_name_belongs_is_told_where_paths_go(capsys, command, target):
    """`zoo info ./x` said "no entry named ''" (the name was split at its first dot)."""
    code, _, err = run(capsys, command[0], target, *command[1:])
    assert code == 1
    assert f"'{target}' looks like a path, not an entry name" in err and "no entry named" not in err
