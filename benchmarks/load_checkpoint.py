"""Loading a ~100M-parameter model from a local folder: zoo.load against the alternatives, in one run.

    python benchmarks/load_checkpoint.py [--repeat 5] [--layers 12] [--width 2048]

Compared, each followed by touching every weight (a sum over all parameters):
  zoo      zoo.load("local-dir:…")  (meta-device build + safetensors + assign + strict key check)
  bare     safetensors.torch.load_file + load_state_dict(assign=True) on a meta-built model
           (target: zoo <= 1.3x)
  pickle   torch.load of a torch.save'd state dict + a normal (randomly initialised) construction
           (target: zoo >= 20x faster)
Medians of --repeat runs; prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

import zoo


class Stack(nn.Module):
    """``layers`` square-ish Linear layers: about layers * width * 2 * width parameters."""

    def __init__(self, layers: int = 12, width: int = 2048) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(width, 2 * width) if i % 2 == 0 else nn.Linear(2 * width, width) for i in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class BenchPlugin:
    @zoo.hookimpl
    def zoo_register_models(self, register):  # type: ignore[no-untyped-def]
        register("bench-stack", Stack, summary="benchmark model")


def touch(model: nn.Module) -> float:
    return float(sum(p.detach().float().sum() for p in model.parameters()))


def timed(fn: Callable[[], nn.Module], repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):  # first run warms the page cache; dropped
        start = time.perf_counter()
        touch(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    zoo.register_plugin(BenchPlugin(), "bench")
    kwargs = {"layers": args.layers, "width": args.width}
    model = zoo.load("bench-stack", **kwargs)
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        folder = zoo.save(model, Path(tmp) / "ck")
        pickle_path = Path(tmp) / "state.pt"
        torch.save(model.state_dict(), pickle_path)
        del model

        def bare() -> nn.Module:
            with torch.device("meta"):
                m = Stack(**kwargs)
            m.load_state_dict(load_file(folder / "model.safetensors"), assign=True)
            return m

        def pickled() -> nn.Module:
            m = Stack(**kwargs)
            m.load_state_dict(torch.load(pickle_path, weights_only=True))
            return m

        seconds = {
            "zoo.load(local-dir)": timed(lambda: zoo.load(f"local-dir:{folder}"), args.repeat),
            "safetensors + assign (bare)": timed(bare, args.repeat),
            "torch.load + construction": timed(pickled, args.repeat),
        }
    zoo_s = seconds["zoo.load(local-dir)"]
    ratios = {
        "zoo / bare (target <= 1.3)": zoo_s / seconds["safetensors + assign (bare)"],
        "pickle / zoo (target >= 20)": seconds["torch.load + construction"] / zoo_s,
    }
    print(f"model: {n_params / 1e6:.1f}M parameters (float32, {n_params * 4 / 2**20:.0f} MiB)")
    for name, s in seconds.items():
        print(f"{name:30s} {s * 1000:9.1f} ms")
    for name, r in ratios.items():
        print(f"{name:30s} {r:9.2f}")
    print(
        json.dumps(
            {
                "params": n_params,
                "seconds": seconds,
                "ratios": ratios,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
