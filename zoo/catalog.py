"""``registry.yaml``: the curated catalog of the built-in entries, readable without torch.

The catalog says which plugin (and which distribution to ``pip install``) provides each
built-in name, so that a name or a checkpoint whose plugin is not installed gets a useful
error. A test checks that the catalog and what the installed plugins register agree.

Schema (version 1)::

    schema: 1
    plugins:
      <plugin>: {distribution: zoo-…, path: plugins/…, article: URL, summary: …}
    entries:
      - {name, kind, plugin, article, summary, aliases, defaults, hub, tags}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import CatalogError, ZooError
from zoo.registry import Entry, make_entry

SCHEMA_VERSION = 1
TOP_FIELDS = {"schema", "plugins", "entries"}
PLUGIN_FIELDS = {"distribution", "path", "article", "summary"}
ENTRY_FIELDS = {"name", "kind", "plugin", "article", "summary", "aliases", "defaults", "hub", "tags"}
REQUIRED_ENTRY_FIELDS = {"name", "kind", "plugin", "summary"}


@dataclass(frozen=True)
class PluginRecord:
    name: str
    distribution: str
    path: str | None = None
    article: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class Catalog:
    plugins: Mapping[str, PluginRecord]
    entries: tuple[Entry, ...]
    source: str

    def find(self, name: str) -> Entry | None:
        """The catalog entry owning a name or alias (``name.tag`` is accepted)."""
        base = name.partition(".")[0]
        return next((e for e in self.entries if base == e.name or base in e.aliases), None)

    def install_hint(self, plugin: str) -> str:
        record = self.plugins.get(plugin)
        dist = record.distribution if record else f"the plugin {plugin!r}"
        return f"pip install {dist}" if record else f"install {dist}"


def default_path() -> Path:
    """``zoo/registry.yaml`` in an installed wheel, else ``registry.yaml`` of the source checkout."""
    packaged = resources.files("zoo") / "registry.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "registry.yaml"


def _check_fields(where: str, data: object, allowed: set[str], required: Iterable[str] = ()) -> dict:
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(set(required) - set(data))
    if missing:
        raise CatalogError(f"{where}: missing field(s) {missing}")
    return dict(data)


def parse(text: str, source: str = "registry.yaml") -> Catalog:
    """Parse and validate catalog text; errors name the file, the entry and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or exc
        raise CatalogError(f"{where}: YAML syntax error: {problem}") from exc
    top = _check_fields(source, data or {}, TOP_FIELDS, required=["schema"])
    if top["schema"] != SCHEMA_VERSION:
        raise CatalogError(f"{source}: schema {top['schema']!r} is not supported (expected {SCHEMA_VERSION})")
    plugins = {}
    for name, raw in (top.get("plugins") or {}).items():
        rec = _check_fields(f"{source}: plugin {name!r}", raw, PLUGIN_FIELDS, required=["distribution"])
        plugins[name] = PluginRecord(name=name, **rec)
    entries = []
    for i, raw in enumerate(top.get("entries") or []):
        label = raw.get("name", f"#{i}") if isinstance(raw, Mapping) else f"#{i}"
        where = f"{source}: entry {label!r}"
        rec = _check_fields(where, raw, ENTRY_FIELDS, REQUIRED_ENTRY_FIELDS)
        if rec["plugin"] not in plugins:
            raise CatalogError(f"{where}: plugin {rec['plugin']!r} is not listed under 'plugins'")
        try:
            entries.append(
                make_entry(rec.pop("kind"), rec.pop("plugin"), rec.pop("name"), target=_catalog_only, **rec)
            )
        except ZooError as exc:
            raise CatalogError(f"{where}: {exc}") from exc
    return Catalog(plugins=plugins, entries=tuple(entries), source=source)


def _catalog_only(**_: Any) -> None:
    raise CatalogError(
        "a catalog entry describes an entry; build it through zoo.load once its plugin is installed"
    )


def load(path: str | Path | None = None) -> Catalog:
    """Read ``registry.yaml`` (the packaged one by default)."""
    path = Path(path) if path else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read the catalog {path}: {exc}") from exc
    return parse(text, source=str(path))


_COMPARED = ("kind", "plugin", "article", "summary", "aliases", "defaults", "hub", "tags")


def compare(catalog: Catalog, registered: Iterable[Entry], plugins: Iterable[str]) -> list[str]:
    """Differences between the catalog and registered entries of ``plugins`` (both directions).

    Returns one line per difference; an empty list means they agree.
    """
    plugins = set(plugins)
    ours = {e.name: e.to_dict() for e in catalog.entries if e.plugin in plugins}
    theirs = {e.name: e.to_dict() for e in registered if e.plugin in plugins}
    problems = [
        f"{n}: in registry.yaml but not registered by plugin {ours[n]['plugin']!r}"
        for n in sorted(set(ours) - set(theirs))
    ]
    problems += [
        f"{n}: registered by plugin {theirs[n]['plugin']!r} but missing from registry.yaml"
        for n in sorted(set(theirs) - set(ours))
    ]
    for name in sorted(set(ours) & set(theirs)):
        for key in _COMPARED:
            if ours[name][key] != theirs[name][key]:
                problems.append(
                    f"{name}: {key} differs: registry.yaml {ours[name][key]!r}, plugin {theirs[name][key]!r}"
                )
    return problems
