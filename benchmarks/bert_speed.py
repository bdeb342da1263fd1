"""Speed of the shared BERT encoder (zoo.nn.BertEncoder) vs transformers.BertModel on the same weights.

    python benchmarks/bert_speed.py [--repeat 7] [--threads 1] [--device auto] [--configs project,minilm]
        [--min-time 0.3] [--out docs/results/bert_speed.json]

Both models use :func:`torch.nn.functional.scaled_dot_product_attention` (transformers with
``attn_implementation="sdpa"``, no pooler) and hold the same random weights (ours exported with
``zoo.nn.hf_bert.hf_state_dict``); the script first checks that their hidden states agree on a padded
batch (``max_abs_diff`` in the JSON). Configs:

  project   4 layers, hidden 256, 4 heads, intermediate 1024, vocabulary 21128 (this project's CLN backbone)
  minilm    MiniLM-L6-H384: 6 layers, hidden 384, 12 heads, intermediate 1536, vocabulary 30522

Cases, at sequence length 128 (``--length``), with padding in half the rows of a batch of 32 (those rows
hold between length/2 and length-1 real tokens; our encoder gets ``ids`` with pad id 0, transformers the
matching ``attention_mask``):

  train b32   forward + backward of ``hidden.square().mean()`` in train mode (dropout 0.1 on in both)
  infer b1    forward, eval mode, no autograd, one full-length unpadded row
  infer b32   forward, eval mode, no autograd, the padded batch of 32

The two models take turns within each repetition (order swapped every repetition); one measurement is the
mean over as many calls as fill ``--min-time`` seconds (fixed per case after the warm-up);
``ratio`` is the median over repetitions of ours/transformers time (goal <= 1.0). Prints a table, then one
JSON object last.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo import recipes
from zoo.nn import BertConfig, BertEncoder
from zoo.nn.hf_bert import hf_state_dict

CONFIGS: dict[str, dict[str, Any]] = {
    "project": {
        "vocab_size": 21128,
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
    },
    "minilm": {
        "vocab_size": 30522,
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
    },
}
GOAL = 1.0
BATCH = 32


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], calls: int, device: torch.device) -> float:
    """Mean seconds per call of ``fn`` over ``calls`` calls."""
    sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync(device)
    return (time.perf_counter() - start) / calls


def build(name: str, device: torch.device) -> tuple[BertEncoder, nn.Module, float]:
    """Our encoder and a transformers BertModel with the same weights, and their max |difference| of hidden
    states (eval mode, float32) on a padded batch."""
    import transformers

    sizes = {**CONFIGS[name], "max_position_embeddings": 512, "type_vocab_size": 2}
    torch.manual_seed(0)
    ours = BertEncoder(BertConfig(**sizes)).to(device)
    hf_config = transformers.BertConfig(**sizes, attn_implementation="sdpa")
    theirs = transformers.BertModel(hf_config, add_pooling_layer=False).to(device)
    missing, unexpected = theirs.load_state_dict(hf_state_dict(ours), strict=False)
    buffers = {n for n, _ in theirs.named_buffers()}
    if unexpected or set(missing) - buffers:
        raise RuntimeError(f"weights did not map: missing {missing}, unexpected {unexpected}")
    if theirs.config._attn_implementation != "sdpa":
        raise RuntimeError(f"transformers chose {theirs.config._attn_implementation!r}, not sdpa")
    ids, mask = batch(BATCH, 128, CONFIGS[name]["vocab_size"], device)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        a = ours(ids)
        b = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    return ours, theirs, float((a - b)[real].abs().max())


def batch(size: int, length: int, vocab: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``ids (size, length)`` with pad id 0 and transformers' ``attention_mask`` (1 = real): the second half
    of the rows is padded (lengths uniform in [length/2, length - 1]), the first half is full."""
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab, (size, length), generator=gen)
    lengths = torch.full((size,), length)
    padded = size // 2
    lengths[size - padded :] = torch.randint(length // 2, length, (padded,), generator=gen)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return (ids * mask).to(device), mask.to(device)


def cases(
    ours: BertEncoder, theirs: nn.Module, name: str, length: int, device: torch.device
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """``case -> (ours, transformers)`` callables."""
    vocab = CONFIGS[name]["vocab_size"]
    ids32, mask32 = batch(BATCH, length, vocab, device)
    ids1, mask1 = batch(1, length, vocab, device)  # one row: unpadded

    def train(model: nn.Module, call: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            model.train()
            model.zero_grad(set_to_none=True)
            call().square().mean().backward()

        return run

    def infer(model: nn.Module, call: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            model.eval()
            with torch.no_grad():
                call()

        return run

    def hf(ids: torch.Tensor, mask: torch.Tensor) -> Callable[[], torch.Tensor]:
        return lambda: theirs(input_ids=ids, attention_mask=mask).last_hidden_state

    return {
        f"{name} train b{BATCH}": (train(ours, lambda: ours(ids32)), train(theirs, hf(ids32, mask32))),
        f"{name} infer b1": (infer(ours, lambda: ours(ids1)), infer(theirs, hf(ids1, mask1))),
        f"{name} infer b{BATCH}": (infer(ours, lambda: ours(ids32)), infer(theirs, hf(ids32, mask32))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="project,minilm", help=f"comma-separated, of {list(CONFIGS)}")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (medians over them)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds one measurement lasts at least")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads on CPU")
    parser.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    parser.add_argument("--out", help="also write the JSON result to this file")
    args = parser.parse_args()
    names = args.configs.split(",")
    if unknown := [n for n in names if n not in CONFIGS]:
        parser.error(f"--configs: unknown {unknown}; choose from {list(CONFIGS)}")
    if not 2 <= args.length <= 512 or args.repeat < 1 or args.min_time <= 0:
        parser.error("--length must be in [2, 512], --repeat >= 1, --min-time > 0")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    import transformers

    runs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
    diffs: dict[str, float] = {}
    for name in names:
        ours, theirs, diffs[name] = build(name, device)
        runs |= cases(ours, theirs, name, args.length, device)
    calls = {}
    for case, pair in runs.items():
        first = max(timed(fn, 1, device) for fn in pair)  # warm-up, and the size of one call
        calls[case] = max(1, math.ceil(args.min_time / max(first, 1e-6)))
    print(f"{device}, torch {torch.__version__}, transformers {transformers.__version__}, ", end="")
    print(f"{torch.get_num_threads()} threads, length {args.length}; {args.repeat} repetitions")
    print("hidden-state max |ours - transformers| (eval, real positions): " + str(diffs))

    times: dict[str, dict[str, list[float]]] = {case: {"ours": [], "transformers": []} for case in runs}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for rep in range(args.repeat):
        for case, (ours_fn, theirs_fn) in runs.items():
            order = [("ours", ours_fn), ("transformers", theirs_fn)]
            for who, fn in order if rep % 2 == 0 else order[::-1]:
                times[case][who].append(timed(fn, calls[case], device))
    elapsed = time.perf_counter() - started
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}

    results = {}
    print(f"\n{'case':22s} {'ours ms':>9s} {'transformers ms':>16s} {'ours/transformers':>18s}")
    for case, t in times.items():
        ratio = statistics.median(a / b for a, b in zip(t["ours"], t["transformers"], strict=True))
        results[case] = {
            "ours_ms": round(1e3 * statistics.median(t["ours"]), 3),
            "transformers_ms": round(1e3 * statistics.median(t["transformers"]), 3),
            "ratio": round(ratio, 3),
            "calls_per_measurement": calls[case],
        }
        r = results[case]
        print(f"{case:22s} {r['ours_ms']:9.2f} {r['transformers_ms']:16.2f} {r['ratio']:17.3f}x")
    met = all(r["ratio"] <= GOAL for r in results.values())
    print(f"goal: ours/transformers <= {GOAL} in every case: {'met' if met else 'MISSED'}")
    print(
        f"timed section {elapsed:.0f} s; 1-minute load average {load['before']} before, {load['after']} after"
    )

    result = {
        "benchmark": "bert_speed",
        "command": " ".join(["python", "benchmarks/bert_speed.py", *sys.argv[1:]]),
        "setup": {
            "configs": {n: CONFIGS[n] for n in names},
            "length": args.length,
            "batch": BATCH,
            "padding": f"rows {BATCH // 2}..{BATCH - 1} of the batch hold lengths uniform in "
            f"[{args.length // 2}, {args.length - 1}]; batch 1 is unpadded",
            "train": "forward + backward of hidden.square().mean(), train mode, dropout 0.1",
            "infer": "forward, eval mode, torch.no_grad",
            "transformers": 'BertModel(config, add_pooling_layer=False), attn_implementation="sdpa"',
            "ours": "zoo.nn.BertEncoder(BertConfig(...)), weights exported to transformers by hf_state_dict",
            "device": str(device),
        },
        "max_abs_diff_hidden": diffs,
        "repeat": args.repeat,
        "min_time_s": args.min_time,
        "cases": results,
        "goal": {"ratio_max": GOAL, "met": met},
        "machine": recipes.machine(),
        "load_average_1min": load,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
