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


@pytest.mark.parametrize("with_csv", [False, True], ids=["embedded", "csv"])
@pytest.mark.parametrize("seed", [0, 3])
def test_eval_scores_what_training_reported(monkeypatch, tmp_path, with_csv, seed):
    """zoo eval of a run equals the run's own number, for any seed (it scored every CSV row, and the
    embedded test spirals of seed 1 whatever the run's seed)."""
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    from zoo_example.data import two_spirals

    from zoo import recipes

    data = None
    if with_csv:
        x, y = two_spirals(300, seed=5)
        data = tmp_path / "points.csv"
        rows = [f"{a},{b},{c}\n" for (a, b), c in zip(x.tolist(), y.tolist(), strict=True)]
        data.write_text("x1,x2,label\n" + "".join(rows))
    run = tmp_path / "run"
    record = recipes.train("example-mlp", run, data=data, seed=seed, preset="smoke")
    report = recipes.evaluate(str(run))
    assert report["metrics"] == record["metrics"]
