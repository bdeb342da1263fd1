"""Plugin discovery: entry points of group ``"zoo"``, loaded one by one, failures isolated.

A plugin that fails to import, whose hook has a wrong signature or a misspelt name, or
that raises while registering, is recorded with its error (``zoo plugins`` shows it) and
contributes nothing; the other plugins keep working. ``ZOO_STRICT_PLUGINS=1`` re-raises
instead, and ``ZOO_PLUGINS=a,b`` loads only the named plugins.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError, ZooError
from zoo.registry import KINDS, Entry, RecipeRegistrar, Registrar, Registry

ENTRY_POINT_GROUP = "zoo"
STRICT_ENV = "ZOO_STRICT_PLUGINS"
ALLOW_ENV = "ZOO_PLUGINS"

_REGISTER_HOOKS = {f"zoo_register_{kind}s": kind for kind in KINDS}
_SPEC_NAMES = {n for n in dir(hookspecs) if n.startswith("zoo_")}


class EntryPointLike(Protocol):
    """What the host needs of an entry point (``importlib.metadata.EntryPoint`` fits)."""

    name: str

    def load(self) -> Any: ...


@dataclass
class PluginInfo:
    """What ``zoo plugins`` reports about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    error: str | None = None
    #: the names and aliases a FAILED plugin tried to register (none registered: all or nothing)
    attempted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "entries": self.entries,
            "error": self.error,
        }


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _allow_list() -> set[str] | None:
    raw = os.environ.get(ALLOW_ENV)
    if raw is None or not raw.strip():
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _catalog_plugins() -> set[str]:
    from zoo import catalog

    try:
        return set(catalog.load().plugins)
    except ZooError:
        return set()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _signature_problem(pm: pluggy.PluginManager, plugin: object, exc: BaseException) -> str:
    """One line for pluggy's multi-line validation error: which hook, which arguments, what it takes."""
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        spec = getattr(hookspecs, attr, None)
        if opts is None or spec is None:
            continue
        takes = [a for a in inspect.signature(spec).parameters]
        try:
            given = [a for a in inspect.signature(getattr(plugin, attr)).parameters]
        except (TypeError, ValueError):
            continue
        extra = [a for a in given if a not in takes]
        if extra:
            named = ", ".join(f"`{a}`" for a in takes)
            return (
                f"{attr}({', '.join(given)}): {', '.join(repr(a) for a in extra)} is not an argument of "
                f"this hook; it takes {named} (def {attr}({', '.join(takes)}))"
            )
    return " ".join(str(exc).split())  # pluggy's text, on one line


class PluginHost:
    """Loads plugins into a pluggy manager and builds the :class:`Registry` from their hooks.

    Args:
        entry_points: the plugins to load; defaults to the installed entry points of group "zoo".
        strict: re-raise the first plugin failure; defaults to ``$ZOO_STRICT_PLUGINS``.
        allow: load only these plugin names; defaults to ``$ZOO_PLUGINS`` (comma-separated).
        builtin: plugins loaded first, so that they keep their names when a later plugin claims
            one too; defaults to the plugins listed in ``registry.yaml``.
    """

    def __init__(
        self,
        entry_points: Iterable[EntryPointLike] | None = None,
        *,
        strict: bool | None = None,
        allow: Iterable[str] | None = None,
        builtin: Iterable[str] | None = None,
    ) -> None:
        self.strict = _env_flag(STRICT_ENV) if strict is None else strict
        self.allow = set(allow) if allow is not None else _allow_list()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.registry = Registry()
        self._entry_points = entry_points
        self._builtin = set(builtin) if builtin is not None else None
        self._loaded = False

    # -- discovery -------------------------------------------------------------------------
    def load(self) -> PluginHost:
        """Import every plugin (once) and register its entries; return self."""
        if self._loaded:
            return self
        self._loaded = True
        eps = self._entry_points
        if eps is None:
            eps = md.entry_points(group=ENTRY_POINT_GROUP)
        builtin = self._builtin if self._builtin is not None else _catalog_plugins()
        # Built-in plugins first, then by name: a clash is decided the same way every time,
        # and a third-party plugin cannot take a built-in name.
        for ep in sorted(eps, key=lambda e: (e.name not in builtin, e.name)):
            if self.allow is not None and ep.name not in self.allow:
                continue
            info = PluginInfo(ep.name)
            dist = getattr(ep, "dist", None)
            if dist is not None:
                info.distribution, info.version = dist.metadata["Name"], dist.version
            self.plugins[ep.name] = info
            try:
                module = ep.load()
            except Exception as exc:
                self._fail(info, f"failed to import: {_describe(exc)}", exc)
                continue
            self.add_plugin(module, ep.name, info=info)
        return self

    def add_plugin(self, plugin: object, name: str, *, info: PluginInfo | None = None) -> PluginInfo:
        """Register a plugin object (a module or any object with hook implementations)."""
        if info is None:
            info = self.plugins[name] = PluginInfo(name)
        if self.pm.has_plugin(name):
            self._fail(info, f"a plugin named {name!r} is already loaded", None)
            return info
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            self._fail(info, f"invalid hook implementation: {_signature_problem(self.pm, plugin, exc)}", exc)
            return info
        info.hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
        unknown = [h for h in info.hooks if h not in _SPEC_NAMES]
        if unknown:
            self.pm.unregister(plugin)
            hints = []
            for h in unknown:
                close = difflib.get_close_matches(h, sorted(_SPEC_NAMES), n=1)
                hints.append(f"{h!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            self._fail(info, f"unknown hook(s) {', '.join(hints)}; hooks are listed in zoo.hookspecs", None)
            return info
        self._register_entries(plugin, info)
        return info

    def _call(self, plugin: object, hook_name: str, **kwargs: Any) -> None:
        """Call one plugin's implementation of a hook (not the others')."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin:
                impl.function(**kwargs)

    def _register_entries(self, plugin: object, info: PluginInfo) -> None:
        staged: list[Entry] = []
        recipes: list[tuple[str, str, str | object, str | None]] = []
        try:
            for hook_name, kind in _REGISTER_HOOKS.items():
                self._call(plugin, hook_name, register=Registrar(kind, info.name, staged))
            self._call(plugin, "zoo_register_recipes", register=RecipeRegistrar(info.name, recipes))
        except Exception as exc:  # all or nothing: a plugin that raises registers no entry
            self.pm.unregister(plugin)
            info.attempted = [n for e in staged for n in (e.name, *e.aliases)]
            self._fail(info, f"failed to register: {_describe(exc)}", exc)
            return
        before = self.registry.snapshot()
        errors = []
        for entry in staged:
            try:
                self.registry.add(entry)
            except ZooError as exc:
                errors.append(exc)
        for model, plugin_name, target, data_format in recipes:
            try:
                self.registry.add_recipe(model, plugin_name, target, data_format)
            except ZooError as exc:
                errors.append(exc)
        if errors:  # all or nothing: a clash undoes the plugin's other entries and its hooks
            self.registry.restore(before)
            self.pm.unregister(plugin)
            info.attempted = [n for e in staged for n in (e.name, *e.aliases)]
            self._fail(info, "; ".join(str(e) for e in errors), errors[0])
            return
        info.entries = [e.name for e in staged]

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None) -> None:
        info.error = f"{info.error}; {message}" if info.error else message
        if self.strict:
            raise PluginError(f"plugin {info.name!r}: {message}") from exc

    # -- queries ---------------------------------------------------------------------------
    def failed(self) -> dict[str, str]:
        """Plugins that failed, with their error messages."""
        return {n: i.error for n, i in self.plugins.items() if i.error}

    def failed_provider(self, name: str) -> PluginInfo | None:
        """The failed plugin that tried to register ``name`` (as a name or an alias), if one did."""
        return next((i for i in self.plugins.values() if i.error and name in i.attempted), None)
