"""The reader a user calls: ``answer(model, question, passages)`` -> the voted answer and every vote.

Each passage is read on its own (one input per passage, batched, one forward for all answer slots) and
decoded with the constrained decoder (:mod:`zoo_mlm_qa.decode`); its answer and score are that passage's
vote. Empty answers cast no vote; the others are pooled by :func:`zoo_mlm_qa.metric.vote`
(``Σs² / (Σs + 1)`` per distinct answer) and the best wins. Answers are grouped by the tokenizer's
decoding of their tokens (normalized text, as bert4keras), and every answer's text is the passage's own
substring (through the token offsets), so case and spacing are the passage's. The model reads each
passage cleaned as in training (:func:`zoo_mlm_qa.data.clean_passage`: blanks, ``、``, ``；``, ``，`` ->
``,``, one character for one, so the offsets still point into the original text).

A passage shorter than the answer slots is fine; an empty one just yields "". The model runs in eval mode
with no gradient; its training flags are restored after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

import zoo
from zoo.checks import check_int
from zoo.text import special_ids
from zoo_mlm_qa.data import clean_passage
from zoo_mlm_qa.decode import one_pass_decode
from zoo_mlm_qa.encoding import PassageTokens, encode_inputs_batch, passage_tokens
from zoo_mlm_qa.metric import best_answer

__all__ = ["Answer", "Vote", "answer", "answer_many"]


@dataclass(frozen=True)
class Vote:
    """One passage's answer (its own substring, "" for none) and score (mean chosen probability)."""

    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    """The voted answer ("" when every passage answered nothing), its vote value ``Σs²/(Σs+1)`` (0 for
    ""), and the vote of each passage in the order given."""

    text: str
    score: float
    votes: list[Vote]


def _passage_text(passage: Any) -> str:
    text = passage if isinstance(passage, str) else getattr(passage, "text", None)
    if not isinstance(text, str):
        raise TypeError(f"a passage must be a str or have a .text str; got {type(passage).__name__}")
    return text


def _check_model(model: Any) -> Any:
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise zoo.ZooError(
            "this model has no tokenizer: load a trained checkpoint (it carries tokenizer.json) or set "
            "model.tokenizer (zoo.text.bert_char_tokenizer or zoo.text.wordpiece_tokenizer)"
        )
    return tokenizer


def _read(
    model: Any, pairs: Sequence[tuple[str, PassageTokens]], batch_size: int, constrained: bool
) -> list[tuple[Vote, str]]:
    """Each (question, passage)'s vote and its answer's key (the tokenizer's decoding of the answer
    tokens), ``batch_size`` inputs per forward."""
    tokenizer = model.tokenizer
    sep = special_ids(tokenizer).sep
    device = next(model.parameters()).device
    votes: list[tuple[Vote, str]] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        passages = [p for _, p in chunk]
        ids = encode_inputs_batch(
            tokenizer, [q for q, _ in chunk], passages, model.max_p_len, model.max_q_len, model.max_a_len
        ).to(device)
        decoded = one_pass_decode(model, ids, [p.ids for p in passages], sep, constrained=constrained)
        for passage, (tokens, score) in zip(passages, decoded, strict=True):
            try:
                text = passage.span_text(tokens)
            except ValueError:  # unconstrained decoding may leave the passage
                text = tokenizer.decode(tokens)
            key = (tokenizer.decode(tokens) or text) if tokens else ""  # all-[UNK] decodes to ""
            votes.append((Vote(text, score), key))
    return votes


def _pool(read: list[tuple[Vote, str]]) -> Answer:
    """The best answer by :func:`~zoo_mlm_qa.metric.vote` over the passages' non-empty answers."""
    votes = [v for v, _ in read]
    best, value = best_answer([(key, v.score) for v, key in read])
    if not best:
        return Answer("", 0.0, votes)
    # the text shown: the best-scoring passage's own spelling of the winning answer
    text = max((v for v, key in read if key == best), key=lambda v: v.score).text
    return Answer(text, value, votes)


def answer(
    model: Any, question: str, passages: Sequence[str], batch_size: int = 32, constrained: bool = True
) -> Answer:
    """Answer ``question`` from ``passages`` (texts, or objects with ``.text``) with an
    :class:`~zoo_mlm_qa.model.MLMReader` carrying its tokenizer.

    ``batch_size`` passages go through the model at once. ``constrained=False`` decodes by plain argmax
    (the ablation; answers may then leave the passages). No passages is a ValueError.
    """
    return answer_many(model, [(question, passages)], batch_size, constrained)[0]


def _question_parts(item: Any) -> tuple[str, list[str]]:
    if isinstance(item, tuple):
        question, passages = item
    else:
        question, passages = getattr(item, "question", None), getattr(item, "passages", None)
    if not isinstance(question, str) or passages is None or isinstance(passages, str):
        raise TypeError(
            "each question must be a (question, passages) pair or have .question (str) and .passages "
            f"(a list); got {type(item).__name__}"
        )
    texts = [_passage_text(p) for p in passages]
    if not texts:
        name = getattr(item, "id", None)
        raise ValueError(
            f"question {question[:40]!r}{f' (id {name})' if name is not None else ''} has no passages: "
            "the reader answers from passages; pass at least one"
        )
    return question, texts


def answer_many(
    model: Any, questions: Iterable[Any], batch_size: int = 32, constrained: bool = True
) -> list[Answer]:
    """:func:`answer` for many questions (``(question, passages)`` pairs or
    :class:`zoo_mlm_qa.data.Question` records), their passages batched together across questions."""
    check_int(batch_size, "batch_size", low=1)
    tokenizer = _check_model(model)
    parts = [_question_parts(q) for q in questions]
    pairs: list[tuple[str, PassageTokens]] = []
    for question, texts in parts:
        read = passage_tokens(tokenizer, [clean_passage(t) for t in texts], model.max_p_len)
        pairs.extend((question, replace(p, text=raw)) for p, raw in zip(read, texts, strict=True))
    with torch.no_grad():
        votes = _read(model, pairs, batch_size, constrained)
    out, start = [], 0
    for _, texts in parts:
        out.append(_pool(votes[start : start + len(texts)]))
        start += len(texts)
    return out
