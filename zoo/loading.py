"""Loading a model from a checkpoint folder, a Hub repo or an entry's pinned weights.

``zoo.load("local-dir:…" | "hf-hub:…")`` and ``zoo.load(name, pretrained=True)`` end here: the folder
is read and checked by :mod:`zoo.checkpoint`, fetched by :mod:`zoo.hub`, its architecture looked up
in :mod:`zoo.lookup`. Loading never nests: a model whose factory loads another checkpoint is refused.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from zoo import checkpoint, hub, lookup
from zoo.building import ModelConfig, attach_config, check_arguments
from zoo.errors import CheckpointError, MissingPluginError, UnknownEntryError, ZooError
from zoo.registry import Resolved

# The checkpoint being materialised in this thread / task, if any: loading never nests.
_materialising: ContextVar[str | None] = ContextVar("zoo_materialising", default=None)


def _refuse_nested(spec: str) -> None:
    """Raise if a checkpoint is being materialised: its model asked to load ``spec`` too."""
    outer = _materialising.get()
    if outer is not None:
        raise CheckpointError(
            f"while loading {outer}, its model asked to load {spec}: loading a checkpoint never fetches or "
            "reads another one (nested modules come from the checkpoint's own weights). A user who wants "
            "such a module loads it in code and passes the module"
        )


def load_dir(
    directory: str | os.PathLike[str], *, device: Any = None, dtype: Any = None, **overrides: Any
) -> Any:
    """Load a checkpoint folder: look its architecture up, build, assign the weights; in eval mode.

    Files that are links leading out of the folder are refused (:func:`zoo.checkpoint.check_links`).
    """
    directory = Path(directory).expanduser()
    _refuse_nested(f"local-dir:{directory}")
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a folder (expected a checkpoint written by zoo.save)")
    checkpoint.check_links(directory)
    config = checkpoint.read_config(directory)
    try:
        resolved = lookup.resolve(config.architecture)
    except UnknownEntryError as exc:
        raise MissingPluginError(
            f"{directory} needs the architecture {config.architecture!r}, which no installed plugin "
            f"provides: {exc}. Install the plugin that provides it; no code is ever taken from a checkpoint."
        ) from None
    if config.tag and config.tag in resolved.entry.tags:
        resolved = Resolved(resolved.entry, config.tag)
    state = checkpoint.read_weights(directory, device=device or "cpu")
    model = _materialise_entry(
        resolved, {**config.model_args, **overrides}, state, str(directory), device, dtype
    )
    tok = directory / checkpoint.TOKENIZER_NAME
    if tok.is_file():
        from tokenizers import Tokenizer

        model.tokenizer = Tokenizer.from_file(str(tok))
    return model


def _materialise_entry(
    resolved: Resolved, args: dict[str, Any], state: dict[str, Any], where: str, device: Any, dtype: Any
) -> Any:
    entry = resolved.entry
    if entry.kind != "model":
        raise CheckpointError(f"{where}: {entry.name!r} is a {entry.kind}, not a model")
    factory = entry.load_target()
    check_arguments(f"model {entry.name!r} (plugin {entry.plugin!r})", factory, args)
    token = _materialising.set(where)  # a factory that loads a checkpoint (zoo.load("hf-hub:…")) raises
    try:
        model = checkpoint.materialise(lambda: factory(**args), state, where, device=device, dtype=dtype)
    except ZooError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:  # the factory rejects what config.json holds
        raise CheckpointError(
            f"{where}: model {entry.name!r} rejects the model_args of its config.json {args!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        _materialising.reset(token)
    attach_config(model, ModelConfig(entry.name, args, resolved.tag))
    return model.eval()  # loaded weights are for inference, like transformers' from_pretrained


def load_checkpoint(spec: str, *, device: Any = None, dtype: Any = None, **overrides: Any) -> Any:
    """Load ``local-dir:PATH`` or ``hf-hub:org/repo[@revision]``.

    Refused while another checkpoint is being materialised: loading never recurses.
    """
    _refuse_nested(spec)
    scheme, _, rest = spec.partition(":")
    if scheme == "local-dir":
        return load_dir(rest, device=device, dtype=dtype, **overrides)
    return load_dir(hub.download(rest), device=device, dtype=dtype, **overrides)


def load_pretrained(resolved: Resolved, *, device: Any = None, dtype: Any = None, **overrides: Any) -> Any:
    """A registry model with its pinned Hub weights (``zoo.load(name, pretrained=True)``), in eval mode."""
    weights = resolved.hub
    if weights is None:
        raise CheckpointError(
            f"{resolved.entry.name!r} has no pretrained weights (its entry names no hub repo)"
        )
    _refuse_nested(f"hf-hub:{weights}")
    directory = hub.download(str(weights))
    state = checkpoint.read_weights(directory, device=device or "cpu")
    args = {**resolved.defaults, **overrides}
    return _materialise_entry(resolved, args, state, f"hf-hub:{weights}", device, dtype)
