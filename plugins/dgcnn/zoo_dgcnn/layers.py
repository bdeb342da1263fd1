"""DGCNN building blocks: the gated dilated residual convolution, its stack, masked attention, embeddings.

Shapes: ``B`` sentences, ``L`` characters, ``D`` model width. Masks are ``(B, L)`` bool, ``True`` on real
characters; every layer returns zeros at padded positions and reads nothing from them, so extra right
padding never changes the outputs at real positions.

Gate orientation (bojone/kg-2019's ``dilated_gated_conv1d``): ``Conv1D(2D, k, same, dilation d)`` gives
``[g_logit | v]``, ``g = sigmoid(dropout(g_logit))`` and ``y = (g * x + (1 - g) * v) * mask``. ``g`` weighs
the residual (the input), so a gate bias of ``+inf`` makes the block the identity and ``-inf`` makes it the
plain convolution branch ``v``. The article writes the same Highway form with the sigmoid on the
convolution, ``X (1 - s) + Conv(X) s``: ``s = 1 - g``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DEFAULT_DILATIONS", "DGCNNEncoder", "Embeddings", "GatedDilatedConv", "MaskedSelfAttention"]

DEFAULT_DILATIONS = (1, 2, 5, 1, 2, 5, 1, 2, 5, 1, 1, 1)


def _check_mask(x: torch.Tensor, mask: torch.Tensor) -> None:
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (B, L) = {tuple(x.shape[:2])}; got {tuple(mask.shape)}")


class GatedDilatedConv(nn.Module):
    """One gated dilated residual convolution block: ``(B, L, D), mask (B, L) -> (B, L, D)``.

    Output ``i`` reads inputs ``i - d*(k-1)/2 … i + d*(k-1)/2`` in steps of ``d`` (``{i-d, i, i+d}`` for
    ``k = 3``); inputs at masked positions are zeroed before the convolution. ``gate_dropout`` is applied
    to the gate logits in training (as the reference does), not to the output.
    """

    def __init__(self, dim: int, dilation: int = 1, kernel_size: int = 3, gate_dropout: float = 0.1) -> None:
        super().__init__()
        if dim < 1 or dilation < 1:
            raise ValueError(f"dim and dilation must be >= 1; got dim={dim}, dilation={dilation}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding, centred); got {kernel_size}")
        if not 0.0 <= gate_dropout < 1.0:
            raise ValueError(f"gate_dropout must be in [0, 1); got {gate_dropout}")
        self.dim, self.dilation, self.gate_dropout = dim, dilation, gate_dropout
        self.conv = nn.Conv1d(
            dim, 2 * dim, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2
        )
        nn.init.xavier_uniform_(self.conv.weight)  # Keras' Conv1D defaults: glorot uniform, zero bias
        nn.init.zeros_(self.conv.get_parameter("bias"))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check_mask(x, mask)
        m = mask.to(x.dtype).unsqueeze(1)
        return self.channels_first(x.transpose(1, 2) * m, m).transpose(1, 2)

    def channels_first(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The block on ``x (B, D, L)`` (zero at padding) with ``m (B, 1, L)`` float: ``(B, D, L)``."""
        g_logit, v = self.conv(x).chunk(2, dim=1)
        g = torch.sigmoid(F.dropout(g_logit, self.gate_dropout, self.training))
        return torch.lerp(v, x, g) * m  # g * x + (1 - g) * v


class DGCNNEncoder(nn.Module):
    """A stack of :class:`GatedDilatedConv` blocks: ``(B, L, D), mask (B, L) -> (B, L, D)``.

    The default dilations ``[1, 2, 5] x 3 + [1, 1, 1]`` with ``k = 3`` give a receptive field of
    ``±sum(dilations) = ±27`` characters.
    """

    def __init__(
        self, dim: int, dilations: Sequence[int] = DEFAULT_DILATIONS, gate_dropout: float = 0.1
    ) -> None:
        super().__init__()
        if not dilations:
            raise ValueError("dilations must name at least one block, e.g. [1, 2, 5]")
        self.dilations = tuple(int(d) for d in dilations)
        self.blocks = nn.ModuleList(
            GatedDilatedConv(dim, d, gate_dropout=gate_dropout) for d in self.dilations
        )

    @property
    def receptive_field(self) -> int:
        """How far (in characters, each side) an output can see: ``sum(dilations)`` for ``k = 3``."""
        return sum(self.dilations)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check_mask(x, mask)
        m = mask.to(x.dtype).unsqueeze(1)
        h = x.transpose(1, 2) * m  # channels first once for the whole stack
        for block in self.blocks:
            h = cast(GatedDilatedConv, block).channels_first(h, m)
        return h.transpose(1, 2)


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention over real characters: ``(B, L, D), mask -> (B, L, heads * head_dim)``.

    Bias-free query/key/value projections and no output projection (as the reference). Keys at padded
    positions get no weight, and padded query rows are zeroed (the reference leaks them into the next
    layer). Runs on ``torch.nn.functional.scaled_dot_product_attention``.
    """

    def __init__(self, dim: int, heads: int = 8, head_dim: int = 16) -> None:
        super().__init__()
        if heads < 1 or head_dim < 1:
            raise ValueError(f"heads and head_dim must be >= 1; got heads={heads}, head_dim={head_dim}")
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        for part in self.qkv.weight.data.chunk(3):  # glorot normal per projection, as the reference
            nn.init.xavier_normal_(part)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check_mask(x, mask)
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # An all-padding sentence attends everywhere (its rows are zeroed below) instead of giving NaN.
        keys = mask | ~mask.any(dim=1, keepdim=True)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keys[:, None, None, :])
        out = out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        return out * mask.unsqueeze(-1).to(out.dtype)


class Embeddings(nn.Module):
    """Character (+ optional word) + absolute position embeddings: ``(B, L) ids -> (B, L, dim)``.

    Ids: 0 = padding (the mask is ``chars != 0``), 1 = unknown character. ``words`` are ``(B, L,
    word_dim)`` float vectors, one per character (a word's vector repeated over its characters), mapped
    to ``dim`` by a bias-free linear layer. The position table (``max_len x dim``, zero init) is also
    the relative-position table of the extractor. The sum goes through dropout and is zeroed at padding.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int = 128,
        max_len: int = 512,
        word_dim: int | None = None,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if vocab_size < 3:
            raise ValueError(
                f"vocab_size must count <pad>, <unk> and at least one character; got {vocab_size}"
            )
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1; got {max_len}")
        self.max_len, self.word_dim = max_len, word_dim
        self.chars = nn.Embedding(vocab_size, dim, padding_idx=0)
        nn.init.uniform_(self.chars.weight, -0.05, 0.05)  # Keras' Embedding default
        with torch.no_grad():
            self.chars.weight[0].zero_()
        self.words = nn.Linear(word_dim, dim, bias=False) if word_dim else None
        self.position = nn.Embedding(max_len, dim)
        nn.init.zeros_(self.position.weight)
        self.dropout = nn.Dropout(dropout)

    def forward(self, chars: torch.Tensor, words: torch.Tensor | None = None) -> torch.Tensor:
        if chars.dim() != 2:
            raise ValueError(f"chars must be (B, L) ids; got shape {tuple(chars.shape)}")
        length = chars.shape[1]
        if length > self.max_len:
            raise ValueError(
                f"text length {length} exceeds max_len={self.max_len} (the position table): truncate the "
                f"text to {self.max_len} characters, or build the model with a larger max_len"
            )
        h = self.chars(chars) + self.position.weight[:length]
        if self.words is not None:
            if words is None or words.shape != (*chars.shape, self.word_dim):
                got = None if words is None else tuple(words.shape)
                raise ValueError(
                    f"words must be (B, L, word_dim) = {(*chars.shape, self.word_dim)}; got {got}"
                )
            h = h + self.words(words.to(h.dtype))
        elif words is not None:
            raise ValueError("words were given but the model has no word_dim: build it with word_dim=...")
        return self.dropout(h) * (chars != 0).unsqueeze(-1).to(h.dtype)
