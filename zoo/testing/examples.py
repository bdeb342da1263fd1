"""Run the Python examples of a Markdown page (a README, a docs page) the way a reader would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """The source of every fenced ```` ```python ```` block of ``page``, in order."""
    return _BLOCK.findall(page.read_text(encoding="utf-8"))


def run_python_blocks(page: Path) -> dict[str, Any]:
    """Execute the page's Python blocks in one shared namespace (as one reader's session) and return it.

    A page without Python blocks is an ``AssertionError``: a test that runs nothing must not pass."""
    blocks = python_blocks(page)
    assert blocks, f"{page} has no python example"
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    return namespace
