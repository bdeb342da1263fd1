"""Input and target encoding of the MLM reader (article 7148), bert4keras' conventions.

One input is ``[CLS] + [MASK]*max_a_len + [SEP] + q + [SEP] + p + [SEP]`` with segment ids 0: the
answer slots are positions ``1 .. max_a_len``. Lengths count a part's closing ``[SEP]`` (as bert4keras'
``encode(text, max_length=n + 1)[1:]``): the question keeps at most ``max_q_len - 1`` tokens, the
passage ``max_p_len - 1``, so an input holds at most ``max_a_len + 2 + max_q_len + max_p_len`` tokens.

A target is ``(max_a_len,)`` ids: the answer's tokens, ``[SEP]``, then the pad id; "no answer" is a lone
``[SEP]``. An answer of more than ``max_a_len - 1`` tokens has no target: :func:`answer_fits` says so and
:func:`encode_target` refuses it, so the caller skips (and counts) such training samples.

Texts are tokenized WITHOUT the tokenizer's ``[CLS]``/``[SEP]`` template (``add_special_tokens=False``),
so the passage tokens in the input are exactly those the constrained decoder (:mod:`zoo_mlm_qa.decode`)
copies from; :func:`passage_tokens` also returns each token's character span for mapping answers back
to text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from zoo.checks import check_int
from zoo.text import special_ids

__all__ = [
    "PassageTokens",
    "answer_fits",
    "encode_inputs",
    "encode_inputs_batch",
    "encode_target",
    "input_length",
    "passage_tokens",
    "text_tokens",
]

Tokenizer = Any  # a tokenizers.Tokenizer (kept untyped: the package has no type stubs)


def input_length(max_p_len: int = 256, max_q_len: int = 64, max_a_len: int = 32) -> int:
    """The longest input :func:`encode_inputs` makes: ``max_a_len + 2 + max_q_len + max_p_len``."""
    return max_a_len + 2 + max_q_len + max_p_len


def _check_lengths(max_p_len: int, max_q_len: int, max_a_len: int) -> None:
    check_int(max_p_len, "max_p_len", low=2)  # room for one token and the closing [SEP]
    check_int(max_q_len, "max_q_len", low=1)
    check_int(max_a_len, "max_a_len", low=1)


@contextmanager
def _plain(tokenizer: Tokenizer) -> Iterator[None]:
    """The tokenizer's own padding and truncation switched off for the block, restored after."""
    padding, truncation = tokenizer.padding, tokenizer.truncation
    try:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        yield
    finally:
        if padding is not None:
            tokenizer.enable_padding(**padding)
        if truncation is not None:
            tokenizer.enable_truncation(**truncation)


def _encodings(tokenizer: Tokenizer, texts: Sequence[str], name: str) -> list[Any]:
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a sequence of texts, not one string; wrap it in a list")
    with _plain(tokenizer):
        return list(tokenizer.encode_batch(list(texts), add_special_tokens=False))


def text_tokens(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids, without ``[CLS]``/``[SEP]`` and untruncated."""
    return [e.ids for e in _encodings(tokenizer, texts, "texts")]


@dataclass(frozen=True)
class PassageTokens:
    """A passage as the decoder sees it: ``ids`` = its (truncated) tokens + ``[SEP]``; ``offsets[i]`` the
    ``(start, end)`` characters of token ``i`` in ``text`` (one fewer than ``ids``: ``[SEP]`` has none)."""

    text: str
    ids: list[int]
    offsets: list[tuple[int, int]]

    def span_text(self, answer: Sequence[int]) -> str:
        """The passage substring of the first occurrence of the token run ``answer`` ("" when empty).

        Raises ValueError if ``answer`` is not a run of the passage's tokens.
        """
        n = len(answer)
        if n == 0:
            return ""
        body = self.ids[: len(self.offsets)]
        target = list(answer)
        for start in range(len(body) - n + 1):
            if body[start : start + n] == target:
                return self.text[self.offsets[start][0] : self.offsets[start + n - 1][1]]
        raise ValueError(f"answer tokens {target} do not occur in the passage {self.text[:40]!r}")


def passage_tokens(
    tokenizer: Tokenizer, passages: Sequence[str], max_p_len: int = 256
) -> list[PassageTokens]:
    """Each passage's tokens truncated to ``max_p_len - 1``, then ``[SEP]``, with character offsets."""
    check_int(max_p_len, "max_p_len", low=2)
    sep = special_ids(tokenizer).sep
    out = []
    for text, e in zip(passages, _encodings(tokenizer, passages, "passages"), strict=True):
        keep = max_p_len - 1
        out.append(PassageTokens(text, [*e.ids[:keep], sep], [tuple(o) for o in e.offsets[:keep]]))
    return out


def _layout(
    tokenizer: Tokenizer, q_ids: Sequence[int], p_ids: Sequence[int], max_q_len: int, max_a_len: int
) -> list[int]:
    """``p_ids`` already ends with its ``[SEP]``."""
    special = special_ids(tokenizer)
    return [
        special.cls,
        *([special.mask] * max_a_len),
        special.sep,
        *q_ids[: max_q_len - 1],
        special.sep,
        *p_ids,
    ]


def encode_inputs(
    tokenizer: Tokenizer,
    question: str,
    passage: str,
    max_p_len: int = 256,
    max_q_len: int = 64,
    max_a_len: int = 32,
) -> list[int]:
    """Token ids ``[CLS] [MASK]*max_a_len [SEP] q [SEP] p [SEP]`` (q and p truncated, the [SEP]s kept)."""
    return encode_inputs_batch(tokenizer, [question], [passage], max_p_len, max_q_len, max_a_len)[0].tolist()


def encode_inputs_batch(
    tokenizer: Tokenizer,
    questions: Sequence[str],
    passages: Sequence[str] | Sequence[PassageTokens],
    max_p_len: int = 256,
    max_q_len: int = 64,
    max_a_len: int = 32,
) -> torch.Tensor:
    """Inputs ``(B, L)`` int64 for ``B`` (question, passage) pairs, right-padded with ``[PAD]`` to the
    longest; ``passages`` may be texts or :func:`passage_tokens` (then ``max_p_len`` is theirs)."""
    _check_lengths(max_p_len, max_q_len, max_a_len)
    if len(questions) != len(passages):
        raise ValueError(
            f"questions and passages must pair up: got {len(questions)} questions, {len(passages)} passages"
        )
    q_ids = text_tokens(tokenizer, questions)
    texts = [p for p in passages if isinstance(p, str)]
    ready = [p for p in passages if isinstance(p, PassageTokens)]
    if (texts and ready) or len(texts) + len(ready) != len(passages):
        raise TypeError("passages must be all texts or all PassageTokens (from passage_tokens), not a mix")
    p_tokens = passage_tokens(tokenizer, texts, max_p_len) if texts else ready
    rows = [_layout(tokenizer, q, p.ids, max_q_len, max_a_len) for q, p in zip(q_ids, p_tokens, strict=True)]
    pad = special_ids(tokenizer).pad
    out = torch.full((len(rows), max((len(r) for r in rows), default=0)), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def answer_fits(tokenizer: Tokenizer, answer: str, max_a_len: int = 32) -> bool:
    """Whether ``answer`` has at most ``max_a_len - 1`` tokens (room for its closing ``[SEP]``)."""
    check_int(max_a_len, "max_a_len", low=1)
    return len(text_tokens(tokenizer, [answer])[0]) <= max_a_len - 1


def encode_target(tokenizer: Tokenizer, answer: str, max_a_len: int = 32) -> torch.Tensor:
    """Target ids ``(max_a_len,)`` int64: the answer's tokens, ``[SEP]``, then the pad id.

    ``""`` (no answer) is a lone ``[SEP]``. An answer longer than ``max_a_len - 1`` tokens is a
    ValueError: check :func:`answer_fits` first and skip such samples.
    """
    check_int(max_a_len, "max_a_len", low=1)
    special = special_ids(tokenizer)
    ids = text_tokens(tokenizer, [answer])[0]
    if len(ids) > max_a_len - 1:
        raise ValueError(
            f"answer {answer[:40]!r} has {len(ids)} tokens; max_a_len={max_a_len} leaves room for "
            f"{max_a_len - 1} (plus [SEP]): skip it (answer_fits) or raise max_a_len"
        )
    out = torch.full((max_a_len,), special.pad, dtype=torch.long)
    out[: len(ids) + 1] = torch.tensor([*ids, special.sep], dtype=torch.long)
    return out
