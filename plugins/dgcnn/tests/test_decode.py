"""Threshold decoding (the spec's example, one-hot gold round trips) and the triple-level metric."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from zoo_dgcnn.decode import decode_batch, pointer_spans, triple_prf
from zoo_dgcnn.model import DGCNNExtractor

P = 4


def probs(length: int, values: dict[int, float]) -> torch.Tensor:
    out = torch.zeros(length)
    for i, v in values.items():
        out[i] = v
    return out


def test_the_spec_example() -> None:
    """starts {0: .9, 5: .6}, ends {2: .45, 6: .3, 7: .5} -> (0, 2), (5, 7)."""
    start, end = probs(9, {0: 0.9, 5: 0.6}), probs(9, {2: 0.45, 6: 0.3, 7: 0.5})
    assert pointer_spans(start, end) == [(0, 2), (5, 7)]


def test_thresholds_are_strict_and_ends_may_equal_starts() -> None:
    start, end = probs(6, {1: 0.5, 2: 0.51, 4: 0.7}), probs(6, {1: 0.9, 2: 0.41, 3: 0.4})
    assert pointer_spans(start, end) == [(2, 2)]  # 1 is not a start (0.5), 4 has no end at or after it
    assert pointer_spans(start, end, start_threshold=0.45, end_threshold=0.35) == [(1, 1), (2, 2)]


@dataclass
class Enc:
    mask: torch.Tensor


class OneHot:
    """A stand-in model whose probabilities are the gold pointers (1 on gold positions, 0 elsewhere).

    Sentences' padded positions carry 1s everywhere: decoding must ignore them.
    """

    def __init__(self, gold: list[set], lengths: list[int], length: int) -> None:
        self.gold, self.lengths, self.length = gold, lengths, length
        self.object_calls = 0
        self.training = True
        self.modes: list[bool] = []

    def train(self, mode: bool = True) -> OneHot:
        self.training = mode
        self.modes.append(mode)
        return self

    def encode(self, chars: torch.Tensor, words: torch.Tensor | None = None) -> Enc:
        return Enc(chars != 0)

    def subject_probs(self, enc: Enc) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = (~enc.mask).float(), (~enc.mask).float()
        for b, triples in enumerate(self.gold):
            for (s1, s2), _, _ in triples:
                start[b, s1], end[b, s2] = 1.0, 1.0
        return start, end

    def object_probs(
        self, enc: Enc, subjects: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.object_calls += 1
        pad = (~enc.mask[rows]).float().unsqueeze(-1).expand(-1, -1, P)
        start, end = pad.clone(), pad.clone()
        for n, (span, b) in enumerate(zip(subjects.tolist(), rows.tolist(), strict=True)):
            for s, p, (o1, o2) in self.gold[b]:
                if s == tuple(span):
                    start[n, o1, p], end[n, o2, p] = 1.0, 1.0
        return start, end


GOLD = [
    # one subject, several objects; two predicates on one pair
    {((0, 2), 0, (5, 7)), ((0, 2), 1, (9, 10)), ((0, 2), 2, (9, 10)), ((0, 2), 3, (12, 12))},
    # three subjects; a subject and its object overlap (0-1 and 1-3); an object that is also a subject.
    # (Two overlapping spans in ONE role cannot be decoded: the later start would take the earlier end.)
    {((0, 1), 0, (1, 3)), ((4, 4), 2, (5, 6)), ((5, 6), 1, (0, 1))},
    set(),  # nothing to find
    # objects of different predicates interleaved: a start of p pairs only with an end of p
    {((3, 4), 0, (0, 2)), ((3, 4), 1, (1, 5))},
]
LENGTHS = [14, 8, 5, 7]


def chars_of(lengths: list[int]) -> torch.Tensor:
    length = max(lengths)
    return (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).long() * 7


def test_decoding_one_hot_targets_returns_the_gold_triples() -> None:
    model = OneHot(GOLD, LENGTHS, max(LENGTHS))
    decoded = decode_batch(model, chars_of(LENGTHS))
    assert [set(d) for d in decoded] == GOLD
    assert model.object_calls == 1  # every subject of the batch in one object pass
    assert model.training and model.modes == [False, True]  # eval for the call, then restored
    assert triple_prf([set(d) for d in decoded], GOLD) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_a_batch_without_subjects_skips_the_object_pass() -> None:
    model = OneHot([set(), set()], [3, 2], 3)
    assert decode_batch(model, chars_of([3, 2])) == [[], []]
    assert model.object_calls == 0


def test_decode_batch_runs_the_real_model_without_autograd() -> None:
    torch.manual_seed(0)
    model = DGCNNExtractor(vocab_size=20, num_predicates=P, dim=16, dilations=[1, 2], heads=2, head_dim=4)
    chars = torch.randint(1, 20, (3, 9)) * (torch.arange(9) < torch.tensor([[9], [4], [6]]))
    decoded = decode_batch(model, chars, start_threshold=0.0, end_threshold=0.0)  # every span is a candidate
    assert model.training  # restored
    for b, length in enumerate([9, 4, 6]):
        subjects = {s for s, _, _ in decoded[b]}
        assert subjects == {(i, i) for i in range(length)}  # every start pairs with the end at itself
        assert all(o2 < length for _, p, (_, o2) in decoded[b]) and all(0 <= p < P for _, p, _ in decoded[b])


def test_triple_prf_by_hand() -> None:
    a, b, c, d, x = "a", "b", "c", "d", "x"
    pred, gold = [{a, b}, {c}], [{a}, {c, d}]
    assert triple_prf(pred, gold) == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    assert triple_prf([{a, b, x}], [{a}]) == pytest.approx({"precision": 1 / 3, "recall": 1.0, "f1": 0.5})
    # corpus level, not an average of sentence F1s: 2A / (B + C) = 2 * 1 / (1 + 4)
    assert triple_prf([{a}, set()], [{a}, {b, c, d}])["f1"] == pytest.approx(0.4)


def test_triple_prf_empty_conventions_and_errors() -> None:
    assert triple_prf([set()], [set()]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert triple_prf([set()], [{"a"}]) == {"precision": 1.0, "recall": 0.0, "f1": 0.0}
    assert triple_prf([{"a"}], [set()]) == {"precision": 0.0, "recall": 1.0, "f1": 0.0}
    with pytest.raises(ValueError, match="one set per sentence"):
        triple_prf([set()], [set(), set()])


@pytest.mark.usefixtures("one_torch_thread")
def test_a_small_model_learns_two_sentences_and_decodes_them() -> None:
    """model + loss + decoder end to end: after overfitting, decode_batch returns the trained triples."""
    torch.manual_seed(0)
    gold = [
        {((0, 1), 0, (4, 5)), ((0, 1), 1, (7, 8))},  # one subject, two objects
        {((2, 3), 1, (6, 6)), ((8, 9), 0, (0, 0))},  # two subjects
    ]
    chars = torch.tensor([[2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0], [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]])
    model = DGCNNExtractor(
        vocab_size=22,
        num_predicates=2,
        dim=32,
        dilations=[1, 2],
        heads=2,
        head_dim=8,
        dropout=0.0,
        gate_dropout=0.0,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    examples = []  # (sentence, subject): one subject per training row, as the reference
    for b, triples in enumerate(gold):
        for subject in sorted({s for s, _, _ in triples}):
            examples.append((b, subject))
    rows = torch.tensor([b for b, _ in examples])
    x = chars[rows]
    s1, s2 = torch.zeros(x.shape), torch.zeros(x.shape)
    o1, o2 = torch.zeros(*x.shape, 2), torch.zeros(*x.shape, 2)
    for n, (b, subject) in enumerate(examples):
        for (k1, k2), p, (a1, a2) in gold[b]:
            s1[n, k1], s2[n, k2] = 1.0, 1.0
            if (k1, k2) == subject:
                o1[n, a1, p], o2[n, a2, p] = 1.0, 1.0
    subjects = torch.tensor([s for _, s in examples])
    for _ in range(150):
        optimizer.zero_grad()
        model.loss(x, subjects, s1, s2, o1, o2)["loss"].backward()
        optimizer.step()
    assert [set(d) for d in decode_batch(model, chars)] == gold
