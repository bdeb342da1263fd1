"""Building an entry: merge defaults, validate arguments against the factory, call it.

Models built here carry a :class:`ModelConfig` (attribute ``zoo_config``) naming their
architecture and arguments; ``zoo.save`` writes it to ``config.json``.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import json
import numbers
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import ArgumentTypeError, InvalidArgumentsError
from zoo.registry import Resolved

CONFIG_ATTR = "zoo_config"


@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` records: the registry name and the factory's keyword arguments."""

    architecture: str
    model_args: Mapping[str, Any] = field(default_factory=dict)
    tag: str | None = None


def signature_of(factory: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have no signature: accept anything
        return None


def check_arguments(owner: str, factory: Callable[..., Any], args: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidArgumentsError` for unknown or missing keyword arguments.

    Messages list what the factory accepts and suggest close names for typos.
    """
    sig = signature_of(factory)
    if sig is None:
        return
    params = sig.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not takes_any:
        unknown = [k for k in args if k not in named]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, named, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            accepted = ", ".join(_describe_param(params[n]) for n in named) or "no arguments"
            raise InvalidArgumentsError(f"{owner} does not take {', '.join(hints)}; it takes: {accepted}")
    missing = [n for n in named if params[n].default is inspect.Parameter.empty and n not in args]
    if missing:
        raise InvalidArgumentsError(f"{owner} needs {', '.join(repr(m) for m in missing)}")


_SIMPLE = (bool, int, float, str)


def check_types(owner: str, factory: Callable[..., Any], args: Mapping[str, Any]) -> None:
    """Raise :class:`~zoo.errors.ArgumentTypeError` for an argument whose value does not match the factory's
    annotation, where that annotation is ``bool``, ``int``, ``float`` or ``str`` (or a union of them and
    ``None``); other annotations are not checked. An ``int`` is a fine ``float``; a ``bool`` is no ``int``."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: nothing to check
        return
    for name, value in args.items():
        allowed = _simple_types(hints.get(name))
        if allowed is not None and not any(_matches(value, t) for t in allowed):
            want = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise ArgumentTypeError(
                f"{owner}: argument {name!r} must be {want}; got {value!r} ({type(value).__name__})"
            )


def _matches(value: Any, kind: type) -> bool:
    if kind is type(None):
        return value is None
    if isinstance(value, bool):  # bool is an int subclass, but True is no width
        return kind is bool
    if kind is int:
        return isinstance(value, numbers.Integral)  # numpy's integers too
    if kind is float:
        return isinstance(value, numbers.Real)
    if kind is str:
        return isinstance(value, (str, os.PathLike))
    return isinstance(value, kind)


def _simple_types(hint: Any) -> tuple[type, ...] | None:
    """``(int,)`` for ``int``, ``(int, NoneType)`` for ``int | None``; None when not all simple."""
    if hint is None:
        return None
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if all(m in _SIMPLE or m is type(None) for m in members):
        return tuple(members)
    return None


def _describe_param(p: inspect.Parameter) -> str:
    return p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"


def build(resolved: Resolved, overrides: Mapping[str, Any]) -> Any:
    """Build a resolved entry with its defaults updated by ``overrides``."""
    entry = resolved.entry
    args = {**resolved.defaults, **overrides}
    owner = f"{entry.kind} {entry.name!r} (plugin {entry.plugin!r})"
    factory = entry.load_target()
    check_arguments(owner, factory, args)
    check_types(owner, factory, args)
    try:
        obj = factory(**args)
    except Exception as exc:  # the factory's own error, and which entry and arguments it got
        given = ", ".join(f"{k}={v!r}" for k, v in overrides.items()) or "its defaults"
        exc.add_note(f"while building {owner} with {given}")
        raise
    if entry.kind == "model":
        attach_config(obj, ModelConfig(entry.name, args, resolved.tag))
    return obj


def attach_config(model: Any, config: ModelConfig) -> None:
    """Record ``config`` on a model (so that ``zoo.save`` can write ``config.json``)."""
    try:
        json.dumps(dict(config.model_args))
        serialisable = True
    except (TypeError, ValueError):
        serialisable = False
    # An object that cannot take attributes (or whose args are not JSON) just cannot be saved
    # without an explicit config; zoo.save says so.
    if serialisable:
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(model, CONFIG_ATTR, config)


def config_of(model: Any) -> ModelConfig | None:
    cfg = getattr(model, CONFIG_ATTR, None)
    return cfg if isinstance(cfg, ModelConfig) else None
