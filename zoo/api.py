"""The public functions behind ``zoo.list``, ``zoo.info``, ``zoo.load`` (no torch at import).

The top of the loading layers: :mod:`zoo.lookup` (names) ← :mod:`zoo.checkpoint` (the folder format) ←
:mod:`zoo.hub` (download) ← :mod:`zoo.loading` (folder or Hub repo → model) ← here.
"""

from __future__ import annotations

import builtins
from typing import Any

from zoo import loading
from zoo.building import build
from zoo.lookup import (
    SCHEMES,
    host,
    looks_like_path,
    missing_plugin_hint,
    register_plugin,
    registry,
    reset,
    resolve,
)
from zoo.plugins import PluginInfo
from zoo.registry import Entry
from zoo.sources import call_options


def list_entries(
    pattern: str | None = None, *, kind: str | None = None, plugin: str | None = None
) -> builtins.list[Entry]:
    """Installed entries, sorted by name, filtered by kind, plugin and a wildcard pattern.

    ``zoo.list("gumbel*", kind="sampler")``. Each :class:`Entry` has name, kind, plugin,
    article, summary, aliases, tags, defaults and hub.
    """
    return registry().filter(kind=kind, plugin=plugin, pattern=pattern)


def info(name: str) -> dict[str, Any]:
    """Everything about an entry: catalog fields, plugin version, recipe, its ``--data`` format and target.

    A sampler also has ``per_call``: the options it takes per call (a value given there wins over the
    one it was built with). For ``name.tag``, ``tag`` names the variant and ``summary``, ``defaults``
    and ``hub`` are the variant's (its own summary; its defaults merged over the entry's);
    ``entry_summary`` keeps the entry's. Never imports torch.
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
    if entry.kind == "sampler":
        out["per_call"] = call_options(entry.target)
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
        return loading.load_checkpoint(name, device=device, dtype=dtype, **overrides)
    resolved = resolve(name)
    if resolved.entry.kind != "model" and (pretrained or device is not None or dtype is not None):
        raise TypeError(f"pretrained, device and dtype apply to models; {name!r} is a {resolved.entry.kind}")
    if pretrained:
        return loading.load_pretrained(resolved, device=device, dtype=dtype, **overrides)
    obj = build(resolved, overrides)
    if device is not None or dtype is not None:
        obj = obj.to(device=device, dtype=dtype)
    return obj


def plugins() -> builtins.list[PluginInfo]:
    """Every discovered plugin with its version, hooks, entries and error (if it failed)."""
    return builtins.list(host().plugins.values())


__all__ = [
    "SCHEMES",
    "host",
    "info",
    "list_entries",
    "load",
    "looks_like_path",
    "missing_plugin_hint",
    "plugins",
    "register_plugin",
    "registry",
    "reset",
    "resolve",
]
