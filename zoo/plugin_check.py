"""``zoo plugins --check``: what discovery alone does not show.

Discovery imports only each plugin's hooks module, so two defects pass it silently:

- an entry (or recipe) whose factory string names a module or attribute that does not import: it fails
  only when a user calls ``zoo.load``;
- a hooks module that imports heavy libraries (torch, numpy, ...) at its top level: every ``zoo list`` pays
  for it, seconds instead of milliseconds.

:func:`check` finds both in fresh interpreters (``python -m zoo.plugin_check``), so nothing is imported into
the caller and each plugin's import cost is measured alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["HEAVY", "Problem", "check"]

#: modules whose import at discovery time makes ``zoo list`` slow
HEAVY = (
    "torch",
    "numpy",
    "scipy",
    "pandas",
    "transformers",
    "tensorflow",
    "jax",
    "safetensors",
    "tokenizers",
)


@dataclass(frozen=True)
class Problem:
    """One defect of one plugin, in one line."""

    plugin: str
    message: str


def check(timeout: float = 600.0) -> list[Problem]:
    """Every plugin's broken targets and heavy discovery-time imports (runs subprocesses)."""
    problems = [Problem(**p) for p in _run(["--targets"], timeout)]
    for name in _run(["--names"], timeout):
        heavy = _run(["--heavy", name], timeout)
        if heavy:
            problems.append(
                Problem(
                    name,
                    f"its hooks module imports {', '.join(heavy)} when zoo discovers plugins, which makes "
                    "every `zoo list` slow: give register() factory strings ('pkg.module:Class') and import "
                    "heavy libraries inside the modules they name, not in the hooks module",
                )
            )
    return problems


def _run(args: list[str], timeout: float) -> list[Any]:
    done = subprocess.run(
        [sys.executable, "-m", "zoo.plugin_check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        return (
            [{"plugin": "?", "message": f"the check itself failed: {tail}"}] if args == ["--targets"] else []
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _names() -> list[str]:
    from zoo import lookup

    return sorted(lookup.host().plugins)


def _heavy(name: str) -> list[str]:
    """Heavy modules that importing plugin ``name``'s entry point brings in (zoo itself already loaded)."""
    import importlib.metadata as md

    import zoo.plugins  # noqa: F401  (what discovery has loaded before any plugin)

    before = set(sys.modules)
    for ep in md.entry_points(group="zoo"):
        if ep.name == name:
            try:
                ep.load()
            except Exception:  # a failed import is reported by discovery already
                return []
    return [m for m in HEAVY if m in sys.modules and m not in before]


def _targets() -> list[dict[str, str]]:
    """Import every entry's and recipe's target; one problem per target that does not import."""
    from zoo import lookup
    from zoo.errors import ZooError
    from zoo.registry import import_target

    reg = lookup.registry()
    out = []
    for entry in reg.entries():
        try:
            entry.load_target()
        except ZooError as exc:
            out.append({"plugin": entry.plugin, "message": str(exc)})
        recipe = reg.recipe_target(entry.name) if entry.kind == "model" else None
        if recipe is not None:
            try:
                owner = f"the recipe of {entry.name!r} (plugin {entry.plugin!r})"
                import_target(recipe, owner=owner)  # type: ignore[arg-type]
            except ZooError as exc:
                out.append({"plugin": entry.plugin, "message": str(exc)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--targets", action="store_true")
    group.add_argument("--names", action="store_true")
    group.add_argument("--heavy", metavar="PLUGIN")
    args = parser.parse_args()
    if args.targets:
        result: list[Any] = _targets()
    elif args.names:
        result = _names()
    else:
        result = _heavy(args.heavy)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
