"""Training states: a folder of tensors (safetensors) and JSON that ``--resume`` continues from, bit for bit.

``state.safetensors`` holds every tensor (model, optimizer, wrappers, scheduler, data order),
``rng.safetensors`` each rank's random generators and ``state.json`` the rest (step, the run's settings, the
non-tensor parts of each state dict). Nothing is pickled; the folder is written atomically (``zoo.atomic``),
so one killed half-written is never swapped in and ``--resume`` finds the previous one.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo import atomic
from zoo.distributed import fault, is_main, world
from zoo.errors import CheckpointError, RecipeError

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"
RNG_TENSORS = "rng.safetensors"
FORMAT = "kexue-zoo training state 1"


# -- state dicts as tensors + JSON ---------------------------------------------------------------------


def encode(obj: Any, path: str, tensors: dict[str, Tensor]) -> Any:
    """A JSON tree for ``obj`` (dicts with any scalar keys, lists, tuples, scalars); tensors go to
    ``tensors`` under a name derived from ``path`` and are referenced by it."""
    if isinstance(obj, Tensor):
        name = path
        while name in tensors:
            name += "'"
        tensors[name] = obj.detach().to("cpu", copy=True).contiguous()
        return {"tensor": name}
    if isinstance(obj, Mapping):
        items = []
        for key, value in obj.items():
            if not (key is None or isinstance(key, (str, int, float, bool))):
                raise RecipeError(f"cannot save a training state: key {key!r} at {path} is not a scalar")
            items.append([key, encode(value, f"{path}.{key}", tensors)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [encode(v, f"{path}.{i}", tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return {"value": obj}
    raise RecipeError(
        f"cannot save a training state: {path} is a {type(obj).__name__} (only tensors, numbers, strings, "
        "lists, tuples and dicts are saved, never a pickle)"
    )


def decode(tree: Any, tensors: Mapping[str, Tensor]) -> Any:
    """The inverse of :func:`encode`; anything else is a CheckpointError (a state folder is data)."""
    if not isinstance(tree, dict) or len(tree) != 1:
        raise CheckpointError(f"malformed training state: {str(tree)[:80]}")
    ((kind, value),) = tree.items()
    if kind == "tensor" and isinstance(value, str):
        if value not in tensors:
            raise CheckpointError(f"malformed training state: tensor {value!r} is missing")
        return tensors[value]
    if kind == "dict" and isinstance(value, list):
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in value):
            raise CheckpointError("malformed training state: a dict is not a list of [key, value] pairs")
        return {key: decode(v, tensors) for key, v in value}
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [decode(v, tensors) for v in value]
        return items if kind == "list" else tuple(items)
    if kind == "value" and (value is None or isinstance(value, (str, int, float, bool))):
        return value
    raise CheckpointError(f"malformed training state: {kind!r}")


def state_of(obj: Any) -> Any:
    """What is saved of one named object: a state dict, a generator's state (torch or ``random.Random``),
    or a list / dict by value."""
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, random.Random):
        return obj.getstate()
    if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
        return obj.state_dict()
    if isinstance(obj, (list, dict)):
        return obj
    raise RecipeError(
        f"cannot save a {type(obj).__name__} in a training state: give objects with state_dict() / "
        "load_state_dict(), torch.Generator, random.Random, or lists and dicts of tensors and numbers"
    )


def restore(obj: Any, saved: Any) -> None:
    """Put ``saved`` (from :func:`state_of`) back into ``obj`` in place."""
    if isinstance(obj, torch.Generator):
        obj.set_state(saved)
    elif isinstance(obj, random.Random):
        obj.setstate(saved)
    elif hasattr(obj, "load_state_dict"):
        obj.load_state_dict(saved)
    elif isinstance(obj, list):
        obj[:] = saved
    else:
        obj.clear()
        obj.update(saved)


def rng_states() -> dict[str, Tensor]:
    """This process's random generators (Python, NumPy, torch CPU and CUDA) as tensors."""
    version, internal, gauss = random.getstate()
    states = {
        "python": torch.tensor([version, *internal], dtype=torch.int64),
        "python_gauss": torch.tensor([math.nan if gauss is None else gauss], dtype=torch.float64),
        "torch": torch.get_rng_state(),
    }  # the same keys on every rank: gather_rng makes one collective per key
    try:
        import numpy as np

        _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
        states["numpy"] = torch.tensor([*np.asarray(keys).tolist(), pos, has_gauss], dtype=torch.int64)
        states["numpy_gauss"] = torch.tensor([cached], dtype=torch.float64)
    except ImportError:
        pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.stack(torch.cuda.get_rng_state_all())  # every device's, not only the current
    return states


def set_rng_states(states: Mapping[str, Tensor]) -> None:
    python = states["python"].tolist()
    cached = states["python_gauss"].item()
    gauss = None if math.isnan(cached) else cached
    random.setstate((python[0], tuple(python[1:]), gauss))
    torch.set_rng_state(states["torch"])
    if "numpy" in states:
        import numpy as np

        numbers = states["numpy"].tolist()
        keys = np.array(numbers[:-2], dtype=np.uint32)
        np.random.set_state(("MT19937", keys, numbers[-2], numbers[-1], states["numpy_gauss"].item()))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(states["cuda"]))


def gather_rng() -> dict[str, Tensor]:
    """Every rank's generators, named ``rank{r}.{generator}`` (a collective: all ranks call it)."""
    import torch.distributed as dist

    size = world()[1]
    mine = rng_states()
    if size == 1 or not dist.is_initialized():
        return {f"rank0.{k}": v for k, v in mine.items()}
    out: dict[str, Tensor] = {}
    for key in sorted(mine):  # the same keys on every rank: one process type, one machine setup
        value = mine[key]
        parts = [torch.empty_like(value) for _ in range(size)]
        dist.all_gather(parts, value)
        out.update({f"rank{r}.{key}": part for r, part in enumerate(parts)})
    return out


def is_state(directory: Path) -> bool:
    """Whether ``directory`` holds a training state (may be replaced by a newer one)."""
    return (directory / STATE_JSON).is_file()


def save_state(directory: Path, step: int, run: Mapping[str, Any], objects: Mapping[str, Any]) -> None:
    """Write the training state after ``step`` steps to ``directory``, atomically (all ranks call it;
    rank 0 writes)."""
    from safetensors.torch import save_file

    rng = gather_rng()
    states = {name: state_of(obj) for name, obj in objects.items()}  # on every rank: one may gather
    if not is_main():
        return
    tensors: dict[str, Tensor] = {}
    tree = {name: encode(value, name, tensors) for name, value in states.items()}
    record = {"format": FORMAT, "step": step, "world_size": world()[1], "run": dict(run), "objects": tree}
    with atomic.atomic_directory(directory, is_replaceable=is_state) as tmp:
        save_file(tensors, str(tmp / STATE_TENSORS), metadata={"format": "pt"})
        fault("checkpoint", step)  # a kill here leaves a half-written temporary folder, never the state
        save_file({k: v.contiguous() for k, v in rng.items()}, str(tmp / RNG_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def read_state(directory: Path) -> dict[str, Any]:
    """The record of a training state folder (``step``, ``world_size``, ``run``, ``objects``)."""
    path = Path(directory) / STATE_JSON
    if not path.is_file():
        raise CheckpointError(
            f"{directory} is not a training state (no {STATE_JSON}); --resume takes the folder that "
            "--checkpoint-every wrote (by default OUT-state beside the run's --out)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT!r} file")
    step = record.get("step")
    if (
        not isinstance(step, int)
        or isinstance(step, bool)
        or step < 0
        or not isinstance(record.get("run"), dict)
    ):
        raise CheckpointError(f"{path} lacks its step (a number >= 0) or its run record")
    return record


def check_world(directory: Path, record: Mapping[str, Any]) -> None:
    size = world()[1]
    if record.get("world_size") != size:
        raise CheckpointError(
            f"{directory} was written by {record.get('world_size')} process(es); resume it with --nproc "
            f"{record.get('world_size')} (this run has {size}): each rank's random state is its own"
        )


def load_state(directory: Path, objects: Mapping[str, Any]) -> int:
    """Restore ``objects`` and this rank's generators from ``directory``; return the step to continue at."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    record = read_state(directory)
    check_world(directory, record)
    rank = world()[0]
    try:
        tensors = load_file(str(Path(directory) / STATE_TENSORS))
        rng = load_file(str(Path(directory) / RNG_TENSORS))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"cannot read the tensors of {directory}: {exc}") from exc
    saved = record.get("objects")
    if not isinstance(saved, dict) or set(saved) != set(objects):
        have = sorted(saved) if isinstance(saved, dict) else []
        raise CheckpointError(f"{directory} holds {have}, this recipe saves {sorted(objects)}")
    for name, obj in objects.items():
        try:
            value = decode(saved[name], tensors)
            if not isinstance(obj, (list, dict)):  # a recipe's own lists and dicts change as it trains
                check_like(name, value, state_of(obj))
            restore(obj, value)
        except CheckpointError:
            raise
        except (
            ValueError,
            KeyError,
            TypeError,
            RuntimeError,
            IndexError,
            AttributeError,
            OverflowError,
        ) as exc:
            raise CheckpointError(f"cannot restore {name!r} from {directory}: {exc}") from exc
    prefix = f"rank{rank}."
    try:
        set_rng_states({k[len(prefix) :]: v for k, v in rng.items() if k.startswith(prefix)})
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError, OverflowError) as exc:
        raise CheckpointError(
            f"cannot restore rank {rank}'s random generators from {directory}: {exc}"
        ) from exc
    return record["step"]


def check_like(name: str, saved: Any, live: Any) -> None:
    """Refuse a saved state whose structure is not the live object's: other keys in a state dict (which
    some ``load_state_dict`` would set as attributes), a tensor of another shape or dtype, a list for a
    tensor. Lists and dicts the recipe keeps (``losses``) may differ in length."""
    if isinstance(live, Tensor):
        if not isinstance(saved, Tensor) or saved.shape != live.shape or saved.dtype != live.dtype:
            what = (
                f"{tuple(saved.shape)} {saved.dtype}" if isinstance(saved, Tensor) else type(saved).__name__
            )
            raise CheckpointError(f"{name}: saved {what}, expected {tuple(live.shape)} {live.dtype}")
    elif isinstance(live, Mapping) and live and all(isinstance(k, str) for k in live):
        if not isinstance(saved, Mapping) or set(saved) != set(live):
            theirs = sorted(map(str, saved)) if isinstance(saved, Mapping) else type(saved).__name__
            raise CheckpointError(f"{name}: saved keys {theirs}, expected {sorted(live)}")
        for key in live:
            if key not in ("state", "order"):  # optimizer state appears after the first step; order varies
                check_like(f"{name}.{key}", saved[key], live[key])


def settings(config: Any) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the state (as JSON would read it back)."""
    keys = ("name", "data", "seed", "preset", "device", "options", "model_args")
    record = {k: getattr(config, k) for k in keys}
    record["data"] = str(record["data"]) if record["data"] is not None else None
    record["device"] = "cuda" if str(record["device"]).startswith("cuda") else str(record["device"])
    return json.loads(json.dumps(record, default=str))


def check_resume(directory: Path, config: Any) -> dict[str, Any]:
    """The state record of ``directory`` if ``config`` continues the same run, else a RecipeError naming
    what differs."""
    record = read_state(directory)
    check_world(directory, record)
    mine, theirs = settings(config), record["run"]
    differ = [k for k in mine if mine[k] != theirs.get(k)]
    if differ:
        parts = "; ".join(f"{k}: state {theirs.get(k)!r}, this run {mine[k]!r}" for k in differ)
        raise RecipeError(
            f"--resume {directory} continues another run ({parts}); give the same name, --data, --seed, "
            "--preset, --device, --option and --set as the run that wrote it"
        )
    return record
