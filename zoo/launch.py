"""``zoo train NAME --nproc N``: start N ranks with PyTorch's own launcher (torch.distributed.run, i.e.
torchrun), each running ``python -m zoo train NAME ...``; a rank that fails ends the job with its error.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from typing import Any

from zoo.errors import DistributedError, ZooError


def torchrun_args(
    worker: Sequence[str],
    nproc: int,
    *,
    nnodes: int = 1,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
) -> list[str]:
    """torchrun's arguments for ``python -m zoo WORKER...`` on ``nproc`` processes per node.

    One node without an endpoint: ``--standalone``. Several: ``--rdzv-endpoint HOST:PORT`` on every node,
    with the c10d rendezvous (ranks assigned as nodes join), or with ``--node-rank R`` the static one
    (node R's ranks are R * nproc ...; HOST is node 0)."""
    if nproc < 1 or nnodes < 1:
        raise DistributedError(f"--nproc and --nnodes take numbers >= 1 (got {nproc}, {nnodes})")
    args = ["--nproc-per-node", str(nproc), "--nnodes", str(nnodes), "--max-restarts", "0"]
    if nnodes == 1 and rdzv_endpoint is None:
        args.append("--standalone")
    elif rdzv_endpoint is None:
        raise DistributedError(f"--nnodes {nnodes} needs --rdzv-endpoint HOST:PORT (the same on every node)")
    elif node_rank is None:
        args += ["--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint, "--rdzv-id", "zoo-train"]
    else:
        host, _, port = rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise DistributedError(f"--rdzv-endpoint takes HOST:PORT, got {rdzv_endpoint!r}")
        args += ["--node-rank", str(node_rank), "--master-addr", host, "--master-port", port]
    return [*args, "--module", "zoo", *worker]


def run(args: Sequence[str]) -> None:
    """Run torchrun with ``args``; a failed rank becomes a :class:`DistributedError` naming it."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    try:
        torchrun(get_args_parser().parse_args(list(args)))
    except SignalException as exc:  # Ctrl-C or a kill of the launcher: torchrun stopped the ranks
        if exc.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise DistributedError(f"the launcher got {exc.sigval.name}; its ranks were stopped") from None
    except ChildFailedError as exc:
        raise DistributedError(describe_failures(exc.failures)) from None
    except ZooError:
        raise
    except Exception as exc:  # the rendezvous: an endpoint that cannot be reached, a port in use
        raise DistributedError(f"the distributed run could not start: {type(exc).__name__}: {exc}") from exc


def describe_failures(failures: Mapping[int, Any]) -> str:
    """Which rank failed and how (exit code or signal, its error if it recorded one); the ranks torchrun
    then stopped (SIGTERM) are named after it."""
    failed, stopped = [], []
    for rank, failure in sorted(failures.items()):
        code = getattr(failure, "exitcode", None)
        if code == -signal.SIGTERM and len(failures) > 1:
            stopped.append(str(rank))
            continue
        how = f"was killed by {failure.signal_name()}" if code is not None and code < 0 else f"exited {code}"
        message = getattr(failure, "message", None)
        detail = message.get("message") if isinstance(message, dict) else message
        text = f"rank {rank} {how}"
        noise = ("<N/A>", "Signal", "To enable traceback")  # torchrun's text when a rank left no error file
        if detail and not any(n in str(detail) for n in noise):
            text += f" ({str(detail).strip().splitlines()[0][:400]})"
        failed.append(text)
    if not failed:  # every rank was stopped: an interrupt from outside
        failed, stopped = [f"ranks {', '.join(stopped)} were stopped (SIGTERM)"], []
    text = "the distributed run failed: " + "; ".join(failed)
    if stopped:
        text += f"; torchrun then stopped rank(s) {', '.join(stopped)}"
    return text + " (each rank's output is above; a failed rank ends the job, it is not restarted)"
