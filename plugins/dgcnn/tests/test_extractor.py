"""``extract(model, texts)``: offsets into the original text, batching, order, truncation, errors.

An oracle stand-in for the network (it knows the gold spans of each text and outputs probability 1 there)
isolates what the extractor itself does; test_recipe.py runs it on trained, saved and reloaded models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch
from zoo_dgcnn.data import Example, build_vocab, encode_texts, generated_corpus
from zoo_dgcnn.extractor import Extraction, extract
from zoo_dgcnn.model import DGCNNExtractor


@dataclass
class Enc:
    chars: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        return self.chars != 0


class Oracle:
    """Outputs 1 at the gold subject / object starts and ends of the texts it was given, 0 elsewhere."""

    training = False

    def __init__(self, examples, predicates, vocab, max_len=512):
        self.vocab, self.predicates, self.max_len = vocab, predicates, max_len
        self.gold = {tuple(encode_texts([e.text], vocab, max_len)[0].tolist()): e for e in examples}
        self.batches: list[int] = []

    def parameters(self) -> Iterator[torch.Tensor]:
        yield torch.zeros(1)

    def _example(self, row: torch.Tensor) -> Example:
        return self.gold[tuple(row[row != 0].tolist())]

    def encode(self, chars, words=None):
        self.batches.append(chars.shape[0])
        return Enc(chars)

    def subject_probs(self, enc):
        start, end = torch.zeros(enc.chars.shape), torch.zeros(enc.chars.shape)
        for b, row in enumerate(enc.chars):
            for t in self._example(row).triples:
                if t.subject_span[1] <= self.max_len:
                    start[b, t.subject_span[0]] = end[b, t.subject_span[1] - 1] = 1.0
        return start, end

    def object_probs(self, enc, subjects, rows):
        n, length = subjects.shape[0], enc.chars.shape[1]
        start, end = (
            torch.zeros(n, length, len(self.predicates)),
            torch.zeros(n, length, len(self.predicates)),
        )
        for i, (span, b) in enumerate(zip(subjects.tolist(), rows.tolist(), strict=True)):
            for t in self._example(enc.chars[b]).triples:
                if (t.subject_span[0], t.subject_span[1] - 1) == tuple(span) and t.object_span[
                    1
                ] <= self.max_len:
                    p = self.predicates.index(t.predicate)
                    start[i, t.object_span[0], p] = end[i, t.object_span[1] - 1, p] = 1.0
        return start, end


def test_offsets_are_slices_of_the_original_text_in_input_order():
    corpus = generated_corpus(0, 40, seed=5)
    examples = corpus.dev
    vocab = build_vocab([e.text for e in examples], min_count=1)
    oracle = Oracle(examples, corpus.predicates, vocab)
    found = extract(oracle, [e.text for e in examples], batch_size=16)
    assert oracle.batches == [16, 16, 8]
    assert len(found) == len(examples)
    for e, triples in zip(examples, found, strict=True):
        assert all(isinstance(x, Extraction) for x in triples)
        assert {(x.subject, x.predicate, x.object) for x in triples} == e.spo_set()
        for x in triples:
            assert e.text[slice(*x.subject_span)] == x.subject and e.text[slice(*x.object_span)] == x.object
        assert {(x.subject_span, x.object_span) for x in triples} == {
            (t.subject_span, t.object_span) for t in e.triples
        }


def test_a_hand_example_and_a_single_string():
    from zoo_dgcnn.data import locate

    text = "《边城》的作者是沈从文，沈从文出生于凤凰"
    e = Example(text, [locate(text, "边城", "作者", "沈从文"), locate(text, "沈从文", "出生地", "凤凰")])
    oracle = Oracle([e], ["出生地", "作者"], build_vocab([text], min_count=1))
    (found,) = extract(oracle, text)
    assert found == [
        Extraction("边城", "作者", "沈从文", (1, 3), (8, 11)),
        Extraction("沈从文", "出生地", "凤凰", (8, 11), (18, 20)),  # the first 沈从文 is the subject span
    ]


def test_long_texts_are_cut_with_a_warning_and_empty_texts_give_nothing():
    corpus = generated_corpus(0, 30, seed=2)
    long = max(corpus.dev, key=lambda e: len(e.text))
    cut = max(t.subject_span[1] for t in long.triples) + 1  # the first facts fit, later ones may not
    vocab = build_vocab([long.text], min_count=1)
    oracle = Oracle([long], corpus.predicates, vocab, max_len=cut)
    oracle.gold[tuple(encode_texts([long.text], vocab, cut)[0].tolist())] = long
    with pytest.warns(UserWarning, match=f"1 of 2 texts are longer than the model's max_len={cut}"):
        found, empty = extract(oracle, [long.text, ""])
    assert empty == []
    assert {(x.subject, x.predicate, x.object) for x in found} == {
        t.spo for t in long.triples if t.subject_span[1] <= cut and t.object_span[1] <= cut
    }


def test_bad_arguments_are_named():
    model = DGCNNExtractor(vocab_size=10, num_predicates=2, dim=8, dilations=(1,), heads=1, head_dim=4)
    with pytest.raises(ValueError, match="carries its vocab and predicates"):
        extract(model, ["文本"])
    model = DGCNNExtractor(
        vocab=["<pad>", "<unk>", "文"], predicates=["p"], dim=8, dilations=(1,), heads=1, head_dim=4
    )
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        extract(model, ["文"], batch_size=0)
    with pytest.raises(TypeError, match="item 1 is int"):
        extract(model, ["文", 3])
    assert extract(model, []) == []
