"""``zoo eval --option KEY=VALUE``: a recipe's ``eval_options`` reach its ``evaluate`` as keywords."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

import zoo
from zoo import hookimpl, recipes
from zoo.cli import main


class EvalOptionsRecipe:
    summary = "a recipe whose evaluation takes options"
    options: ClassVar[dict[str, Any]] = {}
    eval_options: ClassVar[dict[str, Any]] = {"predictions": "", "threshold": 0.5}
    seen: ClassVar[list[dict[str, Any]]] = []

    def train(self, config):
        model = zoo.load("tiny-scorer")
        return zoo.TrainResult(model=model, metrics={"score": 1.0}, example_inputs=(torch.ones(2, 3),))

    def evaluate(self, model, data, device="cpu", predictions="", threshold=0.5):
        EvalOptionsRecipe.seen.append({"predictions": predictions, "threshold": threshold})
        if predictions:
            with open(predictions, "w", encoding="utf-8") as handle:
                handle.write("written\n")
        return {"score": threshold}


class EvalOptionsPlugin:
    @hookimpl
    def zoo_register_models(self, register):
        register("tiny-scorer", lambda: torch.nn.Linear(3, 1), summary="a linear layer")

    @hookimpl
    def zoo_register_recipes(self, register):
        register("tiny-scorer", EvalOptionsRecipe)


def test_eval_options_are_validated_and_passed_to_evaluate(
    capsys, tmp_path, monkeypatch, use_host, make_host
):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    use_host(make_host(scorer=EvalOptionsPlugin()))
    recipes.train("tiny-scorer", tmp_path / "run")
    EvalOptionsRecipe.seen.clear()
    # none given: evaluate is called exactly as before (its own defaults hold)
    assert recipes.evaluate(str(tmp_path / "run"))["metrics"] == {"score": 0.5}
    pred = tmp_path / "pred.txt"
    argv = ["eval", str(tmp_path / "run"), "--option", f"predictions={pred}", "--option", "threshold=1"]
    assert main(argv) == 0
    assert pred.read_text() == "written\n" and "1.0000" in capsys.readouterr().out
    assert EvalOptionsRecipe.seen == [
        {"predictions": "", "threshold": 0.5},
        {"predictions": str(pred), "threshold": 1.0},  # 1 read as the float the default is
    ]
    assert isinstance(EvalOptionsRecipe.seen[-1]["threshold"], float)
    assert main(["eval", str(tmp_path / "run"), "--option", "treshold=0.2"]) == 1
    err = capsys.readouterr().err
    assert (
        "has no evaluation option 'treshold' (did you mean 'threshold'?)" in err and "predictions=''" in err
    )
    assert main(["eval", str(tmp_path / "run"), "--option", "threshold=high"]) == 1
    assert "option 'threshold' of 'tiny-scorer' takes a number" in capsys.readouterr().err
    assert len(EvalOptionsRecipe.seen) == 2  # nothing ran for the bad calls


def test_predictions_flag_is_the_predictions_option(capsys, tmp_path, monkeypatch, use_host, make_host):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    use_host(make_host(scorer=EvalOptionsPlugin()))
    recipes.train("tiny-scorer", tmp_path / "run")
    EvalOptionsRecipe.seen.clear()
    pred = tmp_path / "answers.txt"
    assert main(["eval", str(tmp_path / "run"), "--predictions", str(pred)]) == 0
    assert pred.read_text() == "written\n"
    assert EvalOptionsRecipe.seen == [{"predictions": str(pred), "threshold": 0.5}]
