"""``zoo train dgcnn-extractor`` / ``zoo eval``: the article's training (bojone/kg-2019) on generated
Chinese sentences with known triples (default), or on a user's DuIE / SKE folder.

kg-2019's method: one sampled subject per sentence (:func:`zoo_dgcnn.data.sample_targets`), subject/object
replacement augmentation with p = .5, Adam, linear warm-up over the first epoch, an EMA of the weights (the
registry's ``ema`` optimizer, bias-corrected) whose averaged weights are evaluated and saved. Metric:
exact-match triple precision / recall / F1 on the dev set.

Presets. ``paper`` is the article's: Adam 1e-3, batch 64, EMA 0.9999 (for full-size runs).
``cpu`` (the default) is a few-minute CPU budget and deviates on purpose: batch 16 and Adam 3e-3, EMA
0.99. Why: every output probability is a product of sigmoids (``po σ(o1) pc pn1`` for objects), so the
model first learns to predict nothing and needs several hundred updates to leave that plateau; at batch
64 and 1e-3, 4,000 sentences × 6 epochs are only 378 updates and (pilot runs) decode no triple at all.
Batch 16 gives 4× the updates for the same sentences, 3e-3 leaves the plateau sooner than 1e-3 (pilots),
and an EMA of 0.9999 would average over ~10,000 updates — 10× the run, so even bias-corrected it would be
dominated by the first, untrained weights; 0.99 averages the last ~100. Measured: docs/results/
dgcnn_generated.json (benchmarks/dgcnn_experiments.py).
"""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

import zoo
from zoo import atomic
from zoo.checks import check_folder
from zoo.data_formats import DUIE_JSON
from zoo.recipes import preset_options
from zoo_dgcnn.data import (
    DuIEData,
    Example,
    Targets,
    augment,
    build_vocab,
    encode_texts,
    generated_corpus,
    predicates_by_name,
    read_duie,
    read_schema,
    sample_targets,
)
from zoo_dgcnn.decode import triple_prf
from zoo_dgcnn.extractor import Extraction, extract

# the file names --data may use, first match wins: DuIE 1.0 (2019), DuIE 2.0 / SKE, plain
TRAIN_NAMES = ("train_data.json", "duie_train.json", "train.json")
DEV_NAMES = ("dev_data.json", "duie_dev.json", "dev.json")
SCHEMA_NAMES = ("all_50_schemas", "duie_schema.json", "schema.json", "all_50_schemas.json")

# the author's final TEST score on the 2019 SKE competition (article 6671): comparable only on DuIE data
ARTICLE_TEST = {"precision": 0.8939, "recall": 0.8679, "f1": 0.8807}

EVAL_DEV = 600  # zoo eval without --data: the generated dev set of this size (data_seed 0)
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 1, "n_train": 128, "n_dev": 32, "ema": 0.9, "batch_size": 16, "lr": 3e-3},
    # ~1,000 updates: see the module docstring for why batch 16, lr 3e-3 and EMA 0.99
    "cpu": {"epochs": 4, "n_train": 4000, "n_dev": 600, "ema": 0.99, "batch_size": 16, "lr": 3e-3},
    "paper": {"epochs": 30, "n_train": 20000, "n_dev": 600, "ema": 0.9999, "batch_size": 64, "lr": 1e-3},
}


def find_file(folder: Path, names: Sequence[str], what: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise zoo.RecipeError(f"{folder} has no {what} file (looked for {', '.join(names)}): {DUIE_JSON}")


def read_folder(folder: Path, max_len: int | None) -> tuple[list[str], DuIEData, DuIEData]:
    """The schema's predicates and the train / dev files of a DuIE folder."""
    folder = check_folder(folder, DUIE_JSON, zoo.RecipeError)
    schema = find_file(folder, SCHEMA_NAMES, "schema")
    train_file, dev_file = find_file(folder, TRAIN_NAMES, "train"), find_file(folder, DEV_NAMES, "dev")
    try:
        predicates = read_schema(schema)
    except ValueError as exc:
        raise zoo.RecipeError(str(exc)) from exc
    return (
        predicates,
        read_duie(train_file, predicates, max_len=max_len),
        read_duie(dev_file, predicates, max_len=max_len),
    )


def batch_tensors(
    batch: Sequence[tuple[Example, Targets]], index: Mapping[str, int], num_predicates: int, device: str
) -> dict[str, torch.Tensor]:
    """The arguments of ``model.loss`` for ``(example, targets)`` pairs: chars ``(B, L)``, subjects
    ``(B, 2)``, subject starts/ends ``(B, L)``, object starts/ends ``(B, L, P)``."""
    chars = encode_texts([e.text for e, _ in batch], index)
    b, length = chars.shape
    s1, s2 = torch.zeros(b, length), torch.zeros(b, length)
    o1, o2 = torch.zeros(b, length, num_predicates), torch.zeros(b, length, num_predicates)
    subjects = torch.zeros(b, 2, dtype=torch.long)
    for row, (_, t) in enumerate(batch):
        s1[row, t.subject_starts] = 1.0
        s2[row, t.subject_ends] = 1.0
        subjects[row] = torch.tensor(t.subject)
        for i, p in t.object_starts:
            o1[row, i, p] = 1.0
        for j, p in t.object_ends:
            o2[row, j, p] = 1.0
    out = {
        "chars": chars,
        "subjects": subjects,
        "sub_start_t": s1,
        "sub_end_t": s2,
        "obj_start_t": o1,
        "obj_end_t": o2,
    }
    return {k: v.to(device) for k, v in out.items()}


def score(
    model: Any, examples: Sequence[Example], batch_size: int = 64, **thresholds: float
) -> tuple[dict[str, float], list[list[Extraction]]]:
    """Exact-match triple P/R/F1 of ``model`` on ``examples`` (sets of (subject, predicate, object) strings
    per sentence, as kg-2019), and the extractions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # texts were already cut to max_len when read
        found = extract(model, [e.text for e in examples], batch_size=batch_size, **thresholds)
    pred = [{(x.subject, x.predicate, x.object) for x in f} for f in found]
    metrics = triple_prf(pred, [e.spo_set() for e in examples])
    return {**metrics, "sentences": float(len(examples))}, found


def write_predictions(
    path: str | Path, examples: Sequence[Example], found: Sequence[Sequence[Extraction]]
) -> None:
    """The extractions as DuIE JSON lines ``{"text", "spo_list": [{"subject", "predicate", "object"}]}``, one
    per scored sentence (in input order), plus each triple's ``subject_span`` / ``object_span`` slices."""
    lines = []
    for example, triples in zip(examples, found, strict=True):
        spo = [
            {
                "subject": t.subject,
                "predicate": t.predicate,
                "object": t.object,
                "subject_span": list(t.subject_span),
                "object_span": list(t.object_span),
            }
            for t in triples
        ]
        lines.append(json.dumps({"text": example.text, "spo_list": spo}, ensure_ascii=False) + "\n")
    atomic.write_text(Path(path), "".join(lines))  # a crash or a full disk leaves any old file whole


class ExtractionRecipe:
    """kg-2019's training of the DGCNN extractor; dev triple P/R/F1 with the EMA weights."""

    summary = (
        "generated Chinese sentences with known triples (or --data DuIE/SKE folder); "
        "metric: dev triple precision / recall / F1"
    )
    data_format = DUIE_JSON
    presets = PRESETS
    distributed = True  # zoo train --nproc N (DDP through zoo.TrainLoop)
    resumable = True  # --checkpoint-every / --resume
    options: ClassVar[dict[str, Any]] = {
        "epochs": None,  # None: the preset's
        "batch_size": None,  # the article: 64 (preset paper); cpu and smoke: 16
        "lr": None,  # Adam; the article: 1e-3 (preset paper); cpu and smoke: 3e-3
        "warmup_epochs": 1.0,
        "ema": None,  # EMA momentum; None: the preset's (the article: 0.9999 over ~100k updates)
        "augment": 0.5,
        "min_count": 2,
        "n_train": None,  # generated data only
        "n_dev": None,
        "data_seed": 0,
        "start_threshold": 0.5,
        "end_threshold": 0.4,
    }
    # the options ``zoo eval --option`` takes (passed to evaluate as keywords)
    eval_options: ClassVar[dict[str, Any]] = {
        "predictions": "",
        "batch_size": 64,
        "start_threshold": 0.5,
        "end_threshold": 0.4,
    }

    def train(self, config: zoo.TrainConfig) -> zoo.TrainResult:
        o = preset_options(config, PRESETS)
        for key in PRESETS[config.preset]:  # the options whose default is the preset's take numbers too
            low = 1 if key in ("epochs", "batch_size", "n_train") else 0
            if isinstance(o[key], bool) or not isinstance(o[key], (int, float)) or o[key] < low:
                raise zoo.RecipeError(f"option {key!r} takes a number >= {low}; got {o[key]!r}")
        defaults = zoo.resolve(config.name).defaults
        max_len = int(config.model_args.get("max_len", defaults.get("max_len", 512)))
        if config.data is None:
            corpus = generated_corpus(int(o["n_train"]), int(o["n_dev"]), seed=int(o["data_seed"]))
            predicates, train, dev = corpus.predicates, corpus.train, corpus.dev
            source = f"{len(train)} generated sentences (data_seed {o['data_seed']})"
        else:
            predicates, train_data, dev_data = read_folder(config.data, max_len)
            train, dev = train_data.examples, dev_data.examples
            source = f"{len(train)} sentences of {train_data.path}"
        trainable = [e for e in train if e.triples]
        if not trainable:
            raise zoo.RecipeError(f"no training sentence has a usable triple ({source})")
        vocab = build_vocab((e.text for e in train), min_count=int(o["min_count"]))
        model = zoo.load(config.name, vocab=vocab, predicates=predicates, **config.model_args).to(
            config.device
        )
        o["batch_size"], o["lr"], epochs = int(o["batch_size"]), float(o["lr"]), int(o["epochs"])
        steps_per_epoch = math.ceil(len(trainable) / o["batch_size"])
        optimizer = zoo.load(
            "ema", params=model.parameters(), inner="adam", inner_options={"lr": o["lr"]}, momentum=o["ema"]
        )
        warmup = max(1, round(o["warmup_epochs"] * steps_per_epoch))
        scheduler = zoo.load(
            "piecewise-linear-lr", optimizer=optimizer, schedule={0: 1 / warmup, warmup: 1.0}
        )
        rng = random.Random(config.seed)
        pool = predicates_by_name(trainable)
        index = {c: i for i, c in enumerate(vocab)}
        ids = {p: i for i, p in enumerate(predicates)}
        losses: list[float] = []
        epoch: dict[str, Any] = {}  # this epoch's order: saved, so a resumed run goes on mid-epoch
        loop = zoo.TrainLoop(config)
        loss_of = loop.parallel(model.loss)
        state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "rng": rng, "epoch": epoch,
                 "losses": losses}  # fmt: skip
        model.train()
        for step in loop.steps(epochs * steps_per_epoch, state, desc=f"train {config.name}"):
            if step % steps_per_epoch == 0:
                order = list(range(len(trainable)))
                rng.shuffle(order)
                epoch["order"] = order
            chunk = epoch["order"][(step % steps_per_epoch) * o["batch_size"] :][: o["batch_size"]]
            batch = []
            for i in chunk:  # the whole global batch on every rank: rng stays the same everywhere
                example = augment(trainable[i], pool, rng, p=o["augment"])
                targets = sample_targets(example, ids, rng)
                if targets is None:  # the replacement erased every fact: train on the original
                    example = trainable[i]
                    targets = sample_targets(example, ids, rng)
                assert targets is not None  # trainable sentences have triples of known predicates
                batch.append((example, targets))
            batch = [batch[i] for i in loop.shard(torch.arange(len(batch))).tolist()]
            tensors = batch_tensors(batch, index, len(predicates), config.device)
            loss, count = loss_of(**tensors)["loss"], (tensors["chars"] != 0).sum()
            optimizer.zero_grad(set_to_none=True)
            loop.backward(loss, count=count)  # a mean over the real characters
            optimizer.step()
            scheduler.step()
            losses.append(loop.item(loss, count))  # the global batch's mean
        optimizer.apply_average()  # evaluate and save the EMA weights
        model.eval()
        thresholds = {"start_threshold": o["start_threshold"], "end_threshold": o["end_threshold"]}
        metrics, _ = score(model, dev, 64, **thresholds)
        metrics["train_loss"] = sum(losses[-steps_per_epoch:]) / len(losses[-steps_per_epoch:])
        example_chars = encode_texts([e.text for e in dev[:8]] or ["x"], index, max_len).to(config.device)
        return zoo.TrainResult(
            model=model,
            metrics=metrics,
            reference=ARTICLE_TEST if config.data is not None else {},
            example_inputs=(
                example_chars,
                torch.zeros(len(example_chars), 2, dtype=torch.long, device=config.device),
            ),
            notes=(
                f"{epochs} epochs of {source} ({steps_per_epoch * epochs} updates, batch {o['batch_size']}), "
                f"Adam lr {o['lr']}, warm-up {warmup} updates, EMA {o['ema']}; {len(vocab)} characters, "
                f"{len(predicates)} predicates; dev = {len(dev)} sentences"
                + ("" if config.data is not None else " with held-out entity names")
                + (
                    "; the article's numbers are its TEST score on the full 2019 SKE data"
                    if config.data is not None
                    else ""
                )
            ),
        )

    def evaluate(
        self,
        model: Any,
        data: Path | None,
        device: str = "cpu",
        predictions: str = "",
        batch_size: int = 64,
        start_threshold: float = 0.5,
        end_threshold: float = 0.4,
    ) -> dict[str, float]:
        """Triple P/R/F1 on any DuIE-format file (``data`` = the file, or a folder with its dev file); without
        ``data``, on the generated dev set (held-out entities, the default data_seed and size).
        ``predictions``: write the extracted triples there as DuIE JSON lines."""
        model = model.to(device)
        skipped = 0.0
        if data is None:
            dev = generated_corpus(0, EVAL_DEV, seed=0).dev
        else:
            path = Path(data)
            if path.is_dir():
                path = find_file(path, DEV_NAMES, "dev")
            if not path.is_file():
                raise zoo.RecipeError(f"{data} is neither a DuIE file nor a folder: {DUIE_JSON}")
            read = read_duie(path, model.predicates, max_len=model.max_len)
            dev = read.examples
            skipped = float(
                sum(read.skipped[k] for k in ("unknown_predicate", "not_in_text", "beyond_max_len"))
            )
        metrics, found = score(
            model, dev, batch_size, start_threshold=start_threshold, end_threshold=end_threshold
        )
        if predictions:
            write_predictions(predictions, dev, found)
        return {**metrics, "skipped_triples": skipped}
