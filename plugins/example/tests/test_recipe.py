import pytest

import zoo
from zoo.recipes import get_recipe


def test_smoke_preset_learns_something(monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    result = get_recipe("example-mlp").train(zoo.TrainConfig("example-mlp", preset="smoke"))
    assert result.metrics["accuracy"] > 0.6  # chance is 0.5
    assert result.example_inputs[0].shape == (16, 2)


def test_unknown_preset():
    with pytest.raises(zoo.RecipeError, match="unknown preset 'huge'"):
        get_recipe("example-mlp").train(zoo.TrainConfig("example-mlp", preset="huge"))


@pytest.mark.slow
def test_cpu_preset_separates_the_spirals(monkeypatch, tmp_path):
    """The main job's run (cpu preset): the MLP must separate the spirals (chance is 0.5)."""
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    from zoo import recipes

    record = recipes.train("example-mlp", tmp_path / "run")
    assert record["metrics"]["accuracy"] >= 0.97
    assert record["reload_identical"] is True
