"""Triple-extraction data: DuIE / SKE JSON lines and schema files, the character vocabulary, a generated
Chinese corpus with known triples, and the training targets of bojone/kg-2019.

Spans are Python slices into the text: ``(start, end)`` with ``text[start:end] == string`` (end exclusive).
Only the model-facing targets (:func:`sample_targets`) use inclusive ends, as the model does.

A triple's span is the FIRST occurrence of its string in the text (kg-2019's ``text.find``), for the
subject and the object independently. The decoder pairs a start with the first end at or after it, so two
subjects starting at the same character (``李白`` inside ``《李白传》``) cannot both be decoded; the
first-occurrence rule keeps such nested mentions out of the targets whenever the short one occurs earlier.
"""

from __future__ import annotations

import json
import random
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

PAD, UNK = "<pad>", "<unk>"

__all__ = [
    "PAD",
    "UNK",
    "DuIEData",
    "Example",
    "Targets",
    "Triple",
    "augment",
    "build_vocab",
    "encode_texts",
    "generated_corpus",
    "predicates_by_name",
    "read_duie",
    "read_schema",
    "sample_targets",
]


class Triple(NamedTuple):
    """One (subject, predicate, object) fact with the slices of its first occurrences in the text."""

    subject: str
    predicate: str
    object: str
    subject_span: tuple[int, int]
    object_span: tuple[int, int]

    @property
    def spo(self) -> tuple[str, str, str]:
        return (self.subject, self.predicate, self.object)


@dataclass
class Example:
    """A text and its triples (those whose strings occur in the text)."""

    text: str
    triples: list[Triple] = field(default_factory=list)

    def spo_set(self) -> set[tuple[str, str, str]]:
        return {t.spo for t in self.triples}


def locate(text: str, subject: str, predicate: str, obj: str) -> Triple | None:
    """The triple with the first occurrences of its strings in ``text``; None if either does not occur."""
    s, o = text.find(subject) if subject else -1, text.find(obj) if obj else -1
    if s < 0 or o < 0:
        return None
    return Triple(subject, predicate, obj, (s, s + len(subject)), (o, o + len(obj)))


# ---------------------------------------------------------------------------------------------------------
# DuIE / SKE files

SKIP_REASONS = {
    "not_json": "lines that are not a JSON object",
    "no_text": "lines without a string 'text'",
    "empty_text": "lines with empty text",
    "bad_spo": "malformed spo_list items (not an object with string subject/predicate/object)",
    "unknown_predicate": "triples whose predicate is not in the schema",
    "not_in_text": "triples whose subject or object does not occur in the text",
    "beyond_max_len": "triples cut off by truncating the text to max_len",
}


@dataclass
class DuIEData:
    """What :func:`read_duie` read: examples, the predicate set, and everything it skipped.

    Attributes:
        examples: one per usable line (a line whose triples were all skipped is kept, with none).
        predicates: the schema's predicate names, in schema order (the model's output channels).
        skipped: reason (a key of ``SKIP_REASONS``) -> count.
        first_skip: reason -> where it first happened, e.g. ``"line 7"`` or ``"line 3: predicate '国籍'"``.
        truncated: lines whose text was cut to ``max_len`` characters.
        gold_triples: the triples stated by the lines that have text (kept or skipped).
    """

    examples: list[Example]
    predicates: list[str]
    path: Path | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    first_skip: dict[str, str] = field(default_factory=dict)
    truncated: int = 0
    gold_triples: int = 0

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.first_skip.setdefault(reason, where)

    def summary(self) -> str:
        """One line naming every kind of skip with its count and first place; '' when nothing was skipped."""
        parts = [f"{n} {SKIP_REASONS[r]} (first: {self.first_skip[r]})" for r, n in self.skipped.items() if n]
        if self.truncated:
            parts.append(f"{self.truncated} texts truncated to max_len")
        if not parts:
            return ""
        return f"{self.path or 'DuIE data'}: skipped " + "; ".join(parts)


def read_schema(path: str | Path) -> list[str]:
    """The predicate names of a DuIE schema file, in file order without repeats.

    Reads both DuIE 1.0 (``all_50_schemas``: ``{"subject_type", "predicate", "object_type"}`` lines) and
    DuIE 2.0 / SKE (``duie_schema.json``: ``object_type`` is a ``{"@value": …}`` dict). A JSON array of
    such objects is accepted too.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read the schema file {path}: {exc.strerror or exc}") from exc
    items: list[Any]
    stripped = raw.strip()
    if stripped.startswith("["):
        items = json.loads(stripped)
    else:
        items = []
        for number, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(
                    f"{path} line {number} is not JSON ({exc}); a schema file has one "
                    '{"subject_type", "predicate", "object_type"} object per line'
                ) from exc
    names: list[str] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("predicate"), str) or not item["predicate"]:
            raise ValueError(f"{path} entry {number} has no string 'predicate': {str(item)[:80]}")
        if item["predicate"] not in names:
            names.append(item["predicate"])
    if not names:
        raise ValueError(f"{path} names no predicate")
    return names


def _value(x: Any) -> Any:
    """DuIE 2.0 writes objects as ``{"@value": "…", …}``; 1.0 as plain strings."""
    return x.get("@value") if isinstance(x, dict) else x


def read_duie(
    path: str | Path,
    predicates: Sequence[str],
    *,
    max_len: int | None = None,
    warn: bool = True,
) -> DuIEData:
    """Read DuIE / SKE JSON lines ``{"text": …, "spo_list": [{"subject", "predicate", "object", …}]}``.

    Nothing here raises on a bad line: lines that are not JSON objects, lack a string ``text`` or have an
    empty one are skipped; triples that are malformed, name a predicate outside ``predicates``, or whose
    subject/object does not occur in the text are dropped from their line. Each kind is counted, its first
    place named, and one warning summarises them (``warn=False`` leaves that to the caller). A text longer
    than ``max_len`` characters is truncated to ``max_len`` (the position table's size) and loses the
    triples that no longer fit. Blank lines are ignored. A DuIE 2.0 object ``{"@value": …}`` is read as its
    value (the other slots of complex objects are ignored).
    """
    path = Path(path)
    allowed = set(predicates)
    data = DuIEData([], list(predicates), path)
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read the DuIE file {path}: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            if not isinstance(item, dict):
                data.skip("not_json", where)
                continue
            text = item.get("text")
            if not isinstance(text, str):
                data.skip("no_text", where)
                continue
            if not text:
                data.skip("empty_text", where)
                continue
            full = text
            if max_len is not None and len(text) > max_len:
                text = text[:max_len]
                data.truncated += 1
            spo = item.get("spo_list") or []
            if not isinstance(spo, list):
                spo = [spo]
            triples: list[Triple] = []
            for fact in spo:
                data.gold_triples += 1
                s, p, o = (
                    _value(fact.get(k)) if isinstance(fact, dict) else None
                    for k in ("subject", "predicate", "object")
                )
                if not all(isinstance(x, str) and x for x in (s, p, o)):
                    data.skip("bad_spo", where)
                    continue
                assert isinstance(s, str) and isinstance(p, str) and isinstance(o, str)
                if p not in allowed:
                    data.skip("unknown_predicate", f"{where}: predicate {p!r}")
                    continue
                triple = locate(text, s, p, o)
                if triple is None:
                    reason = "beyond_max_len" if text is not full and locate(full, s, p, o) else "not_in_text"
                    data.skip(reason, f"{where}: ({s}, {p}, {o})")
                    continue
                if triple not in triples:
                    triples.append(triple)
            data.examples.append(Example(text, triples))
    message = data.summary()
    if message and warn:
        warnings.warn(message, UserWarning, stacklevel=2)
    return data


# ---------------------------------------------------------------------------------------------------------
# characters


def build_vocab(texts: Iterable[str], min_count: int = 2) -> list[str]:
    """``[PAD, UNK, chars…]``: the characters seen at least ``min_count`` times (kg-2019: 2), most frequent
    first (ties in first-seen order). Every character counts, spaces included, so offsets stay exact."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    return [PAD, UNK] + [c for c, n in counts.most_common() if n >= min_count and c not in (PAD, UNK)]


def encode_texts(
    texts: Sequence[str], vocab: Sequence[str] | Mapping[str, int], max_len: int | None = None
) -> torch.Tensor:
    """Char ids ``(len(texts), L)`` int64 (0 = pad, 1 = unknown), ``L`` = the longest text (≥ 1), texts
    cut to ``max_len``."""
    import torch

    index = vocab if isinstance(vocab, Mapping) else {c: i for i, c in enumerate(vocab)}
    cut = [t[:max_len] if max_len is not None else t for t in texts]
    out = torch.zeros(len(cut), max([len(t) for t in cut], default=0) or 1, dtype=torch.long)
    for row, text in enumerate(cut):
        if text:
            out[row, : len(text)] = torch.tensor([index.get(c, 1) for c in text], dtype=torch.long)
    return out


# ---------------------------------------------------------------------------------------------------------
# training targets (kg-2019)


class Targets(NamedTuple):
    """One sample's targets: subject start/end indicator lists, the sampled subject (k1, k2) with k2
    INCLUSIVE, and the object starts/ends as ``(position, predicate id)`` pairs (for that subject)."""

    subject_starts: list[int]
    subject_ends: list[int]
    subject: tuple[int, int]
    object_starts: list[tuple[int, int]]
    object_ends: list[tuple[int, int]]


def sample_targets(example: Example, predicate_ids: Mapping[str, int], rng: random.Random) -> Targets | None:
    """kg-2019's targets: every subject span marked; ``k1 = choice(starts)``, ``k2 = choice(ends ≥ k1)``;
    the objects of the subject ``(k1, k2)`` if it is one (a fake span gets none: a useful negative).
    None for an example without triples (kg-2019 trains only on texts with facts)."""
    items: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for t in example.triples:
        if t.predicate not in predicate_ids:
            continue
        key = (t.subject_span[0], t.subject_span[1] - 1)
        items.setdefault(key, []).append((t.object_span[0], t.object_span[1] - 1, predicate_ids[t.predicate]))
    if not items:
        return None
    starts = sorted({k[0] for k in items})
    ends = sorted({k[1] for k in items})
    k1 = rng.choice(starts)
    k2 = rng.choice([e for e in ends if e >= k1])  # the subject starting at k1 ends at or after it
    objects = sorted(set(items.get((k1, k2), [])))
    return Targets(starts, ends, (k1, k2), [(a, p) for a, _, p in objects], [(b, p) for _, b, p in objects])


def predicates_by_name(examples: Iterable[Example]) -> dict[str, list[Triple]]:
    """Training triples grouped by predicate: the pool :func:`augment` draws replacements from."""
    pool: dict[str, list[Triple]] = {}
    for ex in examples:
        for t in ex.triples:
            pool.setdefault(t.predicate, []).append(t)
    return pool


def augment(
    example: Example, pool: Mapping[str, Sequence[Triple]], rng: random.Random, p: float = 0.5
) -> Example:
    """kg-2019's augmentation: with probability ``p``, take one triple and replace its subject and object
    strings everywhere in the text (and in every triple) by those of a random training triple with the
    same predicate; spans are located again (a triple whose strings vanish is dropped)."""
    if not example.triples or rng.random() >= p:
        return example
    old = rng.choice(example.triples)
    candidates = pool.get(old.predicate)
    if not candidates:
        return example
    new = rng.choice(candidates)

    def swap(s: str) -> str:
        return s.replace(old.subject, new.subject).replace(old.object, new.object)

    text = swap(example.text)
    triples: list[Triple] = []
    for t in example.triples:
        located = locate(text, swap(t.subject), t.predicate, swap(t.object))
        if located is not None and located not in triples:
            triples.append(located)
    return Example(text, triples)


# ---------------------------------------------------------------------------------------------------------
# the generated corpus


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁"
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉萍红"
    "娥玲兰凤洁梅琳素云莲真环雪荣爱妹香月莺媛瑞凡佳嘉琼勤珍"
)
PLACES = _words(
    "北京 上海 天津 重庆 广州 深圳 杭州 南京 苏州 成都 武汉 西安 长沙 郑州 济南 青岛 大连 "
    "沈阳 哈尔滨 长春 福州 厦门 昆明 贵阳 南宁 海口 兰州 银川 西宁 拉萨 乌鲁木齐 呼和浩特 "
    "太原 石家庄 合肥 南昌 无锡 宁波 温州 绍兴 扬州 洛阳 开封 桂林 大理 丽江 延安 遵义"
)
SCHOOLS = _words(
    "北京大学 清华大学 复旦大学 浙江大学 南京大学 武汉大学 中山大学 厦门大学 山东大学 四川大学 "
    "吉林大学 南开大学 同济大学 兰州大学 湖南大学 重庆大学 东南大学 天津大学 中央戏剧学院 "
    "北京电影学院"
)
PUBLISHERS = _words(
    "人民文学出版社 作家出版社 中华书局 商务印书馆 译林出版社 上海文艺出版社 长江文艺出版社 "
    "花城出版社 北京十月文艺出版社 湖南文艺出版社 三联书店 接力出版社 华夏出版社 故宫出版社 "
    "中信出版社 新星出版社"
)
TITLE_A = "春夏秋冬风雨雷电山河湖海星月云雪花草江城古今东西南北长短远近"
TITLE_B = ["之歌", "往事", "故事", "岁月", "之恋", "人家", "少年", "归来", "传奇", "之夜", "边城", "记忆"]

PREDICATES = ["出生地", "父亲", "妻子", "丈夫", "作者", "出版社", "导演", "主演", "毕业院校"]
SCHEMA = [
    ("人物", "出生地", "地点"),
    ("人物", "父亲", "人物"),
    ("人物", "妻子", "人物"),
    ("人物", "丈夫", "人物"),
    ("图书作品", "作者", "人物"),
    ("书籍", "出版社", "出版社"),
    ("影视作品", "导演", "人物"),
    ("影视作品", "主演", "人物"),
    ("人物", "毕业院校", "学校"),
]

# (text with {slots}, triples as (subject, predicate, object) patterns over the same slots). Slots are named
# by kind: p* = person, c* = place, s* = school, b* = book, f* = film, u* = publisher, y = year.
TEMPLATES: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("{p1}出生于{c1}。", [("{p1}", "出生地", "{c1}")]),
    ("{p1}，{y}年生于{c1}，毕业于{s1}。", [("{p1}", "出生地", "{c1}"), ("{p1}", "毕业院校", "{s1}")]),
    ("{p1}是{c1}人，{y}年考入{s1}。", [("{p1}", "出生地", "{c1}"), ("{p1}", "毕业院校", "{s1}")]),
    ("《{b1}》是{p1}创作的小说，由{u1}出版。", [("{b1}", "作者", "{p1}"), ("{b1}", "出版社", "{u1}")]),
    ("{u1}于{y}年出版了{p1}的长篇小说《{b1}》。", [("{b1}", "作者", "{p1}"), ("{b1}", "出版社", "{u1}")]),
    (
        "电影《{f1}》由{p1}执导，{p2}、{p3}、{p4}主演。",
        [
            ("{f1}", "导演", "{p1}"),
            ("{f1}", "主演", "{p2}"),
            ("{f1}", "主演", "{p3}"),
            ("{f1}", "主演", "{p4}"),
        ],
    ),
    (
        "《{f1}》是一部{y}年上映的电影，主演有{p2}和{p3}，导演是{p1}。",
        [("{f1}", "导演", "{p1}"), ("{f1}", "主演", "{p2}"), ("{f1}", "主演", "{p3}")],
    ),
    (
        "《{f1}》由{p1}自导自演，{p2}友情出演。",  # two predicates on one pair
        [("{f1}", "导演", "{p1}"), ("{f1}", "主演", "{p1}"), ("{f1}", "主演", "{p2}")],
    ),
    (
        "{p1}与妻子{p2}育有一子，名叫{p3}。",
        [("{p1}", "妻子", "{p2}"), ("{p2}", "丈夫", "{p1}"), ("{p3}", "父亲", "{p1}")],
    ),
    ("{p1}的父亲是{p2}，{p2}毕业于{s1}。", [("{p1}", "父亲", "{p2}"), ("{p2}", "毕业院校", "{s1}")]),
    (
        "{p1}出生于{c1}，《{p1}传》的作者是{p2}。",  # overlapping: the book's title holds the person's name
        [("{p1}", "出生地", "{c1}"), ("{p1}传", "作者", "{p2}")],
    ),
    ("{p1}在{c1}见到了{p2}。", []),  # entities without a fact: a negative
    ("{p1}喜欢读《{b1}》，也爱看电影《{f1}》。", []),
]
KINDS = {"p": "people", "c": "places", "s": "schools", "b": "books", "f": "films", "u": "publishers"}


def _pools(rng: random.Random) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Disjoint (train, dev) entity lists: a fifth of each kind's names is held out for dev."""
    people = sorted(
        {s + g for s in SURNAMES for g in GIVEN}
        | {s + a + b for s in SURNAMES[:12] for a in GIVEN[:10] for b in GIVEN[10:20]}
    )
    titles = sorted({a + b + c for a in TITLE_A for b in TITLE_A for c in TITLE_B if a != b})
    books, films = titles[0::2], titles[1::2]
    kinds = {
        "people": people,
        "places": PLACES,
        "schools": SCHOOLS,
        "publishers": PUBLISHERS,
        "books": books,
        "films": films,
    }
    train: dict[str, list[str]] = {}
    dev: dict[str, list[str]] = {}
    for kind, names in kinds.items():
        names = list(names)
        rng.shuffle(names)
        cut = max(1, len(names) // 5)
        dev[kind], train[kind] = names[:cut], names[cut:]
    return train, dev


def _fill(
    template: str, facts: list[tuple[str, str, str]], pools: Mapping[str, list[str]], rng: random.Random
) -> tuple[Example, list[str]] | None:
    """One clause from a template and its entity strings, or None when an entity string also occurs where
    no slot put it."""
    import string

    slots = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    values: dict[str, str] = {}
    for slot in dict.fromkeys(slots):
        if slot == "y":
            values[slot] = str(rng.randint(1900, 2010))
            continue
        pool = pools[KINDS[slot[0]]]
        choice = rng.choice(pool)
        while choice in values.values():
            choice = rng.choice(pool)
        values[slot] = choice
    text = template.format(**values)
    # each entity must occur exactly where its slots put it (no name inside another, none in the template)
    literal = "".join(part for part, _, _, _ in string.Formatter().parse(template))
    entities = [v for k, v in values.items() if k != "y"]
    for v in entities:
        if (
            v in literal
            or any(v != w and v in w for w in entities)
            or text.count(v) != slots.count(next(k for k, x in values.items() if x == v))
        ):
            return None
    triples = []
    for s, p, o in facts:
        t = locate(text, s.format(**values), p, o.format(**values))
        assert t is not None, (template, values)
        triples.append(t)
    return Example(text, triples), entities


def _sentence(pools: Mapping[str, list[str]], rng: random.Random) -> Example:
    parts: list[Example] = []
    seen: list[str] = []
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        while True:
            template, facts = rng.choice(TEMPLATES)
            filled = _fill(template, facts, pools, rng)
            # clauses share no entity, and no name sits inside another clause's name
            if filled and not any(a in b or b in a for a in filled[1] for b in seen):
                break
        parts.append(filled[0])
        seen += filled[1]
    text = "".join(p.text for p in parts)
    triples: list[Triple] = []
    for part in parts:  # strings located again in the joined text: first occurrences, as in DuIE
        for t in part.triples:
            located = locate(text, t.subject, t.predicate, t.object)
            if located is not None and located not in triples:
                triples.append(located)
    return Example(text, triples)


@dataclass
class GeneratedCorpus:
    """Train and dev examples with their predicate set; dev uses only held-out entity names."""

    train: list[Example]
    dev: list[Example]
    predicates: list[str]
    entities: dict[str, dict[str, list[str]]]  # "train" / "dev" -> kind -> names


def generated_corpus(n_train: int = 6000, n_dev: int = 600, seed: int = 0) -> GeneratedCorpus:
    """Chinese sentences of 1–3 template clauses with known triples over 9 predicates.

    Covered: one subject with several objects (主演 lists), two predicates on one pair (自导自演), a pair
    in both directions (妻子 / 丈夫), a subject nested in another subject (《X传》 after X), clauses with
    entities but no fact. Dev draws from held-out entity lists (disjoint names). Deterministic per ``seed``;
    the dev set does not depend on ``n_train``.
    """
    train_pool, dev_pool = _pools(random.Random(f"pools-{seed}"))
    train_rng, dev_rng = random.Random(f"train-{seed}"), random.Random(f"dev-{seed}")
    train = [_sentence(train_pool, train_rng) for _ in range(n_train)]
    dev = [_sentence(dev_pool, dev_rng) for _ in range(n_dev)]
    return GeneratedCorpus(train, dev, list(PREDICATES), {"train": train_pool, "dev": dev_pool})


def to_duie_line(example: Example, schema: Sequence[tuple[str, str, str]] = SCHEMA) -> str:
    """The example as one DuIE JSON line (types from ``schema`` when it names the predicate)."""
    types = {p: (s, o) for s, p, o in schema}
    spo = []
    for t in example.triples:
        s_type, o_type = types.get(t.predicate, ("", ""))
        spo.append(
            {
                "subject": t.subject,
                "predicate": t.predicate,
                "object": t.object,
                "subject_type": s_type,
                "object_type": o_type,
            }
        )
    return json.dumps({"text": example.text, "spo_list": spo}, ensure_ascii=False)


def write_duie_folder(folder: str | Path, corpus: GeneratedCorpus) -> Path:
    """Write ``train_data.json``, ``dev_data.json`` and ``all_50_schemas`` (DuIE 1.0 names) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, examples in (("train_data.json", corpus.train), ("dev_data.json", corpus.dev)):
        (folder / name).write_text("".join(to_duie_line(e) + "\n" for e in examples), encoding="utf-8")
    schema = "".join(
        json.dumps({"subject_type": s, "predicate": p, "object_type": o}, ensure_ascii=False) + "\n"
        for s, p, o in SCHEMA
    )
    (folder / "all_50_schemas").write_text(schema, encoding="utf-8")
    return folder
