"""The SogouQA metric worked by hand, Sogou's punctuation list, and the vote values of article 7148."""

from __future__ import annotations

import pytest
from zoo_mlm_qa.data import Passage, Question
from zoo_mlm_qa.metric import best_answer, char_f1, exact_match, normalize, score, vote

# Sogou's evaluate_tool/punctuation file (bojone/dgcnn_for_reading_comprehension), one character each
SOGOU_PUNCTUATION = (
    " `^~<=>|_-,;:!?/.'\"()[]{}@$*\\&#%+…‰※•—‖‘’“”№←↑→↓∴∨∵∶∩∈∑√∞≯≡≮≤≥≈≌⊥⊙⌒□◆◇◎●★☆♀♂¨°·§¤±"
    "\u3000、。〃々〈〉《》「」『』【】〓〔〕〖〗÷×′▲″△∠≠■ˇˉ￣￥＿！＄（），．：；？～﹑￠"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),  # full-width letters and digits -> half-width, lowercase
        ("Hello, World!", "helloworld"),
        ("《窃读记》的作者是林海音。", "窃读记的作者是林海音"),
        ("（１９１８年）", "1918年"),  # full-width brackets become ASCII ones, then go
        ("巴西　俄罗斯\t印度\n中国 南非", "巴西俄罗斯印度中国南非"),  # ideographic space, tab, newline
        ("“黑色”——", "黑色"),
        ("24小时", "24小时"),
        ("", ""),
    ],
)
def test_normalize_by_hand(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_drops_every_character_of_sogous_punctuation_list() -> None:
    for char in SOGOU_PUNCTUATION:
        assert normalize(f"a{char}b") == "ab", repr(char)


def test_exact_match() -> None:
    assert exact_match("林海音", ["林海音", "林含英"]) == 1.0
    assert exact_match(" 林含英。", ["林海音", "林含英"]) == 1.0  # any gold answer, after normalization
    assert exact_match("ＮＢＡ", ["nba"]) == 1.0
    assert exact_match("林海音女士", ["林海音"]) == 0.0
    assert exact_match("", ["林海音"]) == 0.0 and exact_match("。", ["。"]) == 0.0  # empty is wrong
    assert exact_match("林海音", []) == 0.0
    # the parts of the standard (first) answer in any order, separated by punctuation or blanks
    assert exact_match("南非,巴西、俄罗斯 印度;中国", ["巴西 俄罗斯 印度 中国 南非"]) == 1.0
    assert exact_match("南非,巴西", ["巴西 俄罗斯 印度 中国 南非"]) == 0.0
    assert exact_match("十 年", ["其他", "十年"]) == 1.0  # normalized equality with a later answer
    assert exact_match("年 十", ["其他", "十年"]) == 0.0  # part sets only against the first answer


def test_char_f1_by_hand() -> None:
    assert char_f1("林海音女士", ["林海音"]) == pytest.approx(2 * 0.6 * 1.0 / 1.6)  # p 3/5, r 3/3
    assert char_f1("海音", ["林海音"]) == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert char_f1("aab", ["AB"]) == pytest.approx(0.8)  # a multiset: one a matches, p 2/3, r 1
    assert char_f1("林海音", ["张三", "海音林", "林"]) == 1.0  # the maximum over answers
    assert char_f1("张三", ["林海音"]) == 0.0
    assert char_f1("", ["林海音"]) == 0.0 and char_f1("！", ["林海音"]) == 0.0
    assert char_f1("林海音", []) == 0.0


def _q(qid: str, *answers: str) -> Question:
    return Question(qid, "问题", (Passage("篇章", ()),), answers)


def test_score_by_hand_and_final_is_the_mean() -> None:
    questions = [_q("1", "林海音"), _q("2", "黑色"), _q("3", "四川"), _q("4", "太原", "太原市")]
    predictions = {"1": "林海音", "2": "黑", "4": "太原市。"}  # "3" unanswered: counts 0
    result = score(predictions, questions)
    f1_2 = 2 * 1.0 * 0.5 / 1.5
    assert result["accuracy"] == pytest.approx(2 / 4)
    assert result["f1"] == pytest.approx((1 + f1_2 + 0 + 1) / 4)
    assert result["final"] == pytest.approx((result["accuracy"] + result["f1"]) / 2)
    assert score({}, questions) == {"accuracy": 0.0, "f1": 0.0, "final": 0.0}


def test_score_errors() -> None:
    with pytest.raises(ValueError, match="not questions of this data set"):
        score({"9": "x"}, [_q("1", "a")])
    with pytest.raises(ValueError, match="at least one question"):
        score({}, [])


def test_vote_values_from_the_article() -> None:
    assert vote([("a", 1.0)]) == {"a": pytest.approx(0.5)}
    assert vote([("a", 0.9), ("a", 0.9)])["a"] == pytest.approx(1.62 / 2.8)
    assert round(vote([("a", 0.9), ("a", 0.9)])["a"], 3) == 0.579
    assert round(vote([("a", 0.9)])["a"], 3) == 0.426
    # agreement beats one confident passage: two at 0.9 outvote one at 1.0
    assert best_answer([("a", 1.0), ("b", 0.9), ("b", 0.9)]) == ("b", pytest.approx(1.62 / 2.8))


def test_empty_answers_cast_no_vote() -> None:
    assert vote([("", 1.0), ("", 0.99)]) == {}
    assert vote([("a", 0.5), ("", 1.0), ("a", 0.5)]) == {"a": pytest.approx(0.5 / 2.0)}
    assert best_answer([("", 1.0)]) == ("", 0.0)
    assert best_answer([]) == ("", 0.0)
    assert best_answer([("a", 0.6), ("b", 0.6)]) == ("a", pytest.approx(0.36 / 1.6))  # equal: the first


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high", None])
def test_vote_rejects_scores_outside_0_1(bad: object) -> None:
    with pytest.raises(ValueError, match=r"candidates\[1\].*\[0, 1\]"):
        vote([("a", 0.5), ("b", bad)])
