"""Plot E[max_i y_i] of zoo_reparam's gumbel_softmax against the temperature tau, for 10 random logits.

    python benchmarks/plot_gumbel_temperature.py [--draws 100000] [--seed 0]
        [--out docs/img/gumbel_temperature.png] [--json docs/results/gumbel_temperature.json]

Logits: K = 10 standard-normal values (``--seed``), fixed. At each tau of a grid of 41 log-spaced values
from 0.01 to 100 (a tenth of a decade apart, so 0.01, 0.1, 1, 10 and 100 are on it exactly), ``--draws``
samples ``y = gumbel_softmax(logits, tau)`` are drawn (fresh noise per tau, from one seeded generator)
and ``max_i y_i`` is averaged; its standard error is ``std / sqrt(draws)``. As tau falls, y tends to
one-hot (E[max y] -> 1); as tau grows, y tends to uniform (E[max y] -> 1/K). Article 6705's reference
points (tau = 10, 1, 0.1, 0.01 -> about 0.13, 0.51, 0.94, 0.995, for its own 10 random logits) are
marked; they depend on the logits drawn, so only rough agreement is expected.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from zoo_reparam.gumbel import gumbel_softmax

ROOT = Path(__file__).resolve().parents[1]
K = 10
TAUS = [10 ** ((k - 20) / 10) for k in range(41)]  # 0.01 .. 100, exact at the powers of ten
REFERENCE = {10.0: 0.13, 1.0: 0.51, 0.1: 0.94, 0.01: 0.995}  # article 6705


def expected_max(logits: torch.Tensor, taus: list[float], draws: int, seed: int) -> tuple[list[float], ...]:
    """Per tau: the mean of max_i y_i over ``draws`` samples, and its standard error."""
    gen = torch.Generator().manual_seed(seed)
    batch = logits.expand(draws, logits.numel())
    means, stderrs = [], []
    with torch.no_grad():
        for tau in taus:
            m = gumbel_softmax(batch, tau, generator=gen).amax(-1).double()
            means.append(m.mean().item())
            stderrs.append(m.std().item() / math.sqrt(draws))
    return means, stderrs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100_000, help="samples per tau")
    parser.add_argument("--seed", type=int, default=0, help="seed of the logits (the noise uses seed + 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "gumbel_temperature.png")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "results" / "gumbel_temperature.json")
    args = parser.parse_args()

    started = time.perf_counter()
    logits = torch.randn(K, generator=torch.Generator().manual_seed(args.seed))
    means, stderrs = expected_max(logits, TAUS, args.draws, args.seed + 1)
    at = {tau: (means[TAUS.index(tau)], stderrs[TAUS.index(tau)]) for tau in REFERENCE}
    p_max = logits.softmax(-1).max().item()  # the tau -> 0 limit is 1; this is max_i p_i, for context

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.axhline(1.0, color="0.5", lw=1, ls="--")
    ax.axhline(1 / K, color="0.5", lw=1, ls=":")
    ax.text(100, 1.0, "one-hot (τ → 0)", ha="right", va="bottom", fontsize=8, color="0.35")
    ax.text(0.01, 1 / K, f"uniform 1/K = {1 / K:g} (τ → ∞)", ha="left", va="bottom", fontsize=8, color="0.35")
    lo = [m - 2 * s for m, s in zip(means, stderrs, strict=True)]
    hi = [m + 2 * s for m, s in zip(means, stderrs, strict=True)]
    ax.fill_between(TAUS, lo, hi, color="C0", alpha=0.3, lw=0)
    ax.plot(TAUS, means, "o-", ms=3, lw=1.5, color="C0", label=f"ours ({args.draws:,} draws/τ, ±2 s.e.)")
    ax.scatter(list(REFERENCE), list(REFERENCE.values()), marker="x", s=50, color="C3", zorder=3)
    ax.scatter([], [], marker="x", color="C3", label="article 6705 (its own logits)")
    rows = [f"τ = {t:<5g} ours {at[t][0]:.3f} ± {at[t][1]:.5f}  ref. {r:g}" for t, r in REFERENCE.items()]
    table = "E[max y] at the reference τ:\n" + "\n".join(rows)
    ax.text(0.03, 0.17, table, transform=ax.transAxes, fontsize=7, va="bottom", family="monospace")
    ax.set_xscale("log")
    ax.set_xlabel("temperature τ")
    ax.set_ylabel("E[max_i y_i]")
    ax.set_title(f"Gumbel-softmax: E[max y] vs τ, K = {K} standard-normal logits", fontsize=10)
    ax.set_ylim(0, 1.08)
    ax.grid(alpha=0.3, which="both", lw=0.5)
    ax.legend(loc="lower left", bbox_to_anchor=(0.01, 0.4), fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)

    result = {
        "benchmark": "gumbel_temperature",
        "k": K,
        "logits_seed": args.seed,
        "noise_seed": args.seed + 1,
        "logits": [round(v, 6) for v in logits.tolist()],
        "max_softmax_prob": round(p_max, 6),
        "draws_per_tau": args.draws,
        "tau": TAUS,
        "mean_max_y": [round(m, 6) for m in means],
        "stderr": [round(s, 6) for s in stderrs],
        "reference": [
            {"tau": tau, "article": ref, "ours": round(at[tau][0], 5), "stderr": round(at[tau][1], 6)}
            for tau, ref in REFERENCE.items()
        ],
        "torch": torch.__version__,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for tau, ref in REFERENCE.items():
        print(f"tau {tau:g}: E[max y] = {at[tau][0]:.4f} ± {at[tau][1]:.5f} (article: ≈{ref:g})")
    print(f"wrote {args.out} and {args.json} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
