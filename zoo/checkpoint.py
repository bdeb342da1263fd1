"""The Hub checkpoint format: save a model to a folder; read and check one, safely.

A checkpoint folder holds::

    config.json                    {"architecture": registry name, "model_args": {…}, "zoo_version": …,
                                    "plugin": {"name", "distribution", "version"} of the code that wrote it}
    model.safetensors              weights; above max_shard_size: model-0000k-of-0000n.safetensors
                                   shards and model.safetensors.index.json
    tokenizer.json                 when the model has a ``tokenizers.Tokenizer`` as ``model.tokenizer``
    results.json                   the training run's results, when there was one
    README.md                      model card with YAML front matter

Weights are read from safetensors only: pickles are refused, never opened. Writing is
crash-safe (:mod:`zoo.atomic`): the folder is written beside its destination, fsynced and swapped in
atomically, so the name always holds the old or the new complete checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import atomic, lookup, modelcard
from zoo._version import __version__
from zoo.building import ModelConfig, config_of
from zoo.errors import CheckpointError, ZooError

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

    An existing folder is replaced atomically, and only if it is empty or a checkpoint; if
    ``directory`` is a symlink, the folder it points to is replaced and the link kept.
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
    plugin = _providing_plugin(config.architecture)
    if plugin is not None:
        out["plugin"] = plugin
    return out


def _providing_plugin(architecture: str) -> dict[str, str | None] | None:
    """``{"name", "distribution", "version"}`` of the plugin that provides ``architecture`` (None when no
    installed plugin does), so a checkpoint says which code wrote it."""
    try:
        entry = lookup.registry().resolve(architecture).entry
    except ZooError:
        return None
    info = lookup.host().plugins.get(entry.plugin)
    return {
        "name": entry.plugin,
        "distribution": info.distribution if info else None,
        "version": info.version if info else None,
    }


def is_checkpoint(directory: Path) -> bool:
    try:
        return "architecture" in json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


@contextmanager
def atomic_directory(dest: Path) -> Iterator[Path]:
    """Yield a fresh folder beside ``dest``; on success it replaces ``dest`` crash-safely (see
    :mod:`zoo.atomic`), on error it vanishes. Refuses to replace a non-empty folder that is not a
    checkpoint (it may hold user data).
    """
    with atomic.atomic_directory(dest, is_replaceable=is_checkpoint) as tmp:
        yield tmp


# -- reading -------------------------------------------------------------------------------
def read_config(directory: Path) -> ModelConfig:
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_NAME}: it is not a kexue-zoo checkpoint")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise CheckpointError(f"{path} is nested too deeply to be a kexue-zoo config") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("architecture"), str):
        raise CheckpointError(f"{path} has no 'architecture' naming a registry entry")
    args = raw.get("model_args", {})
    if not isinstance(args, dict):
        raise CheckpointError(f"{path}: 'model_args' must be an object")
    check_args_are_data(args, str(path))
    return ModelConfig(raw["architecture"], args, raw.get("tag"))


def check_args_are_data(args: Mapping[str, Any], where: str) -> None:
    """Refuse a location (``hf-hub:…``, ``local-dir:…``) anywhere in a checkpoint's ``model_args``.

    ``model_args`` read from a checkpoint are data: values and registry names, never a place to
    fetch or read another checkpoint from (nested lists and objects are searched too).
    """
    todo: list[tuple[str, Any]] = [(f"model_args.{k}", v) for k, v in args.items()]
    while todo:  # iterative: a deeply nested config cannot exhaust the stack
        key, value = todo.pop()
        if isinstance(value, str) and value.strip().startswith(lookup.SCHEMES):
            raise CheckpointError(
                f"{where}: {key} is {value!r}, a location: a checkpoint's model_args are data (values "
                "and registry names) and loading never fetches or reads another checkpoint. A user who "
                "wants a Hub or local encoder passes it in code (encoder=zoo.load('hf-hub:org/x'), a "
                "module), not through a checkpoint's config"
            )
        if isinstance(value, Mapping):
            todo += [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            todo += [(f"{key}[{i}]", v) for i, v in enumerate(value)]


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a checkpoint (one file, or the shards named by the index)."""
    index = directory / INDEX_NAME
    if index.is_file():
        files = [directory / name for name in sorted(set(read_index(index).values()))]
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


def read_index(index: Path) -> dict[str, str]:
    """The ``weight_map`` of a safetensors index (tensor name -> shard file name), validated.

    Shard names must be plain file names inside the checkpoint folder (no ``/``, ``\\``, ``..``,
    absolute or empty names); a tensor named twice in the index is an error.
    """

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise CheckpointError(f"{index} names {twice[:5]} twice: an index maps each key to one shard")
        return dict(pairs)

    try:
        raw = json.loads(index.read_text(encoding="utf-8"), object_pairs_hook=unique)
    except ValueError as exc:
        raise CheckpointError(f"{index} is not a valid safetensors index: {exc}") from exc
    except RecursionError:
        raise CheckpointError(f"{index} is nested too deeply to be a safetensors index") from None
    weight_map = raw.get("weight_map") if isinstance(raw, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise CheckpointError(
            f"{index} is not a valid safetensors index: 'weight_map' must be an object mapping tensor "
            f"names to shard file names, got {type(weight_map).__name__}"
        )
    for key, name in weight_map.items():
        if (
            not name.strip()
            or name in (".", "..")
            or "/" in name
            or "\\" in name
            or "\0" in name
            or os.path.isabs(name)
            or Path(name).name != name
        ):
            raise CheckpointError(
                f"{index}: tensor {key!r} names the shard {name!r}, which is not a plain file name inside "
                "the checkpoint folder: shards sit next to the index (model-00001-of-00002.safetensors)"
            )
    return weight_map


def read_weights(directory: Path, device: Any = "cpu") -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint; corrupt, truncated or pickled files raise clearly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    index = directory / INDEX_NAME
    weight_map = read_index(index) if index.is_file() else None
    for path in weight_files(directory):
        try:
            part = load_file(path, device=str(device) if device is not None else "cpu")
        except (SafetensorError, OSError, RuntimeError) as exc:
            if looks_pickled(path):
                raise CheckpointError(
                    f"{path} is a pickle (a torch.save file), not safetensors: refused, never unpickled. "
                    "Convert it where you trust it, then save it with safetensors."
                ) from None
            raise CheckpointError(
                f"{path} is corrupted or truncated ({exc}); download or save it again"
            ) from exc
        twice = sorted(k for k in part if k in state)
        if twice:
            raise CheckpointError(
                f"{directory}: tensor(s) {twice[:5]} are in more than one shard (again in {path.name}); "
                "each tensor must be stored once"
            )
        if weight_map is not None:  # the index must describe each shard exactly
            listed = {k for k, name in weight_map.items() if name == path.name}
            problems = []
            if set(part) - listed:
                problems.append(
                    f"it holds {sorted(set(part) - listed)[:5]}, which the index does not list there"
                )
            if listed - set(part):
                problems.append(
                    f"the index puts {sorted(listed - set(part))[:5]} there, which it does not hold"
                )
            if problems:
                raise CheckpointError(
                    f"{index} does not describe {path.name}: {'; '.join(problems)} "
                    "(a corrupted or hand-edited index: save the checkpoint again)"
                )
        state.update(part)
    return state


def looks_pickled(path: Path) -> bool:
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


def conform_dtypes(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str, dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    """``state`` with floating tensors cast to ``dtype`` (or the model's dtype for that key).

    Raises :class:`CheckpointError` when a tensor's kind (floating or not) differs from the model's,
    or two non-floating dtypes differ: such weights were written by another model.
    """
    expected = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        want = expected[key].dtype
        if value.is_floating_point() and expected[key].is_floating_point():
            target = dtype if dtype is not None else want
            out[key] = value if value.dtype == target else value.to(target)
        elif value.dtype == want:
            out[key] = value
        else:
            raise CheckpointError(
                f"{where}: the tensor {key!r} is stored as {value.dtype} but the model's is {want}; "
                "floating weights are cast to the model's floating dtype, but integer and floating "
                "weights do not convert (was the file written by this model?)"
            )
    return out


def _has_non_persistent_buffers(model: torch.nn.Module) -> bool:
    return any(m._non_persistent_buffers_set for m in model.modules())


def upgrade_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` after the model's own ``load_state_dict`` pre-hooks (torch's
    ``register_load_state_dict_pre_hook``), each module's with its prefix, as ``load_state_dict`` runs
    them: how a plugin upgrades checkpoints written by an older version of its model (renamed or reshaped
    keys). The strict key check runs on the result. The hooks see no per-module version metadata (a
    safetensors file has none); they should be idempotent, as ``load_state_dict`` runs them again."""
    state = dict(state)
    for name, module in model.named_modules():
        hooks = list(module._load_state_dict_pre_hooks.values())
        if hooks:
            prefix = f"{name}." if name else ""
            missing: list[str] = []
            unexpected: list[str] = []
            errors: list[str] = []
            for hook in hooks:
                hook(state, prefix, {}, True, missing, unexpected, errors)
            if errors:
                raise CheckpointError(
                    f"the upgrade hook of {name or 'the model'!r} failed: {'; '.join(errors)}"
                )
    return state


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

    Dtypes (one rule): a floating tensor is cast to ``dtype`` when given, else to the dtype of the
    model's own parameter or buffer (an fp16 file loads into an fp32 model as fp32); a floating
    tensor for a non-floating one, or the reverse, or two different non-floating dtypes, raise
    :class:`CheckpointError` naming the key, the file's dtype and the model's.
    """
    import torch

    with torch.device("meta"):
        model = factory()
    real = _has_non_persistent_buffers(model)
    if real:
        model = factory()
    state = upgrade_state(model, state)
    check_state_dict(model, state, where)
    state = conform_dtypes(model, state, where, dtype)
    if real:
        model.load_state_dict(state, strict=False)
        return model.to(device=device, dtype=dtype) if device is not None or dtype is not None else model
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


def check_links(directory: Path, extra: tuple[str, ...] = ()) -> None:
    """Refuse the files a load reads (config, index, weights, tokenizer; plus ``extra`` names) when
    they are links that lead out of ``directory``. A link inside the folder to a file inside is fine,
    and so is a link from a huggingface_hub cache snapshot into its own repo's ``blobs`` (that cache's
    layout: ``models--org--name/snapshots/<commit>/file -> ../../blobs/<hash>``).
    """
    root = directory.resolve()
    roots = [root]
    repo = root.parent.parent
    if root.parent.name == "snapshots" and repo.name.startswith("models--"):
        blobs = repo / "blobs"
        if blobs.is_dir() and not blobs.is_symlink():
            roots.append(blobs)
    names = [CONFIG_NAME, INDEX_NAME, WEIGHTS_NAME, TOKENIZER_NAME, *extra]
    index = directory / INDEX_NAME
    if index.is_file() and any(index.resolve().is_relative_to(r) for r in roots):
        names += sorted(set(read_index(index).values()))
    for name in names:
        path = directory / name
        if not (path.exists() or path.is_symlink()):
            continue
        target = path.resolve()
        if not any(target.is_relative_to(r) and target != r for r in roots):
            raise CheckpointError(
                f"{path} is a link to {target}, outside the checkpoint folder {root}: refused (a checkpoint "
                "reads only its own files). Copy the file into the folder if you trust it"
            )
