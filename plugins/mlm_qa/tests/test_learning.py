"""Learning (slow, ~15 minutes): the DEFAULT ``zoo train mlm-qa`` (preset cpu, seed 0) answers questions about
HELD-OUT entities from several passages, and the article's constrained decoder beats plain argmax on the same
checkpoint. The same run as benchmarks/mlm_qa_experiments.py (docs/results/mlm_qa_generated.json: final
0.895 for seed 0, 0.871 +- 0.093 over seeds 0-2; constrained minus argmax +0.241 for seed 0, +0.183 on
average). The goal for this data, final >= 0.9 on average, is not reached (seed 2 scores 0.768): the bounds
below guard what is reached, with room for another thread count's arithmetic."""

from __future__ import annotations

import pytest

from zoo import recipes


@pytest.mark.slow
def test_default_recipe_answers_held_out_questions_and_the_constraint_helps(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    record = recipes.train("mlm-qa", tmp_path / "qa", seed=0)
    final = record["metrics"]["final"]
    assert final >= 0.75, record["metrics"]  # seed 0 measured 0.895; the previous preset reached 0.51
    argmax = recipes.evaluate(str(tmp_path / "qa"), options={"decoder": "unconstrained"})["metrics"]
    assert final >= argmax["final"] + 0.1, (record["metrics"], argmax)
