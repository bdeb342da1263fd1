"""The process-wide plugin host and name lookup: ``host()``, ``registry()`` and ``resolve()``.

The lowest layer of loading (no torch, no checkpoint code): the checkpoint format, the Hub transport,
loading and the public API all find entries through here.
"""

from __future__ import annotations

import os
import threading

from zoo import catalog as _catalog
from zoo.errors import CatalogError, UnknownEntryError
from zoo.plugins import PluginHost, PluginInfo
from zoo.registry import Registry, Resolved

_lock = threading.Lock()
_host: PluginHost | None = None

SCHEMES = ("hf-hub:", "local-dir:")


def host() -> PluginHost:
    """The process-wide plugin host, created (and plugins discovered) on first use."""
    global _host
    with _lock:
        if _host is None:
            _host = PluginHost().load()
        return _host


def reset(new_host: PluginHost | None = None) -> None:
    """Forget discovered plugins (re-read on next use), or install ``new_host`` (tests)."""
    global _host
    with _lock:
        _host = new_host.load() if new_host is not None else None


def registry() -> Registry:
    return host().registry


def register_plugin(plugin: object, name: str) -> PluginInfo:
    """Register a plugin object at run time (a notebook, a test) as if it were installed."""
    return host().add_plugin(plugin, name)


def looks_like_path(name: str) -> bool:
    """Meant as a folder, not an entry name: it has a path separator, or starts with ``.`` or ``~``."""
    return any(sep in name for sep in {"/", os.sep}) or name.startswith((".", "~"))


def resolve(name: str) -> Resolved:
    """Resolve a name, alias or ``name.tag``; unknown names get suggestions and install hints, and a
    path given where a name belongs is told where paths go."""
    reg = registry()
    try:
        return reg.resolve(name)
    except UnknownEntryError as exc:
        if looks_like_path(name):
            raise UnknownEntryError(
                f"{name!r} looks like a path, not an entry name (`zoo list` shows the names); a checkpoint "
                f"folder loads with zoo.load('local-dir:{name}') and evaluates with `zoo eval {name}`"
            ) from None
        hint = missing_plugin_hint(name)
        if hint:
            raise UnknownEntryError(hint) from None
        raise exc from None


def missing_plugin_hint(name: str) -> str | None:
    """If ``name`` belongs to a plugin that failed (one that tried to register it, a catalog plugin that
    is broken or absent, or a plugin that failed to import and so may provide it), say so and how to fix
    it."""
    failed = host().failed_provider(name) or host().failed_provider(name.partition(".")[0])
    if failed is not None:
        return (
            f"{name!r} is provided by plugin {failed.name!r}, which failed to load: {failed.error} "
            "(`zoo plugins` shows every plugin's status)"
        )
    try:
        cat = _catalog.load()
    except CatalogError:
        return _unimported_hint(name)
    entry = cat.find(name)
    if entry is None:
        return _unimported_hint(name)
    info = host().plugins.get(entry.plugin)
    if info is not None and info.error:
        return (
            f"{name!r} is provided by plugin {entry.plugin!r}, which failed to load: {info.error} "
            "(`zoo plugins` shows every plugin's status)"
        )
    if info is None:
        hint = cat.install_hint(entry.plugin)
        return f"{name!r} is provided by plugin {entry.plugin!r}, which is not installed: {hint}"
    return None


def _unimported_hint(name: str) -> str | None:
    """Plugins that failed before registering anything (an import error) may be the provider."""
    broken = {n: i.error for n, i in host().plugins.items() if i.error and not i.attempted and not i.entries}
    if not broken:
        return None
    named = "; ".join(f"{n!r} ({e})" for n, e in sorted(broken.items()))
    return (
        f"no entry named {name!r}; plugin(s) that failed before registering anything may provide it: "
        f"{named} (`zoo plugins` shows every plugin's status)"
    )
