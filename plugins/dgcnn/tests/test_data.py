"""DuIE reader (the real sample and every bad input), schema files, vocabulary, generator, kg-2019 targets."""

from __future__ import annotations

import json
import random
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
from zoo_dgcnn.data import (
    PREDICATES,
    Example,
    Triple,
    augment,
    build_vocab,
    encode_texts,
    generated_corpus,
    locate,
    predicates_by_name,
    read_duie,
    read_schema,
    sample_targets,
    write_duie_folder,
)

SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "duie-sample"
needs_sample = pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/data/duie-sample is not here")


def lines(path: Path, items: list) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in items),
        encoding="utf-8",
    )
    return path


def spo(s: str, p: str, o: str) -> dict:
    return {"subject": s, "predicate": p, "object": o, "subject_type": "人物", "object_type": "地点"}


@needs_sample
def test_the_real_sample_reads_completely():
    predicates = read_schema(SAMPLE / "all_50_schemas")
    # 50 schema lines, 49 predicates: 成立日期 is listed twice (机构 and 企业), as kg-2019's set() also finds
    schema_lines = (SAMPLE / "all_50_schemas").read_text(encoding="utf-8").splitlines()
    assert (
        len(schema_lines) == 50 and len(predicates) == 49 and predicates[:3] == ["祖籍", "父亲", "总部地点"]
    )
    raw = [json.loads(x) for x in (SAMPLE / "train_sample.json").read_text(encoding="utf-8").splitlines()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sample is clean: reading it warns about nothing
        data = read_duie(SAMPLE / "train_sample.json", predicates)
    assert len(data.examples) == len(raw) == 50 and not data.skipped and data.truncated == 0
    assert data.gold_triples == sum(len(e.triples) for e in data.examples) == 106
    # every triple is located at its first occurrence, as kg-2019's text.find
    for e in data.examples:
        for t in e.triples:
            assert e.text[slice(*t.subject_span)] == t.subject and e.text.find(t.subject) == t.subject_span[0]
            assert e.text[slice(*t.object_span)] == t.object and e.text.find(t.object) == t.object_span[0]
    first = data.examples[0]
    assert first.spo_set() == {("宜兴紫砂图典", "出版社", "故宫出版社")}
    assert first.triples[0].subject_span == (5, 11) and first.triples[0].object_span == (13, 18)
    # every sample triple uses a schema predicate
    assert {t.predicate for e in data.examples for t in e.triples} <= set(predicates)


def test_every_bad_input_is_skipped_counted_and_named(tmp_path):
    path = lines(
        tmp_path / "bad.json",
        [
            {"text": "王伟出生于北京。", "spo_list": [spo("王伟", "出生地", "北京")]},  # 1 good
            "{not json",  # 2
            "[1, 2]",  # 3 JSON, not an object
            {"spo_list": [spo("王伟", "出生地", "北京")]},  # 4 no text
            {"text": 42, "spo_list": []},  # 5 text not a string
            {"text": "", "spo_list": [spo("王伟", "出生地", "北京")]},  # 6 empty text
            {
                "text": "李娜出生于上海。",
                "spo_list": [
                    spo("李娜", "国籍", "中国"),  # 7 predicate not in schema
                    spo("李娜", "出生地", "天津"),  #   object not in text
                    {"subject": "李娜"},  #   malformed triple
                    spo("李娜", "出生地", "上海"),
                ],
            },  #   good
            "",  # 8 blank: ignored
            {"text": "张三出生于杭州。", "spo_list": []},  # 9 no facts: kept
        ],
    )
    with pytest.warns(UserWarning) as caught:
        data = read_duie(path, ["出生地"])
    assert [e.text for e in data.examples] == ["王伟出生于北京。", "李娜出生于上海。", "张三出生于杭州。"]
    assert [len(e.triples) for e in data.examples] == [1, 1, 0]
    assert data.skipped == Counter(
        not_json=2, no_text=2, empty_text=1, unknown_predicate=1, not_in_text=1, bad_spo=1
    )
    assert data.first_skip["not_json"] == "line 2" and data.first_skip["no_text"] == "line 4"
    assert data.first_skip["unknown_predicate"] == "line 7: predicate '国籍'"
    assert data.first_skip["not_in_text"] == "line 7: (李娜, 出生地, 天津)"
    message = str(caught[0].message)
    assert "2 lines that are not a JSON object (first: line 2)" in message
    assert "1 triples whose predicate is not in the schema (first: line 7: predicate '国籍')" in message
    assert "1 lines with empty text (first: line 6)" in message and str(path) in message
    assert data.gold_triples == 5  # those of the lines with text (kept or skipped)


def test_long_texts_are_truncated_and_lose_the_facts_beyond(tmp_path):
    text = "王伟出生于北京。" + "的" * 20 + "李娜出生于上海。"
    path = lines(
        tmp_path / "long.json",
        [{"text": text, "spo_list": [spo("王伟", "出生地", "北京"), spo("李娜", "出生地", "上海")]}],
    )
    with pytest.warns(UserWarning, match="1 triples cut off by truncating.*; 1 texts truncated to max_len"):
        data = read_duie(path, ["出生地"], max_len=16)
    (example,) = data.examples
    assert example.text == text[:16] and example.spo_set() == {("王伟", "出生地", "北京")}
    assert data.truncated == 1 and data.skipped["beyond_max_len"] == 1 and data.skipped["not_in_text"] == 0
    with_room = read_duie(path, ["出生地"], max_len=len(text), warn=False)
    assert len(with_room.examples[0].triples) == 2 and not with_room.skipped and with_room.truncated == 0


def test_duie2_objects_and_schemas_are_read(tmp_path):
    schema = lines(
        tmp_path / "duie_schema.json",
        [
            {"object_type": {"@value": "人物"}, "predicate": "作者", "subject_type": "图书作品"},
            {
                "object_type": {"@value": "Date", "inArea": "地点"},
                "predicate": "上映时间",
                "subject_type": "影视作品",
            },
            {"object_type": {"@value": "人物"}, "predicate": "作者", "subject_type": "文学作品"},  # a repeat
        ],
    )
    assert read_schema(schema) == ["作者", "上映时间"]
    data = lines(
        tmp_path / "duie_dev.json",
        [
            {
                "text": "《边城》的作者是沈从文",
                "spo_list": [
                    {
                        "subject": "边城",
                        "predicate": "作者",
                        "object": {"@value": "沈从文"},
                        "object_type": {"@value": "人物"},
                        "subject_type": "图书作品",
                    }
                ],
            }
        ],
    )
    (example,) = read_duie(data, ["作者", "上映时间"]).examples
    assert example.triples == [Triple("边城", "作者", "沈从文", (1, 3), (8, 11))]


def test_bad_schema_files_are_errors_that_name_the_line(tmp_path):
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_schema(lines(tmp_path / "a", [{"predicate": "作者"}, "{oops"]))
    with pytest.raises(ValueError, match="entry 1 has no string 'predicate'"):
        read_schema(lines(tmp_path / "b", [{"subject_type": "人物"}]))
    with pytest.raises(ValueError, match="cannot read the schema file"):
        read_schema(tmp_path / "missing")


def test_vocabulary_keeps_characters_seen_twice_pad_and_unk_first():
    vocab = build_vocab(["aab", "bcc d", "x"], min_count=2)
    assert vocab == ["<pad>", "<unk>", "a", "b", "c"]  # ' ', 'd', 'x' seen once; ties in first-seen order
    assert build_vocab(["ab"], min_count=1) == ["<pad>", "<unk>", "a", "b"]
    ids = encode_texts(["abz", "c"], vocab)
    assert ids.tolist() == [[2, 3, 1], [4, 0, 0]] and ids.dtype == torch.long
    assert encode_texts(["abcabc"], vocab, max_len=4).tolist() == [[2, 3, 4, 2]]
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        build_vocab(["a"], min_count=0)


def test_generated_corpus_has_the_promised_structure():
    corpus = generated_corpus(600, 200, seed=3)
    assert corpus.predicates == PREDICATES and len(PREDICATES) == 9
    assert len(corpus.train) == 600 and len(corpus.dev) == 200
    for e in corpus.train + corpus.dev:
        for t in e.triples:  # every triple's strings occur in its text, at the recorded first occurrence
            assert e.text[slice(*t.subject_span)] == t.subject and e.text.find(t.subject) == t.subject_span[0]
            assert e.text[slice(*t.object_span)] == t.object and e.text.find(t.object) == t.object_span[0]
    # held-out entities: no dev triple names an entity a train triple names
    names = {
        split: {x for e in getattr(corpus, split) for t in e.triples for x in (t.subject, t.object)}
        for split in ("train", "dev")
    }
    assert names["dev"] and not names["train"] & names["dev"]
    for kind, pool in corpus.entities["dev"].items():
        assert not set(pool) & set(corpus.entities["train"][kind]), kind
    train_spo = [e.spo_set() for e in corpus.train]
    # one subject with several objects of one predicate (主演 lists)
    assert any(Counter((s, p) for s, p, _ in spo).most_common(1)[0][1] >= 3 for spo in train_spo if spo)
    # two predicates on one (subject, object) pair (自导自演)
    assert any(Counter((s, o) for s, _, o in spo).most_common(1)[0][1] >= 2 for spo in train_spo if spo)
    # overlapping entities: a subject inside another subject (《X传》 after X)
    assert any(t.subject + "传" in {u.subject for u in e.triples} for e in corpus.train for t in e.triples)
    assert any(not e.triples for e in corpus.train)  # sentences with entities and no fact
    assert {p for spo in train_spo for _, p, _ in spo} == set(PREDICATES)
    # deterministic per seed; dev does not depend on the training size
    again = generated_corpus(600, 200, seed=3)
    assert [e.text for e in again.train] == [e.text for e in corpus.train]
    assert [e.text for e in generated_corpus(10, 200, seed=3).dev] == [e.text for e in corpus.dev]
    assert [e.text for e in generated_corpus(10, 200, seed=4).dev] != [e.text for e in corpus.dev]


def test_generated_corpus_round_trips_through_the_duie_reader(tmp_path):
    corpus = generated_corpus(50, 20, seed=1)
    folder = write_duie_folder(tmp_path / "duie", corpus)
    predicates = read_schema(folder / "all_50_schemas")
    assert predicates == PREDICATES
    data = read_duie(folder / "dev_data.json", predicates, warn=False)
    assert [e.triples for e in data.examples] == [e.triples for e in corpus.dev] and not data.skipped


def example(text: str, *facts: tuple[str, str, str]) -> Example:
    triples = [locate(text, *f) for f in facts]
    assert all(triples)
    return Example(text, triples)


def test_targets_sample_one_subject_as_kg2019():
    # subjects 周星驰 (0-2) and 《功夫》's 功夫 (7-8); ends after start 0: 2 and 8, after start 7: only 8
    e = example(
        "周星驰出生于香港，功夫由周星驰执导", ("周星驰", "出生地", "香港"), ("功夫", "导演", "周星驰")
    )
    ids = {"出生地": 0, "导演": 1}
    rng = random.Random(0)
    seen: Counter[tuple[int, int]] = Counter()
    for _ in range(400):
        t = sample_targets(e, ids, rng)
        assert t is not None and t.subject_starts == [0, 9] and t.subject_ends == [2, 10]
        seen[t.subject] += 1
        if t.subject == (0, 2):
            assert (t.object_starts, t.object_ends) == ([(6, 0)], [(7, 0)])  # 香港 at 6-7, predicate 0
        elif t.subject == (9, 10):
            assert (t.object_starts, t.object_ends) == ([(0, 1)], [(2, 1)])  # first 周星驰, predicate 1
        else:  # the fake span (0, 10): a negative with no object
            assert t.subject == (0, 10) and t.object_starts == [] and t.object_ends == []
    # k1 uniform over starts; from k1 = 0, k2 uniform over the ends 2 and 10
    assert set(seen) == {(0, 2), (0, 10), (9, 10)}
    assert 150 < seen[(9, 10)] < 250 and 50 < seen[(0, 2)] < 150 and 50 < seen[(0, 10)] < 150
    assert sample_targets(Example("没有事实", []), ids, rng) is None


def test_augmentation_replaces_a_pair_with_another_of_the_same_predicate():
    e = example(
        "王伟出生于北京，王伟毕业于北京大学", ("王伟", "出生地", "北京"), ("王伟", "毕业院校", "北京大学")
    )
    other = example("李娜出生于上海", ("李娜", "出生地", "上海"))
    pool = predicates_by_name([other])
    assert augment(e, pool, random.Random(0), p=0.0) is e
    outcomes = {augment(e, pool, random.Random(seed), p=1.0).text for seed in range(20)}
    # the 毕业院校 triple has no partner in the pool (kept as is); the 出生地 one is replaced by 李娜/上海
    # everywhere, 北京大学 too, as kg-2019's str.replace does
    assert outcomes == {e.text, "李娜出生于上海，李娜毕业于上海大学"}
    new = next(
        augment(e, pool, random.Random(s), p=1.0)
        for s in range(20)
        if augment(e, pool, random.Random(s), p=1.0).text != e.text
    )
    assert new.spo_set() == {("李娜", "出生地", "上海"), ("李娜", "毕业院校", "上海大学")}
    for t in new.triples:
        assert new.text[slice(*t.subject_span)] == t.subject and new.text[slice(*t.object_span)] == t.object
    assert augment(e, {}, random.Random(0), p=1.0) is e  # no triple of that predicate to draw from
