"""zoo.nn.masks: bidirectional / causal / UniLM masks with padding, checked against hand-worked matrices
and a loop-by-loop reference; the no-mask fast path; errors that name the argument."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from zoo.nn.masks import attention_mask, unilm_mask

T, F = True, False


def full(mask: Tensor | None, batch: int, length: int) -> Tensor:
    """The ``(B, L, L)`` matrix SDPA sees (mask broadcast over heads and queries; None = all True)."""
    if mask is None:
        return torch.ones(batch, length, length, dtype=torch.bool)
    assert mask.dtype == torch.bool and mask.dim() == 4 and mask.shape[1] == 1
    return mask[:, 0].expand(batch, length, length)


def reference(kind: str, padding: Tensor, segments: Tensor | None = None) -> Tensor:
    """Loop-by-loop masks from the definitions: query i may attend key j iff the kind allows it and j is a
    real token; a query left with no key attends to itself (bert4keras' UniLM rule for ``unilm``)."""
    batch, length = padding.shape
    out = torch.zeros(batch, length, length, dtype=torch.bool)
    for b in range(batch):
        for i in range(length):
            for j in range(length):
                if kind == "bidirectional":
                    ok = True
                elif kind == "causal":
                    ok = j <= i
                else:  # unilm: the source sees the source; target t sees the source and targets <= t
                    assert segments is not None
                    c = [int(segments[b, : k + 1].sum()) for k in range(length)]
                    ok = c[j] <= c[i]
                out[b, i, j] = ok and bool(padding[b, j])
            if not out[b, i].any():
                out[b, i, i] = True
    return out


# ------------------------------------------------------------------------------------------ hand-worked


def test_bidirectional_with_padding_hides_padded_keys_only() -> None:
    padding = torch.tensor([[T, T, T, F], [T, T, T, T]])
    mask, is_causal = attention_mask("bidirectional", padding)
    assert not is_causal and mask is not None and mask.shape == (2, 1, 1, 4)
    row0 = torch.tensor([T, T, T, F])
    expected = torch.stack([row0.expand(4, 4), torch.ones(4, 4, dtype=torch.bool)])
    assert torch.equal(full(mask, 2, 4), expected)


def test_causal_with_right_and_left_padding() -> None:
    padding = torch.tensor([[T, T, F], [F, T, T]])
    mask, is_causal = attention_mask("causal", padding)
    assert not is_causal
    expected = torch.tensor(
        [
            [[T, F, F], [T, T, F], [T, T, F]],  # right padding: the padded query sees the real past
            [[T, F, F], [F, T, F], [F, T, T]],  # left padding: query 0 sees no real key -> itself
        ]
    )
    assert torch.equal(full(mask, 2, 3), expected)


def test_unilm_hand_example_bert4keras_convention() -> None:
    # source [0 0], target [1 1], one padded position with segment 0 (as bert4keras pads): c = 0 0 1 2 2
    segments = torch.tensor([[0, 0, 1, 1, 0]])
    padding = torch.tensor([[T, T, T, T, F]])
    expected = torch.tensor(
        [
            [
                [T, T, F, F, F],  # source sees the source only
                [T, T, F, F, F],
                [T, T, T, F, F],  # first target: source + itself
                [T, T, T, T, F],  # second target: source + both targets
                [T, T, T, T, F],  # padded query: what its cumsum allows, padded key hidden
            ]
        ]
    )
    mask, is_causal = attention_mask("unilm", padding, segments)
    assert not is_causal
    assert torch.equal(full(mask, 1, 5), expected)
    # unilm_mask alone: the same rule without padding (row 4 may see key 4)
    raw = expected.clone()
    raw[0, 3:, 4] = True
    assert torch.equal(unilm_mask(segments), raw)


def test_unilm_with_only_source_is_bidirectional_and_only_target_is_causal() -> None:
    padding = torch.ones(1, 4, dtype=torch.bool)
    src, _ = attention_mask("unilm", padding, torch.zeros(1, 4, dtype=torch.long))
    tgt, _ = attention_mask("unilm", padding, torch.ones(1, 4, dtype=torch.long))
    assert torch.equal(full(src, 1, 4), torch.ones(1, 4, 4, dtype=torch.bool))
    assert torch.equal(full(tgt, 1, 4), torch.ones(4, 4, dtype=torch.bool).tril()[None])


# ------------------------------------------------------------------------------------ against reference


@pytest.mark.parametrize("kind", ["bidirectional", "causal", "unilm"])
def test_random_batches_match_loop_reference(kind: str) -> None:
    gen = torch.Generator().manual_seed(0)
    batch, length = 6, 7
    for _ in range(5):
        lengths = torch.randint(1, length + 1, (batch,), generator=gen)
        padding = torch.arange(length)[None, :] < lengths[:, None]
        if kind == "causal":  # also left padding
            padding[::2] = padding[::2].flip(1)
        sources = (torch.rand(batch, generator=gen) * lengths).long()
        segments = (torch.arange(length)[None, :] >= sources[:, None]).long() * padding
        mask, _ = attention_mask(kind, padding, segments)  # type: ignore[arg-type]
        assert torch.equal(full(mask, batch, length), reference(kind, padding, segments))


@pytest.mark.parametrize("kind", ["bidirectional", "causal", "unilm"])
def test_no_row_is_all_false_even_for_a_row_of_only_padding(kind: str) -> None:
    padding = torch.tensor([[F, F, F], [T, F, F]])
    segments = torch.tensor([[0, 1, 1], [0, 0, 0]])
    mask, _ = attention_mask(kind, padding, segments)  # type: ignore[arg-type]
    m = full(mask, 2, 3)
    assert m.any(dim=-1).all()
    # a real query never attends to a padded key
    assert not m[1, 0, 1:].any()


# ----------------------------------------------------------------------------------------------- explicit


def test_explicit_mask_is_combined_with_padding_and_falls_back_to_self() -> None:
    explicit = torch.tensor([[F, T, F], [T, T, T], [F, F, T]])  # (L, L): query 0 may only see key 1
    padding = torch.tensor([[T, F, T], [T, T, T]])
    mask, is_causal = attention_mask(explicit, padding)
    assert not is_causal
    expected = torch.tensor(
        [
            [[T, F, F], [T, F, T], [F, F, T]],  # row 0: key 1 is padding -> nothing left -> itself
            [[F, T, F], [T, T, T], [F, F, T]],
        ]
    )
    assert torch.equal(full(mask, 2, 3), expected)
    per_row, _ = attention_mask(explicit.expand(2, 3, 3).clone(), padding)  # (B, L, L) is the same
    assert torch.equal(full(per_row, 2, 3), expected)


def test_explicit_mask_is_used_even_without_padding() -> None:
    explicit = torch.ones(3, 3, dtype=torch.bool).triu()  # anti-causal
    mask, is_causal = attention_mask(explicit, torch.ones(1, 3, dtype=torch.bool))
    assert not is_causal and torch.equal(full(mask, 1, 3), explicit[None])


# --------------------------------------------------------------------------------------------- fast path


def test_unpadded_batches_take_the_no_mask_fast_path() -> None:
    padding = torch.ones(2, 5, dtype=torch.bool)
    assert attention_mask("bidirectional", padding) == (None, False)
    assert attention_mask("causal", padding) == (None, True)
    # unilm always needs a mask
    mask, is_causal = attention_mask("unilm", padding, torch.tensor([[0, 0, 1, 1, 1]] * 2))
    assert mask is not None and not is_causal


def test_fast_path_is_what_sdpa_computes_with_the_full_mask() -> None:
    q, k, v = torch.randn(3, 2, 2, 5, 4, dtype=torch.float64).unbind(0)
    fn = torch.nn.functional.scaled_dot_product_attention
    for kind, dense in [("bidirectional", torch.ones(5, 5)), ("causal", torch.ones(5, 5).tril())]:
        mask, is_causal = attention_mask(kind, torch.ones(2, 5, dtype=torch.bool))  # type: ignore[arg-type]
        fast = fn(q, k, v, attn_mask=mask, is_causal=is_causal)
        assert torch.allclose(fast, fn(q, k, v, attn_mask=dense.bool()))


# ------------------------------------------------------------------------------------------------ errors


def test_unilm_without_segments_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"unilm.*segment"):
        attention_mask("unilm", torch.ones(1, 3, dtype=torch.bool))


def test_segments_of_another_shape_are_an_error() -> None:
    with pytest.raises(ValueError, match="segments"):
        attention_mask("unilm", torch.ones(2, 3, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.long))


@pytest.mark.parametrize(
    "padding",
    [torch.ones(2, 3), torch.ones(2, 3, dtype=torch.long), torch.ones(3, dtype=torch.bool)],
    ids=["float", "long", "1d"],
)
def test_padding_of_wrong_dtype_or_shape_is_an_error(padding: Tensor) -> None:
    with pytest.raises(ValueError, match=r"padding must be a \(B, L\) bool"):
        attention_mask("bidirectional", padding)


@pytest.mark.parametrize(
    "explicit",
    [
        torch.ones(3, 3),  # not bool
        torch.ones(3, 4, dtype=torch.bool),  # wrong L
        torch.ones(2, 4, 4, dtype=torch.bool),
        torch.ones(5, 3, 3, dtype=torch.bool),  # wrong B
        torch.ones(2, 1, 3, 3, dtype=torch.bool),  # 4-D
        torch.ones(3, dtype=torch.bool),
    ],
    ids=["float", "wrong-L", "wrong-LL", "wrong-B", "4d", "1d"],
)
def test_explicit_mask_of_wrong_dtype_or_shape_is_an_error(explicit: Tensor) -> None:
    with pytest.raises(ValueError, match="explicit attention mask must be bool"):
        attention_mask(explicit, torch.ones(2, 3, dtype=torch.bool))


def test_unknown_kind_is_an_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown attention 'left'.*bidirectional"):
        attention_mask("left", torch.ones(1, 3, dtype=torch.bool))  # type: ignore[arg-type]
