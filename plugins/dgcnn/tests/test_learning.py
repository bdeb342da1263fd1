"""Learning (slow, minutes): the DEFAULT ``zoo train dgcnn-extractor`` (preset cpu) reaches dev F1 >= 0.9 on
sentences over HELD-OUT entity names, and the ablation without a subject vector is clearly worse. The same
runs (seed 0) as benchmarks/dgcnn_experiments.py (docs/results/dgcnn_generated.json, seeds 0-2), scored on the
first 300 of its 600 dev sentences to save time (training does not depend on the dev size)."""

from __future__ import annotations

import pytest

from zoo import recipes

OPTIONS = {"n_dev": 300}


@pytest.mark.slow
def test_default_recipe_learns_held_out_entities_and_the_subject_vector_matters(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    full = recipes.train("dgcnn-extractor", tmp_path / "full", seed=0, options=OPTIONS)
    ablation = recipes.train("dgcnn-extractor.no-subject", tmp_path / "ablation", seed=0, options=OPTIONS)
    f1, ablated = full["metrics"]["f1"], ablation["metrics"]["f1"]
    assert f1 >= 0.9, full["metrics"]
    assert ablated <= f1 - 0.3, (full["metrics"], ablation["metrics"])
