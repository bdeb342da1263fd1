"""zoo.text: the character-level tokenizer and batch encoding shared by the text plugins."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from tokenizers import Tokenizer

import zoo
from zoo.text import OOV, PAD, char_tokenizer, encode_texts

# Hand-made corpus with distinct character counts (no ties): e 6, d 5, c 4, b 3, a 2, f 1.
CORPUS = ["eeedd c", "eedddcc b", "e cbb aa", "f"]


def by_frequency(texts: list[str]) -> list[str]:
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    assert len(set(counts.values())) == len(counts), "the reference needs a corpus without ties"
    return [ch for ch, _ in counts.most_common()]


def test_special_ids_and_vocab_ordered_by_frequency():
    tok = char_tokenizer(CORPUS)
    assert (PAD, OOV) == (0, 1)
    assert tok.id_to_token(0) == "[PAD]" and tok.id_to_token(1) == "[UNK]"
    assert tok.token_to_id("[PAD]") == 0 and tok.token_to_id("[UNK]") == 1
    expected = by_frequency(CORPUS)
    assert expected == ["e", "d", "c", "b", "a", "f"]  # the hand count agrees with Counter
    vocab = tok.get_vocab()
    assert vocab == {"[PAD]": 0, "[UNK]": 1, **{ch: i + 2 for i, ch in enumerate(expected)}}
    assert tok.get_vocab_size() == 8


def test_vocab_does_not_depend_on_corpus_order_even_with_ties():
    texts = ["zyx wvu", "abc", "cba", "tsr"]  # a b c twice, the rest once: ties inside both groups
    vocab = char_tokenizer(texts).get_vocab()
    assert {vocab[ch] for ch in "abc"} == {2, 3, 4}
    assert char_tokenizer(texts[::-1]).get_vocab() == vocab
    assert char_tokenizer(["".join(reversed(t)) for t in texts]).get_vocab() == vocab


def test_one_token_per_non_space_character_whitespace_dropped():
    tok = char_tokenizer(CORPUS)
    enc = tok.encode("ab c\td\n  e\u3000f")  # \u3000 is the ideographic (full-width) space
    assert enc.tokens == ["a", "b", "c", "d", "e", "f"]
    assert enc.ids == [6, 5, 4, 3, 2, 7]
    assert tok.encode("   \t\n").ids == []
    # A character never seen in training is one [UNK], not dropped and not split.
    assert tok.encode("a张b").ids == [6, OOV, 5]


def test_chinese_characters_are_single_tokens():
    texts = ["很好很好", "不好"]
    tok = char_tokenizer(texts)
    vocab = tok.get_vocab()
    assert vocab["好"] == 2 and vocab["很"] == 3 and vocab["不"] == 4  # 好 x3, 很 x2, 不 x1
    assert tok.encode("不很好").ids == [4, 3, 2]


def test_nfkc_and_lowercase_fold_full_width_and_capitals():
    tok = char_tokenizer(["a1 b2 a1"])
    assert tok.encode("Ａ１").ids == tok.encode("a1").ids == [tok.token_to_id("a"), tok.token_to_id("1")]
    assert tok.encode("Ｂ２").tokens == ["b", "2"]
    assert tok.encode("AB").ids == tok.encode("ab").ids
    # Training folds too: full-width and capital forms count towards the same token.
    tok = char_tokenizer(["ＡＡ Ａ a b b"])
    assert tok.get_vocab() == {"[PAD]": 0, "[UNK]": 1, "a": 2, "b": 3}


def test_vocab_size_counts_the_specials_and_rarer_chars_map_to_unk():
    tok = char_tokenizer(CORPUS, vocab_size=4)
    assert tok.get_vocab() == {"[PAD]": 0, "[UNK]": 1, "e": 2, "d": 3}
    assert tok.encode("edcbaf").ids == [2, 3, OOV, OOV, OOV, OOV]


def test_min_frequency_drops_rare_characters():
    tok = char_tokenizer(CORPUS, min_frequency=4)  # e 6, d 5, c 4 stay; b 3, a 2, f 1 go
    assert tok.get_vocab() == {"[PAD]": 0, "[UNK]": 1, "e": 2, "d": 3, "c": 4}
    assert tok.encode("fcb").ids == [OOV, 4, OOV]


@pytest.mark.parametrize("size", [0, 1, 2])
def test_vocab_size_without_room_for_a_character_is_refused(size):
    with pytest.raises(ValueError, match="vocab_size must exceed 2"):
        char_tokenizer(CORPUS, vocab_size=size)


def test_maxlen_truncates_and_right_pads():
    tok = char_tokenizer(CORPUS, maxlen=4)
    assert tok.encode("ed").ids == [2, 3, PAD, PAD]
    assert tok.encode("ed").attention_mask == [1, 1, 0, 0]
    assert tok.encode("edcbaf").ids == [2, 3, 4, 5]
    assert tok.encode("").ids == [PAD] * 4
    batch = encode_texts(tok, ["e", "edcbaf"])
    assert batch.tolist() == [[2, 0, 0, 0], [2, 3, 4, 5]]


def test_encode_texts_pads_to_the_longest_or_to_maxlen():
    tok = char_tokenizer(CORPUS)
    out = encode_texts(tok, ["ed", "", "c b a", "x"])
    assert out.dtype == torch.int64 and out.shape == (4, 3)
    assert out.tolist() == [[2, 3, 0], [0, 0, 0], [4, 5, 6], [OOV, 0, 0]]
    out = encode_texts(tok, ["edcbaf", "e"], maxlen=2)
    assert out.tolist() == [[2, 3], [2, 0]]
    out = encode_texts(tok, ["e"], maxlen=5)
    assert out.tolist() == [[2, 0, 0, 0, 0]]
    assert encode_texts(tok, ["", " "]).shape == (2, 0)
    assert encode_texts(tok, []).shape == (0, 0)
    # A tuple is a sequence of texts as well as a list is.
    assert torch.equal(encode_texts(tok, ("ed", "c")), torch.tensor([[2, 3], [4, 0]]))


def test_encode_texts_with_a_fixed_length_tokenizer_and_an_override():
    tok = char_tokenizer(CORPUS, maxlen=3)
    assert encode_texts(tok, ["e", "edcb"]).tolist() == [[2, 0, 0], [2, 3, 4]]
    assert encode_texts(tok, ["edcb"], maxlen=2).tolist() == [[2, 3]]
    assert encode_texts(tok, ["e"], maxlen=5).tolist() == [[2, 0, 0, 0, 0]]


def test_encode_texts_refuses_a_bare_string():
    tok = char_tokenizer(CORPUS)
    with pytest.raises(TypeError, match="not one string"):
        encode_texts(tok, "edc")


def test_round_trips_through_json():
    tok = char_tokenizer(CORPUS, vocab_size=5, maxlen=6)
    back = Tokenizer.from_str(tok.to_str())
    assert back.get_vocab() == tok.get_vocab()
    for text in ["Ｅｄ c", "edcbaf张", "", "DDD  EEE eee"]:
        assert back.encode(text).ids == tok.encode(text).ids
    assert back.padding is not None and back.padding["length"] == 6
    assert back.truncation is not None and back.truncation["max_length"] == 6


def test_tokenizer_survives_a_zoo_checkpoint(tmp_path):
    model = zoo.load("example-mlp")
    model.tokenizer = char_tokenizer(["好评 很好", "差评 不好"], maxlen=8)
    out = zoo.save(model, tmp_path / "ck")
    assert (out / "tokenizer.json").is_file()
    saved = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["model"]["vocab"] == model.tokenizer.get_vocab()
    back = zoo.load(f"local-dir:{out}")
    assert isinstance(back.tokenizer, Tokenizer) and back.tokenizer is not model.tokenizer
    for text in ["很好的好评", "ＡＢ 不好", ""]:
        ids = back.tokenizer.encode(text).ids
        assert ids == model.tokenizer.encode(text).ids and len(ids) == 8
    assert torch.equal(
        encode_texts(back.tokenizer, ["差评", "好"]), encode_texts(model.tokenizer, ["差评", "好"])
    )


def test_a_model_without_a_tokenizer_saves_none(tmp_path):
    out = zoo.save(zoo.load("example-mlp"), tmp_path / "ck")
    assert not (out / "tokenizer.json").exists()
    assert getattr(zoo.load(f"local-dir:{out}"), "tokenizer", None) is None
