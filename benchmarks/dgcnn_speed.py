"""Speed of article 6671's DGCNN: the encoder vs a BiLSTM of the same width, and the full vs the lite model.

    python benchmarks/dgcnn_speed.py [--batch 64] [--length 128] [--dim 128] [--repeat 7] [--steps 2]
        [--threads 2] [--device auto] [--out docs/results/dgcnn_speed.json]

Encoder section, on one random batch ``(batch, length, dim)`` with no padding (so the LSTM needs no packing):

  dgcnn         zoo_dgcnn's DGCNNEncoder(dim): 12 gated dilated residual blocks, dilations [1,2,5]x3+[1,1,1]
  bilstm        torch.nn.LSTM(dim, dim // 2, bidirectional=True): output width dim (the same width)
  bilstm-wide   torch.nn.LSTM(dim, dim, bidirectional=True): dim units per direction, output width 2 dim
                (the BiLSTM(128) a Keras baseline of the article's era would use)

(``--lstm-layers`` > 1 stacks LSTM layers), each timed for a forward pass (eval mode, no autograd) and a
forward+backward pass (train mode, gradients of ``output.square().mean()`` w.r.t. the weights). The
issue's goal: DGCNN >= 3x the BiLSTM's sentences/s. The JSON also records each encoder's forward FLOPs per
character (2 x the weights it applies to each character): the DGCNN stack does about 12x the work of the
same-width BiLSTM and 4.5x that of the wide one, so on a CPU (no sequential bottleneck to win back) it cannot
be faster; the article's speed is a GPU one.

Model section, DGCNNExtractor with a 5000-character vocabulary and 50 predicates (DuIE's), lengths drawn
uniformly in [length/2, length] (real padding):

  full          the article's model: 12 blocks, interpolated-span BiGRU subject vector
  lite          the article's fast configuration: 6 blocks (dilations [1,2,5,1,2,5]), subject_encoder "gather"

each timed for a training step (loss, backward, Adam step) and for ``decode_batch``. An untrained model
finds no subjects, so decoding runs through a wrapper whose subject pointers are fixed to 2 subjects per
sentence after the real subject pass (both models then run the same object pass: 2 x batch subjects).

Candidates take turns within each repetition (order rotated every repetition); one measurement is the
mean of ``--steps`` calls; ``sentences_per_s`` is batch / the median over ``--repeat`` measurements and
``paired`` the median of per-repetition ratios. CUDA is used when present (``--device auto``), with
synchronisation around each timed call. Prints a table, then one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from zoo_dgcnn.decode import decode_batch
from zoo_dgcnn.layers import DGCNNEncoder
from zoo_dgcnn.model import DGCNNExtractor, Encoded

from zoo import recipes

VOCAB, PREDICATES, SUBJECTS_PER_SENTENCE = 5000, 50, 2
LITE = {"dilations": [1, 2, 5, 1, 2, 5], "subject_encoder": "gather"}
GOAL = 3.0


@dataclass
class Candidate:
    name: str
    run: Callable[[], Any]
    times: list[float] = field(default_factory=list)


def timed(fn: Callable[[], Any], steps: int, device: torch.device) -> float:
    """Mean seconds per call of ``fn`` over ``steps`` calls."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


class FixedSubjects(nn.Module):
    """Runs ``model``'s real subject pass, then reports fixed subject pointers (2 per sentence)."""

    def __init__(self, model: DGCNNExtractor) -> None:
        super().__init__()
        self.model = model

    def encode(self, chars: torch.Tensor, words: torch.Tensor | None = None) -> Encoded:
        return self.model.encode(chars, words)

    def subject_probs(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.model.subject_probs(enc)
        start, end = torch.zeros_like(start), torch.zeros_like(end)
        start[:, [0, 4]], end[:, [2, 6]] = 1.0, 1.0  # subjects (0, 2) and (4, 6) in every sentence
        return start, end

    def object_probs(
        self, enc: Encoded, subjects: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.object_probs(enc, subjects, rows)


def flops_per_character(module: nn.Module) -> int:
    """Forward multiply-adds x 2 per character: every weight of these encoders is used once per character
    (per direction for the LSTM; biases and gates' element-wise work not counted)."""
    return 2 * sum(p.numel() for name, p in module.named_parameters() if "weight" in name)


def encoder_candidates(args: argparse.Namespace, device: torch.device) -> list[Candidate]:
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.length, args.dim, device=device)
    mask = torch.ones(args.batch, args.length, dtype=torch.bool, device=device)
    dgcnn = DGCNNEncoder(args.dim).to(device)
    lstm = nn.LSTM(args.dim, args.dim // 2, args.lstm_layers, batch_first=True, bidirectional=True).to(device)
    wide = nn.LSTM(args.dim, args.dim, args.lstm_layers, batch_first=True, bidirectional=True).to(device)

    def forward(module: nn.Module, call: Callable[[], torch.Tensor]) -> Callable[[], Any]:
        def run() -> None:
            module.eval()
            with torch.inference_mode():
                call()

        return run

    def backward(module: nn.Module, call: Callable[[], torch.Tensor]) -> Callable[[], Any]:
        def run() -> None:
            module.train()
            module.zero_grad(set_to_none=True)
            call().square().mean().backward()

        return run

    def run_dgcnn() -> torch.Tensor:
        return dgcnn(x, mask)

    def run_lstm() -> torch.Tensor:
        return lstm(x)[0]

    def run_wide() -> torch.Tensor:
        return wide(x)[0]

    args.flops = {
        "dgcnn": flops_per_character(dgcnn),
        "bilstm": flops_per_character(lstm),
        "bilstm-wide": flops_per_character(wide),
    }
    return [
        Candidate("dgcnn forward", forward(dgcnn, run_dgcnn)),
        Candidate("bilstm forward", forward(lstm, run_lstm)),
        Candidate("bilstm-wide forward", forward(wide, run_wide)),
        Candidate("dgcnn forward+backward", backward(dgcnn, run_dgcnn)),
        Candidate("bilstm forward+backward", backward(lstm, run_lstm)),
        Candidate("bilstm-wide forward+backward", backward(wide, run_wide)),
    ]


def model_batch(args: argparse.Namespace, device: torch.device) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    b, n = args.batch, args.length
    lengths = torch.randint(n // 2, n + 1, (b,))
    real = torch.arange(n)[None, :] < lengths[:, None]
    chars = torch.randint(2, VOCAB, (b, n)) * real
    k1 = (torch.rand(b) * (lengths - 1)).long()
    k2 = torch.minimum(k1 + torch.randint(0, 5, (b,)), lengths - 1)
    sparse = lambda *shape: (torch.rand(*shape) < 0.02).float()  # noqa: E731
    out = {
        "chars": chars,
        "subjects": torch.stack([k1, k2], dim=1),
        "sub_start_t": sparse(b, n),
        "sub_end_t": sparse(b, n),
        "obj_start_t": sparse(b, n, PREDICATES),
        "obj_end_t": sparse(b, n, PREDICATES),
    }
    return {k: v.to(device) for k, v in out.items()}


def model_candidates(args: argparse.Namespace, device: torch.device) -> list[Candidate]:
    data = model_batch(args, device)
    cands = []
    for name, extra in [("full", {}), ("lite", LITE)]:
        torch.manual_seed(0)
        model = DGCNNExtractor(vocab_size=VOCAB, num_predicates=PREDICATES, dim=args.dim, **extra).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model: DGCNNExtractor = model, optimizer: torch.optim.Optimizer = optimizer) -> None:
            model.train()
            optimizer.zero_grad(set_to_none=True)
            model.loss(**data)["loss"].backward()
            optimizer.step()

        wrapper = FixedSubjects(model)

        def decode(wrapper: FixedSubjects = wrapper) -> None:
            decode_batch(wrapper, data["chars"])

        cands += [Candidate(f"{name} train step", step), Candidate(f"{name} decode_batch", decode)]
    return cands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--lstm-layers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (medians over them)")
    parser.add_argument("--steps", type=int, default=2, help="calls per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on CPU")
    parser.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    parser.add_argument("--out", help="also write the JSON result to this file")
    args = parser.parse_args()
    if args.length < 8 or args.repeat < 1 or args.steps < 1:
        parser.error("--length must be >= 8 (two fixed subjects fit), --repeat and --steps >= 1")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    cands = encoder_candidates(args, device) + model_candidates(args, device)
    for c in cands:
        timed(c.run, 1, device)  # warm-up
    print(f"batch {args.batch} x length {args.length}, dim {args.dim}, {device}, torch {torch.__version__}, ")
    print(f"{torch.get_num_threads()} threads; {args.repeat} repetitions x {args.steps} calls per candidate")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for rep in range(args.repeat):
        shift = rep % len(cands)
        for c in cands[shift:] + cands[:shift]:
            c.times.append(timed(c.run, args.steps, device))
    elapsed = time.perf_counter() - started
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}

    series = {c.name: c.times for c in cands}
    ms = {name: 1e3 * statistics.median(ts) for name, ts in series.items()}
    per_s = {name: args.batch / (t / 1e3) for name, t in ms.items()}

    def paired(fast: str, slow: str) -> float:
        """How many times faster ``fast`` is than ``slow`` (median of per-repetition time ratios)."""
        return statistics.median(s / f for f, s in zip(series[fast], series[slow], strict=True))

    speedups = {
        "dgcnn vs bilstm, forward": paired("dgcnn forward", "bilstm forward"),
        "dgcnn vs bilstm, forward+backward": paired("dgcnn forward+backward", "bilstm forward+backward"),
        "dgcnn vs bilstm-wide, forward": paired("dgcnn forward", "bilstm-wide forward"),
        "dgcnn vs bilstm-wide, forward+backward": paired(
            "dgcnn forward+backward", "bilstm-wide forward+backward"
        ),
        "lite vs full, train step": paired("lite train step", "full train step"),
        "lite vs full, decode_batch": paired("lite decode_batch", "full decode_batch"),
    }
    print(f"\n{'candidate':26s} {'ms/call':>9s} {'sentences/s':>12s}")
    for name in series:
        print(f"{name:26s} {ms[name]:9.1f} {per_s[name]:12.1f}")
    print()
    for what, r in speedups.items():
        print(f"{what:40s} {r:6.2f}x")
    goal_ratios = [r for what, r in speedups.items() if what.startswith("dgcnn vs bilstm")]
    met = all(r >= GOAL for r in goal_ratios)
    print("forward FLOPs per character: " + ", ".join(f"{k} {v:,}" for k, v in args.flops.items()))
    print(f"goal: DGCNN >= {GOAL}x each BiLSTM's sentences/s: {'met' if met else 'MISSED'}")
    print(
        f"timed section {elapsed:.0f} s; 1-minute load average {load['before']} before, {load['after']} after"
    )

    result = {
        "benchmark": "dgcnn_speed",
        "command": " ".join(["python", "benchmarks/dgcnn_speed.py", *sys.argv[1:]]),
        "setup": {
            "batch": args.batch,
            "length": args.length,
            "dim": args.dim,
            "device": str(device),
            "encoder": "DGCNNEncoder(dim), dilations [1,2,5]x3+[1,1,1]",
            "bilstm": f"nn.LSTM({args.dim}, {args.dim // 2}, {args.lstm_layers} layer(s), bidirectional)",
            "bilstm-wide": f"nn.LSTM({args.dim}, {args.dim}, {args.lstm_layers} layer(s), bidirectional)",
            "full": f"DGCNNExtractor(vocab_size={VOCAB}, num_predicates={PREDICATES}, dim={args.dim})",
            "lite": f"the same with {LITE}",
            "decode": f"{SUBJECTS_PER_SENTENCE} fixed subjects per sentence after the real subject pass",
            "model_lengths": f"uniform in [{args.length // 2}, {args.length}]",
        },
        "encoder_flops_per_character": args.flops,
        "repeat": args.repeat,
        "calls_per_measurement": args.steps,
        "ms_per_call": {k: round(v, 2) for k, v in ms.items()},
        "sentences_per_s": {k: round(v, 1) for k, v in per_s.items()},
        "speedup_paired": {k: round(v, 3) for k, v in speedups.items()},
        "goal": {"dgcnn_vs_bilstm_min": GOAL, "met": met},
        "machine": recipes.machine(),
        "load_average_1min": load,
        "torch": torch.__version__,
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
