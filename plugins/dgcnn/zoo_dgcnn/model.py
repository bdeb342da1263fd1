"""The half-pointer-half-tagging subject–predicate–object extractor of article 6671 (bojone/kg-2019).

Shapes: ``B`` sentences, ``L`` characters, ``D = dim``, ``P`` predicates, ``N`` (sentence, subject) pairs.

- Encoder: :class:`~zoo_dgcnn.layers.Embeddings` → :class:`~zoo_dgcnn.layers.DGCNNEncoder` → ``H``.
- Global factors: ``pn1, pn2 = sigmoid(Dense(1)(relu(Dense(D)(H))))`` per position, ``pc = sigmoid(Dense(P)(
  relu(Dense(D)(masked max-pool of H))))`` per sentence.
- Subject head: ``[H, Att1(H)] → Conv1D(D, 3, relu) → start, end``; ``start = sigmoid(s1) * pn1``,
  ``end = sigmoid(s2) * pn2``.
- Subject vector for a span ``(k1, k2)`` (inclusive): ``subject_encoder="gru"`` (the article) gathers ``H``
  at ``round(k1 a + k2 (1 - a))``, ``a = 0, .2, …, 1`` (:func:`interpolation_indices`), runs a BiGRU(D) and
  concatenates its final states (``2D``); ``"gather"`` (the lite model, no RNN) concatenates ``H[k1]`` and
  ``H[k2]``. Either way ``[pos(|i - k1|), pos(|i - k2|)]`` is added at every position ``i``, from the
  embeddings' position table (shared, as the reference). ``subject_encoder=None`` is the ablation: the
  object head gets neither the vector nor the relative positions, so it knows nothing of the subject.
- Object head: ``[H, Att2(H), subject features] → Conv1D(D, 3, relu)``; per predicate ``p``,
  ``start[i, p] = sigmoid(po) sigmoid(o1_p) pc_p pn1``, ``end[i, p] = sigmoid(po) sigmoid(o2_p) pc_p pn2``.

Probabilities are products of sigmoids; the model keeps their logarithms (sums of ``logsigmoid``) so
the binary cross-entropy stays finite and exact. Published probabilities are zero at padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo_dgcnn.layers import DEFAULT_DILATIONS, DGCNNEncoder, Embeddings, MaskedSelfAttention

__all__ = ["SUBJECT_ENCODERS", "DGCNNExtractor", "Encoded", "interpolation_indices"]

SUBJECT_ENCODERS = ("gru", "gather", None)
INTERPOLATION_POINTS = 6
_LOG_ONE = math.log1p(-1e-7)  # the largest log-probability the loss sees (Keras clips p to 1 - 1e-7)


@dataclass
class Encoded:
    """What :meth:`DGCNNExtractor.encode` computes once per batch for both heads.

    ``hidden`` ``(B, L, D)``; ``mask`` ``(B, L)`` bool; ``object_attention`` ``(B, L, A)`` = Att2(H);
    ``log_pn1``, ``log_pn2`` ``(B, L)``; ``log_pc`` ``(B, P)``.
    """

    hidden: torch.Tensor
    mask: torch.Tensor
    object_attention: torch.Tensor
    log_pn1: torch.Tensor
    log_pn2: torch.Tensor
    log_pc: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        """Real characters per sentence, ``(B,)`` long."""
        return self.mask.sum(dim=1)


def interpolation_indices(subjects: torch.Tensor, points: int = INTERPOLATION_POINTS) -> torch.Tensor:
    """``round(k1 a + k2 (1 - a))`` for ``a = 0, 1/(points-1), …, 1``: ``(N, 2) -> (N, points)`` long.

    From ``k2`` to ``k1`` (``(2, 7) -> [7, 6, 5, 4, 3, 2]``), in exact integer arithmetic (halves round up).
    """
    if points < 2:
        raise ValueError(f"points must be >= 2; got {points}")
    k1, k2 = subjects[:, :1].long(), subjects[:, 1:].long()
    i = torch.arange(points, device=subjects.device)
    numerator = k1 * i + k2 * (points - 1 - i)  # (N, points): the index times (points - 1)
    return torch.div(2 * numerator + points - 1, 2 * (points - 1), rounding_mode="floor")


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, stable at both ends."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _bce_from_log(target: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``target`` against ``p = exp(log_p)``, element-wise."""
    log_p = log_p.clamp(max=_LOG_ONE)
    return -(target * log_p + (1 - target) * _log1mexp(log_p))


def _mlp(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))


class DGCNNExtractor(nn.Module):
    """DGCNN subject/object pointer model over characters (see the module docstring).

    ``vocab`` (characters by id, ``"<pad>"`` at 0 and ``"<unk>"`` at 1) and ``predicates`` are data a
    trained model carries in its config; ``vocab_size`` / ``num_predicates`` may be given instead (tests,
    benchmarks). ``word_dim`` enables word vectors (``words`` ``(B, L, word_dim)`` in every call).
    Text longer than ``max_len`` is refused (truncate it first).
    """

    def __init__(
        self,
        vocab: Sequence[str] | None = None,
        predicates: Sequence[str] | None = None,
        vocab_size: int | None = None,
        num_predicates: int | None = None,
        dim: int = 128,
        dilations: Sequence[int] = DEFAULT_DILATIONS,
        heads: int = 8,
        head_dim: int = 16,
        max_len: int = 512,
        word_dim: int | None = None,
        subject_encoder: str | None = "gru",
        dropout: float = 0.25,
        gate_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.vocab = list(vocab) if vocab is not None else None
        self.predicates = list(predicates) if predicates is not None else None
        vocab_size = _size("vocab", self.vocab, "vocab_size", vocab_size)
        num_predicates = _size("predicates", self.predicates, "num_predicates", num_predicates)
        if self.vocab is not None and self.vocab[:2] != ["<pad>", "<unk>"]:
            raise ValueError(f"vocab must start with '<pad>' (id 0) and '<unk>' (id 1); got {self.vocab[:2]}")
        if num_predicates < 1:
            raise ValueError(f"num_predicates must be >= 1; got {num_predicates}")
        if subject_encoder not in SUBJECT_ENCODERS:
            raise ValueError(
                f"subject_encoder must be one of {SUBJECT_ENCODERS} (None: the ablation without a subject "
                f"vector); got {subject_encoder!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.num_predicates, self.max_len, self.word_dim = num_predicates, max_len, word_dim
        self.subject_encoder = subject_encoder

        self.embeddings = Embeddings(vocab_size, dim, max_len, word_dim, dropout)
        self.encoder = DGCNNEncoder(dim, dilations, gate_dropout)
        self.pn1, self.pn2, self.pc = _mlp(dim, 1), _mlp(dim, 1), _mlp(dim, num_predicates)
        self.subject_attention = MaskedSelfAttention(dim, heads, head_dim)
        self.object_attention = MaskedSelfAttention(dim, heads, head_dim)
        width = dim + heads * head_dim
        self.subject_conv = nn.Conv1d(width, dim, 3, padding=1)
        self.subject_out = nn.Linear(dim, 2)  # start, end logits
        self.subject_gru = (
            nn.GRU(dim, dim, batch_first=True, bidirectional=True) if subject_encoder == "gru" else None
        )
        subject_width = 0 if subject_encoder is None else 2 * dim
        self.object_conv = nn.Conv1d(width + subject_width, dim, 3, padding=1)
        self.object_out = nn.Linear(dim, 1 + 2 * num_predicates)  # po, o1 (P), o2 (P) logits
        self._keras_init()

    def _keras_init(self) -> None:
        """Keras' defaults (the reference): glorot-uniform kernels, zero biases; GRU recurrences orthogonal.

        The attention projections keep their own (glorot normal) init.
        """
        attention = {id(m) for a in (self.subject_attention, self.object_attention) for m in a.modules()}
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)) and id(module) not in attention:
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if self.subject_gru is not None:
            for name, weight in self.subject_gru.named_parameters():
                for gate in weight.data.chunk(3):  # reset, update, new
                    if name.startswith("weight_ih"):
                        nn.init.xavier_uniform_(gate)
                    elif name.startswith("weight_hh"):
                        nn.init.orthogonal_(gate)
                    else:
                        nn.init.zeros_(gate)

    # -- encoding -------------------------------------------------------------------------------------
    def encode(self, chars: torch.Tensor, words: torch.Tensor | None = None) -> Encoded:
        """Embed and encode ``chars (B, L)`` long (0 = padding) once for both heads."""
        mask = chars != 0
        hidden = self.encoder(self.embeddings(chars, words), mask)
        pooled = hidden.masked_fill(~mask.unsqueeze(-1), -math.inf).amax(dim=1)
        pooled = torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))
        return Encoded(
            hidden=hidden,
            mask=mask,
            object_attention=self.object_attention(hidden, mask),
            log_pn1=F.logsigmoid(self.pn1(hidden)).squeeze(-1),
            log_pn2=F.logsigmoid(self.pn2(hidden)).squeeze(-1),
            log_pc=F.logsigmoid(self.pc(pooled)),
        )

    # -- subjects -------------------------------------------------------------------------------------
    def subject_log_probs(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities of subject starts and ends, ``(B, L)`` each."""
        feats = torch.cat([enc.hidden, self.subject_attention(enc.hidden, enc.mask)], dim=-1)
        logits = self.subject_out(self._conv(self.subject_conv, feats, enc.mask))
        log_start, log_end = F.logsigmoid(logits).unbind(-1)
        return log_start + enc.log_pn1, log_end + enc.log_pn2

    def subject_probs(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities that a subject starts / ends at each character, ``(B, L)`` each, 0 at padding."""
        m = enc.mask.to(enc.hidden.dtype)
        log_start, log_end = self.subject_log_probs(enc)
        return log_start.exp() * m, log_end.exp() * m

    # -- objects --------------------------------------------------------------------------------------
    def object_log_probs(
        self, enc: Encoded, subjects: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities of object starts and ends per predicate, ``(N, L, P)`` each.

        ``subjects`` ``(N, 2)`` long: inclusive spans ``(k1, k2)``; ``rows`` ``(N,)`` long: the sentence of
        the batch each subject belongs to (a sentence may appear many times, or not at all).
        """
        self._check_subjects(enc, subjects, rows)
        hidden, mask = enc.hidden[rows], enc.mask[rows]
        parts = [hidden, enc.object_attention[rows]]
        if self.subject_encoder is not None:
            parts.append(self._subject_features(hidden, subjects))
        logits = self.object_out(self._conv(self.object_conv, torch.cat(parts, dim=-1), mask))
        p = self.num_predicates
        log_po = F.logsigmoid(logits[..., :1])
        log_o1, log_o2 = F.logsigmoid(logits[..., 1 : 1 + p]), F.logsigmoid(logits[..., 1 + p :])
        common = log_po + enc.log_pc[rows].unsqueeze(1)
        return common + log_o1 + enc.log_pn1[rows].unsqueeze(-1), common + log_o2 + enc.log_pn2[
            rows
        ].unsqueeze(-1)

    def object_probs(
        self, enc: Encoded, subjects: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities of object starts / ends per predicate, ``(N, L, P)`` each, 0 at padding."""
        m = enc.mask[rows].unsqueeze(-1).to(enc.hidden.dtype)
        log_start, log_end = self.object_log_probs(enc, subjects, rows)
        return log_start.exp() * m, log_end.exp() * m

    def _subject_features(self, hidden: torch.Tensor, subjects: torch.Tensor) -> torch.Tensor:
        """The subject vector plus relative positions, ``(N, L, 2D)``."""
        n, length, dim = hidden.shape
        if self.subject_gru is not None:
            idx = interpolation_indices(subjects)
            seq = hidden.gather(1, idx.unsqueeze(-1).expand(-1, -1, dim))  # (N, 6, D)
            _, last = self.subject_gru(seq)  # (2, N, D): forward and backward final states
            vector = torch.cat([last[0], last[1]], dim=-1)
        else:
            ends = hidden.gather(1, subjects.unsqueeze(-1).expand(-1, -1, dim))  # (N, 2, D)
            vector = ends.reshape(n, 2 * dim)
        pos = torch.arange(length, device=hidden.device)
        relative = (pos.view(1, length, 1) - subjects.view(n, 1, 2)).abs()  # (N, L, 2)
        table = self.embeddings.position.weight
        return vector.unsqueeze(1) + table[relative].reshape(n, length, 2 * dim)

    @staticmethod
    def _conv(conv: nn.Conv1d, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``relu(Conv1D(feats * mask))``, channels last in and out (padding reads as zeros)."""
        x = (feats * mask.unsqueeze(-1).to(feats.dtype)).transpose(1, 2)
        return F.relu(conv(x)).transpose(1, 2)

    @staticmethod
    def _check_subjects(enc: Encoded, subjects: torch.Tensor, rows: torch.Tensor) -> None:
        if subjects.dim() != 2 or subjects.shape[1] != 2 or rows.shape != subjects.shape[:1]:
            raise ValueError(
                f"subjects must be (N, 2) and rows (N,); got {tuple(subjects.shape)} and {tuple(rows.shape)}"
            )
        if subjects.dtype != torch.long or rows.dtype != torch.long:
            raise TypeError(f"subjects and rows must be torch.long; got {subjects.dtype} and {rows.dtype}")
        if subjects.numel():
            bad_row = (rows < 0) | (rows >= enc.mask.shape[0])
            lengths = enc.lengths[rows.clamp(0, enc.mask.shape[0] - 1)]
            bad = (
                bad_row
                | (subjects[:, 0] < 0)
                | (subjects[:, 0] > subjects[:, 1])
                | (subjects[:, 1] >= lengths)
            )
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                raise ValueError(
                    f"subject {i}: span {subjects[i].tolist()} of row {int(rows[i])} must satisfy "
                    f"0 <= k1 <= k2 < length of that sentence (inclusive end), 0 <= row < {enc.mask.shape[0]}"
                )

    # -- training -------------------------------------------------------------------------------------
    def forward(
        self, chars: torch.Tensor, subjects: torch.Tensor, words: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training path, one subject per sentence (``subjects (B, 2)``): ``(sub_start, sub_end)`` ``(B, L)``
        and ``(obj_start, obj_end)`` ``(B, L, P)`` probabilities."""
        enc = self.encode(chars, words)
        rows = torch.arange(chars.shape[0], device=chars.device)
        return (*self.subject_probs(enc), *self.object_probs(enc, subjects, rows))

    def loss(
        self,
        chars: torch.Tensor,
        subjects: torch.Tensor,
        sub_start_t: torch.Tensor,
        sub_end_t: torch.Tensor,
        obj_start_t: torch.Tensor,
        obj_end_t: torch.Tensor,
        words: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Binary cross-entropy (the reference's): ``loss = subject + object``.

        ``subject`` = start + end terms, each averaged over the real characters of the batch; ``object``
        = start + end terms, each summed over the ``P`` predicates, then averaged over real characters.
        Targets are 0/1 floats, ``(B, L)`` and ``(B, L, P)``; values at padded positions are ignored.
        """
        enc = self.encode(chars, words)
        rows = torch.arange(chars.shape[0], device=chars.device)
        mask = enc.mask
        count = mask.sum().clamp(min=1)

        def average(term: torch.Tensor) -> torch.Tensor:
            return torch.where(mask, term, torch.zeros_like(term)).sum() / count

        log_s1, log_s2 = self.subject_log_probs(enc)
        log_o1, log_o2 = self.object_log_probs(enc, subjects, rows)
        subject = average(_bce_from_log(sub_start_t, log_s1)) + average(_bce_from_log(sub_end_t, log_s2))
        obj = average(_bce_from_log(obj_start_t, log_o1).sum(-1)) + average(
            _bce_from_log(obj_end_t, log_o2).sum(-1)
        )
        return {"loss": subject + obj, "subject": subject, "object": obj}

    # -- inference ------------------------------------------------------------------------------------
    def extract(self, texts: Sequence[str] | str, **options: Any) -> list[Any]:
        """Triples from raw text; see :func:`zoo_dgcnn.extractor.extract` (same options)."""
        from zoo_dgcnn.extractor import extract

        return extract(self, texts, **options)


def _size(name: str, items: list[str] | None, size_name: str, size: int | None) -> int:
    if items is None and size is None:
        raise ValueError(f"give {name} (a list, carried in the model's config) or {size_name}")
    if items is not None and size is not None and size != len(items):
        raise ValueError(f"{size_name}={size} disagrees with len({name})={len(items)}: give one of them")
    return len(items) if items is not None else int(size)  # type: ignore[arg-type]
