"""registry.yaml: schema validation, errors, and agreement with what the plugins register."""

from __future__ import annotations

import pytest

import zoo
from zoo import catalog
from zoo.errors import CatalogError
from zoo.registry import make_entry

GOOD = """\
schema: 1
plugins:
  demo: {distribution: zoo-demo}
entries:
  - name: demo-model
    kind: model
    plugin: demo
    summary: a demo
    aliases: [dm]
    defaults: {width: 8}
"""


def test_the_shipped_catalog_agrees_with_the_installed_builtin_plugins():
    """Both directions: every catalog entry is registered, every registered built-in is catalogued."""
    zoo.reset()
    cat = catalog.load()
    installed = {p.name for p in zoo.plugins() if p.error is None}
    missing = set(cat.plugins) - installed
    assert not missing, f"catalog plugins not installed here: {missing} (run .ci/install)"
    problems = catalog.compare(cat, zoo.list(), plugins=cat.plugins)
    assert problems == []


def test_compare_reports_both_directions_and_field_differences():
    cat = catalog.parse(GOOD)
    assert (
        catalog.compare(
            cat,
            [
                make_entry(
                    "model",
                    "demo",
                    "demo-model",
                    "a:b",
                    summary="a demo",
                    aliases=["dm"],
                    defaults={"width": 8},
                )
            ],
            ["demo"],
        )
        == []
    )
    registered = [
        make_entry(
            "model", "demo", "demo-model", "a:b", summary="changed", aliases=["dm"], defaults={"width": 8}
        ),
        make_entry("sampler", "demo", "demo-new", "a:b", summary="new"),
    ]
    problems = catalog.compare(cat, registered, ["demo"])
    assert "demo-new: registered by plugin 'demo' but missing from registry.yaml" in problems
    assert any(p.startswith("demo-model: summary differs") for p in problems)
    assert catalog.compare(cat, [], ["demo"]) == [
        "demo-model: in registry.yaml but not registered by plugin 'demo'"
    ]


def test_syntax_error_names_file_line_and_column():
    with pytest.raises(CatalogError, match=r"registry.yaml:\d+:\d+: YAML syntax error"):
        catalog.parse("schema: 1\nentries:\n  - name: [unclosed\n")


def test_unknown_fields_are_errors():
    with pytest.raises(CatalogError, match=r"entry 'demo-model': unknown field\(s\) \['weights'\]"):
        catalog.parse(GOOD + "    weights: x\n")
    with pytest.raises(CatalogError, match=r"registry.yaml: unknown field\(s\) \['models'\]"):
        catalog.parse("schema: 1\nmodels: []\n")
    with pytest.raises(CatalogError, match="plugin 'ghost' is not listed"):
        catalog.parse("schema: 1\nentries:\n  - {name: x, kind: model, plugin: ghost, summary: s}\n")
    with pytest.raises(CatalogError, match="missing field"):
        catalog.parse(
            "schema: 1\nplugins: {d: {distribution: zoo-d}}\n"
            "entries:\n  - {name: x, kind: model, plugin: d}\n"
        )
    with pytest.raises(CatalogError, match="schema 2 is not supported"):
        catalog.parse("schema: 2\n")
    with pytest.raises(CatalogError, match="invalid name"):
        catalog.parse(
            "schema: 1\nplugins: {d: {distribution: zoo-d}}\n"
            "entries:\n  - {name: X.y, kind: model, plugin: d, summary: s}\n"
        )


def test_catalog_lookup_and_install_hint():
    cat = catalog.parse(GOOD)
    assert cat.find("dm.tag").name == "demo-model"
    assert cat.find("nope") is None
    assert cat.install_hint("demo") == "pip install zoo-demo"
