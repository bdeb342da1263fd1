"""Speed of zoo_reparam's gumbel_softmax vs torch.nn.functional.gumbel_softmax, after a correctness check.

    python benchmarks/gumbel_softmax_speed.py [--shape 4096,32,10] [--dtype float32] [--threads N]
        [--tau 1.0] [--repeat 31] [--warmup 5] [--out docs/results/gumbel_softmax_speed.json]

Logits of ``--shape`` (default (4096, 32, 10): 4096 x 32 latent variables x 10 classes), softmax over the
last dim, CPU. Variants, each ours vs torch's:

  soft              forward, no grad (torch.no_grad())
  hard              forward, no grad, hard=True
  soft fwd+bwd      logits.requires_grad; y = f(logits); (y * w).sum().backward(), fixed random w
  hard fwd+bwd      the same with hard=True (straight-through)
  noise             the noise alone: torch's ``-torch.empty_like(x).exponential_().log()`` vs our
                    ``gumbel_noise`` (U(0, 1), clamped, ``-log(-log u)``)

Goal (the issue): ours <= 0.6x torch's time for soft and hard (forward). The fwd+bwd and noise rows carry
no goal: they are reported. One measurement is the mean time of ``--inner`` consecutive calls; each
repetition measures every variant, ours and torch's back to back (which goes first alternates), so
drift hits both alike. ``ms`` is the median over ``--repeat`` repetitions, ``ratio`` = ours / torch of
those medians, ``paired`` the median of the per-repetition ratios.

Correctness preamble (recorded in the JSON, the script stops if it fails): (a) with torch's own noise
(same seed, ``-torch.empty_like(x).exponential_().log()``) passed as ``noise=``, our soft output equals
``F.gumbel_softmax``'s bitwise, and so do the soft gradients; the hard outputs pick the same index
(their bitwise equality is recorded too) and ours is exactly one-hot; (b) a chi-square test that the
argmax frequencies of our gumbel_softmax (own noise, soft and hard) match softmax(logits), p-value from
``torch.special.gammaincc``. Prints a table, then one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from zoo_reparam.gumbel import gumbel_noise, gumbel_softmax

from zoo import recipes

GOAL = 0.6
GOALS = {"soft": GOAL, "hard": GOAL}
CHI2_PROBS = [0.5, 0.3, 0.15, 0.05]  # article 6705's example distribution
CHI2_ALPHA = 1e-3  # fixed seed, so the verdict is deterministic; fail only on a clear mismatch
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}

Fn = Callable[[], object]


def torch_noise(x: torch.Tensor) -> torch.Tensor:
    """The noise F.gumbel_softmax draws (torch 2.x), as a standalone function."""
    return -torch.empty_like(x, memory_format=torch.legacy_contiguous_format).exponential_().log()


def check_same_noise(x: torch.Tensor, tau: float, seed: int) -> dict[str, object]:
    """(a) Ours with torch's noise vs F.gumbel_softmax drawn from the same seed."""
    out: dict[str, object] = {"seed": seed, "shape": list(x.shape), "dtype": str(x.dtype), "tau": tau}
    for hard in (False, True):
        torch.manual_seed(seed)
        theirs = F.gumbel_softmax(x, tau=tau, hard=hard)
        torch.manual_seed(seed)
        ours = gumbel_softmax(x, tau=tau, hard=hard, noise=torch_noise(x))
        key = "hard" if hard else "soft"
        out[f"{key}_equal"] = torch.equal(ours, theirs)
        out[f"{key}_max_abs_diff"] = (ours.double() - theirs.double()).abs().max().item()
        if hard:  # torch's hard value is y_hard - y_soft + y_soft: one-hot up to rounding, not by design
            out["hard_same_index"] = torch.equal(ours.argmax(-1), theirs.argmax(-1))
            one_hot = bool(((ours == 0) | (ours == 1)).all()) and bool((ours.sum(-1) == 1).all())
            out["hard_exactly_one_hot"] = one_hot
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=x.dtype)
    grads = []
    for fn in (F.gumbel_softmax, None):
        leaf = x.detach().clone().requires_grad_(True)
        torch.manual_seed(seed)
        y = F.gumbel_softmax(leaf, tau=tau) if fn else gumbel_softmax(leaf, tau=tau, noise=torch_noise(x))
        (y * w).sum().backward()
        grads.append(leaf.grad)
    out["soft_grad_equal"] = torch.equal(grads[0], grads[1])
    musts = ("soft_equal", "hard_same_index", "hard_exactly_one_hot", "soft_grad_equal")
    out["passed"] = all(out[k] for k in musts)
    return out


def chi_square(draws: int, seed: int) -> dict[str, object]:
    """(b) Argmax frequencies of our gumbel_softmax (soft and hard, own noise) vs softmax(logits)."""
    probs = torch.tensor(CHI2_PROBS, dtype=torch.float64)
    logits = probs.log().float().expand(draws, len(CHI2_PROBS))
    expected = probs * draws
    df = len(CHI2_PROBS) - 1
    out: dict[str, object] = {
        "probs": CHI2_PROBS,
        "draws": draws,
        "df": df,
        "seed": seed,
        "alpha": CHI2_ALPHA,
    }
    for hard in (False, True):
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            idx = gumbel_softmax(logits, hard=hard, generator=gen).argmax(-1)
        counts = torch.bincount(idx, minlength=len(CHI2_PROBS)).double()
        stat = ((counts - expected) ** 2 / expected).sum()
        p = torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64), stat / 2).item()
        out["hard" if hard else "soft"] = {
            "frequencies": [round(c / draws, 5) for c in counts.tolist()],
            "chi2": round(stat.item(), 4),
            "p_value": round(p, 4),
            "passed": p > CHI2_ALPHA,
        }
    out["passed"] = out["soft"]["passed"] and out["hard"]["passed"]  # type: ignore[index]
    return out


def variants(x: torch.Tensor, tau: float, seed: int) -> dict[str, tuple[Fn, Fn]]:
    """name -> (ours, torch's): each a no-argument call that does one unit of timed work."""
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 2), dtype=x.dtype)
    leaf = x.detach().clone().requires_grad_(True)

    def forward(fn: Callable[..., torch.Tensor], hard: bool) -> Fn:
        def call() -> object:
            with torch.no_grad():
                return fn(x, tau=tau, hard=hard)

        return call

    def fwd_bwd(fn: Callable[..., torch.Tensor], hard: bool) -> Fn:
        def call() -> object:
            leaf.grad = None  # each call allocates its gradient afresh, as a training step would
            (fn(leaf, tau=tau, hard=hard) * w).sum().backward()
            return leaf.grad

        return call

    def our_noise() -> object:
        return gumbel_noise(x.shape, dtype=x.dtype if x.dtype == torch.float64 else torch.float32)

    return {
        "soft": (forward(gumbel_softmax, False), forward(F.gumbel_softmax, False)),
        "hard": (forward(gumbel_softmax, True), forward(F.gumbel_softmax, True)),
        "soft fwd+bwd": (fwd_bwd(gumbel_softmax, False), fwd_bwd(F.gumbel_softmax, False)),
        "hard fwd+bwd": (fwd_bwd(gumbel_softmax, True), fwd_bwd(F.gumbel_softmax, True)),
        "noise": (our_noise, lambda: torch_noise(x)),
    }


def measure(fn: Fn, inner: int) -> float:
    """Mean seconds per call over ``inner`` consecutive calls."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--shape", default="4096,32,10", help="logits shape, comma-separated (softmax: last)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--tau", type=float, default=1.0, help="temperature")
    parser.add_argument("--repeat", type=int, default=31, help="repetitions (the median is taken over them)")
    parser.add_argument("--inner", type=int, default=1, help="calls per measurement (their mean is one)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls of each function first")
    parser.add_argument("--chi2-draws", type=int, default=200_000, help="draws for the chi-square check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        parser.error(f"--shape must be comma-separated integers, got {args.shape!r}")
    if args.repeat < 1 or args.inner < 1 or args.warmup < 0 or min(shape) < 1:
        parser.error("--repeat and --inner >= 1, --warmup >= 0, every dimension of --shape >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(args.seed)).to(dtype)

    same_noise = check_same_noise(x, args.tau, args.seed)
    chi2 = chi_square(args.chi2_draws, args.seed)
    checks = ("soft_equal", "hard_equal", "hard_same_index", "hard_exactly_one_hot", "soft_grad_equal")
    print("same noise as torch: " + ", ".join(f"{k} {same_noise[k]}" for k in checks))
    print(
        f"chi-square ({args.chi2_draws} draws, p={CHI2_PROBS}): "
        f"soft p-value {chi2['soft']['p_value']}, hard p-value {chi2['hard']['p_value']}"  # type: ignore[index]
    )

    cands = variants(x, args.tau, args.seed)
    for ours, theirs in cands.values():
        for _ in range(args.warmup):
            ours()
            theirs()
    print(
        f"logits {shape} {args.dtype}, tau {args.tau}, CPU, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.repeat} repetitions x {args.inner} calls"
    )

    times: dict[str, dict[str, list[float]]] = {name: {"ours": [], "torch": []} for name in cands}
    started = time.perf_counter()
    for rep in range(args.repeat):
        for name, (ours, theirs) in cands.items():
            pair = [("ours", ours), ("torch", theirs)]
            for who, fn in pair if rep % 2 == 0 else pair[::-1]:
                times[name][who].append(measure(fn, args.inner))
    elapsed = time.perf_counter() - started

    ms = {n: {who: 1e3 * statistics.median(ts) for who, ts in t.items()} for n, t in times.items()}
    ratio = {n: m["ours"] / m["torch"] for n, m in ms.items()}
    paired = {
        n: statistics.median(o / t for o, t in zip(ts["ours"], ts["torch"], strict=True))
        for n, ts in times.items()
    }
    print(f"\n{'variant':14s} {'ours ms':>8s} {'torch ms':>9s} {'ratio':>7s} {'paired':>7s}  goal")
    for name in cands:
        goal = GOALS.get(name)
        verdict = f"<= {goal:.2f}x: {'met' if ratio[name] <= goal else 'MISSED'}" if goal else ""
        print(
            f"{name:14s} {ms[name]['ours']:8.2f} {ms[name]['torch']:9.2f} "
            f"{ratio[name]:6.3f}x {paired[name]:6.3f}x  {verdict}".rstrip()
        )
    print(f"timed section {elapsed:.0f} s")

    result = {
        "benchmark": "gumbel_softmax_speed",
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "logits": {"shape": list(shape), "dtype": args.dtype, "device": "cpu", "dim": -1},
        "tau": args.tau,
        "repeat": args.repeat,
        "calls_per_measurement": args.inner,
        "warmup_calls": args.warmup,
        "correctness": {"same_noise_as_torch": same_noise, "chi_square": chi2},
        "ms": {n: {who: round(v, 3) for who, v in m.items()} for n, m in ms.items()},
        "ratio_ours_vs_torch": {k: round(v, 4) for k, v in ratio.items()},
        "paired_ratio_ours_vs_torch": {k: round(v, 4) for k, v in paired.items()},
        "goals": {
            k: {"max_ratio": g, "ratio": round(ratio[k], 4), "met": ratio[k] <= g} for k, g in GOALS.items()
        },
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": recipes.machine(),
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if not (same_noise["passed"] and chi2["passed"]):
        sys.exit("correctness check FAILED (see 'correctness' in the JSON)")


if __name__ == "__main__":
    main()
