"""The reader: the spec's vote values from passages with planned answers and scores (a fake model),
answers spelt as the passage spells them (character and WordPiece tokenizers), batching, bad input, eval
mode, and identical answers after zoo.save / zoo.load."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from zoo_mlm_qa.encoding import passage_tokens, text_tokens
from zoo_mlm_qa.model import MLMReader
from zoo_mlm_qa.reader import Answer, Vote, answer, answer_many

import zoo
from zoo.text import bert_char_tokenizer, special_ids, wordpiece_tokenizer

A = 6


class Planned(nn.Module):
    """A stand-in reader: for the passage in each input row, the slots put probability ``s`` on the
    planned answer's tokens and then ``[SEP]`` (the rest spread evenly), so the constrained decoder reads
    back exactly that answer with score ``s``. Counts its forwards and their batch sizes."""

    def __init__(self, tokenizer: Any, plan: dict[str, tuple[str, float]]) -> None:
        super().__init__()
        self.tokenizer, self.max_a_len, self.max_q_len, self.max_p_len = tokenizer, A, 8, 16
        self.weight = nn.Parameter(torch.zeros(()))  # the reader finds the device from the parameters
        self.sep = special_ids(tokenizer).sep
        self.plan = {
            tuple(p.ids): (text_tokens(tokenizer, [ans])[0], s)
            for p, (ans, s) in zip(passage_tokens(tokenizer, list(plan), 16), plan.values(), strict=True)
        }
        self.batches: list[int] = []

    def forward(self, ids: Tensor) -> Tensor:
        self.batches.append(len(ids))
        vocab = self.tokenizer.get_vocab_size()
        out = torch.empty((len(ids), A, vocab))
        for row, x in enumerate(ids.tolist()):
            seps = [i for i, t in enumerate(x) if t == self.sep]
            tokens, s = self.plan[tuple(x[seps[1] + 1 : seps[2] + 1])]
            probs = torch.full((A, vocab), (1 - s) / (vocab - 1), dtype=torch.float64)
            for slot, t in enumerate([*tokens, self.sep, *[self.sep] * A][:A]):
                probs[slot, t] = s
            out[row] = probs.log().float()
        return out


PASSAGES = {
    "首都是北京。": ("北京", 0.9),
    "北京是首都": ("北京", 0.9),
    "上海很大": ("上海", 0.9),
    "无关的话": ("", 0.8),
    "北": ("北", 1.0),  # shorter than the answer slots
}


@pytest.fixture(scope="module")
def fake() -> Planned:
    return Planned(bert_char_tokenizer([*PASSAGES, "首都是哪里"]), PASSAGES)


def test_the_spec_vote_values(fake: Planned) -> None:
    got = answer(fake, "首都是哪里", ["首都是北京。", "北京是首都", "上海很大", "无关的话"])
    assert got.text == "北京"
    assert math.isclose(got.score, 2 * 0.81 / (1.8 + 1), rel_tol=1e-6)  # 0.579
    assert round(got.score, 3) == 0.579
    want = [("北京", 0.9), ("北京", 0.9), ("上海", 0.9), ("", 0.8)]
    assert [v.text for v in got.votes] == [t for t, _ in want]
    assert all(math.isclose(v.score, s, rel_tol=1e-6) for v, (_, s) in zip(got.votes, want, strict=True))
    one = answer(fake, "首都是哪里", ["上海很大", "无关的话"])
    assert one.text == "上海" and round(one.score, 3) == 0.426
    short = answer(fake, "首都是哪里", ["北"])  # a passage shorter than the slots
    assert short == Answer("北", 0.5, [Vote("北", 1.0)])
    assert answer(fake, "首都是哪里", ["无关的话"]) == Answer("", 0.0, [Vote("", pytest.approx(0.8))])


def test_batches_over_passages_and_questions(fake: Planned) -> None:
    passages = ["首都是北京。", "北京是首都", "上海很大", "无关的话", "北"]
    fake.batches.clear()
    whole = answer(fake, "首都是哪里", passages, batch_size=32)
    assert fake.batches == [5]
    fake.batches.clear()
    assert answer(fake, "首都是哪里", passages, batch_size=2) == whole
    assert fake.batches == [2, 2, 1]
    fake.batches.clear()
    many = answer_many(fake, [("首都是哪里", passages), ("哪里", ["上海很大"])], batch_size=4)
    assert fake.batches == [4, 2]
    assert many[0] == whole and many[1].text == "上海"


def test_bad_input(fake: Planned) -> None:
    with pytest.raises(ValueError, match="has no passages"):
        answer(fake, "首都是哪里", [])
    with pytest.raises(TypeError, match="a passage must be a str"):
        answer(fake, "首都是哪里", [3])
    with pytest.raises(ValueError, match="batch_size"):
        answer(fake, "首都是哪里", ["北"], batch_size=0)
    bare = MLMReader(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2)
    with pytest.raises(zoo.ZooError, match="no tokenizer"):
        answer(bare, "q", ["p"])


def test_answers_are_spelt_as_the_passage_spells_them(tmp_path: Path) -> None:
    chars = bert_char_tokenizer(["Beijing is big", "where"])
    passage = "In Beijing is  BIG"
    got = answer(Planned(chars, {passage: ("s big", 0.9)}), "where", [passage])
    assert got.text == "s  BIG"  # the tokens are "sbig"; the text keeps the passage's case and blanks
    # one answer spelt two ways: one vote; the text is the best-scoring passage's spelling
    plan = {"it is Big": ("big", 0.6), "so BIG": ("big", 0.9), "Beijing": ("bei", 0.7)}
    got = answer(Planned(chars, plan), "where", list(plan))
    assert [v.text for v in got.votes] == ["Big", "BIG", "Bei"]
    assert got.text == "BIG" and math.isclose(got.score, (0.36 + 0.81) / (1.5 + 1), rel_tol=1e-6)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "beat", "##les", "played", "in", "new"]
    (tmp_path / "vocab.txt").write_text("\n".join([*vocab, "york", ",", "where", "?"]) + "\n")
    words = wordpiece_tokenizer(tmp_path / "vocab.txt")
    passage = "The Beatles played in New  York, where?"
    band = Planned(words, {passage: ("the beatles", 0.9)})
    assert answer(band, "where?", [passage]).text == "The Beatles"
    city = Planned(words, {passage: ("new york", 0.9)})
    assert answer(city, "where?", [passage]).text == "New  York"


def test_passages_are_read_cleaned_and_answered_in_their_own_text() -> None:
    """The model reads "北京、上海" as "北京,上海" (as training does); answers are the passage's text."""
    chars = bert_char_tokenizer(["北京,上海 和 广州", "哪里"])
    passage = "北京、上海 广州"
    model = Planned(chars, {"北京,上海,广州": ("上海,广州", 0.9)})  # planned on the CLEANED passage
    got = answer(model, "哪里", [passage])
    assert got.text == "上海 广州" and got.votes == [Vote("上海 广州", pytest.approx(0.9))]


def trained_tiny() -> MLMReader:
    torch.manual_seed(0)
    tokenizer = bert_char_tokenizer(["首都是北京。上海很大", "哪里"])
    model = MLMReader(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        max_a_len=4,
        max_q_len=8,
        max_p_len=16,
    )
    with torch.no_grad():  # sharper slot outputs than at init, so answers have tokens
        model.backbone.embeddings.word.weight.mul_(50)
    model.tokenizer = tokenizer
    return model


def test_model_answer_is_eval_mode_and_a_passage_substring(one_torch_thread: None) -> None:
    model = trained_tiny().train()
    passages = ["首都是北京。", "上海很大", "北"]
    got = model.answer("哪里", passages)
    assert model.training  # the caller's mode is restored
    assert all(v.text in p for v, p in zip(got.votes, passages, strict=True))
    assert any(v.text for v in got.votes)
    assert got == model.answer("哪里", passages)  # no dropout: eval mode
    loose = model.answer("哪里", passages, constrained=False)
    assert len(loose.votes) == 3


def test_save_load_gives_identical_answers(tmp_path: Path, one_torch_thread: None) -> None:
    try:
        zoo.info("mlm-qa")
    except zoo.ZooError:
        pytest.skip("the registry has no mlm-qa entry yet (zoo_mlm_qa/__init__.py registers it)")
    model = trained_tiny()
    args = {
        "vocab_size": model.config.vocab_size,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 64,
        "max_a_len": 4,
        "max_q_len": 8,
        "max_p_len": 16,
    }
    zoo.save(model, tmp_path / "ckpt", config=zoo.ModelConfig("mlm-qa", args))
    loaded = zoo.load(f"local-dir:{tmp_path / 'ckpt'}")
    passages = ["首都是北京。", "上海很大", "北"]
    assert loaded.answer("哪里", passages) == model.answer("哪里", passages)
    assert loaded.tokenizer.to_str() == model.tokenizer.to_str()
