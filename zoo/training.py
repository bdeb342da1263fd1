"""The training loop's shared parts: torch.distributed, resumable checkpoints, the global batch's shards.

A recipe that declares ``distributed = True`` and ``resumable = True`` drives its steps through a
:class:`TrainLoop`; then ``zoo train NAME --nproc N`` runs it under DDP (gloo on CPU, nccl on GPU) with
the same global batch as one process, and ``--checkpoint-every STEPS`` / ``--resume DIR`` stop and
continue it bit for bit::

    loop = zoo.TrainLoop(config)
    batches = zoo.EpochBatches(len(x), 100, seed=config.seed)
    loss_of = loop.parallel(model.loss)                 # DDP over model.loss when N > 1
    for step in loop.steps(total, {"model": model, "optimizer": opt, "batches": batches}):
        idx = loop.shard(batches(step))                 # this rank's rows of the global batch
        opt.zero_grad()
        loop.backward(loss_of(x[idx], y[idx]))          # gradient of the global batch's mean
        opt.step()

Every rank draws the same global batch (same seed) and takes its contiguous share; DDP averages the
gradients, and :meth:`TrainLoop.backward` weights each rank's mean by its share, so the update is that of
the one-process run (to float rounding). Layers that draw noise (dropout, sampled latents) draw it per rank,
as in any DDP run: equal in distribution, not bit for bit.

A training state is a folder written atomically (``zoo.atomic``): ``state.safetensors`` holds every tensor
(model, optimizer, wrappers, scheduler, data order), ``rng.safetensors`` each rank's random generators and
``state.json`` the rest (step, the run's settings, the non-tensor parts of each state dict). Nothing is
pickled; a folder killed half-written is never swapped in, so ``--resume`` finds the previous one.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import random
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo import atomic
from zoo.bars import progress
from zoo.errors import CheckpointError, DistributedError, RecipeError

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"
RNG_TENSORS = "rng.safetensors"
FORMAT = "kexue-zoo training state 1"
TIMEOUT_ENV = "ZOO_DIST_TIMEOUT"  # seconds a collective waits for a silent rank (default 300)
FAULT_ENV = "ZOO_FAULT"  # fault injection for the tests and docs/reliability.md: KIND:RANK:STEP


# -- the process group ---------------------------------------------------------------------------------


def world() -> tuple[int, int]:
    """``(rank, world_size)``: from torch.distributed, else torchrun's variables, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    """Whether this process logs and saves (rank 0, or no distributed run)."""
    return world()[0] == 0


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", 1)) > 1


def setup(device: str) -> str:
    """Join torchrun's process group if launched, and return this rank's device: gloo on CPU; on CUDA nccl
    for the gradients and gloo for the CPU tensors of the loop's own collectives (counts, generator states).

    Collectives time out after ``ZOO_DIST_TIMEOUT`` seconds (default 300), so a rank that dies ends the
    job with an error instead of a hang."""
    import torch.distributed as dist

    if not launched() or dist.is_initialized():
        return device
    local = int(os.environ.get("LOCAL_RANK", 0))
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, 300)))
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=timeout)
    return device


def explain(exc: BaseException) -> BaseException:
    """A collective's failure as a :class:`DistributedError` saying which peer went missing and why."""
    text = str(exc)
    rank, size = world()
    if "Timed out" in text or "timed out" in text:
        seconds = os.environ.get(TIMEOUT_ENV, "300")
        return DistributedError(
            f"rank {rank} of {size}: a collective waited {seconds} s ({TIMEOUT_ENV}) for a rank that stopped "
            f"answering; ending the job ({text.strip().splitlines()[0][:200]})"
        )
    if "Connection reset by peer" in text or "Connection closed by peer" in text:
        return DistributedError(
            f"rank {rank} of {size}: a peer closed its connection mid-collective (it died); ending the job"
        )
    return exc


def teardown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -- fault injection -----------------------------------------------------------------------------------


def fault(kind: str, step: int) -> None:
    """SIGKILL this process if ``ZOO_FAULT`` is ``KIND:RANK:STEP`` for this kind, rank and step.

    Kinds: ``step`` (killed before the step runs), ``checkpoint`` (killed mid-way through writing the
    state of ``step``) and ``hang`` (stops answering before the step: the other ranks' collectives time out).
    For the fault tests; documented in docs/reliability.md."""
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    try:
        want, rank, at = spec.split(":")
        hit = want == kind and int(rank) == world()[0] and int(at) == step
    except ValueError as exc:
        raise RecipeError(f"{FAULT_ENV}={spec!r}: expected KIND:RANK:STEP, e.g. step:1:20") from exc
    if hit and want == "hang":
        while True:
            time.sleep(3600)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)


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


def seed_ranks(seed: int, rank: int) -> None:
    """Seed Python's, NumPy's and torch's global generators for ``rank`` > 0 from the run's ``seed``."""
    from zoo.seeding import seed_everything

    seed_everything(seed + 1_000_003 * rank)


def agree(values: Mapping[str, Any]) -> None:
    """Check that every rank runs with the same ``values`` (a collective): a rank started by hand with
    another seed, data or ``--checkpoint-every`` would train wrongly or wait forever."""
    import hashlib

    import torch.distributed as dist

    text = json.dumps(values, sort_keys=True, default=str)
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")
    mine = torch.tensor([digest], dtype=torch.int64)
    every = [torch.empty_like(mine) for _ in range(world()[1])]
    dist.all_gather(every, mine)
    differ = [r for r, d in enumerate(every) if int(d) != digest]
    if differ:
        raise DistributedError(
            f"rank {world()[0]}: ranks {differ} run with other settings (name, data, seed, preset, options, "
            f"--checkpoint-every, --resume) than this one: {text[:300]}; start every rank with one command"
        )


# -- the loop ------------------------------------------------------------------------------------------


class EpochBatches:
    """The global batch of each step: shuffled passes over ``range(n)``, reproducible and resumable.

    ``batches(step)`` returns the indices (LongTensor ``(batch_size,)``, shorter at an epoch's end unless
    ``drop_last``); each epoch's order is ``torch.randperm(n, generator=generator)`` drawn at its first step.
    Its state (the generator and the current order) goes into a training state like a module's."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        if n < 1 or batch_size < 1:
            raise RecipeError(f"cannot draw batches of {batch_size} from {n} examples")
        self.n, self.batch_size = n, batch_size
        self.generator = generator if generator is not None else torch.Generator().manual_seed(seed or 0)
        self.per_epoch = n // batch_size if drop_last else -(-n // batch_size)
        if self.per_epoch == 0:
            raise RecipeError(f"batch size {batch_size} is larger than the {n} examples (drop_last)")
        self.order = torch.empty(0, dtype=torch.long)

    def epoch_of(self, step: int) -> int:
        return step // self.per_epoch

    def __call__(self, step: int) -> Tensor:
        i = step % self.per_epoch
        if i == 0:
            self.order = torch.randperm(self.n, generator=self.generator)
        return self.order[i * self.batch_size : (i + 1) * self.batch_size]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        order = state["order"]
        shaped = isinstance(order, Tensor) and order.dtype == torch.long and order.dim() == 1
        if not shaped or sorted(order.tolist()) != (list(range(self.n)) if len(order) else []):
            raise ValueError(f"the saved order is not a permutation of range({self.n})")
        self.generator.set_state(state["generator"])
        self.order = order


class _Forward(torch.nn.Module):
    """A module whose forward is ``fn`` (a method of ``owner``, or a function of it): DDP synchronises the
    gradients of ``owner``'s parameters through a module's ``forward`` only."""

    def __init__(self, owner: torch.nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.owner, self.fn = owner, fn

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


class TrainLoop:
    """One run's steps: DDP when launched by torchrun, the rank's share of each batch, checkpoints.

    Built from the :class:`~zoo.TrainConfig` (its ``checkpoint_every``, ``checkpoint_dir`` and ``resume``)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.rank, self.size = world()
        self.every = int(getattr(config, "checkpoint_every", 0) or 0)
        self.directory: Path | None = getattr(config, "checkpoint_dir", None)
        self.resume: Path | None = getattr(config, "resume", None)
        self.run_record = settings(config)
        self._share = 1.0
        self._rows = 0.0
        self.start = 0
        if self.rank > 0:  # its own noise (dropout, sampled latents); rank 0 goes on as one process would
            seed_ranks(int(getattr(config, "seed", 0)), self.rank)

    def parallel(self, fn: Callable[..., Any], module: torch.nn.Module | None = None) -> Callable[..., Any]:
        """``fn`` synchronised by DDP when the run has several processes, ``fn`` itself otherwise.

        ``fn`` is a module, a bound method of one (``model.loss``), or any function of ``module``'s
        parameters (``lambda x: objective(model, x)`` with ``module=model``)."""
        if self.size == 1:
            return fn
        from torch.nn.parallel import DistributedDataParallel

        if isinstance(fn, torch.nn.Module):
            target = fn
        else:
            owner = module if module is not None else getattr(fn, "__self__", None)
            if not isinstance(owner, torch.nn.Module):
                raise RecipeError("TrainLoop.parallel takes a module, a bound method of one, or module=")
            target = _Forward(owner, fn)
        device = next(target.parameters()).device
        return DistributedDataParallel(target, device_ids=[device.index] if device.type == "cuda" else None)

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's contiguous share of a global batch (``batch`` itself in one process, and on every rank
        when it has fewer rows than there are ranks: each computes it all, with weight 1)."""
        if self.size == 1:
            return batch
        if len(batch) < self.size:  # too small to share (an epoch's last rows): every rank takes it all
            self._share, self._rows = 1.0, len(batch) / self.size
            return batch
        local = torch.tensor_split(batch, self.size)[self.rank]
        self._share = self.size * len(local) / len(batch)
        self._rows = float(len(local))
        return local

    def backward(self, loss: Tensor, count: Tensor | int | None = None) -> None:
        """``loss.backward()``, weighted so that DDP's average of the ranks' gradients is the gradient of
        the global batch's mean: by the rank's share of rows, or of ``count`` (e.g. its non-padding
        tokens, when ``loss`` is a mean over those)."""
        if self.size == 1:
            loss.backward()
            return
        share = self._share
        if count is not None:
            import torch.distributed as dist

            counts = torch.as_tensor(count, dtype=torch.float64).reshape(1).cpu()
            total = counts.clone()
            dist.all_reduce(total)
            share = self.size * counts.item() / max(total.item(), 1.0)
        (loss * share).backward()

    def item(self, loss: Tensor, count: Tensor | int | None = None) -> float:
        """The global batch's mean of ``loss`` (this rank's mean over its rows, or over ``count`` items) as
        a float, for logging: ``loss.item()`` in one process."""
        if self.size == 1:
            return loss.item()
        import torch.distributed as dist

        weight = float(torch.as_tensor(count).item()) if count is not None else (self._rows or 1.0)
        sums = torch.tensor([loss.item() * weight, weight], dtype=torch.float64)
        dist.all_reduce(sums)
        return (sums[0] / sums[1].clamp(min=1e-300)).item()

    def steps(self, total: int, state: Mapping[str, Any], desc: str = "") -> Iterator[int]:
        """Steps ``start .. total - 1`` with a progress bar on rank 0; ``start`` is 0, or the step of the
        ``--resume`` state (``state``'s objects are restored first). Every ``checkpoint_every`` steps
        the objects in ``state`` (model, optimizer, scheduler, :class:`EpochBatches`, generators, lists)
        and every rank's generators are saved. A loop whose number of steps is not known in advance calls
        :meth:`begin`, :meth:`check` and :meth:`done` itself."""
        start = self.begin(state, total)
        for step in progress(range(start, total), desc=desc, total=total, initial=start):
            self.check(step)
            yield step
            self.done(step + 1, state, total)

    def begin(self, state: Mapping[str, Any], total: int | None = None) -> int:
        """Restore ``state`` from ``--resume`` (if given) and return the step to continue at (else 0)."""
        if self.resume is not None:
            self.start = load_state(self.resume, state)
            if total is not None and self.start > total:
                raise CheckpointError(f"{self.resume} is at step {self.start}, past this run's {total} steps")
        if self.every and self.directory is None:
            raise RecipeError("checkpoint_every is set but no checkpoint_dir")
        if self.size > 1:
            agree({**self.run_record, "checkpoint_every": self.every, "start": self.start, "total": total})
        return self.start

    def check(self, step: int) -> None:
        """Before ``step`` runs: the ``ZOO_FAULT`` kinds ``step`` and ``hang``."""
        fault("step", step)
        fault("hang", step)

    def done(self, steps: int, state: Mapping[str, Any], total: int | None = None) -> None:
        """After ``steps`` steps: write the training state if one is due (with ``total``, never after the
        last step)."""
        if self.every and steps % self.every == 0 and (total is None or steps < total):
            assert self.directory is not None
            save_state(self.directory, steps, self.run_record, state)


class RankShards:
    """Tensors each rank keeps for its share of the batch, across steps (a recurrent net's hidden state):
    ``value`` is any nest of lists and tuples of tensors (or None) whose tensors split the batch along
    ``dim`` as :meth:`TrainLoop.shard` does. A training state holds them whole (gathered from every rank);
    on resume each rank takes its share again. The shares must have equal sizes."""

    def __init__(self, dim: int = 0, value: Any = None) -> None:
        self.dim, self.value = dim, value

    def _map(self, value: Any, fn: Callable[[Tensor], Tensor]) -> Any:
        if isinstance(value, Tensor):
            return fn(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self._map(v, fn) for v in value)
        return value

    def state_dict(self) -> dict[str, Any]:
        size = world()[1]
        if size == 1:
            return {"value": self.value}
        import torch.distributed as dist

        def gather(t: Tensor) -> Tensor:
            parts = [torch.empty_like(t) for _ in range(size)]
            dist.all_gather(parts, t.contiguous())
            return torch.cat(parts, self.dim)

        return {"value": self._map(self.value, gather)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        rank, size = world()
        self.value = self._map(state["value"], lambda t: torch.tensor_split(t, size, self.dim)[rank])
