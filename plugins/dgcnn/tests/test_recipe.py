"""``zoo train dgcnn-extractor`` / ``zoo eval`` on generated data and DuIE folders (tiny models, seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from zoo_dgcnn.data import generated_corpus, read_duie, write_duie_folder
from zoo_dgcnn.decode import triple_prf
from zoo_dgcnn.extractor import extract
from zoo_dgcnn.recipe import ARTICLE_TEST

import zoo
from zoo import recipes
from zoo.cli import main

TINY = {"dim": 16, "dilations": [1, 2, 5], "heads": 2, "head_dim": 8}
SET = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
FAST = {"epochs": 10, "n_train": 128, "n_dev": 32, "lr": 0.02, "batch_size": 16}  # 80 updates: it predicts
SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "duie-sample"


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def duie(tmp_path_factory):
    """A DuIE 1.0 folder of generated sentences."""
    return write_duie_folder(tmp_path_factory.mktemp("duie"), generated_corpus(128, 24, seed=7))


@pytest.fixture(scope="module")
def trained(duie, tmp_path_factory):
    """``zoo train dgcnn-extractor --data DUIE --json`` with a tiny network: (run folder, record)."""
    out = tmp_path_factory.mktemp("run") / "r"
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_PROGRESS", "0")
    from io import StringIO
    from unittest import mock

    options = [x for k, v in FAST.items() if k not in ("n_train", "n_dev") for x in ("--option", f"{k}={v}")]
    stdout, stderr = StringIO(), StringIO()
    try:
        with mock.patch("sys.stdout", stdout), mock.patch("sys.stderr", stderr):
            code = main(
                [
                    "train",
                    "dgcnn-extractor",
                    "--data",
                    str(duie),
                    "--out",
                    str(out),
                    "--preset",
                    "smoke",
                    *options,
                    *SET,
                    "--json",
                ]
            )
    finally:
        mp.undo()
    assert code == 0, stderr.getvalue()
    return out, json.loads(stdout.getvalue())


def test_cli_training_on_a_duie_folder_saves_vocab_predicates_and_reloads(trained, duie):
    out, record = trained
    assert record["reload_identical"] is True and record["data"] == str(duie)
    assert record["reference"] == ARTICLE_TEST and "TEST score" in record["notes"]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    args = config["model_args"]
    assert args["predicates"] == json.loads(json.dumps(read_schema_names(duie)))
    assert args["vocab"][:2] == ["<pad>", "<unk>"] and "出" in args["vocab"] and args["dim"] == 16
    m = record["metrics"]
    assert set(m) >= {"precision", "recall", "f1", "sentences", "train_loss"} and m["sentences"] == 24


def read_schema_names(folder: Path) -> list[str]:
    from zoo_dgcnn.data import read_schema

    return read_schema(folder / "all_50_schemas")


def test_zoo_eval_equals_the_python_api_and_writes_predictions(trained, duie, capsys, tmp_path):
    out, _ = trained
    low = {"start_threshold": 0.3, "end_threshold": 0.3}  # an undertrained model: let it predict more
    pred = tmp_path / "pred.json"
    argv = ["eval", out, "--data", duie / "dev_data.json", "--json", "--option", f"predictions={pred}"]
    argv += [x for k, v in low.items() for x in ("--option", f"{k}={v}")]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    report = json.loads(stdout)
    # the Python API: load the checkpoint, extract from raw text, score against the gold sets
    model = zoo.load(f"local-dir:{out}")
    dev = read_duie(duie / "dev_data.json", model.predicates).examples
    found = extract(model, [e.text for e in dev], **low)
    expected = triple_prf(
        [{(x.subject, x.predicate, x.object) for x in f} for f in found], [e.spo_set() for e in dev]
    )
    assert sum(map(len, found)) > 0  # the comparison is not between two empty outputs
    for key, value in expected.items():
        assert report["metrics"][key] == pytest.approx(value, abs=1e-12)
    assert report["metrics"]["sentences"] == len(dev) and report["metrics"]["skipped_triples"] == 0
    # the folder works too (its dev file), and the default thresholds are the article's
    assert recipes.evaluate(str(out), data=duie)["metrics"] == recipes.evaluate(str(out))["metrics"]
    # predictions: DuIE JSON lines in input order, with the slices of the extractions
    rows = [json.loads(line) for line in pred.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [e.text for e in dev]
    for r, f in zip(rows, found, strict=True):
        assert [
            (t["subject"], t["predicate"], t["object"], tuple(t["subject_span"]), tuple(t["object_span"]))
            for t in r["spo_list"]
        ] == [tuple(x) for x in f]
    # a predictions file reads back with the reader (the input format)
    back = read_duie(pred, model.predicates, warn=False)
    assert [e.spo_set() for e in back.examples] == [
        {(x.subject, x.predicate, x.object) for x in f} for f in found
    ]
    code, _, err = run(capsys, "eval", out, "--option", "predictons=x")
    assert code == 1 and "no evaluation option 'predictons' (did you mean 'predictions'?)" in err


def test_save_reload_extract_gives_the_same_triples(trained, duie):
    out, _ = trained
    model = zoo.load(f"local-dir:{out}")
    again = zoo.load(f"local-dir:{out}")
    texts = [e.text for e in read_duie(duie / "dev_data.json", model.predicates).examples]
    low = {"start_threshold": 0.3, "end_threshold": 0.3}
    first = extract(model, texts, **low)
    assert sum(map(len, first)) > 0 and extract(again, texts, batch_size=2, **low) == first
    # the raw probabilities agree bit for bit too
    chars = torch.tensor([[model.vocab.index(c) if c in model.vocab else 1 for c in texts[0]]])
    subjects = torch.tensor([[0, 1]])
    with torch.no_grad():
        for a, b in zip(model(chars, subjects), again(chars, subjects), strict=True):
            assert torch.equal(a, b)


def test_generated_default_data_trains_through_the_api(tmp_path, monkeypatch):
    record = recipes.train(
        "dgcnn-extractor.lite",
        tmp_path / "g",
        preset="smoke",
        options=FAST,
        model_args={"dim": 16, "heads": 2, "head_dim": 8},
    )
    assert record["reload_identical"] is True and record["reference"] == {}
    assert "128 generated sentences" in record["notes"] and "held-out entity names" in record["notes"]
    assert record["metrics"]["sentences"] == 32
    model = zoo.load(f"local-dir:{tmp_path / 'g'}")
    assert len(model.encoder.blocks) == 6 and model.subject_gru is None and model.zoo_config.tag == "lite"
    monkeypatch.setattr("zoo_dgcnn.recipe.EVAL_DEV", 16)  # zoo eval scores the generated dev set (600)
    report = recipes.evaluate(str(tmp_path / "g"))
    assert report["metrics"]["sentences"] == 16 and report["data"] == "embedded default"


def test_duie2_file_names_are_accepted(duie, tmp_path):
    folder = tmp_path / "duie2"
    folder.mkdir()
    shutil.copy(duie / "train_data.json", folder / "duie_train.json")
    shutil.copy(duie / "dev_data.json", folder / "duie_dev.json")
    schema = [json.loads(x) for x in (duie / "all_50_schemas").read_text(encoding="utf-8").splitlines()]
    (folder / "duie_schema.json").write_text(
        "".join(
            json.dumps({**s, "object_type": {"@value": s["object_type"]}}, ensure_ascii=False) + "\n"
            for s in schema
        ),
        encoding="utf-8",
    )
    options = {**FAST, "epochs": 1, "batch_size": 64}
    record = recipes.train(
        "dgcnn-extractor", tmp_path / "r", data=folder, preset="smoke", options=options, model_args=TINY
    )
    assert record["metrics"]["sentences"] == 24 and "duie_train.json" in record["notes"]


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/data/duie-sample is not here")
def test_the_real_duie_sample_trains_end_to_end(tmp_path):
    """The real competition format, 50 lines as train AND dev: proves the path; the F1 is not a result."""
    folder = tmp_path / "sample"
    folder.mkdir()
    shutil.copy(SAMPLE / "all_50_schemas", folder / "all_50_schemas")
    shutil.copy(SAMPLE / "train_sample.json", folder / "train_data.json")
    shutil.copy(SAMPLE / "train_sample.json", folder / "dev_data.json")
    record = recipes.train(
        "dgcnn-extractor", tmp_path / "r", data=folder, preset="smoke", options={"epochs": 2}, model_args=TINY
    )
    assert record["reload_identical"] is True and record["metrics"]["sentences"] == 50
    assert "49 predicates" in record["notes"]
    assert (
        "batch 16), Adam lr 0.003," in record["notes"]
    )  # the smoke preset's, unlike the article's 64 and 1e-3
    report = recipes.evaluate(str(tmp_path / "r"), data=SAMPLE / "train_sample.json")
    assert report["metrics"] == {**report["metrics"], "sentences": 50.0, "skipped_triples": 0.0}


def test_bad_folders_presets_and_options_are_refused(tmp_path, duie):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(zoo.RecipeError, match=r"has no schema file \(looked for all_50_schemas, duie_schema"):
        recipes.train("dgcnn-extractor", tmp_path / "a", data=empty, preset="smoke", model_args=TINY)
    with pytest.raises(zoo.RecipeError, match="is not a folder"):
        recipes.train("dgcnn-extractor", tmp_path / "b", data=tmp_path / "nowhere", preset="smoke")
    with pytest.raises(zoo.RecipeError, match="unknown preset 'huge'"):
        recipes.train("dgcnn-extractor", tmp_path / "c", preset="huge")
    with pytest.raises(zoo.RecipeError, match="no option 'epoch' \\(did you mean 'epochs'\\?\\)"):
        recipes.train("dgcnn-extractor", tmp_path / "d", options={"epoch": 1})
    for key, bad in (("lr", "fast"), ("batch_size", 0), ("ema", -0.5)):  # preset-valued options are checked
        with pytest.raises(zoo.RecipeError, match=f"option '{key}' takes a number >= "):
            recipes.train(
                "dgcnn-extractor", tmp_path / "d", preset="smoke", options={key: bad}, model_args=TINY
            )
    no_facts = tmp_path / "nofacts"
    shutil.copytree(duie, no_facts)
    (no_facts / "train_data.json").write_text('{"text": "没有事实", "spo_list": []}\n', encoding="utf-8")
    with pytest.raises(zoo.RecipeError, match="no training sentence has a usable triple"):
        recipes.train("dgcnn-extractor", tmp_path / "e", data=no_facts, preset="smoke", model_args=TINY)
    assert not any((tmp_path / n).exists() for n in "abcde")
