"""What a target's source says about it, read without importing it (``zoo info`` stays torch-free)."""

from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path
from typing import Any


def call_options(target: str | Any) -> list[str] | None:
    """The options a sampler takes per call: the parameters with a default of its ``__call__`` (of the
    function itself for a function), plus its constructor's when ``__call__`` takes ``**kwargs``.

    A ``"module:attr"`` target is read from its source file (only parent packages are imported); a
    Python object is inspected. None when it cannot be told (no source, an inherited ``__call__``).
    """
    if not isinstance(target, str):
        return _inspected(target)
    module, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else None
    except (ImportError, ValueError, OSError):
        return None
    if source is None or not attr or "." in attr:
        return None
    defined = (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef | ast.FunctionDef))
    node = next((n for n in defined if n.name == attr), None)
    if isinstance(node, ast.FunctionDef):
        return _with_defaults(node.args)
    if node is None:
        return None
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    call = methods.get("__call__")
    if call is None:
        return None
    names = _with_defaults(call.args)
    init = methods.get("__init__")
    if call.args.kwarg is not None and init is not None:
        names += [n for n in _with_defaults(init.args) if n not in names]
    return names


def _with_defaults(args: ast.arguments) -> list[str]:
    positional = [*args.posonlyargs, *args.args]
    names = [a.arg for a in positional[len(positional) - len(args.defaults) :]]
    return names + [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]


def _inspected(obj: Any) -> list[str] | None:
    call = obj.__call__ if isinstance(obj, type) else obj
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return None
    names = [p.name for p in parameters if p.default is not inspect.Parameter.empty]
    if isinstance(obj, type) and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        init = inspect.signature(obj).parameters.values()
        names += [p.name for p in init if p.default is not inspect.Parameter.empty and p.name not in names]
    return names
