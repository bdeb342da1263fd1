"""The article's conditional language model: a label embedding fed to every LayerNorm of a BERT-style
encoder used left to right (causal attention), with the MLM head tied to the word embeddings.

Sequences are ``[CLS] text [SEP]`` token ids; the loss is the cross-entropy of ``logits[:, :-1]`` against
``ids[:, 1:]`` with padding targets ignored. Generation starts at ``[CLS]`` and stops at ``[SEP]``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from zoo.nn import BertConfig, BertEncoder
from zoo.text import special_ids
from zoo_cln.layers import ConditionalLayerNorm
from zoo_cln.sampling import TopKTopP, sample_sequences

__all__ = ["ConditionalLM"]


class ConditionalLM(nn.Module):
    """Label-conditioned causal LM (article 7124) on :class:`zoo.nn.BertEncoder`.

    Args:
        vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
        max_position_embeddings, hidden_dropout_prob, attention_probs_dropout_prob, hidden_act,
        layer_norm_eps, pad_token_id, type_vocab_size: the encoder's sizes (:class:`zoo.nn.BertConfig`;
            names as Hugging Face BERT's, so a BERT checkpoint's config fills them).
        num_labels: rows of the condition table (2: negative, positive).
        label_dim: size of a label's embedding (the article's 128).
        hidden_units, hidden_activation: the optional dense layer in each conditional norm.
        conditional: False ablates the condition: plain LayerNorms, labels ignored.

    ``model(ids (B, L), labels (B,))`` -> next-token logits ``(B, L, V)``. A trained model carries its
    tokenizer as ``model.tokenizer`` (``tokenizer.json`` in the checkpoint); :meth:`generate` then returns
    text.
    """

    def __init__(
        self,
        vocab_size: int = 21128,
        hidden_size: int = 256,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        max_position_embeddings: int = 128,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        type_vocab_size: int = 2,
        num_labels: int = 2,
        label_dim: int = 128,
        hidden_units: int | None = None,
        hidden_activation: str = "linear",
        conditional: bool = True,
    ) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1; got {num_labels}")
        self.config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            hidden_act=hidden_act,
            hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            layer_norm_eps=layer_norm_eps,
            pad_token_id=pad_token_id,
            mlm_head=True,
        )
        self.num_labels, self.conditional = num_labels, conditional
        norm = functools.partial(
            _conditional_norm,
            condition_size=label_dim if conditional else None,
            hidden_units=hidden_units,
            hidden_activation=hidden_activation,
        )
        self.backbone = BertEncoder(self.config, norm=norm)
        self.labels = nn.Embedding(num_labels, label_dim)
        self.tokenizer: Any = None

    def condition(self, labels: Tensor) -> Tensor | None:
        """Label embeddings ``(B, label_dim)`` for labels ``(B,)`` (None when the condition is ablated)."""
        if labels.dtype not in (torch.int64, torch.int32) or labels.dim() != 1:
            raise ValueError(f"labels must be (B,) integer ids; got {labels.dtype} {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_labels):
            bad = sorted({int(y) for y in labels if not 0 <= int(y) < self.num_labels})
            raise ValueError(f"label id(s) {bad} outside the condition table [0, {self.num_labels})")
        return self.labels(labels) if self.conditional else None

    def forward(self, ids: Tensor, labels: Tensor) -> Tensor:
        if labels.dim() == 1 and labels.shape[0] != ids.shape[0]:
            raise ValueError(
                f"labels {tuple(labels.shape)} must hold one label per sequence of ids {tuple(ids.shape)}"
            )
        c = self.condition(labels)
        hidden = self.backbone(ids, attention="causal", condition=c)
        return self.backbone.mlm_logits(hidden, c)

    def token_nll(self, ids: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Summed next-token NLL (nats) ``(B,)`` and the number of scored tokens ``(B,)`` per sequence;
        targets ``ids[:, 1:]`` that are padding are not scored."""
        logits = self(ids, labels)[:, :-1]
        targets = ids[:, 1:]
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
        ).view_as(targets)  # (B*L, V) rows: many times faster on CPU than the (B, V, L) layout
        scored = targets != self.config.pad_token_id
        return (nll * scored).sum(dim=1), scored.sum(dim=1)

    def loss(self, ids: Tensor, labels: Tensor) -> Tensor:
        """Mean next-token cross-entropy over the batch's non-padding targets (nats per token)."""
        logits = self(ids, labels)[:, :-1]
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            ids[:, 1:].reshape(-1),
            ignore_index=self.config.pad_token_id,
        )

    @torch.no_grad()
    def generate(
        self,
        label: int,
        n: int = 1,
        max_new_tokens: int = 64,
        sampler: Any = None,
        seed: int | None = None,
        **sampler_options: Any,
    ) -> list[str]:
        """``n`` texts sampled for ``label`` from ``[CLS]`` until ``[SEP]`` (eval mode, no grad).

        ``sampler`` defaults to the registry's ``top-k-top-p`` (top 5, the article's); ``sampler_options``
        (``top_k``, ``top_p``, ``temperature``) override it for this call. Special tokens other than
        ``[SEP]`` are banned. ``seed`` makes the draw reproducible.
        """
        if self.tokenizer is None:
            raise zoo.ZooError(
                "this model has no tokenizer: load a trained checkpoint (it carries tokenizer.json) or set "
                "model.tokenizer (zoo.text.bert_char_tokenizer)"
            )
        special = special_ids(self.tokenizer)
        sampler = sampler or zoo.load("top-k-top-p")
        if not isinstance(sampler, TopKTopP) and sampler_options:
            raise TypeError("sampler_options apply to the top-k-top-p sampler only")
        banned = [special.pad, special.unk, special.cls, special.mask]
        device = self.backbone.embeddings.word.weight.device
        generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
        labels = torch.full((n,), label, dtype=torch.long, device=device)
        self.condition(labels)  # validates the label before any work
        limit = min(max_new_tokens, self.config.max_position_embeddings - 1)

        def next_logits(ids: Tensor) -> Tensor:
            return self(ids, labels[: len(ids)])[:, -1]

        with zoo.eval_mode(self):
            start = torch.full((n, 1), special.cls, dtype=torch.long, device=device)
            rows = sample_sequences(
                next_logits,
                start,
                special.sep,
                limit,
                functools.partial(sampler, banned_ids=banned, **sampler_options),
                generator,
            )
        return [self.tokenizer.decode(row) for row in rows]


def _conditional_norm(
    size: int, eps: float, condition_size: int | None, hidden_units: int | None, hidden_activation: str
) -> ConditionalLayerNorm:
    return ConditionalLayerNorm(size, condition_size, hidden_units, hidden_activation, eps=eps)
