"""Input layout and targets, by hand: bert4keras' ``[CLS] [MASK]*A [SEP] q [SEP] p [SEP]`` with lengths
that count each part's [SEP], truncation that keeps the [SEP]s, and the three target forms."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from zoo_mlm_qa.encoding import (
    answer_fits,
    encode_inputs,
    encode_inputs_batch,
    encode_target,
    input_length,
    passage_tokens,
)

from zoo.text import bert_char_tokenizer

PAD, UNK, CLS, SEP, MASK = range(5)


@pytest.fixture(scope="module")
def tok() -> Any:
    return bert_char_tokenizer(["abcdefgh"])  # a..h get ids 5..12 (ties by character)


def ids(text: str) -> list[int]:
    return [5 + "abcdefgh".index(c) for c in text]


def test_layout_by_hand(tok: Any) -> None:
    got = encode_inputs(tok, "ab", "cde", max_p_len=8, max_q_len=4, max_a_len=3)
    assert got == [CLS, MASK, MASK, MASK, SEP, *ids("ab"), SEP, *ids("cde"), SEP]
    assert len(got) == 1 + 3 + 1 + 2 + 1 + 3 + 1


def test_truncation_keeps_every_sep(tok: Any) -> None:
    # max_q_len / max_p_len count the part's [SEP]: 3 question tokens, 4 passage tokens survive
    got = encode_inputs(tok, "abcdefgh", "hgfedcba", max_p_len=5, max_q_len=4, max_a_len=2)
    assert got == [CLS, MASK, MASK, SEP, *ids("abc"), SEP, *ids("hgfe"), SEP]
    assert len(got) == input_length(max_p_len=5, max_q_len=4, max_a_len=2)
    assert input_length() == 32 + 2 + 64 + 256


def test_text_is_tokenized_without_the_template_and_matches_the_passage_tokens(tok: Any) -> None:
    [p] = passage_tokens(tok, ["c D e"], max_p_len=8)  # NFKC + lower case, blanks dropped
    assert p.ids == [*ids("cde"), SEP]
    assert p.offsets == [(0, 1), (2, 3), (4, 5)]
    assert p.span_text(ids("de")) == "D e" and p.span_text([]) == ""
    with pytest.raises(ValueError, match="do not occur"):
        p.span_text(ids("ec"))
    row = encode_inputs(tok, "a", "c D e", max_a_len=2)
    assert row[-len(p.ids) :] == p.ids


def test_batch_pads_with_pad_and_rows_equal_the_single_encoding(tok: Any) -> None:
    batch = encode_inputs_batch(tok, ["a", "abc"], ["bcd", ""], max_a_len=2)
    one = encode_inputs(tok, "a", "bcd", max_a_len=2)
    two = encode_inputs(tok, "abc", "", max_a_len=2)
    assert len(one) == batch.shape[1] == len(two) + 1 and batch.dtype == torch.long
    assert batch.tolist() == [one, [*two, PAD]]
    short = encode_inputs_batch(tok, ["a", "a"], ["b", "bcdef"], max_a_len=2)
    assert short[0].tolist() == [CLS, MASK, MASK, SEP, *ids("a"), SEP, *ids("b"), SEP, PAD, PAD, PAD, PAD]
    # the passage may come pre-tokenized; then it is not truncated again
    ready = passage_tokens(tok, ["bcd", ""], max_p_len=3)
    assert encode_inputs_batch(tok, ["a", "abc"], ready, max_a_len=2).tolist() == (
        encode_inputs_batch(tok, ["a", "abc"], ["bcd", ""], max_p_len=3, max_a_len=2).tolist()
    )


def test_target_forms(tok: Any) -> None:
    assert encode_target(tok, "ab", max_a_len=4).tolist() == [*ids("ab"), SEP, PAD]
    assert encode_target(tok, "", max_a_len=4).tolist() == [SEP, PAD, PAD, PAD]
    assert encode_target(tok, "abc", max_a_len=4).tolist() == [*ids("abc"), SEP]  # exactly fits
    assert answer_fits(tok, "abc", max_a_len=4) and not answer_fits(tok, "abcd", max_a_len=4)
    with pytest.raises(ValueError, match=r"4 tokens; max_a_len=4 leaves room for 3"):
        encode_target(tok, "abcd", max_a_len=4)


def test_errors_name_the_argument(tok: Any) -> None:
    with pytest.raises(ValueError, match="max_p_len"):
        encode_inputs(tok, "a", "b", max_p_len=1)
    with pytest.raises(ValueError, match="pair up"):
        encode_inputs_batch(tok, ["a"], ["b", "c"])
    with pytest.raises(TypeError, match="wrap it in a list"):
        encode_inputs_batch(tok, "ab", "cd")
