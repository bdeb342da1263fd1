"""Categorical VAE on binarized MNIST: Gumbel-softmax vs straight-through vs score function.

    python benchmarks/vae_estimators.py [--epochs 10] [--seeds 0] [--author-epochs 3] [--threads 2]

Trains ``categorical-vae`` (Jang et al.'s MLP, 20 variables x 10 classes) once per estimator and seed
with its recipe (``zoo train categorical-vae --option estimator=E --option epochs=N``: Adam 1e-3 decayed
x0.9 per 1000 steps, batch 100, tau = max(0.5, exp(-3e-5 n))), and the author's conv ``gumbel-vae``
with Gumbel-softmax for ``--author-epochs``. Reports the test negative ELBO of the discrete model (exact
categorical z, 1 sample per image, fixed binarized test set) beside Jang et al.'s numbers, and draws a
PNG of prior samples and test reconstructions for each Gumbel-softmax model.

Writes docs/results/vae_estimators.json and docs/img/vae_samples.png.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from vae_pictures import samples_and_reconstructions

import zoo
from zoo import recipes
from zoo.datasets import binarized_mnist_test

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "vae_estimators.json"
PLOT = ROOT / "docs" / "img" / "vae_samples.png"
ESTIMATORS = ("gumbel-softmax", "st-gumbel-softmax", "score-function")


def picture(models: dict[str, torch.nn.Module], test_x: torch.Tensor) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the categorical VAEs' forward gives logits
        rows = {t: (m.sample(64, g), torch.sigmoid(m(test_x[:32]))) for t, m in models.items()}
    samples_and_reconstructions(rows, test_x[:32], PLOT)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--author-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("ZOO_PROGRESS", "0")
    seeds = [int(s) for s in args.seeds.split(",")]
    runs, models = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [("categorical-vae", e, args.epochs, s) for e in ESTIMATORS for s in seeds]
        jobs.append(("gumbel-vae", "gumbel-softmax", args.author_epochs, seeds[0]))
        for name, estimator, epochs, seed in jobs:
            out = Path(tmp) / f"{name}-{estimator}-{seed}"
            options = {"estimator": estimator, "epochs": epochs}
            start = time.perf_counter()
            record = recipes.train(name, out, seed=seed, options=options)
            wall = time.perf_counter() - start
            nelbo = record["metrics"]["nelbo"]
            print(f"{name:16s} {estimator:18s} seed {seed}: -ELBO {nelbo:.2f} ({wall:.0f} s)", flush=True)
            runs.append(
                {
                    "entry": name,
                    "estimator": estimator,
                    "seed": seed,
                    "epochs": epochs,
                    "metrics": record["metrics"],
                    "reference": record["reference"],
                    "wall_time_s": round(wall, 1),
                    "notes": record["notes"],
                }
            )
            if estimator == "gumbel-softmax" and seed == seeds[0]:
                models[name] = zoo.load(f"local-dir:{out}")
    picture(models, binarized_mnist_test(None, 32))
    report = {
        "command": "python benchmarks/vae_estimators.py "
        f"--epochs {args.epochs} --seeds {args.seeds} --author-epochs {args.author_epochs}",
        "machine": recipes.machine(),
        "threads": args.threads,
        "budget": f"{args.epochs} epochs of 50,000 images, batch 100 ({args.epochs * 500} steps) per run",
        "jang_et_al": {
            "steps": 50_000,
            "nelbo": {"gumbel-softmax": 101.5, "st-gumbel-softmax": 107.8, "score-function": 110.6},
        },
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} and {PLOT}")


if __name__ == "__main__":
    main()
