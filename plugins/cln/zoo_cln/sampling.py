"""Next-token sampling with top-k, top-p (nucleus), temperature and banned ids, and the decoding loop.

The article's decoder: start from ``[CLS]``, keep the 5 most likely tokens (special tokens banned),
renormalize, sample, stop at ``[SEP]``; later bert4keras versions use top-p. Order of the filters (as
Hugging Face's): banned ids, temperature, top-k, then top-p.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["TopKTopP", "filter_logits", "sample_sequences"]


def check_options(top_k: int | None, top_p: float | None, temperature: float) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 (1 = greedy) or None for no limit; got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (1 = no nucleus cut) or None; got {top_p!r}")
    if not temperature > 0.0:
        raise ValueError(f"temperature must be > 0 (use top_k=1 for greedy decoding); got {temperature!r}")


def filter_logits(
    logits: Tensor,
    top_k: int | None = None,
    top_p: float | None = None,
    temperature: float = 1.0,
    banned_ids: Sequence[int] = (),
) -> Tensor:
    """Logits ``(B, V)`` with every token the rules exclude set to ``-inf`` (float32).

    ``top_k`` keeps the k largest; ``top_p`` keeps the smallest set of most likely tokens whose probability
    (after top-k) reaches ``top_p`` — the most likely token is always kept. Ties at the top-k boundary are
    all kept.
    """
    check_options(top_k, top_p, temperature)
    logits = logits.float() / temperature
    vocab = logits.shape[-1]
    if banned_ids:
        banned = torch.as_tensor(list(banned_ids), dtype=torch.long, device=logits.device)
        if int(banned.min()) < 0 or int(banned.max()) >= vocab:
            raise ValueError(f"banned_ids must lie in [0, {vocab}); got {sorted(set(banned.tolist()))}")
        if banned.unique().numel() >= vocab:
            raise ValueError("banned_ids ban the whole vocabulary: nothing is left to sample")
        logits = logits.index_fill(-1, banned, float("-inf"))
    if top_k is not None and top_k < vocab:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


class TopKTopP:
    """A sampler ``(logits (B, V)) -> ids (B,)`` int64 with fixed defaults that each call may override.

    ``top_k=1`` is greedy (argmax, no randomness). ``generator`` (a seeded :class:`torch.Generator`)
    makes draws reproducible.

        >>> import torch, zoo
        >>> sample = zoo.load("top-k-top-p", top_k=5)
        >>> logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
        >>> sample(logits, top_k=1).tolist()
        [1]
        >>> sample(logits, top_k=1, banned_ids=[1]).tolist()
        [3]
    """

    def __init__(
        self,
        top_k: int | None = 5,
        top_p: float | None = None,
        temperature: float = 1.0,
        banned_ids: Sequence[int] = (),
    ) -> None:
        check_options(top_k, top_p, temperature)
        self.options: dict[str, Any] = {
            "top_k": top_k,
            "top_p": top_p,
            "temperature": temperature,
            "banned_ids": tuple(banned_ids),
        }

    def __call__(self, logits: Tensor, generator: torch.Generator | None = None, **overrides: Any) -> Tensor:
        unknown = set(overrides) - set(self.options)
        if unknown:
            raise TypeError(
                f"unknown sampler option(s) {sorted(unknown)}; this sampler takes {sorted(self.options)}"
            )
        options = {**self.options, **overrides}
        if logits.dim() != 2:
            raise ValueError(f"logits must be (B, V); got shape {tuple(logits.shape)}")
        filtered = filter_logits(logits, **options)
        if options["top_k"] == 1:
            return filtered.argmax(dim=-1)
        return torch.multinomial(filtered.softmax(dim=-1), 1, generator=generator).squeeze(-1)

    def __repr__(self) -> str:
        return "TopKTopP(" + ", ".join(f"{k}={v!r}" for k, v in self.options.items()) + ")"


def sample_sequences(
    next_logits: Callable[[Tensor], Tensor],
    start: Tensor,
    end_id: int,
    max_new_tokens: int,
    sampler: Callable[..., Tensor],
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Extend every row of ``start (B, L0)`` one sampled token at a time until it emits ``end_id`` or has
    ``max_new_tokens`` new tokens; ``next_logits(ids (B, L)) -> (B, V)`` scores the next token.

    Returns the new tokens of each row, without ``end_id``. Finished rows stop being scored.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1; got {max_new_tokens}")
    ids = start
    rows = list(range(start.shape[0]))  # rows still being extended
    out: list[list[int]] = [[] for _ in rows]
    for _ in range(max_new_tokens):
        chosen = sampler(next_logits(ids), generator=generator)
        keep = []
        for i, (row, token) in enumerate(zip(rows, chosen.tolist(), strict=True)):
            if token != end_id:
                out[row].append(token)
                keep.append(i)
        if not keep:
            break
        index = torch.tensor(keep, device=ids.device)
        ids = torch.cat([ids[index], chosen[index, None]], dim=1)
        rows = [rows[i] for i in keep]
    return out
