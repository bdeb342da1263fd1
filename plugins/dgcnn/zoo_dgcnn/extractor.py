"""Triples from raw text: ``extract(model, ["text", …])``, also ``model.extract([...])``.

Spans are Python slices into the ORIGINAL text: ``text[start:end] == subject`` (end exclusive). Texts
longer than the model's ``max_len`` characters are read up to ``max_len`` (a warning names how many were
cut); facts beyond that are not found. Runs batched on the model's device, in eval mode without autograd.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

from zoo_dgcnn.data import encode_texts
from zoo_dgcnn.decode import decode_batch

__all__ = ["Extraction", "extract"]


class Extraction(NamedTuple):
    """One extracted fact; ``subject_span`` / ``object_span`` are ``(start, end)`` slices of the text."""

    subject: str
    predicate: str
    object: str
    subject_span: tuple[int, int]
    object_span: tuple[int, int]


def extract(
    model: Any,
    texts: Sequence[str] | str,
    batch_size: int = 64,
    start_threshold: float = 0.5,
    end_threshold: float = 0.4,
) -> list[list[Extraction]]:
    """For each text, its triples in order of subject then object position (one list per text).

    ``model`` is a trained ``dgcnn-extractor`` (it carries its character vocabulary and predicate names).
    A single string is read as one text. Sentences are sorted by length into batches of ``batch_size``, so
    padding stays small; the answer keeps the input order.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    vocab, predicates = getattr(model, "vocab", None), getattr(model, "predicates", None)
    if vocab is None or predicates is None:
        raise ValueError(
            "extract needs a model that carries its vocab and predicates (one trained by `zoo train "
            "dgcnn-extractor` or loaded from its checkpoint); this one was built with sizes only"
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    max_len = int(model.max_len)
    cut = sum(len(t) > max_len for t in texts)
    if cut:
        warnings.warn(
            f"{cut} of {len(texts)} texts are longer than the model's max_len={max_len} characters and were "
            f"read up to it (facts after character {max_len} are not extracted)",
            UserWarning,
            stacklevel=2,
        )
    device = next(model.parameters()).device
    index = {c: i for i, c in enumerate(vocab)}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[list[Extraction]] = [[] for _ in texts]
    for first in range(0, len(order), batch_size):
        rows = [i for i in order[first : first + batch_size] if texts[i]]
        if not rows:
            continue
        chars = encode_texts([texts[i] for i in rows], index, max_len).to(device)
        decoded = decode_batch(model, chars, None, start_threshold, end_threshold)
        for i, triples in zip(rows, decoded, strict=True):
            text = texts[i]
            out[i] = [
                Extraction(text[s1 : s2 + 1], predicates[p], text[o1 : o2 + 1], (s1, s2 + 1), (o1, o2 + 1))
                for (s1, s2), p, (o1, o2) in triples
            ]
    return out
