"""The rank's side of a distributed run: torchrun's process group, fault injection, per-rank seeds, and
the check that every rank runs the same settings. (The launcher's side is :mod:`zoo.launch`.)"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import torch

from zoo.errors import DistributedError, RecipeError
from zoo.seeding import seed_everything

TIMEOUT_ENV = "ZOO_DIST_TIMEOUT"  # seconds a collective waits for a silent rank (default 300)
FAULT_ENV = "ZOO_FAULT"  # fault injection for the tests and docs/training.md: KIND:RANK:STEP


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
    For the fault tests; documented in docs/training.md."""
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


def seed_ranks(seed: int, rank: int) -> None:
    """Seed Python's, NumPy's and torch's global generators for ``rank`` > 0 from the run's ``seed``."""
    seed_everything(seed + 1_000_003 * rank)


def agree(values: Mapping[str, Any]) -> None:
    """Check that every rank runs with the same ``values`` (a collective): a rank started by hand with
    another seed, data or ``--checkpoint-every`` would train wrongly or wait forever."""
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
