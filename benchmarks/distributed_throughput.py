"""Throughput of ``zoo train --nproc 1`` vs ``--nproc 2`` (DDP, gloo on CPU; nccl with --device cuda).

    python benchmarks/distributed_throughput.py [--repeat 2] [--device cpu]
        [--out docs/results/distributed_throughput.json]

Cases (the same global batch in both runs; the two commands take turns, order swapped every repetition):

  example-mlp          --preset cpu: 1,500 steps of batch 128 through a 3-layer MLP of width 64 (tiny
                       steps: the all-reduce of each step dominates)
  vib-mnist.baseline   --preset cpu --option epochs=1: 500 steps of batch 100 through the 784-1024-1024-10
                       MLP on 50,000 MNIST images (Adam inside the ema wrapper)

Each run is a real ``python -m zoo train`` subprocess. ``--nproc 1`` runs with torch's default threads
(one per core); ``--nproc 2`` under torchrun, which gives each rank ``OMP_NUM_THREADS=1`` — what a user of
each command gets. Reported: ``train_s``, the recipe's training + final evaluation (``wall_time_s`` of
results.json; no interpreter start), ``total_s`` the whole command, and ``speedup`` = median over
repetitions of train_s(nproc 1) / train_s(nproc 2). Prints a table, then one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zoo import recipes

CASES: dict[str, list[str]] = {
    "example-mlp": ["--preset", "cpu"],
    "vib-mnist.baseline": ["--preset", "cpu", "--option", "epochs=1"],
}


def run(name: str, args: list[str], nproc: int, device: str, out: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "zoo", "train", name, *args, "--device", device, "--out", str(out)]
    if nproc > 1:
        argv += ["--nproc", str(nproc)]
    env = {**os.environ, "ZOO_PROGRESS": "0"}
    env.pop("OMP_NUM_THREADS", None)  # torch's default for one process, torchrun's 1 per rank for two
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = time.perf_counter() - start
    record = json.loads((out / "results.json").read_text())
    return {"train_s": record["wall_time_s"], "total_s": round(total, 2), "metrics": record["metrics"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            times: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
            for rep in range(args.repeat):
                for nproc in (1, 2) if rep % 2 == 0 else (2, 1):
                    times[nproc].append(
                        run(name, CASES[name], nproc, args.device, Path(tmp) / f"{name}-{nproc}")
                    )
            speedups = [a["train_s"] / b["train_s"] for a, b in zip(times[1], times[2], strict=True)]
            results.append(
                {
                    "recipe": name,
                    "args": CASES[name],
                    "nproc_1": {
                        "train_s": statistics.median(t["train_s"] for t in times[1]),
                        "total_s": statistics.median(t["total_s"] for t in times[1]),
                        "metrics": times[1][-1]["metrics"],
                    },
                    "nproc_2": {
                        "train_s": statistics.median(t["train_s"] for t in times[2]),
                        "total_s": statistics.median(t["total_s"] for t in times[2]),
                        "metrics": times[2][-1]["metrics"],
                    },
                    "speedup": round(statistics.median(speedups), 3),
                }
            )
    print(f"{'recipe':<20} {'nproc 1 (s)':>12} {'nproc 2 (s)':>12} {'speedup':>8}")
    for r in results:
        one, two = r["nproc_1"]["train_s"], r["nproc_2"]["train_s"]
        print(f"{r['recipe']:<20} {one:>12.2f} {two:>12.2f} {r['speedup']:>8.2f}")
    report = {
        "command": shlex.join(["python", "benchmarks/distributed_throughput.py", *sys.argv[1:]]),
        "device": args.device,
        "repeat": args.repeat,
        "machine": recipes.machine(),
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
