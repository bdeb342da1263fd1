"""The article's reader: a BERT encoder with its MLM head that fills all answer slots in one pass.

Input ``[CLS] [MASK]*max_a_len [SEP] question [SEP] passage [SEP]`` (:mod:`zoo_mlm_qa.encoding`),
bidirectional attention, segment ids 0; the MLM logits at positions ``1 .. max_a_len`` are the answer
(tokens then ``[SEP]``), all predicted at once. Only those slots go through the MLM head. The loss is the
cross-entropy averaged over the non-pad targets. :func:`mask_tokens` and :meth:`MLMReader.mlm_loss` give an
optional BERT-style MLM pre-training stage on the same weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.checks import check_int
from zoo.nn import BertConfig, BertEncoder
from zoo.text import SpecialIds

if TYPE_CHECKING:
    from zoo_mlm_qa.reader import Answer

__all__ = ["IGNORE", "MLMReader", "mask_tokens"]

#: label of the positions :meth:`MLMReader.mlm_loss` does not score (torch's ``ignore_index`` default).
IGNORE = -100


class MLMReader(nn.Module):
    """Non-autoregressive reading comprehension (article 7148) on :class:`zoo.nn.BertEncoder`.

    Args:
        vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
        max_position_embeddings, hidden_dropout_prob, attention_probs_dropout_prob, hidden_act,
        layer_norm_eps, pad_token_id, type_vocab_size: the encoder's sizes (:class:`zoo.nn.BertConfig`;
            Hugging Face BERT names, so a BERT checkpoint's config fills them).
        max_a_len: answer slots (an answer has at most ``max_a_len - 1`` tokens, then ``[SEP]``).
        max_q_len, max_p_len: question and passage lengths, each counting its ``[SEP]``; their sum with
            ``max_a_len + 2`` must fit ``max_position_embeddings``.

    ``model(ids (B, L))`` -> logits ``(B, max_a_len, V)`` at the answer slots. A trained model carries its
    tokenizer as ``model.tokenizer`` (``tokenizer.json`` in the checkpoint); :meth:`answer` then reads text.
    """

    def __init__(
        self,
        vocab_size: int = 21128,
        hidden_size: int = 256,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        max_position_embeddings: int = 512,
        max_a_len: int = 32,
        max_q_len: int = 64,
        max_p_len: int = 256,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        type_vocab_size: int = 2,
    ) -> None:
        super().__init__()
        check_int(max_a_len, "max_a_len", low=1)
        check_int(max_q_len, "max_q_len", low=1)
        check_int(max_p_len, "max_p_len", low=2)
        longest = max_a_len + 2 + max_q_len + max_p_len
        if longest > max_position_embeddings:
            raise ValueError(
                f"max_a_len + 2 + max_q_len + max_p_len = {longest} exceeds max_position_embeddings "
                f"{max_position_embeddings}: shorten the question/passage/answer or use more positions"
            )
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
        self.max_a_len, self.max_q_len, self.max_p_len = max_a_len, max_q_len, max_p_len
        self.backbone = BertEncoder(self.config)
        self.tokenizer: Any = None

    def _check_ids(self, ids: Tensor) -> None:
        if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"ids must be (B, L) integer token ids; got {ids.dtype} {tuple(ids.shape)}")
        if ids.shape[1] < self.max_a_len + 1:
            raise ValueError(
                f"ids of length {ids.shape[1]} hold no {self.max_a_len} answer slots at positions "
                f"1..{self.max_a_len}: encode them with zoo_mlm_qa.encoding.encode_inputs_batch"
            )

    def forward(self, ids: Tensor) -> Tensor:
        """Answer-slot logits ``(B, max_a_len, V)`` for inputs ``ids (B, L)``."""
        self._check_ids(ids)
        hidden = self.backbone(ids)  # bidirectional; padding = ids != pad
        return self.backbone.mlm_logits(hidden[:, 1 : 1 + self.max_a_len])

    def loss(self, ids: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy (nats per token) averaged over the non-pad targets ``(B, max_a_len)``."""
        if targets.shape != (ids.shape[0], self.max_a_len):
            raise ValueError(
                f"targets must be (B, max_a_len) = ({ids.shape[0]}, {self.max_a_len}); "
                f"got {tuple(targets.shape)} (zoo_mlm_qa.encoding.encode_target)"
            )
        logits = self(ids)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=self.config.pad_token_id
        )

    def mlm_loss(self, ids: Tensor, labels: Tensor) -> Tensor:
        """BERT's MLM loss: cross-entropy at the positions whose ``labels (B, L)`` are not :data:`IGNORE`
        (``ids``/``labels`` from :func:`mask_tokens`); 0 (with a graph) when nothing is labelled."""
        if labels.shape != ids.shape:
            raise ValueError(f"labels {tuple(labels.shape)} must have the shape of ids {tuple(ids.shape)}")
        hidden = self.backbone(ids)
        scored = labels != IGNORE
        if not bool(scored.any()):
            return hidden.sum() * 0.0
        logits = self.backbone.mlm_logits(hidden[scored])  # only the labelled positions
        return F.cross_entropy(logits, labels[scored])

    def answer(self, question: str, passages: list[str], **options: Any) -> Answer:
        """:func:`zoo_mlm_qa.reader.answer` with this model: the voted answer, its score and each vote."""
        from zoo_mlm_qa.reader import answer

        return answer(self, question, passages, **options)


def mask_tokens(
    ids: Tensor,
    special: SpecialIds,
    generator: torch.Generator | None = None,
    *,
    vocab_size: int,
    rate: float = 0.15,
    exclude: tuple[int, ...] = (),
) -> tuple[Tensor, Tensor]:
    """BERT's masking for MLM pre-training: ``(masked ids, labels)``, both ``(B, L)``.

    Each ordinary token (not one of ``special``'s five ids nor ``exclude``) is picked with probability
    ``rate``; a picked token becomes ``[MASK]`` (80 %), a random ordinary token (10 %) or stays (10 %), and
    its label is the original id. Unpicked positions are labelled :data:`IGNORE`. ``ids`` is not changed.
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1]; got {rate}")
    check_int(vocab_size, "vocab_size", low=1)
    specials = torch.tensor([special.pad, special.unk, special.cls, special.sep, special.mask, *exclude])
    specials = specials.to(ids.device)
    ordinary = torch.ones(vocab_size, dtype=torch.bool, device=ids.device)
    ordinary[specials[specials < vocab_size]] = False
    choices = ordinary.nonzero().squeeze(1)
    if not len(choices):
        raise ValueError(f"a vocabulary of {vocab_size} holds no ordinary token to draw")

    def uniform() -> Tensor:
        return torch.rand(ids.shape, generator=generator, device=ids.device)

    candidate = ~torch.isin(ids, specials)
    picked = candidate & (uniform() < rate)
    action = uniform()
    to_mask = picked & (action < 0.8)
    to_random = picked & (action >= 0.8) & (action < 0.9)
    draw = torch.randint(len(choices), ids.shape, generator=generator, device=ids.device)
    masked = ids.clone()
    masked[to_mask] = special.mask
    masked[to_random] = choices[draw[to_random]]
    labels = torch.where(picked, ids, torch.full_like(ids, IGNORE))
    return masked, labels
