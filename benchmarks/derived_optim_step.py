"""Step time of the article-7094 derived optimizers around a foreach Adam, vs the bare foreach Adam.

    python benchmarks/derived_optim_step.py [--repeat 9] [--steps 20] [--warmup 20] [--sparsity 0.9]

Model: 4 x nn.Linear(1600, 1600), float32, CPU (10.25M parameters). Every candidate owns a copy of the
same weights and fixed random gradients, set once (step time only: no forward/backward). Compared:

  adam                      torch.optim.Adam(foreach=True): the baseline (ratio 1)
  adam (sparse grads)       the same on the row-sparse gradients the lazy candidate gets (a reference)
  adam fused (torch, ref.)  torch.optim.Adam(fused=True), a reference: not a wrapper's inner here
  adamw (torch, ref.)       torch.optim.AdamW(weight_decay=0.01, foreach=True)
  weight_decay              WeightDecay(adam, 0.01), i.e. AdamW          (goal <= 1.05x)
  accumulation k=4          GradientAccumulation(adam, 4): per micro-step, and per update (goal <= 1.05x)
  lookahead k=5             Lookahead(adam, k=5, alpha=0.5)             (goal <= 1.05x)
  lamb stack                stack("layer_adaptation+weight_decay+adam")  (goal <= 1.25x)
  lazy (params)             LazyOptimization(adam, include the 4 weights) (goal <= 1.3x); its gradients
                            have --sparsity (90%) of the weight rows zeroed, the rows an embedding batch
                            leaves untouched (same rows every step)
  ema                       EMA(adam, 0.999)                            (no goal)
  po lookahead k=5          pytorch_optimizer.Lookahead around the same foreach Adam (ours must be faster)
  po lamb                   pytorch_optimizer.Lamb(weight_decay=0.01, foreach=True) (ours must be faster)

One measurement is the mean time of ``--steps`` consecutive ``step()`` calls, a multiple of 20, so it
spans whole cycles of both Lookahead (k=5: its sync step counts) and accumulation (k=4: its update
counts). Candidates take turns within each repetition (order rotated every repetition) so drift hits
all alike; ``ms/step`` is the median over ``--repeat`` repetitions of each mean, ``ratio`` divides it by
adam's, ``paired`` is the median of the per-repetition ratios (robust to slow drift). GradientAccumulation
rescales ``p.grad`` in place by 1/k at each update (p.grad is its accumulator), so its gradients are
restored after each update, outside the timed region. Prints a table, then one JSON object last.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_optimizer
import torch
from torch import nn
from torch.optim import Adam, AdamW, Optimizer
from zoo_derived_optim.accumulation import GradientAccumulation
from zoo_derived_optim.ema import EMA
from zoo_derived_optim.lazy import LazyOptimization
from zoo_derived_optim.lookahead import Lookahead
from zoo_derived_optim.stack import stack
from zoo_derived_optim.weight_decay import WeightDecay

from zoo import recipes

WIDTH, LAYERS, LR, DECAY, ACC_K = 1600, 4, 1e-3, 0.01, 4
CYCLE = 20  # lcm of Lookahead's k=5 and accumulation's k=4
PER_UPDATE = "accumulation k=4, per update"
GOALS = {
    "weight_decay": 1.05,
    PER_UPDATE: 1.05,
    "lookahead k=5": 1.05,
    "lamb stack": 1.25,
    "lazy (params)": 1.3,
}
VERSUS = {"lookahead": ("lookahead k=5", "po lookahead k=5"), "lamb": ("lamb stack", "po lamb")}

Named = list[tuple[str, nn.Parameter]]
Tensors = dict[str, torch.Tensor]


def adam(params: Named) -> Adam:
    return Adam(params, lr=LR, foreach=True)


def lamb_stack(params: Named) -> Optimizer:
    adam_options = {"lr": LR, "eps": 1e-6, "foreach": True}  # LAMB's eps, as pytorch_optimizer's
    return stack(
        params, "layer_adaptation+weight_decay+adam", adam=adam_options, weight_decay={"rate": DECAY}
    )


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
    return [
        Candidate("adam", adam),
        Candidate("adam (sparse grads)", adam, sparse=True),
        Candidate("adam fused (torch, ref.)", lambda ps: Adam(ps, lr=LR, fused=True)),
        Candidate("adamw (torch, ref.)", lambda ps: AdamW(ps, lr=LR, weight_decay=DECAY, foreach=True)),
        Candidate("weight_decay", lambda ps: WeightDecay(adam(ps), DECAY)),
        Candidate("accumulation k=4", lambda ps: GradientAccumulation(adam(ps), ACC_K), period=ACC_K),
        Candidate("lookahead k=5", lambda ps: Lookahead(adam(ps), k=5, alpha=0.5)),
        Candidate("lamb stack", lamb_stack),
        Candidate("lazy (params)", lambda ps: LazyOptimization(adam(ps), include=[r"weight$"]), sparse=True),
        Candidate("ema", lambda ps: EMA(adam(ps), 0.999)),
        Candidate("po lookahead k=5", lambda ps: pytorch_optimizer.Lookahead(adam(ps), k=5, alpha=0.5)),
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
    args = parser.parse_args()
    if args.steps <= 0 or args.steps % CYCLE or args.warmup % CYCLE or args.repeat < 1:
        parser.error(f"--steps (> 0) and --warmup must be multiples of {CYCLE}; --repeat >= 1")

    weights, dense, sparse = fixed_tensors(args.sparsity)
    cands = candidates()
    for c in cands:
        c.setup(weights, sparse if c.sparse else dense)
        c.run(args.warmup)
    n_params = sum(w.numel() for w in weights.values())
    print(
        f"{n_params / 1e6:.2f}M parameters (float32, CPU), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.repeat} repetitions x {args.steps} steps per candidate"
    )

    started = time.perf_counter()
    for rep in range(args.repeat):
        shift = rep % len(cands)
        for c in cands[shift:] + cands[:shift]:
            c.times.append(c.run(args.steps))
    elapsed = time.perf_counter() - started

    series = {c.name: c.times for c in cands}
    series[PER_UPDATE] = [ACC_K * t for t in series["accumulation k=4"]]
    ms = {name: 1e3 * statistics.median(ts) for name, ts in series.items()}
    ratio = {name: t / ms["adam"] for name, t in ms.items()}
    adam_ts = series["adam"]
    paired = {
        n: statistics.median(t / a for t, a in zip(ts, adam_ts, strict=True)) for n, ts in series.items()
    }
    versus = {what: ms[ours] / ms[theirs] for what, (ours, theirs) in VERSUS.items()}
    lazy_same_grads = ms["lazy (params)"] / ms["adam (sparse grads)"]

    print(f"\n{'optimizer':30s} {'ms/step':>8s} {'ratio':>7s} {'paired':>7s}  goal")
    for name in series:
        goal = GOALS.get(name)
        verdict = f"<= {goal:.2f}x: {'met' if ratio[name] <= goal else 'MISSED'}" if goal else ""
        print(f"{name:30s} {ms[name]:8.2f} {ratio[name]:6.3f}x {paired[name]:6.3f}x  {verdict}".rstrip())
    print("(the per-update row is ms per update = 4 step() calls)\n")
    for what, r in versus.items():
        print(f"{what}: ours / pytorch_optimizer = {r:.3f} ({judge(r)})")
    print(f"lazy (params) / adam on the same row-sparse gradients = {lazy_same_grads:.3f}")
    print(f"timed section {elapsed:.0f} s")

    result = {
        "benchmark": "derived_optim_step",
        "model": f"{LAYERS} x nn.Linear({WIDTH}, {WIDTH}), float32, CPU, {n_params} parameters",
        "repeat": args.repeat,
        "steps_per_measurement": args.steps,
        "warmup_steps": args.warmup,
        "lazy_row_sparsity": args.sparsity,
        "ms_per_step": {k: round(v, 3) for k, v in ms.items()},
        "ratio_vs_adam": {k: round(v, 4) for k, v in ratio.items()},
        "paired_ratio_vs_adam": {k: round(v, 4) for k, v in paired.items()},
        "goals": {
            k: {"max_ratio": g, "ratio": round(ratio[k], 4), "met": ratio[k] <= g} for k, g in GOALS.items()
        },
        "ours_vs_pytorch_optimizer": {
            k: {"ratio": round(v, 4), "verdict": judge(v)} for k, v in versus.items()
        },
        "lazy_vs_adam_on_same_sparse_grads": round(lazy_same_grads, 4),
        "machine": recipes.machine(),
        "torch": torch.__version__,
        "pytorch_optimizer": importlib.metadata.version("pytorch_optimizer"),
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
