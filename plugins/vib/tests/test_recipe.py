"""`zoo train` / `zoo eval` for vib-mnist, vib-textcnn and gaussian-vae (smoke preset), and user data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import zoo
from zoo import recipes
from zoo.datasets import load_sentiment

UNTRAINED = 784 * math.log(2)  # -log p(x) of a decoder that outputs 1/2 for every pixel


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")


def test_mnist_vib_and_baseline_train_evaluate_and_reload(tmp_path):
    vib = recipes.train("vib-mnist", tmp_path / "vib", preset="smoke")
    base = recipes.train("vib-mnist.baseline", tmp_path / "base", preset="smoke")
    assert vib["reload_identical"] is True and base["reload_identical"] is True
    assert vib["reference"] == {"error": 1.13} and base["reference"] == {"error": 1.38}
    assert vib["metrics"]["error"] < 60 and base["metrics"]["error"] < 60  # chance is 90
    assert vib["metrics"]["kl"] > 0 and base["metrics"]["kl"] == 0 and "error_mean_z" in vib["metrics"]
    assert "Adam lr 0.001" in vib["notes"] and "12-sample test predictions" in vib["notes"]
    assert vib["tag"] is None and base["tag"] == "baseline"
    # zoo eval of the checkpoint: deterministic (seeded test-time noise), on the full 10,000 images
    first = recipes.evaluate(str(tmp_path / "vib"))
    assert first == recipes.evaluate(str(tmp_path / "vib")) and first["reference"] == {"error": 1.13}
    model = zoo.load(f"local-dir:{tmp_path / 'vib'}")
    assert model.eval_samples == 12 and model.bottleneck.scale == "softplus"


def test_text_cnn_trains_saves_its_tokenizer_and_classifies_raw_text(tmp_path):
    record = recipes.train("vib-textcnn", tmp_path / "t", preset="smoke", options={"epochs": 1})
    m = record["metrics"]
    assert record["reload_identical"] is True and (tmp_path / "t" / "tokenizer.json").is_file()
    assert m["accuracy"] > 50 and m["kl"] > 0 and m["best_valid_accuracy"] >= m["valid_accuracy"]
    model = zoo.load(f"local-dir:{tmp_path / 't'}").eval()
    assert model.tokenizer is not None and model.tokenizer.padding["length"] == 200
    texts, labels = load_sentiment().test
    p = model.classify(texts[:300])
    assert p.shape == (300,) and ((p > 0.5).long() == labels[:300]).float().mean() > 0.5
    assert recipes.evaluate(str(tmp_path / "t"))["metrics"]["accuracy"] == pytest.approx(m["accuracy"])


def write_reviews(folder: Path, n: int = 120) -> None:
    folder.mkdir()
    good, bad = "很好喜欢推荐满意", "太差失望退货糟糕"
    g = torch.Generator().manual_seed(0)
    for split in ("train", "valid", "test"):
        lines = []
        for i in range(n):
            chars = good if i % 2 else bad
            idx = torch.randint(0, len(chars), (6,), generator=g).tolist()
            lines.append("".join(chars[j] for j in idx) + f"\t{i % 2}")
        (folder / f"sentiment.{split}.data").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_users_trained_text_cnn_goes_to_the_hub_and_back_with_its_tokenizer(hub_env, tmp_path):
    write_reviews(tmp_path / "data", n=40)
    options = {"epochs": 2, "batch_size": 16}
    recipes.train("vib-textcnn", tmp_path / "r", data=tmp_path / "data", preset="smoke", options=options)
    zoo.push(tmp_path / "r", "alice/vib-textcnn", tag="v1")
    assert "tokenizer.json" in hub_env.list_files("alice/vib-textcnn")
    local = zoo.load(f"local-dir:{tmp_path / 'r'}").eval()
    pulled = zoo.load("hf-hub:alice/vib-textcnn@v1").eval()
    texts = ["很好很满意", "太差了退货", "从没见过的字"]
    assert torch.equal(pulled.encode(texts), local.encode(texts))
    assert torch.equal(pulled.classify(texts), local.classify(texts))


def test_text_cnn_baseline_learns_a_users_bert4keras_folder(tmp_path):
    write_reviews(tmp_path / "data")
    options = {"epochs": 5, "batch_size": 16}
    record = recipes.train(
        "vib-textcnn.baseline", tmp_path / "r", data=tmp_path / "data", preset="smoke", options=options
    )
    assert record["metrics"]["accuracy"] == 100.0 and record["data"] == str(tmp_path / "data")
    assert record["metrics"]["kl"] == 0 and "char vocabulary of 18" in record["notes"]  # 16 chars + 2


def test_gaussian_vae_trains_and_scores_the_negative_elbo(tmp_path):
    record = recipes.train("gaussian-vae", tmp_path / "v", preset="smoke", options={"epochs": 2})
    m = record["metrics"]
    assert record["reload_identical"] is True and m["nelbo"] < UNTRAINED - 250
    assert m["nelbo"] == pytest.approx(m["reconstruction"] + m["kl"], abs=1e-3)
    report = recipes.evaluate(str(tmp_path / "v"))
    assert report == recipes.evaluate(str(tmp_path / "v"))
    assert report["metrics"]["nelbo"] < m["nelbo"] + 10  # full test set vs the smoke preset's 1000


def test_bad_presets_and_options_are_refused(tmp_path):
    with pytest.raises(zoo.RecipeError, match="unknown preset 'huge'"):
        recipes.train("vib-mnist", tmp_path / "a", preset="huge")
    with pytest.raises(zoo.RecipeError, match="no option 'polyac' \\(did you mean 'polyak'\\?\\)"):
        recipes.train("vib-mnist", tmp_path / "b", options={"polyac": 0.9})
    with pytest.raises(zoo.RecipeError, match="option 'batch_size' of 'gaussian-vae' takes a number"):
        recipes.train("gaussian-vae", tmp_path / "c", options={"batch_size": "big"})
    with pytest.raises(zoo.ZooError, match=r"has no sentiment\.train\.data"):
        (tmp_path / "empty").mkdir()
        recipes.train("vib-textcnn", tmp_path / "d", data=tmp_path / "empty", preset="smoke")
    assert not any((tmp_path / n).exists() for n in "abcd")
