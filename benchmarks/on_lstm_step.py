"""Training-step time (forward + backward) of the article-6621 ON-LSTM stack vs three nn.LSTM layers.

    python benchmarks/on_lstm_step.py [--repeat 7] [--threads 2] [--configs paper small] [--no-memory]
        [--out docs/results/on_lstm_step.json]

Configs (the issue's): paper = layers [400, 1150, 1150, 400], chunk 10, batch 20, length 70; small =
[128, 256, 256, 128], chunk 8, batch 32, length 35. float32. Candidates, each with its own weights:

  on-lstm (ours)     zoo_on_lstm.layers.ONLSTMStack: the default (fast) path, master_input "paper"
  nn.LSTM x3         three nn.LSTM layers of the same widths (on CPU torch runs oneDNN's fused RNN kernel)
  reference-style    a few-line transcription of yikangshen/Ordered-Neurons' loop: the input projection
                     per layer for the whole sequence, then one autograd cell step per time step

One measurement is one step: zero the gradients, forward the sequence from a zero state, sum the last
layer's outputs, backward. Candidates take turns within each repetition (order rotated each time) so load
drift hits all alike; ``ms`` is the median over ``--repeat`` repetitions (after one warm-up step), ``ratio``
divides medians by nn.LSTM's, ``paired`` is the median of the per-repetition ratios (robust to drift).
The goal (issue 13): ours <= 1.5x nn.LSTM at the paper config, never above 1.8x.

Peak memory (CPU): each candidate runs in a fresh subprocess: after building the model and the input and
one untimed step, the peak RSS is reset (Linux ``/proc/self/clear_refs``); we report the peak RSS over
three more training steps minus the RSS before them (``VmHWM - VmRSS``; ``ru_maxrss`` without procfs).
It includes the allocator's caching: what the step costs the machine, not an exact tensor count (memory
the allocator kept from the untimed step counts as "before", so it can understate). Exact and
noise-free: ``saved_for_backward``, the bytes of the distinct storages the autograd graph keeps between
forward and backward (saved-tensor hooks), i.e. the activation memory. On
CUDA: ``torch.cuda.max_memory_allocated`` over one step. CUDA timings (synchronised, same protocol) are
added when a GPU is present. Prints a table, then the JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_on_lstm.layers import ONLSTMStack

from zoo import recipes

CONFIGS: dict[str, dict[str, Any]] = {
    "paper": {"sizes": [400, 1150, 1150, 400], "chunk": 10, "batch": 20, "length": 70},
    "small": {"sizes": [128, 256, 256, 128], "chunk": 8, "batch": 32, "length": 35},
}
NAMES = ("on-lstm (ours)", "nn.LSTM x3", "reference-style")
BASELINE = "nn.LSTM x3"
GOAL = {"paper": (1.5, 1.8)}


class ReferenceStyle(nn.Module):
    """The reference's loop (Ordered-Neurons ON_LSTM.py), transcribed: per-step autograd ops."""

    def __init__(self, sizes: list[int], chunk: int) -> None:
        super().__init__()
        self.ih = nn.ModuleList(nn.Linear(i, 4 * h + 2 * h // chunk) for i, h in itertools.pairwise(sizes))
        self.hh = nn.ModuleList(nn.Linear(h, 4 * h + 2 * h // chunk) for h in sizes[1:])
        self.chunk = chunk

    def forward(self, x: Tensor) -> Tensor:
        for ih, hh in zip(self.ih, self.hh, strict=True):
            size = int(hh.in_features)  # type: ignore[arg-type]
            n = size // self.chunk
            proj, h, c, outs = (
                ih(x),
                x.new_zeros(x.shape[1], size),
                x.new_zeros(x.shape[1], n, self.chunk),
                [],
            )
            for t in range(x.shape[0]):
                g = proj[t] + hh(h)
                ci, cf = g[:, : 2 * n].chunk(2, 1)
                o, cell, i, f = g[:, 2 * n :].view(-1, 4 * n, self.chunk).chunk(4, 1)
                ci = (1.0 - torch.cumsum(F.softmax(ci, -1), -1))[:, :, None]
                cf = torch.cumsum(F.softmax(cf, -1), -1)[:, :, None]
                w = cf * ci
                c = (torch.sigmoid(f) * w + (cf - w)) * c + (torch.sigmoid(i) * w + (ci - w)) * torch.tanh(
                    cell
                )
                h = (torch.sigmoid(o) * torch.tanh(c)).view(-1, size)
                outs.append(h)
            x = torch.stack(outs)
        return x


class Ours(nn.Module):
    def __init__(self, sizes: list[int], chunk: int) -> None:
        super().__init__()
        self.stack = ONLSTMStack(sizes[0], sizes[1:], chunk)

    def forward(self, x: Tensor) -> Tensor:
        return self.stack(x).output


class Lstms(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.lstms = nn.ModuleList(nn.LSTM(i, h) for i, h in itertools.pairwise(sizes))

    def forward(self, x: Tensor) -> Tensor:
        for lstm in self.lstms:
            x, _ = lstm(x)
        return x


def build(name: str, cfg: dict, device: torch.device) -> nn.Module:
    sizes, chunk = cfg["sizes"], cfg["chunk"]
    if name == "on-lstm (ours)":
        return Ours(sizes, chunk).to(device)
    if name == "nn.LSTM x3":
        return Lstms(sizes).to(device)
    return ReferenceStyle(sizes, chunk).to(device)


def train_step(model: nn.Module, x: Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()


def time_configs(configs: list[str], repeat: int, device: torch.device) -> dict:
    out = {}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for cfg_name in configs:
        cfg = CONFIGS[cfg_name]
        torch.manual_seed(0)
        x = torch.randn(cfg["length"], cfg["batch"], cfg["sizes"][0], device=device)
        models = {name: build(name, cfg, device) for name in NAMES}
        times: dict[str, list[float]] = {name: [] for name in NAMES}
        for m in models.values():
            train_step(m, x)  # warm-up (kernel and weight-packing caches)
        sync()
        for rep in range(repeat):
            order = NAMES[rep % 3 :] + NAMES[: rep % 3]
            for name in order:
                start = time.perf_counter()
                train_step(models[name], x)
                sync()
                times[name].append(time.perf_counter() - start)
        ms = {n: 1e3 * statistics.median(t) for n, t in times.items()}
        paired = {
            n: statistics.median(a / b for a, b in zip(times[n], times[BASELINE], strict=True)) for n in NAMES
        }
        out[cfg_name] = {
            "config": cfg,
            "ms_per_step": {n: round(v, 2) for n, v in ms.items()},
            "ratio_vs_nn_lstm": {n: round(ms[n] / ms[BASELINE], 3) for n in NAMES},
            "paired_ratio_vs_nn_lstm": {n: round(v, 3) for n, v in paired.items()},
        }
        if cfg_name in GOAL:
            goal, limit = GOAL[cfg_name]
            r = paired["on-lstm (ours)"]
            out[cfg_name]["goal"] = {"max_ratio": goal, "never_above": limit, "paired_ratio": round(r, 3)}
            out[cfg_name]["goal"]["met"] = r <= goal
        print(f"\n{cfg_name} ({device.type}): {cfg}")
        for n in NAMES:
            print(f"  {n:18s} {ms[n]:9.1f} ms  ratio {ms[n] / ms[BASELINE]:5.2f}x  paired {paired[n]:5.2f}x")
    return out


def memory_child(name: str, cfg_name: str, threads: int) -> None:
    """Runs in a fresh process: prints the max-RSS growth (bytes) of three training steps."""
    torch.set_num_threads(threads)
    cfg = CONFIGS[cfg_name]
    torch.manual_seed(0)
    x = torch.randn(cfg["length"], cfg["batch"], cfg["sizes"][0])
    model = build(name, cfg, torch.device("cpu"))
    train_step(model, x)  # first step outside: lazily created caches (oneDNN primitives) are not the step
    model.zero_grad(set_to_none=True)
    status = Path("/proc/self/status")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak RSS (VmHWM) to the current RSS
        before = _status_kib(status, "VmRSS")
    except OSError:  # no procfs: the lifetime peak (it may hide the step's growth)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3):
        train_step(model, x)
    try:
        after = _status_kib(status, "VmHWM")
    except OSError:
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_growth_mib": round((after - before) / 1024, 1)}))


def ctx_tensors(root: object) -> list[Tensor]:
    """Tensors held as attributes of the custom autograd Functions' contexts in the graph below ``root``
    (saved-tensor hooks see only ``save_for_backward``)."""
    found: list[Tensor] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        values = list(getattr(node, "__dict__", {}).values())
        while values:
            v = values.pop()
            if isinstance(v, Tensor):
                found.append(v)
            elif isinstance(v, (tuple, list)):
                values.extend(v)
        stack.extend(fn for fn, _ in getattr(node, "next_functions", ()))
    return found


def saved_for_backward_mib(configs: list[str]) -> dict:
    """MiB of the distinct tensor storages the autograd graph keeps between forward and backward
    (``torch.autograd.graph.saved_tensors_hooks``): the activation memory of a training step, exact and
    free of allocator caching, plus the tensors a custom Function keeps on its ctx. Parameters are excluded
    (every candidate keeps its own weights anyway)."""
    out: dict[str, dict[str, float]] = {}
    for cfg_name in configs:
        cfg = CONFIGS[cfg_name]
        out[cfg_name] = {}
        for name in NAMES:
            torch.manual_seed(0)
            x = torch.randn(cfg["length"], cfg["batch"], cfg["sizes"][0])
            model = build(name, cfg, torch.device("cpu"))
            params = {p.untyped_storage().data_ptr() for p in model.parameters()}
            storages: dict[int, int] = {}

            def pack(t: Tensor, params: set[int] = params, storages: dict[int, int] = storages) -> Tensor:
                s = t.untyped_storage()
                if s.data_ptr() not in params and s.device.type != "meta":
                    storages[s.data_ptr()] = s.nbytes()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                loss = model(x).sum()
            for t in ctx_tensors(loss.grad_fn):  # a custom Function may keep buffers on its ctx
                pack(t)
            loss.backward()
            out[cfg_name][name] = round(sum(storages.values()) / 2**20, 1)
        print(f"saved for backward, MiB ({cfg_name}): {out[cfg_name]}")
    return out


def _status_kib(status: Path, key: str) -> int:
    for line in status.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(f"{key} not in {status}")


def memory(configs: list[str], threads: int) -> dict:
    out: dict[str, dict] = {}
    for cfg_name in configs:
        out[cfg_name] = {}
        for name in NAMES:
            cmd = [sys.executable, __file__, "--memory-child", name, cfg_name, "--threads", str(threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out[cfg_name][name] = json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_growth_mib"]
        print(f"peak RSS growth of a training step, MiB ({cfg_name}): {out[cfg_name]}")
    return out


def cuda_memory(configs: list[str]) -> dict:
    out: dict[str, dict] = {}
    for cfg_name in configs:
        cfg, out[cfg_name] = CONFIGS[cfg_name], {}
        x = torch.randn(cfg["length"], cfg["batch"], cfg["sizes"][0], device="cuda")
        for name in NAMES:
            model = build(name, cfg, torch.device("cuda"))
            train_step(model, x)
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            train_step(model, x)
            torch.cuda.synchronize()
            out[cfg_name][name] = round((torch.cuda.max_memory_allocated() - base) / 2**20, 1)
            del model
        print(f"CUDA peak memory of a training step, MiB ({cfg_name}): {out[cfg_name]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on CPU (the issue: 2)")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even when a GPU is present")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], args.threads)
        return
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    result: dict = {
        "benchmark": "on_lstm_step",
        "command": "python " + " ".join(["benchmarks/on_lstm_step.py", *sys.argv[1:]]),
        "what": "a training step: zero grads, forward from a zero state, sum of outputs, backward (float32)",
        "baseline": "3 x nn.LSTM of the same widths",
        "repeat": args.repeat,
        "threads": args.threads,
        "cpu": time_configs(args.configs, args.repeat, torch.device("cpu")),
    }
    if not args.no_memory:
        result["cpu_peak_memory"] = {
            "measure": "peak RSS during 3 training steps minus RSS before them (MiB), fresh process per row",
            "mib": memory(args.configs, args.threads),
        }
    result["saved_for_backward"] = {
        "measure": "MiB of distinct tensor storages autograd keeps for backward (activations; no parameters)",
        "mib": saved_for_backward_mib(args.configs),
    }
    if torch.cuda.is_available() and not args.cpu_only:
        result["cuda"] = time_configs(args.configs, args.repeat, torch.device("cuda"))
        result["cuda"]["device"] = torch.cuda.get_device_name()
        result["cuda_peak_memory"] = {
            "measure": "torch.cuda.max_memory_allocated over one step minus what was allocated before (MiB)",
            "mib": cuda_memory(args.configs),
        }
    else:
        result["cuda"] = None
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["load_average_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    result["machine"] = recipes.machine()
    result["torch"] = torch.__version__
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
