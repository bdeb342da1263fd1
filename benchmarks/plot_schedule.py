"""Plot PiecewiseLinearLR's multiplier for the schedule {1000: 1, 2000: 0.1} over 0..3000 updates.

    python benchmarks/plot_schedule.py [--out docs/img/piecewise_linear_schedule.png]

The curve is read from a real scheduler stepped after each (no-op) step of a dummy SGD optimizer with
base lr 1, so it shows what training gets, not a re-implementation of the formula. Knots are marked.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from zoo_derived_optim.schedule import PiecewiseLinearLR

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = {1000: 1.0, 2000: 0.1}
UPDATES = 3000


def multipliers(schedule: dict[int, float], updates: int) -> list[float]:
    """``lr_t / base_lr`` for t = 0..updates, read from the scheduler's param group."""
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=1.0)
    sched = PiecewiseLinearLR(opt, schedule)
    out = []
    for _ in range(updates + 1):
        out.append(opt.param_groups[0]["lr"] / sched.base_lrs[0])
        opt.step()  # no gradient: a no-op, but the order torch expects (optimizer, then scheduler)
        sched.step()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "piecewise_linear_schedule.png")
    args = parser.parse_args()

    f = multipliers(SCHEDULE, UPDATES)
    for t, expected in {0: 0.0, 500: 0.5, 1000: 1.0, 1500: 0.55, 2000: 0.1, 3000: 0.1}.items():
        assert abs(f[t] - expected) < 1e-9, (t, f[t], expected)  # the values the docstring promises

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    ax.plot(range(UPDATES + 1), f, lw=2, label="PiecewiseLinearLR multiplier")
    knots = {0: f[0], **SCHEDULE}
    ax.scatter(list(knots), list(knots.values()), zorder=3, color="C3", label="knots")
    for t, v in knots.items():
        label = f"({t}, {v:g})" + ("" if t in SCHEDULE else ", implied")
        ax.annotate(label, (t, v), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xlabel("update t (scheduler.step() calls)")
    ax.set_ylabel("lr / base lr")
    ax.set_title("PiecewiseLinearLR, schedule {1000: 1, 2000: 0.1}", fontsize=10)
    ax.set_ylim(-0.05, 1.15)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    shown = (0, 500, 1000, 1500, 2000, 3000)
    print(f"multiplier at t = {', '.join(map(str, shown))}: {[round(f[t], 4) for t in shown]}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
