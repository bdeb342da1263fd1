"""The Hub checkpoint format: save a model to a folder, load it back, safely.

A checkpoint folder holds::

    config.json                    {"architecture": registry name, "model_args": {…}, "zoo_version": …}
    model.safetensors              weights; above max_shard_size: model-0000k-of-0000n.safetensors
                                   shards and model.safetensors.index.json
    tokenizer.json                 when the model has a ``tokenizers.Tokenizer`` as ``model.tokenizer``
    results.json                   the training run's results, when there was one
    README.md                      model card with YAML front matter

Weights are read from safetensors only: pickles are refused, never opened. Writing is
atomic: the folder is written beside its destination and swapped in at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import modelcard
from zoo._version import __version__
from zoo.building import ModelConfig, attach_config, check_arguments, config_of
from zoo.errors import CheckpointError, MissingPluginError, UnknownEntryError
from zoo.registry import Resolved

if TYPE_CHECKING:
    import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
TOKENIZER_NAME = "tokenizer.json"
RESULTS_NAME = "results.json"
CARD_NAME = "README.md"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# What a download of a checkpoint fetches: never a pickle, never code.
ALLOW_PATTERNS = [CONFIG_NAME, "*.safetensors", INDEX_NAME, TOKENIZER_NAME, RESULTS_NAME, CARD_NAME]
DEFAULT_MAX_SHARD_SIZE = "2GB"


# -- saving --------------------------------------------------------------------------------
def save(
    model: Any,
    directory: str | os.PathLike[str],
    *,
    results: Mapping[str, Any] | None = None,
    config: ModelConfig | None = None,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
) -> Path:
    """Save a model built by ``zoo.load`` as a Hub-format folder; return its path.

    Args:
        results: a run's results (written as ``results.json`` and into the model card).
        config: architecture and arguments, for a model not built by ``zoo.load``.
        max_shard_size: above this, weights are split into shards with an index (bytes or "2GB").

    An existing folder is replaced atomically, and only if it is empty or a checkpoint.
    """
    from huggingface_hub import save_torch_state_dict

    config = config or config_of(model)
    if config is None:
        raise CheckpointError(
            "this model has no zoo config: build it with zoo.load(name, ...) or pass "
            "config=zoo.ModelConfig(architecture=..., model_args={...})"
        )
    try:
        config_json = json.dumps(config_dict(config), indent=2, sort_keys=True)
    except TypeError as exc:
        raise CheckpointError(
            f"model_args of {config.architecture!r} are not JSON-serialisable: {exc}"
        ) from exc
    dest = Path(directory)
    with atomic_directory(dest) as tmp:
        (tmp / CONFIG_NAME).write_text(config_json + "\n", encoding="utf-8")
        state = {k: v.detach() for k, v in model.state_dict().items()}
        save_torch_state_dict(state, tmp, max_shard_size=max_shard_size, metadata={"format": "pt"})
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is not None and type(tokenizer).__module__.startswith("tokenizers"):
            tokenizer.save(str(tmp / TOKENIZER_NAME))
        if results is not None:
            (tmp / RESULTS_NAME).write_text(
                json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
        (tmp / CARD_NAME).write_text(modelcard.render(config, results), encoding="utf-8")
    return dest


def config_dict(config: ModelConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "architecture": config.architecture,
        "model_args": dict(config.model_args),
        "zoo_version": __version__,
    }
    if config.tag:
        out["tag"] = config.tag
    return out


def is_checkpoint(directory: Path) -> bool:
    try:
        return "architecture" in json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


@contextmanager
def atomic_directory(dest: Path) -> Iterator[Path]:
    """Yield a fresh folder beside ``dest``; on success it replaces ``dest``, on error it vanishes.

    Refuses to replace a non-empty folder that is not a checkpoint (it may hold user data).
    """
    if dest.exists() and not dest.is_dir():
        raise CheckpointError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not is_checkpoint(dest):
        raise CheckpointError(
            f"{dest} exists, is not empty and is not a kexue-zoo checkpoint; "
            "choose a new folder (nothing was written)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = dest.parent / f".{dest.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
    if dest.exists():
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old.exists():
            os.replace(old, dest)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- reading -------------------------------------------------------------------------------
def read_config(directory: Path) -> ModelConfig:
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_NAME}: it is not a kexue-zoo checkpoint")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("architecture"), str):
        raise CheckpointError(f"{path} has no 'architecture' naming a registry entry")
    args = raw.get("model_args", {})
    if not isinstance(args, dict):
        raise CheckpointError(f"{path}: 'model_args' must be an object")
    return ModelConfig(raw["architecture"], args, raw.get("tag"))


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a checkpoint (one file, or the shards named by the index)."""
    index = directory / INDEX_NAME
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index} is not a valid safetensors index: {exc}") from exc
        files = [directory / name for name in sorted(set(weight_map.values()))]
    elif (directory / WEIGHTS_NAME).is_file():
        files = [directory / WEIGHTS_NAME]
    else:
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(
                f"{directory} holds {', '.join(pickles)} but no {WEIGHTS_NAME}: kexue-zoo loads "
                "safetensors only and never unpickles. Convert the file where you trust it "
                "(safetensors.torch.save_file(torch.load(f, weights_only=True), 'model.safetensors'))"
            )
        raise CheckpointError(f"{directory} has no {WEIGHTS_NAME} (nor {INDEX_NAME})")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise CheckpointError(f"{directory}: shard(s) named by the index are missing: {missing}")
    return files


def read_weights(directory: Path, device: Any = "cpu") -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint; corrupt, truncated or pickled files raise clearly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for path in weight_files(directory):
        try:
            state.update(load_file(path, device=str(device) if device is not None else "cpu"))
        except (SafetensorError, OSError, RuntimeError) as exc:
            if _looks_pickled(path):
                raise CheckpointError(
                    f"{path} is a pickle (a torch.save file), not safetensors: refused, never unpickled. "
                    "Convert it where you trust it, then save it with safetensors."
                ) from None
            raise CheckpointError(
                f"{path} is corrupted or truncated ({exc}); download or save it again"
            ) from exc
    return state


def _looks_pickled(path: Path) -> bool:
    """A torch.save zip archive or a raw pickle stream (protocol 2-5), judged by magic bytes only."""
    with path.open("rb") as f:
        head = f.read(4)
    return head == b"PK\x03\x04" or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def _tie_groups(model: torch.nn.Module) -> list[list[str]]:
    """Names that share one parameter/buffer object (tied weights), as groups of >= 2."""
    groups: dict[int, list[str]] = {}
    for name, t in [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]:
        groups.setdefault(id(t), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


def _get_tensor(model: torch.nn.Module, name: str) -> torch.Tensor:
    """The parameter or buffer registered under a dotted ``name``."""
    module_name, _, attr = name.rpartition(".")
    return getattr(model.get_submodule(module_name), attr)


def _set_tensor(model: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name)
    if attr in module._parameters:
        module._parameters[attr] = value  # type: ignore[assignment]
    else:
        module._buffers[attr] = value


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Strict key and shape check; the error lists missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    tied = {n: g for g in _tie_groups(model) for n in g}
    missing = [k for k in expected if k not in state and not any(a in state for a in tied.get(k, ()))]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in state
        if k in expected and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        lines = [f"the weights in {where} do not match the model:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = items[:20] + ([f"... and {len(items) - 20} more"] if len(items) > 20 else [])
                lines.append(f"  {title} ({len(items)}): " + ", ".join(shown))
        lines.append(
            "  (does model_args in config.json match the weights? was the file written by this model?)"
        )
        raise CheckpointError("\n".join(lines))


def _has_non_persistent_buffers(model: torch.nn.Module) -> bool:
    return any(m._non_persistent_buffers_set for m in model.modules())


def materialise(
    factory: Callable[[], torch.nn.Module],
    state: dict[str, torch.Tensor],
    where: str,
    *,
    device: Any = None,
    dtype: torch.dtype | None = None,
) -> torch.nn.Module:
    """Build a model with ``factory`` and give it ``state``, without paying for a random init.

    The model is built on the meta device and the loaded tensors are assigned (ties kept).
    A model with non-persistent buffers (computed in ``__init__``, not saved) is built for
    real instead, since the meta device would lose those values.
    """
    import torch

    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    with torch.device("meta"):
        model = factory()
    if _has_non_persistent_buffers(model):
        model = factory()
        check_state_dict(model, state, where)
        model.load_state_dict(state, strict=False)
        return model.to(device=device, dtype=dtype) if device is not None or dtype is not None else model
    check_state_dict(model, state, where)
    groups = _tie_groups(model)
    model.load_state_dict(state, strict=False, assign=True)
    for group in groups:  # assign=True replaces the objects: re-tie the aliases to the loaded one
        source = next(n for n in group if n in state)
        value = _get_tensor(model, source)
        for name in group:
            if name != source:
                _set_tensor(model, name, value)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise CheckpointError(f"{where}: no weights for {leftover[:10]}")
    return model


def load_dir(
    directory: str | os.PathLike[str], *, device: Any = None, dtype: Any = None, **overrides: Any
) -> Any:
    """Load a checkpoint folder: look its architecture up, build, assign the weights; in eval mode."""
    from zoo import api

    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a folder (expected a checkpoint written by zoo.save)")
    config = read_config(directory)
    try:
        resolved = api.resolve(config.architecture)
    except UnknownEntryError as exc:
        raise MissingPluginError(
            f"{directory} needs the architecture {config.architecture!r}, which no installed plugin "
            f"provides: {exc}. Install the plugin that provides it; no code is ever taken from a checkpoint."
        ) from None
    if config.tag and config.tag in resolved.entry.tags:
        resolved = Resolved(resolved.entry, config.tag)
    state = read_weights(directory, device=device or "cpu")
    model = _materialise_entry(
        resolved, {**config.model_args, **overrides}, state, str(directory), device, dtype
    )
    tok = directory / TOKENIZER_NAME
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
    model = materialise(lambda: factory(**args), state, where, device=device, dtype=dtype)
    attach_config(model, ModelConfig(entry.name, args, resolved.tag))
    return model.eval()  # loaded weights are for inference, like transformers' from_pretrained


def load_checkpoint(spec: str, *, device: Any = None, dtype: Any = None, **overrides: Any) -> Any:
    """Load ``local-dir:PATH`` or ``hf-hub:org/repo[@revision]``."""
    scheme, _, rest = spec.partition(":")
    if scheme == "local-dir":
        return load_dir(rest, device=device, dtype=dtype, **overrides)
    from zoo import hub

    return load_dir(hub.download(rest), device=device, dtype=dtype, **overrides)


def load_pretrained(resolved: Resolved, *, device: Any = None, dtype: Any = None, **overrides: Any) -> Any:
    """A registry model with its pinned Hub weights (``zoo.load(name, pretrained=True)``), in eval mode."""
    from zoo import hub

    weights = resolved.hub
    if weights is None:
        raise CheckpointError(
            f"{resolved.entry.name!r} has no pretrained weights (its entry names no hub repo)"
        )
    directory = hub.download(str(weights))
    state = read_weights(directory, device=device or "cpu")
    args = {**resolved.defaults, **overrides}
    return _materialise_entry(resolved, args, state, f"hf-hub:{weights}", device, dtype)
