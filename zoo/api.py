"""The public functions behind ``zoo.list``, ``zoo.info``, ``zoo.load`` (no torch at import)."""

from __future__ import annotations

import builtins
import os
import threading
from typing import Any

from zoo import catalog as _catalog
from zoo.building import build
from zoo.errors import CatalogError, UnknownEntryError
from zoo.plugins import PluginHost, PluginInfo
from zoo.registry import Entry, Registry, Resolved

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


def list_entries(
    pattern: str | None = None, *, kind: str | None = None, plugin: str | None = None
) -> builtins.list[Entry]:
    """Installed entries, sorted by name, filtered by kind, plugin and a wildcard pattern.

    ``zoo.list("gumbel*", kind="sampler")``. Each :class:`Entry` has name, kind, plugin,
    article, summary, aliases, tags, defaults and hub.
    """
    return registry().filter(kind=kind, plugin=plugin, pattern=pattern)


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


def info(name: str) -> dict[str, Any]:
    """Everything about an entry: catalog fields, plugin version, recipe, its ``--data`` format and target.

    For ``name.tag``, ``tag`` names the variant and ``summary``, ``defaults`` and ``hub`` are the
    variant's (its own summary; its defaults merged over the entry's); ``entry_summary`` keeps the
    entry's. Never imports torch.
    """
    from zoo import recipes

    resolved = resolve(name)
    entry = resolved.entry
    plugin = host().plugins.get(entry.plugin)
    catalog = entry.to_dict()
    out: dict[str, Any] = {"name": catalog.pop("name"), "tag": resolved.tag, **catalog}
    if resolved.tag:
        out["summary"] = recipes.summary_of(resolved)
        out["entry_summary"] = entry.summary
        out["defaults"] = resolved.defaults
        out["hub"] = str(resolved.hub) if resolved.hub else None
    out["plugin_version"] = plugin.version if plugin else None
    has_recipe = registry().recipe_target(entry.name) is not None
    out["recipe"] = has_recipe
    out["data_format"] = recipes.data_format(entry.name) if has_recipe else None
    out["target"] = entry.target if isinstance(entry.target, str) else _qualname(entry.target)
    return out


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def load(
    name: str,
    /,
    *,
    pretrained: bool = False,
    device: Any = None,
    dtype: Any = None,
    **overrides: Any,
) -> Any:
    """Build a registered model, sampler or optimizer, or load a model checkpoint.

    Args:
        name: an entry name or alias, ``name.tag``, ``hf-hub:org/repo[@revision]`` or
            ``local-dir:PATH`` (a folder written by ``zoo.save``).
        pretrained: for a registry model, also load its pinned Hub weights.
        device, dtype: for models, where and in which floating dtype to put the parameters.
        **overrides: keyword arguments for the entry's factory, on top of its defaults;
            unknown ones raise :class:`zoo.InvalidArgumentsError`.

    A model with weights (``local-dir:``, ``hf-hub:``, ``pretrained=True``) comes back in eval mode,
    ready for inference (like ``from_pretrained`` in transformers): call ``model.train()`` to fine-tune
    it. A model built without weights (``zoo.load("name")``) is in training mode, as torch builds it.

    Example: ``zoo.load("lamb", params=model.parameters(), lr=1e-3)``.
    """
    if name.startswith(SCHEMES):
        from zoo import checkpoint

        return checkpoint.load_checkpoint(name, device=device, dtype=dtype, **overrides)
    resolved = resolve(name)
    if resolved.entry.kind != "model" and (pretrained or device is not None or dtype is not None):
        raise TypeError(f"pretrained, device and dtype apply to models; {name!r} is a {resolved.entry.kind}")
    if pretrained:
        from zoo import checkpoint

        return checkpoint.load_pretrained(resolved, device=device, dtype=dtype, **overrides)
    obj = build(resolved, overrides)
    if device is not None or dtype is not None:
        obj = obj.to(device=device, dtype=dtype)
    return obj


def plugins() -> builtins.list[PluginInfo]:
    """Every discovered plugin with its version, hooks, entries and error (if it failed)."""
    return builtins.list(host().plugins.values())
