"""Attention masks for a BERT-style encoder: bidirectional, causal (left to right) and UniLM.

:func:`attention_mask` returns what :func:`torch.nn.functional.scaled_dot_product_attention` takes:
a boolean mask (True = may attend) broadcastable to ``(B, heads, L, L)``, or None together with
``is_causal``, so that unpadded batches take SDPA's fastest kernels.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["AttentionKind", "attention_mask", "unilm_mask"]

AttentionKind = Literal["bidirectional", "causal", "unilm"]
KINDS = ("bidirectional", "causal", "unilm")


def unilm_mask(segments: Tensor) -> Tensor:
    """UniLM's seq2seq mask ``(B, L, L)`` bool from segment ids ``(B, L)`` (0 = source, 1 = target).

    Query ``i`` may see key ``j`` iff ``c[j] <= c[i]`` with ``c = cumsum(segments)``: the source attends
    to the whole source, each target token to the source and to the target up to itself.
    """
    c = segments.cumsum(dim=1)
    return c[:, None, :] <= c[:, :, None]


def attention_mask(
    attention: AttentionKind | Tensor, padding: Tensor, segments: Tensor | None = None
) -> tuple[Tensor | None, bool]:
    """``(mask, is_causal)`` for SDPA.

    Args:
        attention: a kind (``"bidirectional"``, ``"causal"``, ``"unilm"``) or an explicit mask
            ``(B, L, L)`` or ``(L, L)`` bool, True = query (row) may attend to key (column).
        padding: ``(B, L)`` bool, True = a real token. Padded keys are never attended to; a query that
            would see no key at all (a padded position) attends to itself, and in a batch row with no real
            token every query sees that row's padding: no row of the mask is all False (no NaN).
        segments: ``(B, L)`` segment ids, needed by ``"unilm"``.

    Returns:
        ``mask`` ``(B, 1, 1, L)`` or ``(B, 1, L, L)`` bool, or None when SDPA needs no mask
        (no padding; ``is_causal`` then says whether to use its causal kernel).
    """
    if padding.dtype != torch.bool or padding.dim() != 2:
        raise ValueError(f"padding must be a (B, L) bool tensor; got {padding.dtype} {tuple(padding.shape)}")
    batch, length = padding.shape
    no_padding = bool(padding.all())
    if isinstance(attention, Tensor):
        shapes = ((length, length), (batch, length, length))
        if attention.dtype != torch.bool or attention.shape not in shapes:
            raise ValueError(
                f"an explicit attention mask must be bool (B, L, L) or (L, L), B = {batch}, L = {length}; "
                f"got {attention.dtype} {tuple(attention.shape)}"
            )
        allowed = attention if attention.dim() == 3 else attention.expand(batch, length, length)
    elif attention == "bidirectional":
        if no_padding:
            return None, False
        # a batch row with no real token would leave every query without a key: let it see its padding
        return (padding | ~padding.any(dim=1, keepdim=True))[:, None, None, :], False
    elif attention == "causal":
        if no_padding:
            return None, True
        allowed = torch.ones(length, length, dtype=torch.bool, device=padding.device).tril()
        allowed = allowed.expand(padding.shape[0], length, length)
    elif attention == "unilm":
        if segments is None:
            raise ValueError("attention='unilm' needs segment ids (0 = source, 1 = target)")
        if segments.shape != padding.shape:
            raise ValueError(
                f"segments {tuple(segments.shape)} must have the shape of padding {tuple(padding.shape)}"
            )
        allowed = unilm_mask(segments)
    else:
        raise ValueError(f"unknown attention {attention!r}; choose one of {KINDS} or pass a bool mask")
    allowed = allowed & padding[:, None, :]
    eye = torch.eye(length, dtype=torch.bool, device=padding.device)
    allowed = allowed | (eye & ~allowed.any(dim=-1, keepdim=True))
    return allowed[:, None], False
