"""The core's modules import each other in layers, never in a cycle (function-level imports included).

Loading is four layers, each importing only the ones below it: names (``lookup``) ← the folder format
(``checkpoint``) ← Hub transport (``hub``) ← loading (``loading``) ← pushing (``publish``) and the
public API (``api``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import zoo

CORE = Path(zoo.__file__).parent
LOADING_LAYERS = ["lookup", "checkpoint", "hub", "loading", "publish", "api"]


def core_imports() -> dict[str, set[str]]:
    """Each module of ``zoo/`` (top level) → the other top-level zoo modules it imports, anywhere in it."""
    names = {p.stem for p in CORE.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((CORE / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "zoo":
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo."):
                deps.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("zoo.")}
        graph[name] = (deps & names) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one_and_only_a_real_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_core_has_no_import_cycle():
    assert find_cycle(core_imports()) is None


def test_each_loading_layer_imports_only_the_layers_below_it():
    graph = core_imports()
    for i, layer in enumerate(LOADING_LAYERS):
        above = set(LOADING_LAYERS[i + 1 :])
        assert not graph[layer] & above, f"zoo.{layer} imports {sorted(graph[layer] & above)}, above it"
    assert "publish" not in graph["api"] and "api" not in graph["publish"]  # siblings at the top
    # and nothing below the layers reaches up into them (recipes and cli sit above; plugins' code too)
    for low in ("registry", "building", "plugins", "catalog", "errors", "atomic", "modelcard", "checks"):
        reached = graph[low] & set(LOADING_LAYERS)
        assert not reached, f"zoo.{low} imports {sorted(reached)}"
