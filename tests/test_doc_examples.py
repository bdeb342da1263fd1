"""The machinery that runs every example of the docs (conftest.py, zoo.testing.docs): a broken example
fails with its page and line, skips show their reason to the reader, shell blocks' zoo commands are run or
checked as documented."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.testing.docs import SKIP_NOTE, ShellReport, commands, plan, skip_reasons

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted({ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("plugins/*/README.md")})


def test_shell_blocks_are_split_into_commands_as_a_shell_would():
    block = "zoo list   # all\nzoo train a --out runs/a \\\n  --seed 1 && zoo eval runs/a\n# a comment\n"
    assert list(commands(block)) == [
        (0, ["zoo", "list"]),
        (1, ["zoo", "train", "a", "--out", "runs/a", "--seed", "1"]),
        (1, ["zoo", "eval", "runs/a"]),
    ]


def test_what_runs_and_what_is_only_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = ShellReport()
    assert plan(["zoo", "list"], report) == "run"
    assert plan(["zoo", "train", "example-mlp", "--help"], report) == "run"
    assert plan(["zoo", "train", "example-mlp", "--out", "runs/a", "--set", "hidden=8"], report) == "smoke"
    assert plan(["zoo", "train", "example-mlp", "--data", "mine.csv"], report) == "check"  # the reader's data
    assert plan(["zoo", "train", "example-mlp", "--preset", "paper"], report) == "check"  # a long budget
    assert plan(["zoo", "eval", "runs/a"], report) == "check"  # no such run here
    (tmp_path / "runs" / "a").mkdir(parents=True)
    assert plan(["zoo", "eval", "runs/a"], report) == "run"
    assert plan(["zoo", "push", "runs/a", "me/a"], report) == "run"
    assert plan(["zoo", "pull", "me/a@v1", "b"], report) == "check"  # not pushed on this page
    report.pushed.add("me/a")
    assert plan(["zoo", "pull", "me/a@v1", "b"], report) == "run"


def test_every_skipped_block_tells_the_reader_why_and_skips_stay_few():
    skips = [(page, *found) for page in PAGES for found in skip_reasons(page.read_text(encoding="utf-8"))]
    for page, line, reason, above in skips:
        assert above == SKIP_NOTE.format(reason=reason), f"{page.name}:{line}: the reader does not see why"
    assert len(skips) <= 5, [f"{p.name}:{n}" for p, n, *_ in skips]


def test_a_broken_example_fails_the_suite_with_its_page_and_line(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from pathlib import Path\nfrom zoo.testing.docs import docs_sybil\n"
        "pytest_collect_file = docs_sybil(['*.md'], path=Path(__file__).parent).pytest()\n"
    )
    (tmp_path / "page.md").write_text(
        "# A page\n\n```python\nimport zoo\nm = zoo.load('example-mlp')\n```\n\n"
        "Then:\n\n```python\nm.no_such_method()\n```\n\n"
        "```bash\nzoo info example-mlp\nzoo info no-such-entry\n```\n"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert re.search(r"page\.md:11\b", out), out  # the Python block's failing line
    assert "page.md:16: zoo info no-such-entry" in out, out  # the shell block's failing command
    assert "no entry named 'no-such-entry'" in out, out
    assert "1 passed" in out and "2 failed" in out, out


def test_the_conftest_collects_every_page():
    patterns = runpy.run_path(str(ROOT / "conftest.py"))["PAGES"]  # the root conftest.py's
    collected = {p for pattern in patterns for p in ROOT.glob(pattern)}
    assert set(PAGES) <= collected


@pytest.mark.parametrize("page", [ROOT / "docs" / "journeys.md"], ids=lambda p: p.name)
def test_the_journeys_page_has_journey_2_verbatim(page):
    spec = (ROOT.parent / "shared" / "JOURNEYS.md").read_text(encoding="utf-8")
    block = re.search(r"## 2\..*?```python\n(.*?)```", spec, re.S)
    assert block is not None
    assert f"```python\n{block.group(1)}```" in page.read_text(encoding="utf-8")
