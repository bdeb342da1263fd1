"""Every Python example a reader sees for this plugin runs: the README's and the docs page's code blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.testing import run_python_blocks

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "plugins" / "on_lstm" / "README.md", ROOT / "docs" / "articles" / "6621-on-lstm.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_examples_run(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    run_python_blocks(page)  # blocks of one page share a namespace, as a reader's session would


def test_the_6621_page_quotes_its_results_files():
    """Numbers on the page come from the committed results files (docs/results/on_lstm_*.json)."""
    import json

    page = PAGES[1].read_text(encoding="utf-8")
    results = ROOT / "docs" / "results"
    step = json.loads((results / "on_lstm_step.json").read_text())
    for cfg in ("paper", "small"):
        for name, ratio in step["cpu"][cfg]["paired_ratio_vs_nn_lstm"].items():
            if name != "nn.LSTM x3":
                assert f"{ratio:.2f}×" in page, f"{cfg}: ratio of {name} ({ratio:.2f}) is not on the page"
        for what in ("saved_for_backward", "cpu_peak_memory"):
            for name, mib in step[what]["mib"][cfg].items():
                assert f"| {mib:.1f} |" in page, f"{cfg}: {what} of {name} ({mib:.1f}) is not on the page"
    assert step["cpu"]["paper"]["goal"]["met"] and "goal ≤ 1.5×: met" in page
    for part in ("grammar", "ptb"):
        report = json.loads((results / f"on_lstm_{part}.json").read_text())
        for name, row in report["summary"].items():
            for key in ("test_ppl", "valid_ppl"):
                value = f"{row[key]['mean']:.2f} ± {row[key]['std']:.2f}"
                assert value in page, f"{part}: {key} of {name} ({value}) is not on the page"
        diff = report["on_lstm_minus_lstm_test_ppl"]["mean"]
        assert f"**{diff:+.2f}**" in page, f"{part}: the paired difference is not on the page"
    grammar = json.loads((results / "on_lstm_grammar.json").read_text())["summary"]["on-lstm-lm"]
    for key in ("layer1", "layer2", "layer3", "random", "left", "right", "balanced"):
        row, short = grammar[f"f1_{key}"], grammar[f"f1_wsj10_{key}"]
        cells = f"| {row['mean']:.1f} ± {row['std']:.1f} | {row['min']:.1f}–{row['max']:.1f} | "
        cells += f"{short['mean']:.1f} ±"
        assert cells in page, f"grammar F1 of {key} ({cells}) is not on the page"
    wsj = json.loads((results / "on_lstm_wsj_sample.json").read_text())["metrics"]
    for key in ("f1_layer1", "f1_layer2", "f1_layer3", "f1_random", "f1_left", "f1_right", "f1_balanced"):
        assert f"{wsj[key]:.1f}" in page, f"WSJ sample {key} ({wsj[key]:.1f}) is not on the page"
