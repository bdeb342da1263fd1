"""Every Python example a reader sees for this plugin runs: the README's and the docs page's code blocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "plugins" / "dgcnn" / "README.md", ROOT / "docs" / "articles" / "6671-dgcnn-extraction.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_examples_run(page, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(page)
    assert blocks, f"{page} has no python example"
    namespace: dict[str, object] = {}
    for block in blocks:  # blocks of one page share a namespace, as a reader's session would
        exec(compile(block, str(page), "exec"), namespace)
    assert (tmp_path / "runs" / "dgcnn" / "config.json").is_file()  # each page trains the model it loads
