"""Question-answering data for the MLM reader: SogouQA / WebQA and SQuAD / CMRC 2018 JSON readers, the
article's training-target rule, and a generated multi-passage QA set with held-out entities.

Conventions of bojone/bert4keras ``examples/task_reading_comprehension_by_mlm.py``:

- a SogouQA / WebQA record has several passages, each annotated with one answer string ("" = no answer
  there); an answer of several space-separated parts (``"巴西 俄罗斯 印度"``) occurs when every part
  occurs in the passage, and is the target ``"巴西,俄罗斯,印度"``;
- a question's answers are its passages' non-empty annotations in passage order; the training target for
  one passage is the FIRST of them all of whose parts occur in the passage's first ``max_chars``
  characters (:func:`training_target`), else "" (no answer);
- passages are cleaned before encoding: blanks, ``、``, ``；`` and ``，`` become ``,``
  (:func:`clean_passage`).

Readers never raise on a record that merely lacks a field: it is skipped and counted in
:attr:`QAData.skipped` (reason -> count, the keys of :data:`SKIP_REASONS`), with the first place of each
kind in :attr:`QAData.first_skip`. Text that is not JSON, a top level of the wrong shape, and records or
fields of the wrong type raise a ``ValueError`` naming the file and the record.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.checks import check_int

__all__ = [
    "SKIP_REASONS",
    "GeneratedQA",
    "Passage",
    "QAData",
    "Question",
    "answer_occurs",
    "clean_passage",
    "generated_qa",
    "read_qa",
    "read_sogou",
    "read_squad",
    "training_target",
]

SKIP_REASONS = {
    "record_missing_field": "records without a non-empty id, question or passages/context (skipped)",
    "duplicate_id": "records repeating an earlier id (skipped)",
    "passage_missing_field": "passages without a 'passage' text or an 'answer' string (skipped)",
    "no_passages": "questions left with no passage (skipped)",
    "answer_missing_field": "SQuAD answers without a 'text' string (skipped)",
    "answer_start_mismatch": "SQuAD answers whose answer_start does not point at their text (the text is "
    "kept when it occurs elsewhere in the context)",
    "answer_not_in_passage": "answers that do not occur in their passage (SogouQA: kept in the question's "
    "gold set only; SQuAD: dropped)",
}

_PUNCTUATION = re.compile("、|；|，")


@dataclass(frozen=True)
class Passage:
    """One passage and the answers that occur in it (empty: no answer here)."""

    text: str
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    """A question, its passages, and its gold answer set (what the metric accepts)."""

    id: str
    question: str
    passages: tuple[Passage, ...]
    answers: tuple[str, ...]


@dataclass
class QAData:
    """What a reader read: the questions, and what it skipped or fixed (reason -> count)."""

    questions: list[Question]
    skipped: dict[str, int] = field(default_factory=dict)
    path: Path | None = None
    first_skip: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        """Count one ``reason`` (a key of :data:`SKIP_REASONS`) and remember where it first happened."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.first_skip.setdefault(reason, where)

    @property
    def n_passages(self) -> int:
        return sum(len(q.passages) for q in self.questions)

    def summary(self) -> str:
        """One line naming each kind of skip, its count and first place; "" when nothing was skipped."""
        parts = [f"{n} {SKIP_REASONS[r]} (first: {self.first_skip[r]})" for r, n in self.skipped.items()]
        return f"{self.path or 'QA data'}: " + "; ".join(parts) if parts else ""


def _separator_spaces(text: str) -> list[int]:
    """Positions of the spaces that separate Chinese (non-ASCII) text: the nearest non-space characters on
    both sides are non-ASCII. Spaces inside Latin text (``New York``) are words' own and are kept."""
    out = []
    for i, char in enumerate(text):
        if char != " ":
            continue
        left, right = text[:i].rstrip(" "), text[i + 1 :].lstrip(" ")
        if left and right and not left[-1].isascii() and not right[0].isascii():
            out.append(i)
    return out


def clean_passage(text: str) -> str:
    """bert4keras' passage cleaning: ``、``, ``；``, ``，`` and the spaces between Chinese text become ``,``.

    One character for one, so offsets into the cleaned text point into the original. bert4keras replaces
    EVERY space (its data is Chinese, whose BERT tokenizer drops spaces); here spaces between Latin
    characters stay, so English passages keep their words (``New York`` is not ``New,York``).
    """
    chars = list(_PUNCTUATION.sub(",", text))
    for i in _separator_spaces(text):
        chars[i] = ","
    return "".join(chars)


def _parts(answer: str) -> list[str]:
    """An answer's non-empty parts (split at the spaces between Chinese text), each cleaned like a passage."""
    cuts = [-1, *_separator_spaces(answer), len(answer)]
    parts = (answer[a + 1 : b].strip(" ") for a, b in itertools.pairwise(cuts))
    return [clean_passage(part) for part in parts if part]


def answer_occurs(answer: str, passage: str) -> bool:
    """Whether every space-separated part of ``answer`` occurs in ``passage`` (both cleaned)."""
    parts = _parts(answer)
    text = clean_passage(passage)
    return bool(parts) and all(part in text for part in parts)


def training_target(passage: str, answers: Sequence[str], max_chars: int) -> str:
    """The answer to train on for ``passage``: the first of ``answers`` all of whose parts occur in the
    cleaned passage's first ``max_chars`` characters, parts joined by ``,``; "" (no answer) if none does.

    ``max_chars`` is the passage budget in characters (bert4keras: ``max_p_len - 2``). Parts are cleaned
    like the passage (a deliberate superset of bert4keras, which leaves ``、；，`` inside an answer and then
    never finds it in the cleaned passage); empty answers and empty parts are ignored.
    """
    check_int(max_chars, "max_chars", low=1)
    window = clean_passage(passage)[:max_chars]
    for answer in answers:
        parts = _parts(answer)
        if parts and all(part in window for part in parts):
            return ",".join(parts)
    return ""


# ---------------------------------------------------------------------------------------------------------
# readers


def _load_json(path: Path) -> Any:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read the QA file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; expected "
            "SogouQA / WebQA JSON (a list of question records) or SQuAD / CMRC 2018 JSON ({'data': [...]})"
        ) from exc


def _text(value: Any, where: str, name: str) -> str | None:
    """A record's string field: None when missing or empty (the caller skips), an error when not text."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(
            f"{where}: {name!r} must be a string, got {type(value).__name__} {str(value)[:60]!r}"
        )
    return str(value) or None


def _list(value: Any, where: str, name: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"{where}: {name!r} must be a JSON list, got {type(value).__name__}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not a JSON object: {str(value)[:80]!r}")
    return value


def _distinct(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def read_sogou(path: str | Path) -> QAData:
    """Read SogouQA / WebQA JSON: a list of ``{"id", "question", "passages": [{"passage", "answer"}]}``.

    A passage's answers are its annotation when that occurs in it (:func:`answer_occurs`); an annotation
    that does not is counted (``answer_not_in_passage``) and kept only in the question's gold set, which
    is the distinct non-empty annotations of all its passages, in passage order (the first is the
    preferred training target). Numeric ids are read as strings.
    """
    path = Path(path)
    records = _load_json(path)
    if not isinstance(records, list):
        raise ValueError(
            f"{path}: a SogouQA / WebQA file is a JSON list of question records, "
            f"got a {type(records).__name__}"
        )
    return _read_sogou_records(records, path)


def _read_sogou_records(records: list[Any], path: Path) -> QAData:
    data = QAData([], {}, path)
    ids: set[str] = set()
    for index, item in enumerate(records):
        where = f"{path} record {index}"
        record = _object(item, where)
        qid = _text(record.get("id"), where, "id")
        where = f"{where} (id {qid})" if qid is not None else where
        question = _text(record.get("question"), where, "question")
        raw_passages = _list(record.get("passages"), where, "passages")
        if qid is None or question is None or raw_passages is None:
            data.skip("record_missing_field", where)
            continue
        if qid in ids:
            data.skip("duplicate_id", where)
            continue
        passages, gold = [], []
        for number, raw in enumerate(raw_passages):
            here = f"{where} passage {number}"
            entry = _object(raw, here)
            text = _text(entry.get("passage"), here, "passage")
            answer = entry.get("answer")
            if text is None or not isinstance(answer, str):
                data.skip("passage_missing_field", here)
                continue
            answer = answer.strip()
            if not answer:
                passages.append(Passage(text))
                continue
            gold.append(answer)
            if answer_occurs(answer, text):
                passages.append(Passage(text, (answer,)))
            else:
                data.skip("answer_not_in_passage", f"{here}: {answer!r}")
                passages.append(Passage(text))
        if not passages:
            data.skip("no_passages", where)
            continue
        ids.add(qid)
        data.questions.append(Question(qid, question, tuple(passages), _distinct(gold)))
    return data


def read_squad(path: str | Path) -> QAData:
    """Read SQuAD / CMRC 2018 JSON: ``{"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
    "answers": [{"text", "answer_start"}]}]}]}]}``, one passage (the context) per question.

    An answer whose ``answer_start`` does not point at its text (or is missing) is counted
    (``answer_start_mismatch``) and kept when its text occurs anywhere in the context, else dropped and
    counted (``answer_not_in_passage``). Repeated answer texts (several annotators) are kept once; the gold
    set is the passage's answers. A question left without answers is kept (its passage has no answer).
    """
    path = Path(path)
    top = _load_json(path)
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise ValueError(f'{path}: a SQuAD / CMRC 2018 file is a JSON object with a "data" list')
    return _read_squad_top(top, path)


def _read_squad_top(top: dict[str, Any], path: Path) -> QAData:
    data = QAData([], {}, path)
    ids: set[str] = set()
    for a_index, raw_article in enumerate(top["data"]):
        article = _object(raw_article, f"{path} data[{a_index}]")
        paragraphs = _list(article.get("paragraphs"), f"{path} data[{a_index}]", "paragraphs") or []
        for p_index, raw_paragraph in enumerate(paragraphs):
            where = f"{path} data[{a_index}].paragraphs[{p_index}]"
            paragraph = _object(raw_paragraph, where)
            context = _text(paragraph.get("context"), where, "context")
            qas = _list(paragraph.get("qas"), where, "qas")
            if context is None or qas is None:
                data.skip("record_missing_field", where)
                continue
            for q_index, raw_qa in enumerate(qas):
                here = f"{where}.qas[{q_index}]"
                qa = _object(raw_qa, here)
                qid = _text(qa.get("id"), here, "id")
                here = f"{here} (id {qid})" if qid is not None else here
                question = _text(qa.get("question"), here, "question")
                answers = _list(qa.get("answers"), here, "answers")
                if qid is None or question is None or answers is None:
                    data.skip("record_missing_field", here)
                    continue
                if qid in ids:
                    data.skip("duplicate_id", here)
                    continue
                found = [
                    _squad_answer(data, context, raw, f"{here} answer {n}") for n, raw in enumerate(answers)
                ]
                kept = _distinct([text for text in found if text is not None])
                ids.add(qid)
                data.questions.append(Question(qid, question, (Passage(context, kept),), kept))
    return data


def _squad_answer(data: QAData, context: str, raw: Any, where: str) -> str | None:
    answer = _object(raw, where)
    text = answer.get("text")
    if not isinstance(text, str) or not text.strip():
        data.skip("answer_missing_field", where)
        return None
    start = answer.get("answer_start")
    if isinstance(start, int) and not isinstance(start, bool) and context[start : start + len(text)] == text:
        return text
    data.skip("answer_start_mismatch", f"{where}: {text!r} at {start!r}")
    if text in context:
        return text
    data.skip("answer_not_in_passage", f"{where}: {text!r}")
    return None


def read_qa(path: str | Path) -> QAData:
    """Read either format, detected from the top level: a JSON list is SogouQA / WebQA, an object with a
    ``"data"`` list is SQuAD / CMRC 2018."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give one SogouQA / WebQA or SQuAD / CMRC 2018 JSON file")
    top = _load_json(path)
    if isinstance(top, list):
        return _read_sogou_records(top, path)
    if isinstance(top, dict) and isinstance(top.get("data"), list):
        return _read_squad_top(top, path)
    raise ValueError(
        f"{path}: unknown QA format (top level is a {type(top).__name__}"
        f"{' without a data list' if isinstance(top, dict) else ''}); expected a SogouQA / WebQA list of "
        '{"id", "question", "passages"} records or a SQuAD / CMRC 2018 object {"data": [...]}'
    )


# ---------------------------------------------------------------------------------------------------------
# generated multi-passage QA

# Character pools: disjoint per kind and from the templates' wording, so no name of one kind can appear
# inside a name of another kind or inside a template.
_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜谢邹喻柏窦章苏潘葛范彭鲁"
_GIVEN = "伟芳娜敏静丽强磊洋勇艳杰涛超霞刚桂英玉萍红娥玲凤洁梅琳素云莲环雪荣爱妹香莺媛瑞佳嘉琼勤珍"
_PLACE_HEADS = "江河湖海泉溪潭岭峰川原林"
_PLACE_TAILS = "阳宁安平丰源城州乐兴康泰"
_PLACE_SUFFIXES = ("市", "县", "镇")
_TITLE_HEADS = "春夏秋冬风雨雷电星辰霜露晨暮烟波"
_TITLE_TAILS = (
    "之歌",
    "往事",
    "故事",
    "旧梦",
    "之恋",
    "人家",
    "少年",
    "归途",
    "传奇",
    "之夜",
    "边城",
    "纪行",
)
_ORG_HEADS = "弘宏鼎盛恒裕隆昌振泽达鑫腾联"
_ORG_SUFFIXES = ("公司", "集团", "研究所", "书局", "学会")
_KINDS = ("person", "place", "work", "org", "date")
_POOL_SIZES = {"person": 300, "place": 120, "work": 200, "org": 150, "date": 200}

# relation -> (subject kind, object kind, statements, questions); {s} subject, {o} object.
_RELATIONS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "birthplace": (
        "person",
        "place",
        (
            "{s}出生于{o}，自幼聪明好学。",
            "{s}是{o}人，年轻时当过老师。",
            "{o}是{s}的故乡，{s}在那里度过了童年。",
            "{s}生在{o}，后来一直在外地工作。",
        ),
        ("{s}出生在哪里？", "{s}的出生地是哪里？", "{s}是哪里人？", "{s}的故乡在哪？"),
    ),
    "birthdate": (
        "person",
        "date",
        ("{s}生于{o}。", "{s}出生于{o}，父母都是工人。", "{o}，{s}出生在一个普通的家庭。"),
        ("{s}是什么时候出生的？", "{s}的出生日期是？", "{s}生于何时？"),
    ),
    "author": (
        "work",
        "person",
        (
            "《{s}》的作者是{o}。",
            "{o}写了《{s}》，这本书很受欢迎。",
            "《{s}》是{o}创作的一部小说。",
            "{o}花了三年时间完成了《{s}》。",
        ),
        ("《{s}》的作者是谁？", "谁写了《{s}》？", "《{s}》是谁创作的？"),
    ),
    "published": (
        "work",
        "date",
        ("《{s}》出版于{o}。", "《{s}》在{o}首次出版。", "{o}，《{s}》正式出版。"),
        ("《{s}》是什么时候出版的？", "《{s}》的出版时间是？", "《{s}》哪一年出版？"),
    ),
    "founder": (
        "org",
        "person",
        ("{s}由{o}创办。", "{o}创立了{s}，并担任第一任负责人。", "{s}的创始人是{o}。"),
        ("{s}的创始人是谁？", "谁创办了{s}？", "{s}是由谁创立的？"),
    ),
    "location": (
        "org",
        "place",
        ("{s}位于{o}。", "{s}的总部设在{o}。", "{s}坐落在{o}，交通十分便利。"),
        ("{s}在哪里？", "{s}的总部在哪个地方？", "{s}位于哪里？"),
    ),
    "founded": (
        "org",
        "date",
        ("{s}成立于{o}。", "{o}，{s}正式成立。", "{s}创建于{o}，至今已有多年历史。"),
        ("{s}是什么时候成立的？", "{s}的成立时间是？", "{s}创建于何时？"),
    ),
}
_FILLERS = {
    "person": ("{s}喜欢读书和旅行。", "{s}是一位受人尊敬的学者。", "{s}为人低调，很少接受采访。"),
    "work": ("《{s}》讲述了一个感人的故事。", "《{s}》曾被改编成电视剧。", "很多读者都推荐过《{s}》。"),
    "org": ("{s}有员工一千多人。", "{s}每年都会举办开放日活动。", "{s}近年来发展很快。"),
}


@dataclass(frozen=True)
class GeneratedQA:
    """Generated train and dev questions; dev uses only the held-out fifth of every entity list.

    ``held_out`` and ``seen`` map a kind (person, place, work, org, date) to its dev / train names (works
    without the ``《》`` the passages put around them).
    """

    train: tuple[Question, ...]
    dev: tuple[Question, ...]
    held_out: dict[str, tuple[str, ...]]
    seen: dict[str, tuple[str, ...]]


def _pools(rng: random.Random) -> dict[str, list[str]]:
    candidates = {
        "person": [s + a + b for s in _SURNAMES for a in _GIVEN for b in _GIVEN if a != b],
        "place": [a + b + c for a in _PLACE_HEADS for b in _PLACE_TAILS for c in _PLACE_SUFFIXES],
        "work": [a + b + t for a in _TITLE_HEADS for b in _TITLE_HEADS for t in _TITLE_TAILS if a != b],
        "org": [a + b + c for a in _ORG_HEADS for b in _ORG_HEADS for c in _ORG_SUFFIXES if a != b],
        "date": [f"{y}年{m}月" for y in range(1801, 2021) for m in range(1, 13)],
    }
    return {kind: rng.sample(names, _POOL_SIZES[kind]) for kind, names in candidates.items()}


class _World:
    """Entities of one split and their facts (one object per subject and relation)."""

    def __init__(self, names: dict[str, list[str]], rng: random.Random) -> None:
        self.names = names
        self.facts: dict[str, dict[str, str]] = {
            rel: {s: rng.choice(names[okind]) for s in names[skind]}
            for rel, (skind, okind, _, _) in _RELATIONS.items()
        }

    def statement(self, relation: str, subject: str, rng: random.Random, exclude: str = "") -> str:
        statements = _RELATIONS[relation][2]
        template = rng.choice([t for t in statements if t != exclude])
        return template.format(s=subject, o=self.facts[relation][subject])

    def other(self, subject: str, skind: str, relation: str, rng: random.Random) -> str:
        """A sentence about ``subject`` that does not state ``relation``: another fact of it, or a filler."""
        others = [r for r, (k, _, _, _) in _RELATIONS.items() if k == skind and r != relation]
        if rng.random() < 0.6:
            return self.statement(rng.choice(others), subject, rng)
        return rng.choice(_FILLERS[skind]).format(s=subject)


def _question(world: _World, qid: str, rng: random.Random) -> Question:
    relation = rng.choice(list(_RELATIONS))
    skind, _, statements, questions = _RELATIONS[relation]
    subject = rng.choice(world.names[skind])
    answer = world.facts[relation][subject]
    total = rng.randint(3, 5)
    n_answer = rng.randint(1, 2)
    n_distractor = rng.randint(1, min(2, total - n_answer))
    passages: list[Passage] = []
    used = ""
    for _ in range(n_answer):  # the fact in different wordings, sometimes with another sentence about s
        template = rng.choice([t for t in statements if t != used])
        used = template
        sentences = [template.format(s=subject, o=answer)]
        if rng.random() < 0.5:
            sentences.insert(rng.randint(0, 1), world.other(subject, skind, relation, rng))
        passages.append(Passage("".join(sentences), (answer,)))
    rivals = [s for s in world.names[skind] if s != subject and world.facts[relation][s] != answer]
    for rival in rng.sample(rivals, n_distractor):  # the same relation about another subject
        sentences = [world.statement(relation, rival, rng)]
        if rng.random() < 0.3:
            sentences.append(world.other(rival, skind, relation, rng))
        passages.append(Passage("".join(sentences)))
    for _ in range(total - n_answer - n_distractor):  # about the subject, without the answer
        passages.append(Passage(world.other(subject, skind, relation, rng)))
    rng.shuffle(passages)
    text = rng.choice(questions).format(s=subject)
    return Question(qid, text, tuple(passages), (answer,))


def generated_qa(n_train: int = 4000, n_dev: int = 400, seed: int = 0) -> GeneratedQA:
    """Multi-passage Chinese QA from template facts over persons, places, works, organizations and dates.

    Seven relations (birthplace, birth date, author, publication date, founder, location, founding date),
    3-4 wordings and 3-4 question paraphrases each. A question has 3-5 passages (≤ 80 characters): 1-2
    state its fact in different wordings, 1-2 distractors state the same relation of other subjects (with
    other answers), the rest speak of the subject without the answer. A fifth of every entity list is held
    out: dev questions, their passages and answers use only held-out names, train ones only the rest.
    Deterministic per ``seed``; the dev set does not depend on ``n_train``. Every answer occurs in the
    passages that list it and in no other passage of its question.
    """
    check_int(n_train, "n_train", low=0)
    check_int(n_dev, "n_dev", low=0)
    pools = _pools(random.Random(f"mlm-qa-pools-{seed}"))
    held_out = {kind: sorted(names[: len(names) // 5]) for kind, names in pools.items()}
    seen = {kind: sorted(names[len(names) // 5 :]) for kind, names in pools.items()}
    splits = []
    for name, names, count in (("train", seen, n_train), ("dev", held_out, n_dev)):
        world = _World(names, random.Random(f"mlm-qa-{name}-facts-{seed}"))
        rng = random.Random(f"mlm-qa-{name}-{seed}")
        splits.append(tuple(_question(world, f"gen-{name}-{i:06d}", rng) for i in range(count)))
    return GeneratedQA(
        splits[0],
        splits[1],
        {k: tuple(v) for k, v in held_out.items()},
        {k: tuple(v) for k, v in seen.items()},
    )
