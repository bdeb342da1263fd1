"""The SogouQA evaluation (Sogou's script in bojone/dgcnn_for_reading_comprehension) and the article's
multi-passage vote.

Normalization (:func:`normalize`): full-width -> half-width (U+3000 -> space, U+FF01..U+FF5E shifted by
0xFEE0), lowercase, punctuation dropped (ASCII and Chinese: every Unicode punctuation or symbol
character, plus Sogou's list's ``々 ˇ ˉ``), blanks dropped.

- accuracy: the normalized prediction equals a normalized gold answer, or its set of parts (split at
  punctuation and blanks) equals that of the first (standard) gold answer, so ``"巴西,俄罗斯"`` matches
  ``"俄罗斯 巴西"``; an empty prediction is wrong;
- F1: character level (a multiset of characters), the maximum over the gold answers; 0 for an empty
  prediction;
- final = (accuracy + F1) / 2, averaged over all questions (one without a prediction counts 0).

Sogou's script has an "expanded" gold set per question; here the gold set is :attr:`Question.answers`
(SogouQA / WebQA: all passages' annotations). Its part sets keep empty strings between repeated
separators; these are dropped here.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from zoo_mlm_qa.data import Question

__all__ = ["best_answer", "char_f1", "exact_match", "normalize", "score", "vote"]

_EXTRA_PUNCTUATION = frozenset("々ˇˉ")  # in Sogou's list, but letters / modifiers for Unicode
_BLANKS = re.compile(r"\s+")


def _half_width(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code == 0x3000:
            code = 0x20
        elif 0xFF01 <= code <= 0xFF5E:
            code -= 0xFEE0
        out.append(chr(code))
    return "".join(out)


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS" or char in _EXTRA_PUNCTUATION


def _drop_punctuation(text: str) -> str:
    """Every punctuation character replaced by a space (so it still separates parts)."""
    return "".join(" " if _is_punctuation(c) else c for c in text)


def normalize(text: str) -> str:
    """Sogou's normalization: half-width, lowercase, no punctuation, no blanks."""
    return _BLANKS.sub("", _drop_punctuation(_half_width(text).lower()))


def _part_set(text: str) -> frozenset[str]:
    parts = (normalize(p) for p in _drop_punctuation(_half_width(text).lower()).split())
    return frozenset(p for p in parts if p)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when ``prediction`` is one of ``answers`` after :func:`normalize`, or has the same parts as
    ``answers[0]`` in any order; else 0.0 (also for an empty prediction or no answers)."""
    pred = normalize(prediction)
    if not pred or not answers:
        return 0.0
    if any(pred == normalize(a) for a in answers):
        return 1.0
    return float(_part_set(prediction) == _part_set(answers[0]))


def char_f1(prediction: str, answers: Sequence[str]) -> float:
    """Character-level F1 of the normalized strings (characters as a multiset), the maximum over
    ``answers``; 0.0 for an empty prediction or no answers."""
    pred = Counter(normalize(prediction))
    best = 0.0
    if not pred:
        return best
    for answer in answers:
        gold = Counter(normalize(answer))
        common = sum((pred & gold).values())
        if common:
            precision, recall = common / sum(pred.values()), common / sum(gold.values())
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def score(predictions: Mapping[str, str], questions: Iterable[Question]) -> dict[str, float]:
    """``{"accuracy", "f1", "final"}`` of ``predictions`` (question id -> answer text) on ``questions``.

    A question without a prediction scores 0; an id that names no question is an error (a prediction
    file for another data set). ``final`` is the mean of accuracy and F1.
    """
    questions = list(questions)
    if not questions:
        raise ValueError("score needs at least one question; got none")
    known = {q.id for q in questions}
    unknown = [qid for qid in predictions if qid not in known]
    if unknown:
        raise ValueError(
            f"predictions name {len(unknown)} ids that are not questions of this data set, e.g. "
            f"{unknown[:3]}; score predictions against the data they were made for"
        )
    acc = f1 = 0.0
    for q in questions:
        prediction = predictions.get(q.id, "")
        acc += exact_match(prediction, q.answers)
        f1 += char_f1(prediction, q.answers)
    acc, f1 = acc / len(questions), f1 / len(questions)
    return {"accuracy": acc, "f1": f1, "final": (acc + f1) / 2}


def vote(candidates: Sequence[tuple[str, float]]) -> dict[str, float]:
    """The article's vote over passages: ``{answer: Σs² / (Σs + 1)}``, summing over the passages that
    answered ``answer`` with score ``s`` in [0, 1]; empty answers (no answer in that passage) cast no vote.

    One passage with s = 1 gives 0.5; two with s = 0.9 give 0.579; one with s = 0.9 gives 0.426.
    """
    sums: dict[str, list[float]] = {}
    for index, (answer, value) in enumerate(candidates):
        try:
            s = float(value)
        except (TypeError, ValueError):
            s = math.nan
        if not 0.0 <= s <= 1.0:  # also NaN
            raise ValueError(
                f"candidates[{index}] has score {value!r}; a passage's score is a probability in [0, 1]"
            )
        if answer:
            total = sums.setdefault(answer, [0.0, 0.0])
            total[0] += s * s
            total[1] += s
    return {answer: squares / (total + 1.0) for answer, (squares, total) in sums.items()}


def best_answer(candidates: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The answer with the largest :func:`vote` and its vote (the first seen among equals);
    ``("", 0.0)`` when no passage answered."""
    votes = vote(candidates)
    if not votes:
        return "", 0.0
    answer = max(votes, key=lambda a: votes[a])  # max keeps the first of equal votes (insertion order)
    return answer, votes[answer]
