"""DGCNN layers: masking, dilation dependency sets, the stack's receptive field, gate limits, attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo_dgcnn.layers import DGCNNEncoder, Embeddings, GatedDilatedConv, MaskedSelfAttention

DIM = 8


def lengths_mask(lengths: list[int], length: int) -> torch.Tensor:
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]


def changed_outputs(layer: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor, j: int) -> list[int]:
    """Positions of sentence 0 whose output changes when input ``j`` is perturbed."""
    base = layer(x, mask)
    bumped = x.clone()
    bumped[0, j] += torch.randn(x.shape[-1], dtype=x.dtype)
    diff = (layer(bumped, mask) - base)[0].abs().amax(dim=-1)
    return (diff > 1e-12).nonzero().flatten().tolist()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_block_keeps_shape_and_zeroes_padding() -> None:
    block = GatedDilatedConv(DIM, dilation=2).eval()
    x, mask = torch.randn(3, 11, DIM), lengths_mask([11, 7, 1], 11)
    y = block(x, mask)
    assert y.shape == x.shape
    assert (y[~mask] == 0).all() and (y[mask].abs() > 0).any()


def test_block_reads_nothing_from_padding() -> None:
    """Garbage at padded positions or extra right padding leaves the real positions' outputs unchanged."""
    block = GatedDilatedConv(DIM, dilation=5).eval()
    x, mask = torch.randn(2, 9, DIM), lengths_mask([9, 4], 9)
    y = block(x, mask)
    garbage = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    torch.testing.assert_close(block(garbage, mask), y, rtol=0, atol=0)
    padded = torch.cat([x, torch.randn(2, 6, DIM)], dim=1)
    y_padded = block(padded, torch.cat([mask, torch.zeros(2, 6, dtype=torch.bool)], dim=1))
    torch.testing.assert_close(y_padded[:, :9], y, rtol=1e-6, atol=1e-6)


def test_block_matches_the_gated_residual_formula() -> None:
    """y = g x + (1 - g) v, [g_logit | v] = Conv1D(x); computed independently with F.conv1d."""
    block = GatedDilatedConv(DIM, dilation=2).double().eval()
    x, mask = torch.randn(2, 10, DIM, dtype=torch.float64), lengths_mask([10, 6], 10)
    xm = x * mask[..., None]
    out = F.conv1d(xm.transpose(1, 2), block.conv.weight, block.conv.bias, padding=2, dilation=2).transpose(
        1, 2
    )
    g, v = torch.sigmoid(out[..., :DIM]), out[..., DIM:]
    expected = (g * xm + (1 - g) * v) * mask[..., None]
    torch.testing.assert_close(block(x, mask), expected)


@pytest.mark.parametrize("bias, branch", [(1e4, "identity"), (-1e4, "conv")])
def test_gate_limits(bias: float, branch: str) -> None:
    """Gate bias -> +inf: the block is the identity; -> -inf: it is the convolution branch v."""
    block = GatedDilatedConv(DIM, dilation=1).double().eval()
    with torch.no_grad():
        block.conv.bias[:DIM] = bias
    x, mask = torch.randn(2, 7, DIM, dtype=torch.float64), lengths_mask([7, 5], 7)
    xm = x * mask[..., None]
    if branch == "identity":
        expected = xm
    else:
        w, b = block.conv.weight[DIM:], block.conv.bias[DIM:]
        expected = F.conv1d(xm.transpose(1, 2), w, b, padding=1).transpose(1, 2) * mask[..., None]
    torch.testing.assert_close(block(x, mask), expected)


@pytest.mark.parametrize("dilation", [1, 2, 5])
@pytest.mark.parametrize("j", [0, 6, 12, 19])
def test_dilation_dependency_set(dilation: int, j: int) -> None:
    """With dilation d, output i reads only inputs {i - d, i, i + d}: input j reaches {j - d, j, j + d}."""
    block = GatedDilatedConv(DIM, dilation=dilation).double().eval()
    length = 20
    x, mask = torch.randn(1, length, DIM, dtype=torch.float64), torch.ones(1, length, dtype=torch.bool)
    expected = sorted(i for i in (j - dilation, j, j + dilation) if 0 <= i < length)
    assert changed_outputs(block, x, mask, j) == expected


@pytest.mark.parametrize("j", [3, 40, 79])
def test_stack_receptive_field_is_27(j: int) -> None:
    """Dilations [1,2,5]x3 + [1,1,1]: input j changes exactly the outputs j-27 … j+27."""
    encoder = DGCNNEncoder(DIM).double().eval()
    assert encoder.receptive_field == 27
    length = 80
    x, mask = torch.randn(1, length, DIM, dtype=torch.float64), torch.ones(1, length, dtype=torch.bool)
    assert changed_outputs(encoder, x, mask, j) == list(range(max(0, j - 27), min(length, j + 28)))


def test_stack_matches_blocks_applied_one_by_one() -> None:
    encoder = DGCNNEncoder(DIM, dilations=[1, 2, 5]).eval()
    x, mask = torch.randn(2, 12, DIM), lengths_mask([12, 8], 12)
    h = x
    for block in encoder.blocks:
        h = block(h, mask)
    torch.testing.assert_close(encoder(x, mask), h)


def test_gate_dropout_only_in_training() -> None:
    block = GatedDilatedConv(DIM, gate_dropout=0.5)
    x, mask = torch.randn(2, 9, DIM), lengths_mask([9, 9], 9)
    assert not torch.equal(block(x, mask), block(x, mask))  # dropout on the gate logits
    block.eval()
    torch.testing.assert_close(block(x, mask), block(x, mask), rtol=0, atol=0)


def naive_attention(layer: MaskedSelfAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked softmax attention written out: scores / sqrt(head_dim), padded keys -inf, padded rows 0."""
    b, n, _ = x.shape
    h, d = layer.heads, layer.head_dim
    wq, wk, wv = layer.qkv.weight.chunk(3)
    q, k, v = ((x @ w.T).view(b, n, h, d).transpose(1, 2) for w in (wq, wk, wv))
    scores = q @ k.transpose(-1, -2) / d**0.5
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, h * d)
    return out * mask[..., None]


def test_attention_matches_naive_masked_softmax() -> None:
    layer = MaskedSelfAttention(DIM, heads=2, head_dim=4).double()
    x, mask = torch.randn(3, 10, DIM, dtype=torch.float64), lengths_mask([10, 6, 1], 10)
    out = layer(x, mask)
    assert out.shape == (3, 10, 8)
    torch.testing.assert_close(out, naive_attention(layer, x, mask))
    assert (out[~mask] == 0).all()  # padded query rows are zero
    garbage = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    torch.testing.assert_close(layer(garbage, mask), out)  # padded keys and values are never read


def test_attention_on_an_all_padding_sentence_is_zero_not_nan() -> None:
    layer = MaskedSelfAttention(DIM, heads=2, head_dim=4)
    out = layer(torch.randn(2, 5, DIM), lengths_mask([5, 0], 5))
    assert torch.isfinite(out).all() and (out[1] == 0).all()


def test_embeddings_sum_mask_and_position_table() -> None:
    emb = Embeddings(vocab_size=20, dim=DIM, max_len=16, word_dim=5, dropout=0.0)
    chars = torch.tensor([[3, 4, 5, 0], [7, 1, 0, 0]])
    words = torch.randn(2, 4, 5)
    with torch.no_grad():
        emb.position.weight.copy_(torch.randn(16, DIM))
    out = emb(chars, words)
    expected = emb.chars.weight[chars] + emb.position.weight[:4] + words @ emb.words.weight.T
    torch.testing.assert_close(out, expected * (chars != 0)[..., None])
    assert (out[chars == 0] == 0).all()


def test_embeddings_position_table_starts_at_zero() -> None:
    emb = Embeddings(vocab_size=20, dim=DIM, max_len=16)
    assert (emb.position.weight == 0).all()


def test_text_longer_than_the_position_table_is_refused() -> None:
    emb = Embeddings(vocab_size=20, dim=DIM, max_len=16)
    with pytest.raises(ValueError, match=r"length 17 exceeds max_len=16.*truncate"):
        emb(torch.ones(1, 17, dtype=torch.long))


def test_word_vectors_are_checked() -> None:
    with pytest.raises(ValueError, match="words must be"):
        Embeddings(20, DIM, word_dim=5)(torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="word_dim"):
        Embeddings(20, DIM)(torch.ones(1, 3, dtype=torch.long), torch.zeros(1, 3, 5))
