"""The top-k / top-p sampler and the decoding loop: hand examples, empirical supports and frequencies."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
import torch
import zoo_cln.sampling
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo_cln.sampling import TopKTopP, filter_logits, sample_sequences

import zoo


def draws(
    sampler: TopKTopP, logits: torch.Tensor, n: int = 4000, seed: int = 0, **options: Any
) -> torch.Tensor:
    """``n`` draws from one row of logits ``(V,)`` (as one batch of ``n`` identical rows)."""
    generator = torch.Generator().manual_seed(seed)
    return sampler(logits.expand(n, -1), generator=generator, **options)


def support(sampler: TopKTopP, logits: torch.Tensor, **options: Any) -> set[int]:
    return set(draws(sampler, logits, **options).tolist())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), vocab=st.integers(2, 40), batch=st.integers(1, 6))
def test_top_k_1_is_greedy_whatever_the_generator(seed: int, vocab: int, batch: int) -> None:
    logits = torch.randn(batch, vocab, generator=torch.Generator().manual_seed(seed)) * 5
    sampler = TopKTopP(top_k=1, temperature=3.0)
    for generator in (None, torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)):
        assert sampler(logits, generator=generator).tolist() == logits.argmax(dim=-1).tolist()
    # greedy even when top_p and temperature would widen a random draw
    assert TopKTopP(top_k=5)(logits, top_k=1, top_p=0.999).tolist() == logits.argmax(dim=-1).tolist()


def test_banned_ids_never_appear() -> None:
    logits = torch.tensor([5.0, 4.0, 0.0, -1.0, 3.0, 4.5])
    banned = [0, 5, 3]
    got = support(TopKTopP(top_k=None, banned_ids=banned), logits)
    assert got == {1, 2, 4}  # every allowed id is drawn, no banned one
    assert support(TopKTopP(top_k=2), logits, banned_ids=banned) == {1, 4}
    assert TopKTopP(top_k=1, banned_ids=banned)(logits[None]).tolist() == [1]
    # the most likely token itself is banned and top_p is tiny: the best allowed token remains
    assert support(TopKTopP(top_k=None, top_p=0.01, banned_ids=[0]), logits) == {5}


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_top_k_keeps_exactly_the_k_largest(k: int) -> None:
    logits = torch.tensor([0.3, 2.0, -1.0, 1.5, 0.0, 1.9, -0.5, 1.0])
    expected = set(logits.topk(k).indices.tolist())
    assert support(TopKTopP(top_k=k, temperature=4.0), logits) == expected
    kept = torch.isfinite(filter_logits(logits[None], top_k=k))[0]
    assert set(kept.nonzero().flatten().tolist()) == expected


def test_top_k_at_least_the_vocabulary_keeps_everything() -> None:
    logits = torch.randn(2, 5)
    assert torch.equal(filter_logits(logits, top_k=5), logits)
    assert torch.equal(filter_logits(logits, top_k=50), logits)


@pytest.mark.parametrize(
    ("p", "kept"),
    [(0.5, {0}), (0.51, {0, 1}), (0.8, {0, 1}), (0.81, {0, 1, 2}), (0.96, {0, 1, 2, 3}), (1.0, {0, 1, 2, 3})],
)
def test_top_p_keeps_the_smallest_prefix_reaching_p(p: float, kept: set[int]) -> None:
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])  # shuffled: ids 1, 3, 2, 0 by rank
    rank_to_id = [1, 3, 2, 0]
    expected = {rank_to_id[r] for r in kept}
    finite = torch.isfinite(filter_logits(probs.log()[None], top_p=p))[0]
    assert set(finite.nonzero().flatten().tolist()) == expected
    assert support(TopKTopP(top_k=None, top_p=p), probs.log()) == expected


def test_top_p_renormalizes_over_the_kept_tokens() -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = filter_logits(probs.log()[None], top_p=0.8).softmax(dim=-1)[0]
    torch.testing.assert_close(kept, torch.tensor([0.625, 0.375, 0.0, 0.0]))
    freq = torch.bincount(draws(TopKTopP(top_k=None, top_p=0.8), probs.log(), n=20000), minlength=4) / 20000
    torch.testing.assert_close(freq, kept, atol=0.015, rtol=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), p=st.floats(1e-6, 1.0), top_k=st.one_of(st.none(), st.integers(1, 12)))
def test_the_most_likely_token_is_always_kept(seed: int, p: float, top_k: int | None) -> None:
    logits = torch.randn(3, 12, generator=torch.Generator().manual_seed(seed)) * 4
    filtered = filter_logits(logits, top_k=top_k, top_p=p)
    best = logits.argmax(dim=-1)
    assert torch.isfinite(filtered.gather(1, best[:, None])).all()
    # and the kept set is a prefix of the ranking: nothing kept is less likely than something dropped
    for row, logit_row in zip(filtered, logits, strict=True):
        kept, dropped = logit_row[torch.isfinite(row)], logit_row[~torch.isfinite(row)]
        assert dropped.numel() == 0 or kept.min() >= dropped.max()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_temperature_divides_the_logits(temperature: float) -> None:
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5])
    torch.testing.assert_close(filter_logits(logits[None], temperature=temperature)[0], logits / temperature)
    n = 30000
    freq = torch.bincount(draws(TopKTopP(top_k=None, temperature=temperature), logits, n=n), minlength=4) / n
    torch.testing.assert_close(freq, (logits / temperature).softmax(dim=-1), atol=0.015, rtol=0)


def test_seeded_draws_reproduce_and_different_seeds_differ() -> None:
    logits = torch.zeros(1, 50)
    sampler = TopKTopP(top_k=None)
    a = draws(sampler, logits[0], n=200, seed=7)
    assert torch.equal(a, draws(sampler, logits[0], n=200, seed=7))
    assert not torch.equal(a, draws(sampler, logits[0], n=200, seed=8))


def test_per_call_overrides_leave_the_defaults_alone() -> None:
    sampler = TopKTopP(top_k=3, top_p=0.9, temperature=0.7, banned_ids=[2])
    before = dict(sampler.options)
    logits = torch.tensor([[0.0, 1.0, 5.0, 2.0, 3.0]])
    assert sampler(logits, top_k=1, banned_ids=[], temperature=2.0, top_p=None).tolist() == [2]
    assert sampler.options == before
    assert sampler(logits, top_k=1).tolist() == [4]  # the default ban of id 2 still holds
    assert repr(sampler) == "TopKTopP(top_k=3, top_p=0.9, temperature=0.7, banned_ids=(2,))"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": -0.1}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"top_k": 0}, "top_k must be an integer >= 1"),
        ({"top_k": -3}, "top_k must be an integer >= 1"),
        ({"top_k": 2.0}, "top_k must be an integer >= 1"),
        ({"top_k": True}, "top_k must be an integer >= 1"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"temperature": float("nan")}, "temperature must be > 0"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TopKTopP(**options)
    with pytest.raises(ValueError, match=message):
        TopKTopP()(torch.zeros(1, 4), **options)
    with pytest.raises(ValueError, match=message):
        filter_logits(torch.zeros(1, 4), **options)


def test_bad_banned_ids_logits_and_options_are_refused() -> None:
    sampler, logits = TopKTopP(), torch.zeros(2, 4)
    with pytest.raises(ValueError, match="ban the whole vocabulary"):
        sampler(logits, banned_ids=[0, 1, 2, 3, 1])
    with pytest.raises(ValueError, match=r"banned_ids must lie in \[0, 4\); got \[1, 4\]"):
        sampler(logits, banned_ids=[1, 4])
    with pytest.raises(ValueError, match=r"banned_ids must lie in \[0, 4\)"):
        sampler(logits, banned_ids=[-1])
    with pytest.raises(TypeError, match=r"unknown sampler option\(s\) \['top_n'\]"):
        sampler(logits, top_n=3)
    with pytest.raises(ValueError, match=r"logits must be \(B, V\)"):
        sampler(torch.zeros(4))


def test_registry_entry_and_doctest() -> None:
    sampler = zoo.load("top-k-top-p")
    assert isinstance(sampler, TopKTopP) and sampler.options["top_k"] == 5
    assert zoo.load("nucleus", top_k=None, top_p=0.9).options["top_p"] == 0.9
    result = doctest.testmod(zoo_cln.sampling, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


class Scripted:
    """A fake model: per row, the token it forces at each step (by row index in the ORIGINAL batch,
    found from the row's first token) — and a log of the shapes of the ids it was called with."""

    def __init__(self, plans: dict[int, list[int]], vocab: int = 10) -> None:
        self.plans, self.vocab = plans, vocab
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(ids.shape))
        logits = torch.zeros(ids.shape[0], self.vocab)
        step = ids.shape[1] - 1
        for i, row in enumerate(ids[:, 0].tolist()):
            logits[i, self.plans[row][step]] = 10.0
        return logits


def test_sample_sequences_stops_at_end_and_rows_finish_independently() -> None:
    end = 9
    fake = Scripted({0: [3, 4, end, 5, 5, 5], 1: [6, 6, 6, 6, 6, 6], 2: [end, 1, 1, 1, 1, 1]})
    start = torch.tensor([[0], [1], [2]])
    out = sample_sequences(fake, start, end, max_new_tokens=5, sampler=TopKTopP(top_k=1))
    assert out == [[3, 4], [6, 6, 6, 6, 6], []]
    # finished rows stop being scored: 3 rows, then 2, then 1 for the remaining steps
    assert fake.calls == [(3, 1), (2, 2), (2, 3), (1, 4), (1, 5)]


def test_sample_sequences_stops_when_every_row_ended() -> None:
    end = 9
    fake = Scripted({0: [end] * 5, 1: [2, end, 3, 3, 3]})
    out = sample_sequences(fake, torch.tensor([[0], [1]]), end, max_new_tokens=5, sampler=TopKTopP(top_k=1))
    assert out == [[], [2]]
    assert len(fake.calls) == 2


def test_sample_sequences_is_reproducible_with_a_seed_and_checks_its_budget() -> None:
    def uniform(ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(ids.shape[0], 30)

    start, sampler = torch.zeros(4, 1, dtype=torch.long), TopKTopP(top_k=None)

    def run(seed: int) -> list[list[int]]:
        return sample_sequences(uniform, start, 29, 12, sampler, torch.Generator().manual_seed(seed))

    assert run(3) == run(3)
    assert run(3) != run(4)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        sample_sequences(uniform, start, 29, 0, sampler)
