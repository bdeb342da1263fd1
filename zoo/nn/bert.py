"""A compact BERT-style encoder whose every LayerNorm can be replaced, e.g. by a conditional one.

Post-LN Transformer blocks as in BERT (Devlin et al., 2019) with attention through
:func:`torch.nn.functional.scaled_dot_product_attention`, one fused QKV projection per block, an optional
pooler and an optional MLM head whose decoder is tied to the word embeddings. Hugging Face BERT checkpoints
load into it and export from it (:mod:`zoo.nn.hf_bert`).

Replacing the norms: pass ``norm=factory`` where ``factory(hidden_size, eps)`` returns a module. When the
encoder is called with ``condition=c`` every norm is called as ``norm(x, c)``; without it, as ``norm(x)``.
A norm module must keep LayerNorm's ``weight`` and ``bias`` parameters (so BERT checkpoints load into
it); extra parameters it adds are left at their initialization when a checkpoint is loaded.

Shapes: ``B`` batch, ``L`` sequence length, ``H`` hidden size, ``V`` vocabulary size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.nn.masks import AttentionKind, attention_mask

__all__ = [
    "ACTIVATIONS",
    "BertBlock",
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "MLMHead",
    "NormFactory",
]

NormFactory = Callable[[int, float], nn.Module]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,  # BERT's: the exact (erf) GELU
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


@dataclass(frozen=True)
class BertConfig:
    """Sizes of a BERT-style encoder; field names are those of a Hugging Face ``BertConfig``.

    ``type_vocab_size`` 0 means no segment embedding. ``pooler`` adds BERT's pooler (tanh of a dense layer
    on the first token); ``mlm_head`` adds the masked-LM head tied to the word embeddings.
    """

    vocab_size: int = 21128
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    pooler: bool = False
    mlm_head: bool = False

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.type_vocab_size < 0:
            raise ValueError(
                f"type_vocab_size must be >= 0 (0 = no segment embedding); got {self.type_vocab_size}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                f"{self.num_attention_heads}: pick sizes with hidden_size % heads == 0"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not one of {sorted(ACTIVATIONS)}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"pad_token_id {self.pad_token_id} is outside the vocabulary [0, {self.vocab_size})"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BertConfig:
        """The fields of ``values`` this class knows (e.g. a Hugging Face ``config.json``); others ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _call_norm(norm: nn.Module, x: Tensor, condition: Tensor | None) -> Tensor:
    return norm(x) if condition is None else norm(x, condition)


class BertEmbeddings(nn.Module):
    """Word + position (+ segment) embeddings, then a norm and dropout: ``(B, L)`` ids -> ``(B, L, H)``."""

    def __init__(self, config: BertConfig, norm: NormFactory) -> None:
        super().__init__()
        h = config.hidden_size
        self.word = nn.Embedding(config.vocab_size, h, padding_idx=config.pad_token_id)
        self.position = nn.Embedding(config.max_position_embeddings, h)
        self.segment = nn.Embedding(config.type_vocab_size, h) if config.type_vocab_size else None
        self.norm = norm(h, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, ids: Tensor, segments: Tensor | None = None, condition: Tensor | None = None) -> Tensor:
        length = ids.shape[1]
        if length > self.position.num_embeddings:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings {self.position.num_embeddings}: "
                "truncate the input"
            )
        x = self.word(ids) + self.position.weight[:length]
        if self.segment is not None:
            x = x + (self.segment.weight[0] if segments is None else self.segment(segments))
        return self.dropout(_call_norm(self.norm, x, condition))


class BertBlock(nn.Module):
    """One post-LN block: ``x = norm(x + attn(x)); x = norm(x + ffn(x))``, ``(B, L, H) -> (B, L, H)``.

    ``qkv`` holds the query, key and value projections stacked along the output axis ``(3H, H)``.
    """

    def __init__(self, config: BertConfig, norm: NormFactory) -> None:
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        self.heads = config.num_attention_heads
        self.qkv = nn.Linear(h, 3 * h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = norm(h, eps)
        self.ffn_up = nn.Linear(h, config.intermediate_size)
        self.ffn_down = nn.Linear(config.intermediate_size, h)
        self.ffn_norm = norm(h, eps)
        self.act = ACTIVATIONS[config.hidden_act]
        self.attn_dropout = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False, condition: Tensor | None = None
    ) -> Tensor:
        b, length, h = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        a = self.attn_out(a.transpose(1, 2).reshape(b, length, h))
        x = _call_norm(self.attn_norm, x + self.dropout(a), condition)
        f = self.ffn_down(self.act(self.ffn_up(x)))
        return _call_norm(self.ffn_norm, x + self.dropout(f), condition)


class MLMHead(nn.Module):
    """BERT's masked-LM head: dense, activation, norm, then the decoder tied to the word embeddings plus a
    bias: ``(B, L, H) -> (B, L, V)`` logits."""

    def __init__(self, config: BertConfig, norm: NormFactory) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = ACTIVATIONS[config.hidden_act]
        self.norm = norm(config.hidden_size, config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, x: Tensor, word_embeddings: Tensor, condition: Tensor | None = None) -> Tensor:
        x = _call_norm(self.norm, self.act(self.dense(x)), condition)
        return F.linear(x, word_embeddings, self.bias)


class BertEncoder(nn.Module):
    """Embeddings and ``num_hidden_layers`` blocks, with an optional pooler and MLM head.

    Args:
        config: the sizes (:class:`BertConfig`).
        norm: factory ``(hidden_size, eps) -> module`` for every norm (embeddings, both of each block, the
            MLM head); default :class:`torch.nn.LayerNorm`.

    Call with ``ids (B, L)`` int64 and optionally ``segments (B, L)``; ``padding`` ``(B, L)`` bool (True =
    a real token; default ``ids != pad_token_id``); ``attention`` one of ``"bidirectional"``,
    ``"causal"``, ``"unilm"`` (segment 0 attends within itself, segment 1 also to its own past: BERT
    used as a seq2seq model) or an explicit mask ``(B, L, L)`` bool, True = may attend;
    ``condition`` passed to every norm. Returns the last hidden states ``(B, L, H)``.
    """

    def __init__(self, config: BertConfig, norm: NormFactory | None = None) -> None:
        super().__init__()
        self.config = config
        norm = norm or (lambda size, eps: nn.LayerNorm(size, eps=eps))
        self.embeddings = BertEmbeddings(config, norm)
        self.blocks = nn.ModuleList(BertBlock(config, norm) for _ in range(config.num_hidden_layers))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if config.pooler else None
        self.mlm = MLMHead(config, norm) if config.mlm_head else None
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        """BERT's initialization: N(0, std²) weights, zero biases, unit/zero LayerNorm; the padding row of
        the word embeddings is zero. Norm modules other than LayerNorm, and every module inside a norm (e.g.
        a conditional norm's zero-initialized projections), keep their own initialization. Nothing is done
        on the meta device (a checkpoint load assigns every tensor)."""
        if self.embeddings.word.weight.is_meta:
            return
        blocks = [b for b in self.blocks if isinstance(b, BertBlock)]
        norms = [self.embeddings.norm, *(n for b in blocks for n in (b.attn_norm, b.ffn_norm))]
        if self.mlm is not None:
            norms.append(self.mlm.norm)
        inside_norms = {id(m) for norm in norms for m in norm.modules() if m is not norm}
        for module in self.modules():
            if id(module) in inside_norms:
                continue
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.mlm is not None:
            nn.init.zeros_(self.mlm.bias)
        with torch.no_grad():
            self.embeddings.word.weight[self.config.pad_token_id].zero_()

    def hidden_states(
        self,
        ids: Tensor,
        segments: Tensor | None = None,
        padding: Tensor | None = None,
        attention: AttentionKind | Tensor = "bidirectional",
        condition: Tensor | None = None,
    ) -> list[Tensor]:
        """The embeddings' output and every block's, ``num_hidden_layers + 1`` tensors ``(B, L, H)``."""
        if padding is None:
            padding = ids != self.config.pad_token_id
        mask, is_causal = attention_mask(attention, padding, segments)
        x = self.embeddings(ids, segments, condition)
        out = [x]
        for block in self.blocks:
            x = block(x, mask, is_causal, condition)
            out.append(x)
        return out

    def forward(
        self,
        ids: Tensor,
        segments: Tensor | None = None,
        padding: Tensor | None = None,
        attention: AttentionKind | Tensor = "bidirectional",
        condition: Tensor | None = None,
    ) -> Tensor:
        return self.hidden_states(ids, segments, padding, attention, condition)[-1]

    def pooled(self, hidden: Tensor) -> Tensor:
        """BERT's pooler output ``(B, H)``: tanh(dense(first token))."""
        if self.pooler is None:
            raise ValueError("this encoder has no pooler: build it with BertConfig(pooler=True)")
        return torch.tanh(self.pooler(hidden[:, 0]))

    def mlm_logits(self, hidden: Tensor, condition: Tensor | None = None) -> Tensor:
        """Token logits ``(B, L, V)`` from hidden states ``(B, L, H)`` through the tied MLM head."""
        if self.mlm is None:
            raise ValueError("this encoder has no MLM head: build it with BertConfig(mlm_head=True)")
        return self.mlm(hidden, self.embeddings.word.weight, condition)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"layers={c.num_hidden_layers}, hidden={c.hidden_size}, heads={c.num_attention_heads}, "
            f"vocab={c.vocab_size}"
        )
