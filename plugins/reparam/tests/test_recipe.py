"""`zoo train` / `zoo eval` for the categorical VAEs (smoke preset: 2000 images, 1 epoch)."""

from __future__ import annotations

import math

import pytest
from zoo_reparam.recipe import JANG_NELBO, JangVAERecipe

import zoo
from zoo import recipes

UNTRAINED = 784 * math.log(2)  # -log p(x) of a decoder that outputs 1/2 for every pixel


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")


def test_jang_recipe_trains_evaluates_and_reloads(tmp_path):
    record = recipes.train("categorical-vae", tmp_path / "run", preset="smoke")
    m = record["metrics"]
    assert record["reload_identical"] is True and record["reference"] == {"nelbo": 101.5}
    assert m["nelbo"] < UNTRAINED - 150 and m["nelbo"] == pytest.approx(m["reconstruction"] + m["kl"])
    assert m["final_tau"] == 1.0 and "nelbo_relaxed" in m
    assert record["options"]["optimizer"] == "adam" and record["options"]["schedule"] == "tau-jang"
    # zoo eval scores the fixed binarized test set with seeded samples: the same numbers again.
    report = recipes.evaluate(str(tmp_path / "run"))
    assert report["metrics"]["nelbo"] < m["nelbo"] + 5  # full test set vs the smoke preset's 1000
    again = recipes.evaluate(str(tmp_path / "run"))
    assert again["metrics"] == report["metrics"] and report["reference"] == {"nelbo": 101.5}


def test_author_recipe_with_the_score_function_estimator(tmp_path):
    options = {"estimator": "score-function", "batch_size": 50}
    record = recipes.train("gumbel-vae", tmp_path / "run", preset="smoke", options=options)
    assert record["reference"] == {} and record["options"]["optimizer"] == "rmsprop"
    assert record["metrics"]["nelbo"] < UNTRAINED - 100 and "nelbo_relaxed" not in record["metrics"]
    assert record["metrics"]["final_tau"] == pytest.approx(0.01 + 0.99 * 0.999**39)
    assert "score-function, 1 epochs of 2000 images (batch 50" in record["notes"]


def test_references_are_jang_et_al(tmp_path):
    assert JANG_NELBO == {"gumbel-softmax": 101.5, "st-gumbel-softmax": 107.8, "score-function": 110.6}
    assert isinstance(recipes.get_recipe("categorical-vae"), JangVAERecipe)


def test_bad_options_are_refused_before_training(tmp_path):
    with pytest.raises(zoo.RecipeError, match="unknown estimator 'rebar'"):
        recipes.train("categorical-vae", tmp_path / "a", preset="smoke", options={"estimator": "rebar"})
    with pytest.raises(zoo.RecipeError, match="no option 'estimater' \\(did you mean 'estimator'\\?\\)"):
        recipes.train("categorical-vae", tmp_path / "b", options={"estimater": "x"})
    with pytest.raises(zoo.RecipeError, match="unknown preset 'huge'"):
        recipes.train("categorical-vae", tmp_path / "c", preset="huge")
    assert not (tmp_path / "a").exists()
