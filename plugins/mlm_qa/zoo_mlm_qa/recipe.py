"""``zoo train mlm-qa`` / ``zoo eval``: the article's MLM reader on generated multi-passage QA (default) or a
user's SogouQA / WebQA / SQuAD / CMRC 2018 JSON.

Training (bojone/bert4keras ``task_reading_comprehension_by_mlm.py``): each epoch, every question
contributes ONE random passage; the target is the first gold answer found in the (cleaned, truncated)
passage plus ``[SEP]``, or a lone ``[SEP]`` (no answer here); answers longer than the slots are skipped and
counted. The backbone is trained from scratch with a character vocabulary built from the training text
(saved as ``tokenizer.json``), optionally after an MLM pre-training stage on the training passages
(``--option pretrain_epochs=N``: 15% of the tokens, 80/10/10), or starts from a Hugging Face BERT
checkpoint (``--option backbone=FOLDER`` or ``hf-hub:org/repo[@rev]``; its vocabulary then applies).

Metric (SogouQA's script): accuracy, character F1 and final = (accuracy + F1) / 2 of the answers voted
across each question's passages (``Σ s² / (Σ s + 1)``), decoded with the passage constraint (or by plain
argmax: ``zoo eval --option decoder=unconstrained``).

Presets. ``paper`` is the article's (Adam 1e-5 on a pretrained BERT, batch 32, 10 epochs, max_p_len 256,
max_q_len 64, max_a_len 32). From scratch that learning rate is far too small: ``cpu`` (the default)
trains a 3-layer, 128-wide encoder without dropout (it underfits with BERT's 0.1) with Adam 2e-3 (linear
warm-up, linear decay; 4e-3 diverges) and gradients clipped to norm 1 (without, some seeds end unstable),
batch 32, 60 epochs on generated passages (max_p_len 64, max_q_len 32, max_a_len 16); ``smoke`` is a
seconds-long check.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

import zoo
from zoo import atomic
from zoo.checks import check_int, check_number
from zoo.data_formats import SOGOU_QA_JSON
from zoo.recipes import preset_options
from zoo.text import bert_char_tokenizer, special_ids
from zoo_mlm_qa.data import Question, clean_passage, generated_qa, read_qa, training_target
from zoo_mlm_qa.encoding import answer_fits, encode_inputs_batch, encode_target
from zoo_mlm_qa.metric import score
from zoo_mlm_qa.model import mask_tokens
from zoo_mlm_qa.reader import answer_many

# the article's SogouQA validation score after 10 epochs on BERT-base (comparable only on SogouQA data)
ARTICLE = {"accuracy": 0.7282, "f1": 0.8207, "final": 0.7745}

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "max_p_len": 64, "max_q_len": 32, "max_a_len": 16, "max_position_embeddings": 128,
    },
    "cpu": {
        "hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 512,
        "max_p_len": 64, "max_q_len": 32, "max_a_len": 16, "max_position_embeddings": 128,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    },
    "paper": {},  # the registry's defaults (max_p_len 256, max_q_len 64, max_a_len 32), or the backbone's
}  # fmt: skip
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 1, "n_train": 64, "n_dev": 32, "lr": 1e-3, "warmup": 2, "clip_norm": 0.0},
    "cpu": {"epochs": 60, "n_train": 4000, "n_dev": 400, "lr": 2e-3, "warmup": 100, "clip_norm": 1.0},
    "paper": {"epochs": 10, "n_train": 20000, "n_dev": 400, "lr": 1e-5, "warmup": 0, "clip_norm": 0.0},
}
EVAL_DEV = 400  # zoo eval without --data: the generated dev set of this size (data_seed 0)
TRAIN_NAMES = ("train.json", "cmrc2018_train.json", "SogouQA.json", "WebQA.json")
DEV_NAMES = ("dev.json", "cmrc2018_dev.json", "valid.json", "test.json")


def split_file(questions: Sequence[Question], dev_fraction: float) -> tuple[list[Question], list[Question]]:
    """Train / dev questions of ONE file: every question whose position ``i`` has ``i % k == k - 1`` goes to
    dev, ``k = round(1 / dev_fraction)`` (deterministic, spread over the file)."""
    k = max(2, round(1 / dev_fraction))
    train = [q for i, q in enumerate(questions) if i % k != k - 1]
    dev = [q for i, q in enumerate(questions) if i % k == k - 1]
    return train, dev


def read_user_data(path: Path, dev_fraction: float) -> tuple[list[Question], list[Question], str]:
    """``--data``: a folder with a train and a dev file, or one file split by ``dev_fraction``."""
    if path.is_dir():
        train_file = next((path / n for n in TRAIN_NAMES if (path / n).is_file()), None)
        dev_file = next((path / n for n in DEV_NAMES if (path / n).is_file()), None)
        if train_file is None or dev_file is None:
            raise zoo.RecipeError(
                f"{path} needs a train file ({', '.join(TRAIN_NAMES)}) and a dev file "
                f"({', '.join(DEV_NAMES)}), or give one file (split by --option dev_fraction): "
                + SOGOU_QA_JSON
            )
        train, dev = _read(train_file), _read(dev_file)
        return train, dev, f"{train_file} (dev: {dev_file.name})"
    if not path.is_file():
        raise zoo.RecipeError(f"{path} does not exist: {SOGOU_QA_JSON}")
    train, dev = split_file(_read(path), dev_fraction)
    return train, dev, f"{path} (every {max(2, round(1 / dev_fraction))}th question held out as dev)"


def _read(path: Path) -> list[Question]:
    try:
        data = read_qa(path)
    except ValueError as exc:
        raise zoo.RecipeError(str(exc)) from exc
    if data.summary():
        warnings.warn(data.summary(), UserWarning, stacklevel=3)
    if not data.questions:
        raise zoo.RecipeError(f"{path} holds no usable question: {SOGOU_QA_JSON}")
    return data.questions


def training_pairs(
    questions: Sequence[Question], tokenizer: Any, max_p_len: int, max_a_len: int, rng: random.Random
) -> tuple[list[str], list[str], list[str], int]:
    """One random passage per question (the article's sampling): questions, cleaned passages, targets ("" =
    no answer in this passage), and how many were skipped because their answer does not fit the slots."""
    qs, ps, targets, too_long = [], [], [], 0
    for q in questions:
        passage = rng.choice(q.passages)
        text = clean_passage(passage.text)
        # bert4keras' window, passage[:max_p_len - 2]: the encoded passage keeps max_p_len - 1 tokens
        target = training_target(passage.text, q.answers, max(1, max_p_len - 2))
        if target and not answer_fits(tokenizer, target, max_a_len):
            too_long += 1
            continue
        qs.append(q.question)
        ps.append(text)
        targets.append(target)
    return qs, ps, targets, too_long


def evaluate_questions(
    model: Any, questions: Sequence[Question], batch_size: int = 32, constrained: bool = True
) -> tuple[dict[str, float], dict[str, str]]:
    """Accuracy, F1, final of the voted answers, and the answers by question id (the reader cleans each
    passage as training did, as bert4keras' ``gen_answer``; answers are the passages' own text)."""
    answers = answer_many(model, questions, batch_size=batch_size, constrained=constrained)
    predictions = {q.id: a.text for q, a in zip(questions, answers, strict=True)}
    return score(predictions, questions), predictions


class ReadingRecipe:
    """The article's non-autoregressive reader; dev accuracy / F1 / final with voting across passages."""

    summary = (
        "generated multi-passage Chinese QA with held-out entities (or --data SogouQA/WebQA/SQuAD/CMRC "
        "JSON); metric: accuracy, character F1, final"
    )
    data_format = SOGOU_QA_JSON
    presets = PRESETS
    distributed = True  # zoo train --nproc N (DDP through zoo.TrainLoop; MLM pre-training runs on every rank)
    resumable = True  # --checkpoint-every / --resume (states are written during QA training)
    options: ClassVar[dict[str, Any]] = {
        "epochs": None,  # None: the preset's
        "batch_size": 32,  # the article's
        "lr": None,
        "warmup": None,  # linear warm-up updates (then linear decay to 0)
        "n_train": None,  # generated data only
        "n_dev": None,
        "data_seed": 0,
        "dev_fraction": 0.2,  # --data FILE: the share of its questions held out as dev
        "pretrain_epochs": 0,  # MLM pre-training epochs over the training passages before QA training
        "clip_norm": None,  # clip the gradients' global L2 norm to this before each update (0: no clipping)
        "vocab_size": 0,  # character vocabulary size (0 = every character seen in training)
        "backbone": "",  # a Hugging Face BERT folder or hf-hub:org/repo[@rev] to start from
    }
    eval_options: ClassVar[dict[str, Any]] = {"predictions": "", "batch_size": 32, "decoder": "constrained"}

    def train(self, config: zoo.TrainConfig) -> zoo.TrainResult:
        o = preset_options(config, PRESETS)
        try:
            epochs = check_int(o["epochs"], "epochs", low=1)
            batch = check_int(o["batch_size"], "batch_size", low=1)
            warmup = check_int(o["warmup"], "warmup", low=0)
            pretrain = check_int(o["pretrain_epochs"], "pretrain_epochs", low=0)
            vocab_size = check_int(o["vocab_size"], "vocab_size", low=0)
            lr = check_number(o["lr"], "lr", low=0.0)
            clip_norm = check_number(o["clip_norm"], "clip_norm", low=0.0)
            dev_fraction = check_number(o["dev_fraction"], "dev_fraction", low=0.0, high=0.5, low_open=True)
        except ValueError as exc:
            raise zoo.RecipeError(f"option {exc}") from exc
        if config.data is None:
            corpus = generated_qa(
                check_int(o["n_train"], "n_train", low=1),
                check_int(o["n_dev"], "n_dev", low=1),
                seed=check_int(o["data_seed"], "data_seed", low=0),
            )
            train, dev = list(corpus.train), list(corpus.dev)
            source = f"{len(train)} generated questions (data_seed {o['data_seed']})"
        else:
            train, dev, source = read_user_data(config.data, dev_fraction)
        args = {**MODEL_PRESETS[config.preset], **config.model_args}
        backbone = None
        if o["backbone"]:
            from zoo.nn.hf_bert import read_hf_bert

            backbone = read_hf_bert(o["backbone"])
            if backbone.tokenizer is None:
                raise zoo.RecipeError(f"{o['backbone']} has no tokenizer.json or vocab.txt")
            tokenizer = backbone.tokenizer
            lengths = {k: v for k, v in args.items() if k.startswith("max_")}  # the preset's
            args = lengths | backbone.encoder_sizes() | dict(config.model_args)
        else:
            texts = [q.question for q in train] + [clean_passage(p.text) for q in train for p in q.passages]
            tokenizer = bert_char_tokenizer(texts, vocab_size=vocab_size or None)
        model = zoo.load(config.name, vocab_size=tokenizer.get_vocab_size(), **args)
        model.tokenizer = tokenizer
        if backbone is not None:
            from zoo.nn.hf_bert import init_from_hf_bert

            init_from_hf_bert(model.backbone, backbone)  # a BertModel's missing MLM head starts fresh
        model.to(config.device)
        rng = random.Random(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        notes = []
        if pretrain:
            mlm_losses = self.pretrain(model, train, pretrain, batch, lr, generator, config)
            notes.append(f"MLM pre-training {pretrain} epochs (last loss {mlm_losses[-1]:.3f})")
        steps_per_epoch = math.ceil(len(train) / batch)
        total = epochs * steps_per_epoch
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        warmup = min(warmup, total // 2)
        schedule = {0: 0.0, warmup: 1.0, total: 0.0} if warmup else {0: 1.0, total: 0.0}
        scheduler = zoo.load("piecewise-linear-lr", optimizer=optimizer, schedule=schedule)
        losses: list[float] = []
        epoch: dict[str, Any] = {}  # this epoch's pairs and order: saved, so a resumed run goes on mid-epoch
        loop = zoo.TrainLoop(config)
        loss_of = loop.parallel(model.loss)
        state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "generator": generator,
                 "rng": rng, "epoch": epoch, "losses": losses}  # fmt: skip
        pad = model.config.pad_token_id
        model.train()
        for step in loop.steps(total, state, desc=f"train {config.name}"):
            if step % steps_per_epoch == 0:  # a new epoch: one random passage per question
                qs, ps, targets, too_long = training_pairs(
                    train, tokenizer, model.max_p_len, model.max_a_len, rng
                )
                order = torch.randperm(len(qs), generator=generator).tolist()
                epoch.update(qs=qs, ps=ps, targets=targets, too_long=too_long, order=order)
            idx = epoch["order"][(step % steps_per_epoch) * batch :][:batch]
            if idx:  # skipped answers can leave an epoch's last batch empty
                idx = loop.shard(torch.tensor(idx)).tolist()
                ids = encode_inputs_batch(
                    tokenizer, [epoch["qs"][i] for i in idx], [epoch["ps"][i] for i in idx],
                    model.max_p_len, model.max_q_len, model.max_a_len,
                ).to(config.device)  # fmt: skip
                target = torch.stack(
                    [encode_target(tokenizer, epoch["targets"][i], model.max_a_len) for i in idx]
                )
                target = target.to(config.device)
                loss, count = loss_of(ids, target), (target != pad).sum()
                optimizer.zero_grad(set_to_none=True)
                loop.backward(loss, count=count)  # the loss is a mean over these tokens
                if clip_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                optimizer.step()
                losses.append(loop.item(loss, count))  # the global batch's mean
            scheduler.step()
        too_long = epoch.get("too_long", 0)
        model.eval()
        metrics, _ = evaluate_questions(model, dev)
        last = losses[-steps_per_epoch:] or [float("nan")]
        metrics |= {"questions": float(len(dev)), "train_loss": sum(last) / len(last)}
        example = encode_inputs_batch(
            tokenizer, [dev[0].question], [clean_passage(dev[0].passages[0].text)],
            model.max_p_len, model.max_q_len, model.max_a_len,
        ).to(config.device)  # fmt: skip
        notes = [
            f"{epochs} epochs over {source} ({total} updates, batch {batch}), Adam lr {lr} "
            f"(warm-up {warmup}, linear decay)"
            + (f", gradients clipped to norm {clip_norm}" if clip_norm else ""),
            *notes,
            f"backbone {'from ' + o['backbone'] if backbone else 'from scratch'} "
            f"({model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}, "
            f"{tokenizer.get_vocab_size()} tokens)",
            f"dev = {len(dev)} questions" + (" over held-out entity names" if config.data is None else ""),
        ]
        if too_long:
            notes.append(f"{too_long} training answers longer than max_a_len - 1 tokens skipped per epoch")
        return zoo.TrainResult(
            model=model,
            metrics=metrics,
            reference=ARTICLE if config.data is not None else {},
            example_inputs=(example,),
            notes="; ".join(notes)
            + ("; the article's numbers are SogouQA's validation score" if config.data else ""),
        )

    @staticmethod
    def pretrain(
        model: Any, train: Sequence[Question], epochs: int, batch: int, lr: float, generator: torch.Generator,
        config: zoo.TrainConfig,
    ) -> list[float]:  # fmt: skip
        """BERT's MLM objective over the training passages (each a ``[CLS] passage [SEP]`` sequence)."""
        from zoo.text import encode_batch

        texts = [clean_passage(p.text) for q in train for p in q.passages]
        encoded = encode_batch(model.tokenizer, texts, maxlen=model.max_p_len + 1).ids
        special = special_ids(model.tokenizer)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps = math.ceil(len(texts) / batch)
        losses: list[float] = []
        model.train()
        for step in zoo.progress(range(epochs * steps), desc="MLM pre-training"):
            if step % steps == 0:
                order = torch.randperm(len(texts), generator=generator)
            idx = order[(step % steps) * batch :][:batch]
            ids, labels = mask_tokens(encoded[idx], special, generator, vocab_size=model.config.vocab_size)
            loss = model.mlm_loss(ids.to(config.device), labels.to(config.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    def evaluate(
        self,
        model: Any,
        data: Path | None,
        device: str = "cpu",
        predictions: str = "",
        batch_size: int = 32,
        decoder: str = "constrained",
    ) -> dict[str, float]:
        """Accuracy, F1 and final on a QA JSON file (either format; a folder: its dev file), or without
        ``data`` on the generated dev set (held-out entities). ``predictions``: write ``{id: answer}`` JSON
        there. ``decoder``: ``constrained`` (the article's) or ``unconstrained`` (plain argmax)."""
        if decoder not in ("constrained", "unconstrained"):
            raise zoo.RecipeError(f"decoder must be 'constrained' or 'unconstrained'; got {decoder!r}")
        model = model.to(device)
        if data is None:
            questions = list(generated_qa(0, EVAL_DEV, seed=0).dev)
        else:
            path = Path(data)
            if path.is_dir():
                path = next((path / n for n in DEV_NAMES if (path / n).is_file()), path / DEV_NAMES[0])
            questions = _read(path)
        metrics, answers = evaluate_questions(model, questions, batch_size, decoder == "constrained")
        if predictions:
            import json

            text = json.dumps(answers, ensure_ascii=False, indent=1) + "\n"
            atomic.write_text(Path(predictions), text)
        return {**metrics, "questions": float(len(questions))}
