"""Step time of the article-7094 derived optimizers around torch's fused Adam, vs the bare fused Adam.

    python benchmarks/derived_optim_step.py [--repeat 9] [--steps 20] [--warmup 20] [--sparsity 0.9]
        [--threads 2] [--out docs/results/derived_optim_step.json]

Model: 4 x nn.Linear(1600, 1600), float32, CPU (10.25M parameters). Every candidate owns a copy of the
same weights and fixed random gradients, set once (step time only: no forward/backward). The wrappers are
built as the registry entries build them (``zoo_derived_optim.stack``'s factories: the inner Adam gets
torch's fastest implementation, fused on CPU). Compared:

  adam fused                 torch.optim.Adam(fused=True): the baseline (ratio 1)
  adamw fused                torch.optim.AdamW(weight_decay=0.01, fused=True): weight decay's baseline
  adam fused (sparse grads)  the same Adam on the row-sparse gradients the lazy candidate gets
  adam foreach (ref.)        torch.optim.Adam(foreach=True), a reference (the previous baseline)
  adamw foreach (ref.)       torch.optim.AdamW(weight_decay=0.01, foreach=True), a reference
  weight_decay               weight-decay entry, rate 0.01, i.e. AdamW   (goal <= 1.1x adamw fused)
  accumulation k=4           gradient-accumulation entry, steps=4: per micro-step, and per update
                             (goal <= 1.05x adam fused per update)
  lookahead k=5              lookahead entry, k=5, alpha=0.5              (goal <= 1.2x adam fused)
  lamb stack                 lamb entry, weight_decay 0.01, eps 1e-6      (goal <= 2.0x adam fused, and
                             <= 0.35x pytorch-optimizer's Lamb)
  lamb stack (foreach inner, ref.)  the same with fused=False, foreach=True (what the entry gave before)
  lazy (params)              lazy-optimization entry, include the 4 weights; its gradients have --sparsity
                             (90%) of the weight rows zeroed, the rows an embedding batch leaves untouched
                             (same rows every step)       (goal <= 1.5x adam fused on the same gradients)
  ema                        ema entry, momentum 0.999                    (goal <= 1.3x adam fused)
  po lookahead k=5           pytorch_optimizer.Lookahead around the same fused Adam
  po lamb                    pytorch_optimizer.Lamb(weight_decay=0.01, foreach=True), its fastest path

The pytorch-optimizer rows are skipped, with a message, when the package (PyPI ``pytorch-optimizer``) is
not installed. One measurement is the mean time of ``--steps`` consecutive ``step()`` calls, a multiple of
20, so it spans whole cycles of both Lookahead (k=5: its sync step counts) and accumulation (k=4: its
update counts). Candidates take turns within each repetition (order rotated every repetition) so drift
hits all alike; ``ms/step`` is the median over ``--repeat`` repetitions of each mean, ``ratio`` divides it
by fused Adam's, ``paired`` is the median of the per-repetition ratios (robust to slow drift). A goal is
judged on the paired ratio against its own baseline. At each update GradientAccumulation's fused inner Adam
divides ``p.grad`` (its accumulator) by k in place, so the gradients are restored after each update,
outside the timed region. The 1-minute load average before and after the timed section is recorded (the
machine may be shared: run it when the load is below the thread count). Prints a table, then one JSON
object last.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim import Adam, AdamW, Optimizer
from zoo_derived_optim import stack as entries

from zoo import recipes

try:
    import pytorch_optimizer
except ImportError:  # the comparison rows are skipped
    pytorch_optimizer = None

WIDTH, LAYERS, LR, DECAY, ACC_K = 1600, 4, 1e-3, 0.01, 4
CYCLE = 20  # lcm of Lookahead's k=5 and accumulation's k=4
BASELINE = "adam fused"
PER_UPDATE = "accumulation k=4, per update"
# goal row -> (its baseline row, the most its time may be, as a multiple of the baseline's)
GOALS = {
    "weight_decay": ("adamw fused", 1.1),
    PER_UPDATE: (BASELINE, 1.05),
    "lookahead k=5": (BASELINE, 1.2),
    "ema": (BASELINE, 1.3),
    "lamb stack": (BASELINE, 2.0),
    "lamb stack vs po lamb": ("po lamb", 0.35),
    "lazy (params)": ("adam fused (sparse grads)", 1.5),
}
VERSUS = {"lookahead": ("lookahead k=5", "po lookahead k=5"), "lamb": ("lamb stack", "po lamb")}

Named = list[tuple[str, nn.Parameter]]
Tensors = dict[str, torch.Tensor]
INNER = {"lr": LR}  # the inner Adam's options (its implementation: the entries' default)


def adam_fused(params: Named) -> Adam:
    return Adam(params, lr=LR, fused=True)


def lamb_stack(params: Named, **impl: bool) -> Optimizer:
    return entries.lamb(params, lr=LR, weight_decay=DECAY, **impl)  # eps 1e-6, as pytorch_optimizer's


def po_lamb(params: Named) -> Optimizer:
    return pytorch_optimizer.Lamb([p for _, p in params], lr=LR, weight_decay=DECAY, foreach=True)


def new_model() -> nn.Sequential:
    return nn.Sequential(*(nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)))


@dataclass
class Candidate:
    """One optimizer under test, with its own parameters and fixed gradients."""

    name: str
    build: Callable[[Named], Optimizer]
    sparse: bool = False  # row-sparse gradients
    period: int = 1  # step() calls per update (accumulation)
    times: list[float] = field(default_factory=list)  # mean seconds per step(), one per repetition
    optimizer: Optimizer = field(init=False)
    params: list[nn.Parameter] = field(init=False)
    grads: list[torch.Tensor] = field(init=False)

    def setup(self, weights: Tensors, grads: Tensors) -> None:
        model = new_model()
        model.load_state_dict(weights)
        named = list(model.named_parameters())
        self.params = [p for _, p in named]
        self.grads = [grads[n] for n, _ in named]
        for p, g in zip(self.params, self.grads, strict=True):
            p.grad = g.clone()
        self.optimizer = self.build(named)

    def run(self, steps: int) -> float:
        """Mean seconds per ``step()`` over ``steps`` calls (gradient restores are not timed)."""
        total = 0.0
        for i in range(steps):
            start = time.perf_counter()
            self.optimizer.step()
            total += time.perf_counter() - start
            if self.period > 1 and (i + 1) % self.period == 0:
                for p, g in zip(self.params, self.grads, strict=True):
                    p.grad.copy_(g)  # type: ignore[union-attr]
        return total / steps


def fixed_tensors(sparsity: float) -> tuple[Tensors, Tensors, Tensors]:
    """Initial weights, dense gradients, and those gradients with ``sparsity`` of the weight rows zeroed."""
    torch.manual_seed(0)
    weights = new_model().state_dict()
    dense = {n: torch.randn_like(w) * 1e-2 for n, w in weights.items()}
    sparse = {}
    for n, g in dense.items():
        g = g.clone()
        if n.endswith("weight"):
            g[torch.randperm(g.shape[0])[: round(sparsity * g.shape[0])]] = 0.0
        sparse[n] = g
    return weights, dense, sparse


def candidates() -> list[Candidate]:
    ours = [
        Candidate(BASELINE, adam_fused),
        Candidate("adamw fused", lambda ps: AdamW(ps, lr=LR, weight_decay=DECAY, fused=True)),
        Candidate("adam fused (sparse grads)", adam_fused, sparse=True),
        Candidate("adam foreach (ref.)", lambda ps: Adam(ps, lr=LR, foreach=True)),
        Candidate("adamw foreach (ref.)", lambda ps: AdamW(ps, lr=LR, weight_decay=DECAY, foreach=True)),
        Candidate("weight_decay", lambda ps: entries.weight_decay(ps, inner_options=INNER, rate=DECAY)),
        Candidate(
            "accumulation k=4",
            lambda ps: entries.gradient_accumulation(ps, inner_options=INNER, steps=ACC_K),
            period=ACC_K,
        ),
        Candidate("lookahead k=5", lambda ps: entries.lookahead(ps, inner_options=INNER, k=5, alpha=0.5)),
        Candidate("lamb stack", lamb_stack),
        Candidate("lamb stack (foreach inner, ref.)", lambda ps: lamb_stack(ps, fused=False, foreach=True)),
        Candidate(
            "lazy (params)",
            lambda ps: entries.lazy(ps, inner_options=INNER, include=[r"weight$"]),
            sparse=True,
        ),
        Candidate("ema", lambda ps: entries.ema(ps, inner_options=INNER, momentum=0.999)),
    ]
    if pytorch_optimizer is None:
        print("pytorch-optimizer is not installed (pip install pytorch-optimizer): its rows are skipped")
        return ours
    return [
        *ours,
        Candidate("po lookahead k=5", lambda ps: pytorch_optimizer.Lookahead(adam_fused(ps), k=5, alpha=0.5)),
        Candidate("po lamb", po_lamb),
    ]


def judge(ratio: float, noise: float = 0.03) -> str:
    """ours / theirs, judged against this machine's run-to-run noise (about ±3% on medians)."""
    if ratio < 1 - noise:
        return "ours faster"
    return "a tie within noise" if ratio <= 1 + noise else "ours slower"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--repeat", type=int, default=9, help="repetitions (the median is taken over them)")
    parser.add_argument("--steps", type=int, default=CYCLE, help="step() calls per measurement (x20)")
    parser.add_argument("--warmup", type=int, default=CYCLE, help="untimed step() calls first (x20)")
    parser.add_argument(
        "--sparsity", type=float, default=0.9, help="share of weight-gradient rows zeroed (lazy)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (the issue: 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.steps <= 0 or args.steps % CYCLE or args.warmup % CYCLE or args.repeat < 1:
        parser.error(f"--steps (> 0) and --warmup must be multiples of {CYCLE}; --repeat >= 1")

    weights, dense, sparse = fixed_tensors(args.sparsity)
    cands = candidates()
    for c in cands:
        c.setup(weights, sparse if c.sparse else dense)
        if args.warmup:
            c.run(args.warmup)
    n_params = sum(w.numel() for w in weights.values())
    print(
        f"{n_params / 1e6:.2f}M parameters (float32, CPU), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.repeat} repetitions x {args.steps} steps per candidate"
    )

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for rep in range(args.repeat):
        shift = rep % len(cands)
        for c in cands[shift:] + cands[:shift]:
            c.times.append(c.run(args.steps))
    elapsed = time.perf_counter() - started
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}

    series = {c.name: c.times for c in cands}
    series[PER_UPDATE] = [ACC_K * t for t in series["accumulation k=4"]]
    ms = {name: 1e3 * statistics.median(ts) for name, ts in series.items()}

    def paired(name: str, base: str) -> float:
        return statistics.median(t / b for t, b in zip(series[name], series[base], strict=True))

    ratio = {name: t / ms[BASELINE] for name, t in ms.items()}
    paired_ratio = {name: paired(name, BASELINE) for name in series}
    goals = {}
    for goal, (base, most) in GOALS.items():
        row = goal.removesuffix(" vs po lamb")
        if base in series:
            r = paired(row, base)
            goals[goal] = {"versus": base, "max_ratio": most, "paired_ratio": round(r, 4), "met": r <= most}
    versus = {what: ms[a] / ms[b] for what, (a, b) in VERSUS.items() if b in ms}

    print(f"\n{'optimizer':34s} {'ms/step':>8s} {'ratio':>7s} {'paired':>7s}")
    for name in series:
        print(f"{name:34s} {ms[name]:8.2f} {ratio[name]:6.3f}x {paired_ratio[name]:6.3f}x")
    print(f"(ratios against {BASELINE}; the per-update row is ms per update = 4 step() calls)\n")
    for goal, g in goals.items():
        verdict = "met" if g["met"] else "MISSED"
        print(
            f"goal {goal:28s} {g['paired_ratio']:6.3f}x {g['versus']:26s} <= {g['max_ratio']:.2f}x: {verdict}"
        )
    for what, r in versus.items():
        print(f"{what}: ours / pytorch_optimizer = {r:.3f} ({judge(r)})")
    print(
        f"timed section {elapsed:.0f} s; 1-minute load average {load['before']} before, {load['after']} after"
    )

    result = {
        "benchmark": "derived_optim_step",
        "command": "python benchmarks/derived_optim_step.py --out docs/results/derived_optim_step.json",
        "model": f"{LAYERS} x nn.Linear({WIDTH}, {WIDTH}), float32, CPU, {n_params} parameters",
        "baseline": "torch.optim.Adam(fused=True)",
        "repeat": args.repeat,
        "steps_per_measurement": args.steps,
        "warmup_steps": args.warmup,
        "lazy_row_sparsity": args.sparsity,
        "ms_per_step": {k: round(v, 3) for k, v in ms.items()},
        "ratio_vs_adam": {k: round(v, 4) for k, v in ratio.items()},
        "paired_ratio_vs_adam": {k: round(v, 4) for k, v in paired_ratio.items()},
        "goals": goals,
        "ours_vs_pytorch_optimizer": {
            k: {"ratio": round(v, 4), "verdict": judge(v)} for k, v in versus.items()
        },
        "machine": recipes.machine(),
        "load_average_1min": load,
        "torch": torch.__version__,
        "pytorch_optimizer": None
        if pytorch_optimizer is None
        else importlib.metadata.version("pytorch_optimizer"),
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
