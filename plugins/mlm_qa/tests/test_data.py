"""The QA readers on the real-format samples and on every kind of bad input, the training-target rule of
bert4keras' example, and the generated multi-passage QA (held-out entities, distractors, determinism)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from zoo_mlm_qa.data import (
    Passage,
    Question,
    answer_occurs,
    clean_passage,
    generated_qa,
    read_qa,
    read_sogou,
    read_squad,
    training_target,
)

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "qa-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no QA samples at {SAMPLES}")


# ---------------------------------------------------------------------------------------------------------
# the real samples (counts taken by hand with plain json: SogouQA 22 records / 218 passages / 81 annotated
# answers, its last record has no id (8 passages, 2 answers); WebQA 12 / 233 / 103, its last record has only
# "passages" (13, 7 answers); CMRC 2018 trial 1002 questions, two with an empty question, 5 answer_starts off)


@needs_samples
def test_sogou_sample_read_completely() -> None:
    data = read_qa(SAMPLES / "SogouQA.json")
    assert len(data.questions) == 21 and data.n_passages == 210
    assert sum(len(p.answers) for q in data.questions for p in q.passages) == 79
    assert data.skipped == {"record_missing_field": 1}
    assert data.first_skip["record_missing_field"].endswith("SogouQA.json record 21")
    first = data.questions[0]
    assert (first.id, first.question) == ("10000", "《窃读记》的作者的作品")
    assert len(first.passages) == 10 and first.answers == ("林海音", "林含英")  # in passage order
    assert first.passages[5] == Passage(
        "原句句式杂糅。改为:《窃读记》是台湾作家林海音的作品。或:《窃读记》的作者是台湾作家林海音。",
        ("林海音",),
    )
    assert [p.answers for p in first.passages[:5]] == [()] * 5
    multi = data.questions[1]
    assert multi.answers == ("巴西 俄罗斯 印度 中国 南非",)  # one answer of five parts
    assert all(answer_occurs(a, p.text) for p in multi.passages for a in p.answers)


@needs_samples
def test_webqa_sample_read_completely() -> None:
    data = read_sogou(SAMPLES / "WebQA.json")
    assert [q.id for q in data.questions[:2]] == ["Q_IR_VAL_000000", "Q_IR_VAL_000000#TEST"]
    assert len(data.questions) == 11 and data.n_passages == 220
    assert sum(len(p.answers) for q in data.questions for p in q.passages) == 96
    assert data.skipped == {"record_missing_field": 1}
    assert data.questions[3].question == "多瑙河注入哪个海？" and data.questions[3].answers == ("黑海",)
    assert data.questions[0].passages[2] == Passage("29能把太阳的七种颜色全部吸收的物体呈：黑色", ("黑色",))


@needs_samples
def test_cmrc_trial_read_completely() -> None:
    data = read_qa(SAMPLES / "cmrc2018_trial.json")
    assert len(data.questions) == 1000 and data.n_passages == 1000
    assert all(len(q.passages) == 1 and q.passages[0].answers == q.answers for q in data.questions)
    assert sum(len(q.answers) for q in data.questions) == 1000
    assert data.skipped == {"record_missing_field": 2, "answer_start_mismatch": 5}  # all 5 found elsewhere
    assert "TRIAL_776_QUERY_4" in data.first_skip["record_missing_field"]
    first = data.questions[0]
    assert (first.id, first.question, first.answers) == (
        "TRIAL_800_QUERY_0",
        "生命数耗完即算为什么？",
        ("踢爆",),
    )
    assert first.passages[0].text.startswith("基于《跑跑卡丁车》与《泡泡堂》上所开发的游戏")
    # the context holds a character outside the BMP (𫚭) before the answer: the annotation's offset is off
    fish = next(q for q in data.questions if q.id == "TRIAL_210_QUERY_0")
    assert fish.answers == ("俗名龙尖",) and "𫚭" in fish.passages[0].text
    assert "TRIAL_210_QUERY_0" in data.first_skip["answer_start_mismatch"]


# ---------------------------------------------------------------------------------------------------------
# bad input


def _write(tmp_path: Path, content: Any, name: str = "qa.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False), "utf-8")
    return path


def _record(qid: Any = "1", question: str = "谁？", passages: Any = None) -> dict[str, Any]:
    if passages is None:
        passages = [{"passage": "答案是张三。", "answer": "张三"}]
    return {"id": qid, "question": question, "passages": passages}


def test_malformed_json_names_the_file_and_place(tmp_path: Path) -> None:
    path = _write(tmp_path, '[{"id": "1", "question": "谁", }]', "broken.json")
    for reader in (read_qa, read_sogou, read_squad):
        with pytest.raises(ValueError, match=r"broken\.json is not valid JSON: .* line 1, column"):
            reader(path)
    with pytest.raises(ValueError, match="cannot read the QA file"):
        read_qa(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="is a folder"):
        read_qa(tmp_path)


def test_wrong_top_level_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown QA format"):
        read_qa(_write(tmp_path, {"version": "1"}))
    with pytest.raises(ValueError, match="unknown QA format"):
        read_qa(_write(tmp_path, "3"))
    with pytest.raises(ValueError, match="JSON list of question records"):
        read_sogou(_write(tmp_path, {"data": []}))
    with pytest.raises(ValueError, match='object with a "data" list'):
        read_squad(_write(tmp_path, [_record()]))


def test_malformed_records_name_the_record(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"qa\.json record 1 is not a JSON object"):
        read_qa(_write(tmp_path, [_record(), "just text"]))
    with pytest.raises(ValueError, match=r"record 0 \(id 7\): 'passages' must be a JSON list"):
        read_qa(_write(tmp_path, [_record(7, passages="篇章")]))
    with pytest.raises(ValueError, match=r"record 0 \(id 7\) passage 1 is not a JSON object"):
        read_qa(_write(tmp_path, [_record(7, passages=[{"passage": "p", "answer": ""}, ["p"]])]))
    with pytest.raises(ValueError, match=r"record 0 \(id 7\): 'question' must be a string"):
        read_qa(_write(tmp_path, [{"id": 7, "question": ["谁"], "passages": []}]))
    squad = {
        "data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q1", "question": "?", "answers": [3]}]}]}]
    }
    with pytest.raises(
        ValueError, match=r"paragraphs\[0\]\.qas\[0\] \(id q1\) answer 0 is not a JSON object"
    ):
        read_qa(_write(tmp_path, squad))


def test_sogou_missing_fields_are_skipped_and_counted(tmp_path: Path) -> None:
    records = [
        _record("1"),
        {"question": "无id", "passages": []},  # no id
        _record("3", question=""),  # empty question
        {"id": "4", "question": "无篇章"},  # no passages field
        _record("5", passages=[]),  # no passage at all
        _record(
            "6", passages=[{"passage": "只有篇章"}, {"answer": "只有答案"}, {"passage": "", "answer": ""}]
        ),
        _record("1"),  # repeats id 1
        _record(
            8, passages=[{"passage": "不在这里", "answer": "张三"}, {"passage": "张三在这里", "answer": ""}]
        ),
    ]
    data = read_qa(_write(tmp_path, records))
    assert data.skipped == {
        "record_missing_field": 3,
        "passage_missing_field": 3,
        "no_passages": 2,
        "duplicate_id": 1,
        "answer_not_in_passage": 1,
    }
    assert [q.id for q in data.questions] == ["1", "8"]  # numeric ids become strings
    assert data.first_skip["record_missing_field"].endswith("qa.json record 1")
    assert data.first_skip["passage_missing_field"].endswith("record 5 (id 6) passage 0")
    assert data.first_skip["no_passages"].endswith("record 4 (id 5)")
    assert data.first_skip["answer_not_in_passage"].endswith("record 7 (id 8) passage 0: '张三'")
    # an annotation absent from its passage stays in the gold set only
    assert data.questions[1] == Question("8", "谁？", (Passage("不在这里"), Passage("张三在这里")), ("张三",))
    summary = data.summary()
    assert "3 records without a non-empty id" in summary and "1 answers that do not occur" in summary


def _squad(qas: list[dict[str, Any]], context: str = "甲乙丙丁甲乙") -> dict[str, Any]:
    return {"version": "v1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}


def test_squad_answer_start_mismatch_and_missing_answers(tmp_path: Path) -> None:
    qas: list[dict[str, Any]] = [
        {"id": "ok", "question": "?", "answers": [{"text": "甲乙", "answer_start": 4}]},  # 2nd occurrence
        {"id": "off", "question": "?", "answers": [{"text": "丙丁", "answer_start": 0}]},  # found elsewhere
        {"id": "gone", "question": "?", "answers": [{"text": "戊", "answer_start": 1}]},  # nowhere: dropped
        {"id": "nostart", "question": "?", "answers": [{"text": "乙丙"}]},  # no offset: found
        {
            "id": "notext",
            "question": "?",
            "answers": [{"answer_start": 1}, {"text": "丁", "answer_start": 3}],
        },
        {
            "id": "dup",  # three annotators, two agree: the distinct texts in order
            "question": "?",
            "answers": [
                {"text": "丙", "answer_start": 2},
                {"text": "丙", "answer_start": 2},
                {"text": "乙丙"},
            ],
        },
        {"id": "noanswers", "question": "?"},
    ]
    data = read_qa(_write(tmp_path, _squad(qas)))
    got = {q.id: q.answers for q in data.questions}
    assert got == {
        "ok": ("甲乙",),
        "off": ("丙丁",),
        "gone": (),  # kept: its passage has no answer
        "nostart": ("乙丙",),
        "notext": ("丁",),
        "dup": ("丙", "乙丙"),
    }
    assert all(q.passages == (Passage("甲乙丙丁甲乙", q.answers),) for q in data.questions)
    assert data.skipped == {
        "answer_start_mismatch": 4,  # off, gone, nostart, dup's third
        "answer_not_in_passage": 1,
        "answer_missing_field": 1,
        "record_missing_field": 1,
    }
    assert data.first_skip["answer_start_mismatch"].endswith("qas[1] (id off) answer 0: '丙丁' at 0")
    assert data.first_skip["answer_not_in_passage"].endswith("qas[2] (id gone) answer 0: '戊'")


def test_squad_paragraph_without_context_is_skipped(tmp_path: Path) -> None:
    top = _squad([{"id": "a", "question": "?", "answers": []}])
    top["data"][0]["paragraphs"].append({"qas": [{"id": "b", "question": "?", "answers": []}]})
    data = read_squad(_write(tmp_path, top))
    assert [q.id for q in data.questions] == ["a"]
    assert data.skipped == {"record_missing_field": 1}
    assert data.first_skip["record_missing_field"].endswith("data[0].paragraphs[1]")


# ---------------------------------------------------------------------------------------------------------
# the training target (bert4keras: first annotated answer all of whose parts occur in the truncated passage)


def test_clean_passage_and_answer_occurs() -> None:
    assert clean_passage("巴西 俄罗斯、印度；中国，南非。") == "巴西,俄罗斯,印度,中国,南非。"
    assert answer_occurs("南非 巴西", "巴西、俄罗斯、南非")  # parts anywhere, in any order
    assert not answer_occurs("南非 日本", "巴西、俄罗斯、南非")
    assert not answer_occurs("", "任何篇章") and not answer_occurs(" ", "任何篇章")


def test_cleaning_keeps_latin_words_and_maps_one_character_to_one() -> None:
    """bert4keras turns EVERY space into ","; only the spaces between Chinese text are separators here, so
    English passages and answers keep their words (a SQuAD answer "New York" is one part)."""
    assert clean_passage("He moved to New  York, then Paris.") == "He moved to New  York, then Paris."
    assert clean_passage("张伟  出生于 北京 in 2001") == "张伟,,出生于,北京 in 2001"
    for text in ("巴西 俄罗斯、印度", "New York 纽约 市", "  开头 和结尾  "):
        assert len(clean_passage(text)) == len(text)  # offsets into the cleaned text fit the original
    assert answer_occurs("New York", "He moved to New York in 2001.")
    assert training_target("He moved to New York in 2001.", ["New York"], 100) == "New York"
    assert training_target("纽约位于美国 东北部", ["美国 东北部"], 100) == "美国,东北部"


def test_training_target_by_hand() -> None:
    passage = "《窃读记》的作者是台湾作家林海音，原名林含英。"
    assert training_target(passage, ["林含英", "林海音"], 100) == "林含英"  # the first that occurs
    assert training_target(passage, ["张三", "林海音"], 100) == "林海音"
    assert training_target(passage, ["林含英", "林海音"], 16) == "林海音"  # 林含英 is cut off
    assert training_target(passage, ["林含英", "林海音"], 15) == ""  # both cut off: no answer
    assert training_target(passage, [], 100) == "" and training_target(passage, ["", " "], 100) == ""
    # parts joined by ","; separators inside parts cleaned like the passage
    five = "金砖国家包括巴西、俄罗斯、印度、中国和南非。"
    assert training_target(five, ["巴西 俄罗斯 印度 中国 南非"], 100) == "巴西,俄罗斯,印度,中国,南非"
    assert training_target(five, ["巴西、俄罗斯"], 100) == "巴西,俄罗斯"  # found in the cleaned passage
    assert training_target(five, ["巴西 日本"], 100) == ""
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_chars"):
            training_target(passage, ["林海音"], bad)


# ---------------------------------------------------------------------------------------------------------
# generated multi-passage QA


@pytest.fixture(scope="module")
def generated() -> Any:
    return generated_qa(600, 200, seed=3)


def _texts(questions: tuple[Question, ...]) -> str:
    return "\n".join(t for q in questions for t in (q.question, *(p.text for p in q.passages)))


def test_generated_is_deterministic_and_dev_does_not_depend_on_n_train(generated: Any) -> None:
    assert generated_qa(600, 200, seed=3) == generated
    assert generated_qa(50, 200, seed=3).dev == generated.dev
    other = generated_qa(600, 200, seed=4)
    assert other.train != generated.train and other.held_out != generated.held_out
    assert len(generated.train) == 600 and len(generated.dev) == 200
    assert len({q.id for q in generated.train + generated.dev}) == 800


def test_generated_held_out_entities_are_disjoint(generated: Any) -> None:
    kinds = {"person", "place", "work", "org", "date"}
    assert set(generated.held_out) == set(generated.seen) == kinds
    for kind in kinds:
        held, seen = set(generated.held_out[kind]), set(generated.seen[kind])
        assert not held & seen and len(held) * 4 == len(seen)  # a fifth held out
    train, dev = _texts(generated.train), _texts(generated.dev)
    assert [n for names in generated.held_out.values() for n in names if n in train] == []
    assert [n for names in generated.seen.values() for n in names if n in dev] == []
    held_all = {n for names in generated.held_out.values() for n in names}
    assert all(q.answers[0] in held_all for q in generated.dev)
    assert sum(n in dev for n in held_all) > len(held_all) // 2  # the held-out names are really used


def _kind(name: str, pools: dict[str, tuple[str, ...]]) -> str:
    return next(kind for kind, names in pools.items() if name in names)


@pytest.mark.parametrize("split", ["train", "dev"])
def test_generated_questions_have_answers_distractors_and_empty_passages(generated: Any, split: str) -> None:
    questions = getattr(generated, split)
    pools = generated.seen if split == "train" else generated.held_out
    with_distractor = with_empty = 0
    for q in questions:
        assert 3 <= len(q.passages) <= 5 and len(q.answers) == 1
        (answer,) = q.answers
        holding = [p for p in q.passages if p.answers]
        assert holding and all(p.answers == (answer,) for p in holding)
        for p in q.passages:
            assert len(p.text) <= 120
            assert (answer in p.text) == bool(p.answers)  # the answer is where the passages say, only there
            assert training_target(p.text, q.answers, 10_000) == (answer if p.answers else "")
        # a distractor: a passage without the answer naming another entity of the answer's kind
        same_kind = pools[_kind(answer, pools)]
        others = [p for p in q.passages if not p.answers]
        if any(any(n in p.text for n in same_kind) for p in others):
            with_distractor += 1
        if any(not any(n in p.text for n in same_kind) for p in others):
            with_empty += 1
    assert with_distractor == len(questions)  # every question has at least one
    assert with_empty > len(questions) // 3  # many also have passages about nothing of the kind
    # several wordings of the same fact within one question
    assert sum(len({p.text for p in q.passages if p.answers}) > 1 for q in questions) > len(questions) // 4


def test_generated_questions_are_paraphrased(generated: Any) -> None:
    names = sorted((n for v in generated.held_out.values() for n in v), key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, names)))
    forms = {pattern.sub("X", q.question) for q in generated.dev}
    assert len(forms) >= 20  # 7 relations x 3-4 question templates
    assert all(form.count("X") == 1 for form in forms)


def test_generated_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_train"):
        generated_qa(-1, 10)
    with pytest.raises(ValueError, match="n_dev"):
        generated_qa(10, 1.5)
