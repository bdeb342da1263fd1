"""Threshold decoding of the pointer probabilities into triples, and the triple-level P/R/F1.

Rules (article 6671, bojone/kg-2019): a start is a position whose start probability exceeds
``start_threshold`` (0.5), an end one whose end probability exceeds ``end_threshold`` (0.4); each start
is paired with the first end at or after it (spans are inclusive; a start with no end after it yields
nothing). Objects follow the same rule separately for every predicate: a start of predicate ``p`` pairs
only with an end of predicate ``p``.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator, Sequence, Set
from typing import Any, Protocol

import torch

__all__ = ["Triple", "decode_batch", "pointer_spans", "triple_prf"]

Span = tuple[int, int]
Triple = tuple[Span, int, Span]  # (subject span, predicate index, object span), inclusive ends


class _Extractor(Protocol):
    """What :func:`decode_batch` needs of a model (``DGCNNExtractor``, or a stand-in in tests)."""

    def encode(self, chars: torch.Tensor, words: torch.Tensor | None = None) -> Any: ...
    def subject_probs(self, enc: Any) -> tuple[torch.Tensor, torch.Tensor]: ...
    def object_probs(
        self, enc: Any, subjects: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


def _pair(starts: Sequence[int], ends: Sequence[int]) -> list[Span]:
    """Pair every start with the first end at or after it; ``ends`` sorted ascending."""
    spans = []
    for s in starts:
        k = bisect.bisect_left(ends, s)
        if k < len(ends):
            spans.append((int(s), int(ends[k])))
    return spans


def pointer_spans(
    start: torch.Tensor, end: torch.Tensor, start_threshold: float = 0.5, end_threshold: float = 0.4
) -> list[Span]:
    """Spans ``(i, j)`` (inclusive) from start/end probabilities ``(L,)``, in order of their start."""
    if start.dim() != 1 or start.shape != end.shape:
        raise ValueError(
            f"start and end must be (L,) of one length; got {tuple(start.shape)}, {tuple(end.shape)}"
        )
    starts = (start > start_threshold).nonzero().flatten().tolist()
    ends = (end > end_threshold).nonzero().flatten().tolist()
    return _pair(starts, ends)


@contextlib.contextmanager
def _inference(model: object) -> Iterator[None]:
    """Eval mode and no autograd for the call, restoring the model's training flag after."""
    training = bool(getattr(model, "training", False))
    if training:
        model.train(False)  # type: ignore[attr-defined]
    try:
        with torch.inference_mode():
            yield
    finally:
        if training:
            model.train(True)  # type: ignore[attr-defined]


def decode_batch(
    model: _Extractor,
    chars: torch.Tensor,
    words: torch.Tensor | None = None,
    start_threshold: float = 0.5,
    end_threshold: float = 0.4,
) -> list[list[Triple]]:
    """Triples per sentence of ``chars (B, L)``: ``[((s1, s2), predicate, (o1, o2)), …]``, sorted.

    One encoder pass for the batch, then ONE object pass for every subject found in it. Runs in eval
    mode without autograd (the model's training flag is restored afterwards).
    """
    with _inference(model):
        enc = model.encode(chars, words)
        sub_start, sub_end = (p.float().cpu() for p in model.subject_probs(enc))
        lengths = enc.mask.sum(dim=1).tolist()
        spans, rows = [], []
        for b, length in enumerate(lengths):
            for span in pointer_spans(
                sub_start[b, :length], sub_end[b, :length], start_threshold, end_threshold
            ):
                spans.append(span)
                rows.append(b)
        results: list[list[Triple]] = [[] for _ in lengths]
        if not spans:
            return results
        device = chars.device
        subjects = torch.tensor(spans, dtype=torch.long, device=device)
        row_ids = torch.tensor(rows, dtype=torch.long, device=device)
        obj_start, obj_end = model.object_probs(enc, subjects, row_ids)
        real = enc.mask[row_ids].unsqueeze(-1)  # (N, L, 1): padding never decodes
        starts = ((obj_start > start_threshold) & real).nonzero().tolist()  # (n, i, p) sorted by n, then i
        ends: dict[tuple[int, int], list[int]] = {}
        for n, j, p in ((obj_end > end_threshold) & real).nonzero().tolist():  # ascending j per (n, p)
            ends.setdefault((n, p), []).append(j)
        for n, i, p in starts:
            for _, j in _pair([i], ends.get((n, p), [])):
                results[rows[n]].append((spans[n], p, (i, j)))
    return [sorted(set(r)) for r in results]


def triple_prf(pred: Sequence[Set[Any]], gold: Sequence[Set[Any]]) -> dict[str, float]:
    """Corpus-level exact-match precision, recall and F1 = 2A / (B + C) over sentences.

    ``A`` = triples in both (summed over sentences), ``B`` = predicted, ``C`` = gold. As the reference
    (which adds 1e-10 to A, B and C): precision is 1 when nothing is predicted, recall is 1 when there is
    nothing to find, and F1 is 1 only when both are empty.
    """
    if len(pred) != len(gold):
        raise ValueError(f"pred and gold must hold one set per sentence; got {len(pred)} and {len(gold)}")
    a = sum(len(set(p) & set(g)) for p, g in zip(pred, gold, strict=True))
    b, c = sum(len(set(p)) for p in pred), sum(len(set(g)) for g in gold)
    return {
        "precision": a / b if b else 1.0,
        "recall": a / c if c else 1.0,
        "f1": 2 * a / (b + c) if b + c else 1.0,
    }
