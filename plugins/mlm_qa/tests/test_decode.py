"""Decoders: next-token sets by hand, the constrained decoder against a literal transcription of
bert4keras' n-gram search (property test: answers are passage runs of <= max_a_len - 1 tokens), the
unconstrained argmax, and the autoregressive decoder against the one-pass one."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo_mlm_qa.decode import (
    allowed_next,
    autoregressive_decode,
    constrained_decode,
    constrained_decode_batch,
    one_pass_decode,
    unconstrained_decode,
    unconstrained_decode_batch,
)
from zoo_mlm_qa.model import MLMReader

SEP, MASK = 3, 4
a, b, c, d = 5, 6, 7, 8


def test_next_token_sets_by_hand() -> None:
    passage = [a, b, c, a, b, SEP]  # "abcab" + [SEP]
    assert allowed_next(passage, [], SEP) == {a, b, c, SEP}
    assert allowed_next(passage, [a], SEP) == {b, SEP}
    assert allowed_next(passage, [a, b], SEP) == {c, SEP}  # "ab" ends the passage too
    assert allowed_next(passage, [b, c], SEP) == {a, SEP}
    assert allowed_next(passage, [c, a, b], SEP) == {SEP}  # a prefix at the passage end: [SEP] only
    assert allowed_next(passage, [d], SEP) == {SEP}
    assert allowed_next([SEP], [], SEP) == {SEP}


def onehot_probs(rows: Sequence[int], vocab: int = 10, p: float = 0.6) -> torch.Tensor:
    """``(len(rows), vocab)`` float64: probability ``p`` on ``rows[i]``, the rest spread evenly."""
    out = torch.full((len(rows), vocab), (1 - p) / (vocab - 1), dtype=torch.float64)
    out[torch.arange(len(rows)), torch.tensor(rows)] = p
    return out


def test_constrained_decode_by_hand() -> None:
    passage = [a, b, c, a, b, SEP]
    probs = onehot_probs([a, d, b, SEP, SEP])  # the model wants "a d b"
    probs[1, b], probs[1, SEP] = 0.2, 0.1  # slot 1: d .6 is not allowed after "a"; b .2 beats [SEP] .1
    probs[2, c], probs[2, SEP] = 0.05, 0.3  # slot 2: b .6 is not allowed after "ab"; [SEP] .3 beats c
    tokens, score = constrained_decode(probs, passage, SEP)
    assert tokens == [a, b]
    assert abs(score - (0.6 + 0.2 + 0.3) / 3) < 1e-12
    # [SEP] first: the empty answer
    assert constrained_decode(onehot_probs([SEP, a, b]), passage, SEP) == ([], 0.6)
    # unconstrained keeps the banned token and stops at the first [SEP]
    tokens, score = unconstrained_decode(probs, SEP)
    assert tokens == [a, d, b] and abs(score - 0.6) < 1e-12


def test_the_last_slot_closes_the_answer() -> None:
    passage = [a, b, c, d, a, b, c, d, SEP]
    probs = onehot_probs([a, b, c, d])  # never [SEP]: four slots keep at most three tokens
    tokens, score = constrained_decode(probs, passage, SEP)
    assert tokens == [a, b, c]
    assert abs(score - (0.6 * 3 + 0.4 / 9) / 4) < 1e-12
    tokens, score = unconstrained_decode(probs, SEP)
    assert tokens == [a, b, c, d] and abs(score - 0.6) < 1e-12


def ngram_reference(probs: torch.Tensor, passage: list[int], sep: int) -> tuple[list[int], float]:
    """bert4keras' ``gen_answer`` loop, transcribed: n-gram sets of the passage, argmax among the
    allowed tokens (ties: lowest id), stop at [SEP]; plus this plugin's rule that the last slot is [SEP]."""
    answer: list[int] = []
    total = 0.0
    steps = probs.shape[0]
    for i in range(steps):
        grams: dict[tuple[int, ...], set[int]] = {}
        for j in range(len(passage) - i):
            grams.setdefault(tuple(passage[j : j + i]), set()).add(passage[j + i])
        allowed = {sep} if i == steps - 1 else grams.get(tuple(answer), set()) | {sep}
        row = probs[i].tolist()
        best = max(sorted(allowed), key=lambda t: row[t])
        total += row[best]
        if best == sep:
            break
        answer.append(best)
    return answer, total / (i + 1)


def is_run(sub: list[int], seq: list[int]) -> bool:
    return any(seq[j : j + len(sub)] == sub for j in range(len(seq) - len(sub) + 1))


@settings(max_examples=150, deadline=None)
@given(
    passage=st.lists(st.integers(5, 9), min_size=0, max_size=12),
    slots=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    sharp=st.floats(0.0, 6.0),
)
def test_constrained_answers_are_passage_runs(
    passage: list[int], slots: int, seed: int, sharp: float
) -> None:
    g = torch.Generator().manual_seed(seed)
    probs = (sharp * torch.randn((slots, 10), generator=g, dtype=torch.float64)).softmax(-1)
    ids = [*passage, SEP]
    tokens, score = constrained_decode(probs, ids, SEP)
    assert is_run(tokens, passage) and len(tokens) <= slots - 1
    allowed_first = set(passage) | {SEP}
    if max(allowed_first, key=lambda t: float(probs[0, t])) == SEP:
        assert tokens == []
    ref_tokens, ref_score = ngram_reference(probs, ids, SEP)
    assert tokens == ref_tokens
    assert abs(score - ref_score) < 1e-9


def test_batch_equals_one_by_one() -> None:
    g = torch.Generator().manual_seed(0)
    passages = [[a, b, c, SEP], [SEP], [d, d, d, a, b, d, d, SEP], [c, a, SEP]]
    probs = (3 * torch.randn((4, 5, 10), generator=g)).softmax(-1)
    probs[2, :, d] += 1.0  # a row that takes d while it can: "ddd", then a or [SEP]
    batch = constrained_decode_batch(probs, passages, SEP)
    assert batch == [constrained_decode(probs[i], passages[i], SEP) for i in range(4)]
    assert batch[1][0] == [] and batch[2][0][:3] == [d, d, d] and len(batch[2][0]) <= 4
    assert unconstrained_decode_batch(probs, SEP) == [unconstrained_decode(p, SEP) for p in probs]


def reader() -> MLMReader:
    torch.manual_seed(0)
    return MLMReader(
        vocab_size=10,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        max_a_len=4,
        max_q_len=4,
        max_p_len=10,
    ).eval()


def batch_inputs() -> tuple[torch.Tensor, list[list[int]]]:
    passages = [[a, b, c, d, a, SEP], [c, c, SEP], [d, SEP]]
    rows = [[2, MASK, MASK, MASK, MASK, SEP, a, SEP, *p] for p in passages]
    width = max(map(len, rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return ids, passages


def test_autoregressive_equals_one_pass_when_the_slots_are_not_read() -> None:
    model, (ids, passages) = reader(), batch_inputs()
    calls: list[int] = []

    def blind(x: torch.Tensor) -> torch.Tensor:  # the slots' contents never reach the model
        calls.append(len(x))
        x = x.clone()
        x[:, 1:5] = MASK
        return model(x) * 20  # sharpen: answers of several tokens

    one = one_pass_decode(blind, ids, passages, SEP)
    assert calls == [3]
    calls.clear()
    ar = autoregressive_decode(blind, ids, passages, SEP, max_a_len=4)
    assert [t for t, _ in ar] == [t for t, _ in one]
    assert all(abs(s - r) < 1e-6 for (_, s), (_, r) in zip(ar, one, strict=True))
    assert len(calls) == 1 + max(len(t) for t, _ in one)  # one forward per token, and the [SEP]
    assert calls == sorted(calls, reverse=True)  # finished rows leave the batch
    assert any(len(t) > 1 for t, _ in one)
    assert all(is_run(t, p[:-1]) for (t, _), p in zip(ar, passages, strict=True))


def test_one_pass_equals_the_search_on_all_slot_probs_and_skips_unreached_slots() -> None:
    model, (ids, passages) = reader(), batch_inputs()
    with torch.no_grad():
        logits = model(ids) * 20
    logits[:, 1, SEP] += 100  # every answer ends by slot 1: slots 2.. are never reached
    one = one_pass_decode(lambda x: logits, ids, passages, SEP)
    want = constrained_decode_batch(logits.softmax(-1), passages, SEP)
    assert [t for t, _ in one] == [t for t, _ in want] and any(t for t, _ in one)
    assert all(abs(s - r) < 1e-12 for (_, s), (_, r) in zip(one, want, strict=True))
    poisoned = logits.clone()
    poisoned[:, 2:] = torch.nan  # the one-pass decoder must not read (softmax) them
    assert one_pass_decode(lambda x: poisoned, ids, passages, SEP) == one


def test_autoregressive_reads_the_filled_slots() -> None:
    model, (ids, passages) = reader(), batch_inputs()
    with torch.no_grad():
        for layer in model.backbone.blocks:  # strong attention to the filled slots
            layer.qkv.weight.mul_(8)
    ar = autoregressive_decode(model, ids, passages, SEP, max_a_len=4)
    assert all(is_run(t, p[:-1]) and len(t) <= 3 for (t, _), p in zip(ar, passages, strict=True))
    assert model.training is False
