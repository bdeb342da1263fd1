"""The registry: entries (models, samplers, optimizers), their names, aliases and tags.

Plugins never touch a :class:`Registry` directly; they receive a :class:`Registrar`
bound to themselves in their ``zoo_register_*`` hooks. Nothing here imports torch:
targets are ``"module:attr"`` strings imported on first build.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from zoo.errors import DuplicateEntryError, RegistrationError, TargetImportError, UnknownEntryError

Kind = Literal["model", "sampler", "optimizer"]
KINDS: tuple[Kind, ...] = get_args(Kind)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a valid entry name, alias or tag; raise otherwise.

    Names are lower case letters, digits, ``-`` and ``_``: a dot separates a tag
    (``on-lstm.ptb``) and a colon a scheme (``hf-hub:``), so neither may appear.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RegistrationError(
            f"invalid {what} {name!r}: use lower-case letters, digits, '-' and '_' "
            "(no dots: they separate tags; no colons: they start schemes like 'hf-hub:')"
        )
    return name


@dataclass(frozen=True)
class HubWeights:
    """Weights on the Hugging Face Hub, pinned to a revision (tag, branch or commit)."""

    repo_id: str
    revision: str

    @classmethod
    def parse(cls, spec: str | HubWeights | Mapping[str, str]) -> HubWeights:
        """Accept ``"org/repo@rev"``, ``{"repo_id": …, "revision": …}`` or an instance."""
        if isinstance(spec, HubWeights):
            return spec
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"repo_id", "revision"}
            if unknown:
                raise RegistrationError(f"hub weights: unknown field(s) {sorted(unknown)}")
            spec = f"{spec.get('repo_id', '')}@{spec.get('revision', '')}"
        repo_id, sep, revision = str(spec).partition("@")
        if not sep or not revision or repo_id.count("/") != 1:
            raise RegistrationError(
                f"hub weights {spec!r} must be 'org/repo@revision' and pinned to a revision "
                "(a tag or commit), so that the same name always loads the same weights"
            )
        return cls(repo_id, revision)

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class Tag:
    """A named variant of an entry (``name.tag``): default overrides and/or pinned weights."""

    defaults: Mapping[str, Any] = field(default_factory=dict)
    hub: HubWeights | None = None
    summary: str = ""

    @classmethod
    def parse(cls, spec: Tag | Mapping[str, Any] | None) -> Tag:
        if isinstance(spec, Tag):
            return spec
        spec = dict(spec or {})
        unknown = set(spec) - {"defaults", "hub", "summary"}
        if unknown:
            raise RegistrationError(
                f"tag: unknown field(s) {sorted(unknown)} (allowed: defaults, hub, summary)"
            )
        hub = spec.get("hub")
        return cls(
            defaults=MappingProxyType(dict(spec.get("defaults") or {})),
            hub=HubWeights.parse(hub) if hub else None,
            summary=str(spec.get("summary", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.defaults:
            out["defaults"] = dict(self.defaults)
        if self.hub:
            out["hub"] = str(self.hub)
        if self.summary:
            out["summary"] = self.summary
        return out


def import_target(target: str | Callable[..., Any], owner: str = "") -> Callable[..., Any]:
    """Import ``"package.module:attr.sub"`` (or return a callable as is)."""
    if callable(target):
        return target
    module_name, sep, attr_path = str(target).partition(":")
    if not sep or not module_name or not attr_path:
        raise RegistrationError(f"{owner}: target {target!r} must be 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise TargetImportError(
            f"{owner}: its target {target!r} does not import: {type(exc).__name__}: {exc} (the plugin's "
            "factory string or its install is broken; `zoo plugins --check` imports every target)"
        ) from exc
    if not callable(obj):
        raise RegistrationError(f"{owner}: target {target!r} is not callable")
    return obj


@dataclass(frozen=True)
class Entry:
    """One buildable thing: a model, a sampler or an optimizer.

    ``target`` builds it: ``target(**{**defaults, **tag.defaults, **overrides})``.
    """

    name: str
    kind: Kind
    plugin: str
    target: str | Callable[..., Any]
    summary: str = ""
    article: str | None = None
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, Tag] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    hub: HubWeights | None = None

    def load_target(self) -> Callable[..., Any]:
        """Import and return the factory (imports the plugin's heavy modules)."""
        return import_target(self.target, owner=f"{self.kind} {self.name!r} of plugin {self.plugin!r}")

    def to_dict(self) -> dict[str, Any]:
        """The catalog form of the entry (the fields of ``registry.yaml``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "article": self.article,
            "summary": self.summary,
            "aliases": list(self.aliases),
            "defaults": dict(self.defaults),
            "hub": str(self.hub) if self.hub else None,
            "tags": {k: t.to_dict() for k, t in self.tags.items()},
        }


def make_entry(
    kind: Kind,
    plugin: str,
    name: str,
    target: str | Callable[..., Any],
    *,
    summary: str = "",
    article: str | None = None,
    aliases: Iterable[str] = (),
    tags: Mapping[str, Tag | Mapping[str, Any] | None] | None = None,
    defaults: Mapping[str, Any] | None = None,
    hub: str | HubWeights | Mapping[str, str] | None = None,
) -> Entry:
    """Validate the arguments of ``register(...)`` and build an :class:`Entry`."""
    if kind not in KINDS:
        raise RegistrationError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    check_name(name)
    if isinstance(aliases, str):
        raise RegistrationError(f"{name}: aliases must be a list of names, not the string {aliases!r}")
    alias_t = tuple(check_name(a, "alias") for a in aliases)
    tag_map = {check_name(t, "tag"): Tag.parse(spec) for t, spec in (tags or {}).items()}
    if not callable(target) and (not isinstance(target, str) or ":" not in target):
        raise RegistrationError(
            f"{name}: target {target!r} must be a callable or a 'module:attribute' string"
        )
    if defaults is not None and not isinstance(defaults, Mapping):
        raise RegistrationError(f"{name}: defaults must be a mapping of argument names to values")
    return Entry(
        name=name,
        kind=kind,
        plugin=plugin,
        target=target,
        summary=str(summary),
        article=article,
        aliases=alias_t,
        tags=MappingProxyType(tag_map),
        defaults=MappingProxyType(dict(defaults or {})),
        hub=HubWeights.parse(hub) if hub else None,
    )


class Registrar:
    """The ``register`` callback a plugin's hook receives, bound to one kind and plugin."""

    def __init__(self, kind: Kind, plugin: str, sink: list[Entry]) -> None:
        self.kind, self.plugin, self._sink = kind, plugin, sink

    def __call__(
        self,
        name: str,
        target: str | Callable[..., Any],
        *,
        summary: str = "",
        article: str | None = None,
        aliases: Iterable[str] = (),
        tags: Mapping[str, Tag | Mapping[str, Any] | None] | None = None,
        defaults: Mapping[str, Any] | None = None,
        hub: str | HubWeights | Mapping[str, str] | None = None,
    ) -> None:
        """Register ``name``, built by ``target`` (a ``"module:attr"`` string or a callable).

        Args:
            summary: one line for ``zoo list``.
            article: the kexue.fm article (or paper) URL.
            aliases: other names that resolve to this entry.
            tags: ``{tag: {"defaults": {…}, "hub": "org/repo@rev"}}``; loaded as ``name.tag``.
            defaults: keyword arguments passed to ``target`` unless overridden.
            hub: pinned weights for ``zoo.load(name, pretrained=True)``.
        """
        entry = make_entry(
            self.kind,
            self.plugin,
            name,
            target,
            summary=summary,
            article=article,
            aliases=aliases,
            tags=tags,
            defaults=defaults,
            hub=hub,
        )
        self._sink.append(entry)


class RecipeRegistrar:
    """The ``register`` of ``zoo_register_recipes``: ``register(model_name, target, *, data_format=None)``.

    ``data_format`` says what ``zoo train NAME --data`` takes; given here, ``zoo info`` shows it without
    importing the recipe (and torch).
    """

    def __init__(self, plugin: str, sink: list[tuple[str, str, str | object, str | None]]) -> None:
        self.plugin, self._sink = plugin, sink

    def __call__(self, model: str, target: str | object, *, data_format: str | None = None) -> None:
        check_name(model, "model name")
        if isinstance(target, str) and ":" not in target:
            raise RegistrationError(f"recipe for {model!r}: target {target!r} must be 'module:attribute'")
        self._sink.append((model, self.plugin, target, data_format))


@dataclass(frozen=True)
class Resolved:
    """The result of resolving a name: the entry and the tag (if ``name.tag`` was asked)."""

    entry: Entry
    tag: str | None = None

    @property
    def tag_info(self) -> Tag | None:
        return self.entry.tags[self.tag] if self.tag else None

    @property
    def defaults(self) -> dict[str, Any]:
        tag = self.tag_info
        return {**self.entry.defaults, **(tag.defaults if tag else {})}

    @property
    def hub(self) -> HubWeights | None:
        tag = self.tag_info
        return tag.hub if tag and tag.hub else self.entry.hub


class Registry:
    """Entries by unique name, with aliases and recipes. Build one with the plugin host."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._recipes: dict[str, tuple[str, str | object]] = {}
        self._data_formats: dict[str, str] = {}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._entries or name in self._aliases)

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(self) -> tuple[dict[str, Any], ...]:
        """A copy of the tables, for :meth:`restore` (a plugin registers all of its entries or none)."""
        return (dict(self._entries), dict(self._aliases), dict(self._recipes), dict(self._data_formats))

    def restore(self, state: tuple[dict[str, Any], ...]) -> None:
        """Undo every addition since :meth:`snapshot` returned ``state``."""
        self._entries, self._aliases, self._recipes, self._data_formats = (dict(t) for t in state)

    def _owner(self, name: str) -> Entry | None:
        canonical = self._aliases.get(name, name)
        return self._entries.get(canonical)

    def add(self, entry: Entry) -> None:
        """Add an entry; a name or alias already taken raises an error naming both plugins."""
        for claimed in (entry.name, *entry.aliases):
            other = self._owner(claimed)
            if other is not None:
                what = "name" if claimed == other.name else f"alias of {other.name!r}"
                raise DuplicateEntryError(
                    f"{entry.kind} {claimed!r} of plugin {entry.plugin!r} clashes with the {what} "
                    f"registered by plugin {other.plugin!r}; rename one of them, or load only one plugin "
                    "with ZOO_PLUGINS=name,…"
                )
        if len(set(entry.aliases) | {entry.name}) != len(entry.aliases) + 1:
            raise DuplicateEntryError(
                f"{entry.name!r} of plugin {entry.plugin!r} repeats a name in its aliases"
            )
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name

    def add_recipe(
        self, model: str, plugin: str, target: str | object, data_format: str | None = None
    ) -> None:
        entry = self._owner(model)
        if entry is None or entry.kind != "model":
            raise UnknownEntryError(f"plugin {plugin!r} registers a recipe for {model!r}, which is no model")
        if entry.name in self._recipes:
            other = self._recipes[entry.name][0]
            raise DuplicateEntryError(
                f"plugin {plugin!r} registers a recipe for {entry.name!r}, which plugin {other!r} already has"
            )
        self._recipes[entry.name] = (plugin, target)
        if data_format:
            self._data_formats[entry.name] = str(data_format)

    def recipe_data_format(self, name: str) -> str | None:
        """The ``--data`` format a model entry's recipe registration states, or None."""
        return self._data_formats.get(self.resolve(name).entry.name)

    def recipe_target(self, name: str) -> str | object | None:
        """The registered recipe target of a model entry, or None."""
        found = self._recipes.get(self.resolve(name).entry.name)
        return found[1] if found else None

    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: e.name)

    def names(self) -> list[str]:
        return sorted([*self._entries, *self._aliases])

    def resolve(self, spec: str) -> Resolved:
        """Resolve a name, an alias or ``name.tag`` to its entry; unknown names suggest close ones."""
        name, _, tag = spec.partition(".")
        entry = self._owner(name)
        if entry is None:
            raise UnknownEntryError(self.unknown_message(name))
        if tag and tag not in entry.tags:
            known = ", ".join(sorted(entry.tags)) or "none"
            raise UnknownEntryError(f"{entry.name!r} has no tag {tag!r} (its tags: {known})")
        return Resolved(entry, tag or None)

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"no entry named {name!r}{hint} (`zoo list` shows what is installed)"

    def filter(
        self, kind: str | None = None, plugin: str | None = None, pattern: str | None = None
    ) -> list[Entry]:
        """Entries of a kind and/or plugin whose name or an alias matches a shell-style pattern."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        out = []
        for e in self.entries():
            if (kind and e.kind != kind) or (plugin and e.plugin != plugin):
                continue
            if pattern and not any(fnmatch.fnmatchcase(n, pattern) for n in (e.name, *e.aliases)):
                continue
            out.append(e)
        return out
