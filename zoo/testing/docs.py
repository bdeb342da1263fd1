"""Run the examples of Markdown pages and docstrings under pytest, with Sybil.

``docs_sybil(patterns)`` collects, per page, in document order and in one namespace (one reader's
session):

- fenced ``python`` blocks, executed;
- fenced ``bash`` / ``sh`` / ``console`` blocks: each ``zoo …`` command is parsed by the real CLI and its
  entry names, ``--option`` keys and ``--set`` keys are checked; it also RUNS when its inputs are there
  (:func:`plan`): read-only commands always, ``zoo train`` on embedded data at ``--preset smoke``,
  ``zoo eval``/``zoo push`` of a folder the page made, ``zoo pull`` of a repo the page pushed.
  Other shell lines (``pip``, ``pytest``, ``bash``) are the reader's own and are not run;
- ``<!-- skip: next "reason" -->`` (Sybil's skip directive) before a block that cannot run; the line
  above the directive must show the reader the same reason (``*Not run by the tests: reason.*``).

Each page runs in a fresh temporary working directory against a fresh loopback Hub
(:class:`~zoo.testing.HubServer`), with ``ZOO_PROGRESS=0``; the plugin host is reset afterwards.
``docstring_sybil(patterns)`` runs the ``>>>`` examples of Python files' docstrings.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path
from typing import Any

SHELL_LANGUAGES = ("bash", "sh", "console", "shell")
SKIP_NOTE = "*Not run by the tests: {reason}.*"
QUICK = {"list", "info", "plugins", "new-plugin"}  # commands that run whenever they appear


TALLY = {"ran": 0, "checked": 0, "not_zoo": 0}  # shell lines of every page in this process


@dataclass
class ShellReport:
    """What the shell blocks of one page did: commands run, only checked, and other lines not run."""

    ran: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_zoo: list[str] = field(default_factory=list)
    pushed: set[str] = field(default_factory=set)


def commands(source: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, words)`` for the commands of a shell block (``line`` counts from 0 in the block):
    ``\\`` continuations joined, comments dropped, ``&&`` split."""
    lines = source.splitlines()
    number = 0
    while number < len(lines):
        start, line = number, lines[number]
        while line.endswith("\\") and number + 1 < len(lines):
            number += 1
            line = line[:-1] + " " + lines[number]
        number += 1
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            if words[:cut]:
                yield start, words[:cut]
            words = words[cut + 1 :]


def plan(argv: list[str], report: ShellReport) -> str:
    """``"run"``, ``"smoke"`` (``zoo train`` run at ``--preset smoke``) or ``"check"`` (parsed only)."""
    from zoo.cli import build_parser

    command = argv[1]
    if command in QUICK or "--help" in argv or "-h" in argv:
        return "run"
    args = build_parser(with_plugins=False).parse_args(argv[1:])
    if command == "train":
        if args.option and any(o.partition("=")[0] == "help" for o in args.option):
            return "check"  # documented as refused: checked by check(), which expects the refusal
        only_budget_free = args.data is None and args.option is None and "--preset" not in argv
        return "smoke" if only_budget_free else "check"
    if command == "eval":
        pushed = args.target.startswith("hf-hub:") and args.target[7:].partition("@")[0] in report.pushed
        return "run" if args.data is None and (Path(args.target).is_dir() or pushed) else "check"
    if command == "push":
        return "run" if Path(args.dir).is_dir() else "check"
    if command == "pull":
        return "run" if args.spec.partition("@")[0] in report.pushed else "check"
    return "check"


def check(argv: list[str]) -> None:
    """Parse ``argv`` with the real CLI; for ``zoo train``/``info``, resolve the entry and check the
    ``--option`` keys against its recipe and the ``--set`` keys against its factory."""
    from zoo import lookup, recipes
    from zoo.cli import build_parser

    if "--help" in argv or "-h" in argv:
        return  # the run shows the help
    args = build_parser(with_plugins=False).parse_args(argv[1:])
    if argv[1] == "info":
        lookup.resolve(args.name)
    if argv[1] != "train":
        return
    resolved = lookup.resolve(args.name)
    recipe = recipes.get_recipe(args.name)
    options = dict(o.partition("=")[::2] for o in args.option or [])
    if "help" in options:  # `--option help=1`: the documented refusal that lists every option
        try:
            recipes.resolve_options(recipe, resolved.entry.name, options)
        except Exception as exc:
            assert "help" in str(exc), f"{shlex.join(argv)}: refused for another reason: {exc}"
            return
        raise AssertionError(f"{shlex.join(argv)} was documented as refused, but it was accepted")
    recipes.resolve_options(recipe, resolved.entry.name, options)
    factory = resolved.entry.load_target()
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in (s.partition("=")[0] for s in args.set or []) if k not in parameters]
    assert takes_any or not unknown, f"{shlex.join(argv)}: {resolved.entry.name!r} takes no {unknown}"


def run_zoo(argv: list[str]) -> str:
    """Run ``zoo ARGS`` in this process; its output, or an AssertionError with it when it fails."""
    from zoo.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main(argv[1:])
        except SystemExit as exc:  # argparse's --help and usage errors
            status = exc.code if isinstance(exc.code, int) else 1
    assert status == 0, f"`{shlex.join(argv)}` exited with {status}:\n{out.getvalue()[-2000:]}"
    return out.getvalue()


def evaluate_shell(example: Any) -> None:
    """Sybil evaluator of a shell block (see the module docstring)."""
    report: ShellReport = example.namespace.setdefault("__shell__", ShellReport())
    for offset, words in commands(example.parsed):
        try:
            _evaluate_command(words, report)
        except BaseException as exc:
            exc.add_note(f"{example.path}:{example.line + 1 + offset}: {shlex.join(words)}")
            raise


def _evaluate_command(words: list[str], report: ShellReport) -> None:
    """Check one command of a shell block, and run it when :func:`plan` says so."""
    line = shlex.join(words)
    env = dict(w.split("=", 1) for w in takewhile(lambda w: "=" in w and w[0] != "-", words))
    argv = words[len(env) :]
    if not argv or argv[0] != "zoo" or len(argv) < 2:
        report.not_zoo.append(line)
        TALLY["not_zoo"] += 1
        return
    how = plan(argv, report)
    check(argv)
    if how == "check":
        report.checked.append(line)
        TALLY["checked"] += 1
        return
    with environment(env):
        run_zoo([*argv, "--preset", "smoke"] if how == "smoke" else argv)
    if argv[1] == "push":
        report.pushed.add(argv[3].partition("@")[0])
    report.ran.append(line)
    TALLY["ran"] += 1


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``NAME=value zoo …``: the variables for one command (``HF_HUB_OFFLINE`` through
    :func:`~zoo.testing.hub_offline`, as huggingface_hub caches it at import)."""
    from zoo.testing.hub_server import hub_offline

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    offline = env.get("HF_HUB_OFFLINE")
    try:
        with hub_offline(offline not in ("", "0")) if offline is not None else nullcontext():
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def skip_reasons(text: str) -> list[tuple[int, str, str]]:
    """``(line, reason, the line above)`` for every ``<!-- skip: next "reason" -->`` of a page."""
    import ast
    import re

    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = re.fullmatch(r"\s*<!--\s*skip:\s*next\s+(.+?)\s*-->\s*", line)
        if match:
            above = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
            found.append((number + 1, str(ast.literal_eval(match.group(1))), above.strip()))
    return found


def page_setup(namespace: dict[str, Any]) -> None:
    """A fresh working directory and loopback Hub for the page; progress bars off."""
    from zoo.testing.hub_server import TEST_TOKEN, HubServer, hub_server_env

    stack = contextlib.ExitStack()
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zoo-docs-")))
    server = stack.enter_context(HubServer(token=TEST_TOKEN))
    stack.enter_context(hub_server_env(server, folder / ".hf_home"))
    previous, env = os.getcwd(), os.environ.get("ZOO_PROGRESS")
    os.environ["ZOO_PROGRESS"] = "0"
    os.chdir(folder)

    def restore() -> None:
        os.chdir(previous)
        if env is None:
            os.environ.pop("ZOO_PROGRESS", None)
        else:
            os.environ["ZOO_PROGRESS"] = env

    stack.callback(restore)
    namespace["__page__"] = stack


def page_teardown(namespace: dict[str, Any]) -> None:
    import zoo

    namespace.pop("__page__").close()
    zoo.reset()  # a page that registered a plugin leaves nothing behind


def docs_sybil(patterns: Sequence[str], *, path: str | os.PathLike[str] | None = None) -> Any:
    """A Sybil over the Markdown ``patterns``: Python and shell blocks, skips. ``patterns`` are relative to
    ``path``, by default the folder of the file that calls this (your ``conftest.py``)."""
    from sybil import Sybil
    from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

    parsers: list[Any] = [PythonCodeBlockParser(), SkipParser()]
    parsers += [CodeBlockParser(language=lang, evaluator=evaluate_shell) for lang in SHELL_LANGUAGES]
    return Sybil(
        parsers=parsers,
        patterns=list(patterns),
        path=os.fspath(path or _caller_folder()),
        setup=page_setup,
        teardown=page_teardown,
    )


def docstring_sybil(
    patterns: Sequence[str], *, path: str | os.PathLike[str] | None = None, excludes: Sequence[str] = ()
) -> Any:
    """A Sybil over Python files' docstrings: their ``>>>`` examples run, module by module. ``patterns``
    are relative to ``path``, by default the folder of the calling file."""
    from sybil import Sybil
    from sybil.parsers.rest import DocTestParser

    return Sybil(
        parsers=[DocTestParser()],
        patterns=list(patterns),
        excludes=list(excludes),
        path=os.fspath(path or _caller_folder()),
    )


def _caller_folder() -> Path:
    """The folder of the file that called the public function calling this (as Sybil's own ``path``)."""
    return Path(inspect.stack()[2].filename).resolve().parent
