"""Every Python example a reader sees for this plugin runs: the README's and the docs page's code blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.testing import run_python_blocks

ROOT = Path(__file__).resolve().parents[3]
PAGES = [
    ROOT / "plugins" / "mlm_qa" / "README.md",
    ROOT / "docs" / "articles" / "7148-mlm-reading-comprehension.md",
]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_examples_run(page, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    monkeypatch.chdir(tmp_path)
    run_python_blocks(page)  # blocks of one page share a namespace, as a reader's session would
    assert (tmp_path / "runs" / "qa" / "config.json").is_file()  # each page trains the model it loads
