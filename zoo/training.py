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

Training states are :mod:`zoo.train_state`'s; the process group and fault injection :mod:`zoo.distributed`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.bars import progress
from zoo.distributed import agree, fault, seed_ranks, world
from zoo.errors import CheckpointError, RecipeError
from zoo.train_state import load_state, save_state, settings

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
