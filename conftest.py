"""Every example a reader sees runs in the default suite (issue 19), collected by Sybil.

Markdown: README.md, docs/**/*.md and each plugin's README (zoo.testing.docs: Python blocks run,
shell blocks' `zoo` commands are checked and run where their inputs exist, skips carry a visible reason).
Docstrings: the `>>>` examples of zoo/ and of the plugins' packages. The summary at the end counts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.testing.docs import docs_sybil, docstring_sybil

ROOT = Path(__file__).resolve().parent
PAGES = ["README.md", "docs/*.md", "docs/**/*.md", "plugins/*/README.md"]
DOCSTRINGS = ["zoo/*.py", "zoo/**/*.py", "plugins/*/zoo_*/*.py", "plugins/*/zoo_*/**/*.py"]

pytest_collect_file = (docs_sybil(PAGES) + docstring_sybil(DOCSTRINGS, excludes=["zoo/testing/*"])).pytest()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many examples ran, how the shell commands were used, and every skipped one with its reason."""
    from zoo.testing.docs import TALLY

    outcomes: dict[str, int] = {}
    skipped = []
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if not is_example(report.nodeid) or report.when not in ("setup", "call"):
                continue
            if outcome == "skipped":
                skipped.append(report)
            elif report.when == "call":
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if not outcomes and not skipped:
        return
    terminalreporter.section("examples in the docs and docstrings")
    terminalreporter.line(
        f"{sum(outcomes.values())} examples ran ({outcomes.get('failed', 0)} failed), "
        f"{len(skipped)} skipped; "
        f"shell blocks: {TALLY['ran']} zoo commands run, {TALLY['checked']} parsed and checked only, "
        f"{TALLY['not_zoo']} other lines (pip, pytest, ...) left to the reader"
    )
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        terminalreporter.line(f"  skipped {report.nodeid}: {reason.removeprefix('Skipped: ')}")


def is_example(nodeid: str) -> bool:
    """A Sybil item: ``page.md::line:N,column:M`` or ``module.py::line:N,column:M``."""
    return "::line:" in nodeid
