"""The AWD-style word language model of the ON-LSTM paper (article 6621), and its matched AWD-LSTM baseline.

``tokens (T, B)`` -> embedding (word dropout ``dropoute``, locked dropout ``dropouti``) -> recurrent layers
of widths ``[embedding, hidden, ..., hidden, embedding]`` (locked dropout ``dropouth`` between them,
DropConnect ``wdrop`` on every recurrent weight) -> locked dropout ``dropout`` -> decoder tied to the
embedding -> logits ``(T, B, V)``. ``cell="on-lstm"`` uses :class:`~zoo_on_lstm.layers.ONLSTMStack`;
``cell="lstm"`` one ``nn.LSTM`` per layer with the same DropConnect, dropouts and tying (AWD-LSTM).

The loss adds AWD-LSTM's activation regularisers as the paper's code does: AR ``alpha * mean(h^2)`` on the
last layer's output as the stack returns it (before the output dropout) and TAR ``beta * mean((h_t -
h_{t-1})^2)`` on the same raw output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from zoo_on_lstm.layers import LockedDropout, ONLSTMStack, State, embedded_dropout

CELLS = ("on-lstm", "lstm")


class LMOutput(NamedTuple):
    """What :meth:`LanguageModel.forward` returns (L layers)."""

    logits: Tensor  # (T, B, V)
    state: list[State]  # per layer (h, c), (B, H_l) each
    distances: Tensor | None  # (L, T, B) master-forget distances; None for cell="lstm"
    raw_outputs: list[Tensor]  # per layer (T, B, H_l), before dropout
    outputs: list[Tensor]  # per layer, after the locked dropout between layers (the last one undropped)


def _rate(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"{name} must be a probability in [0, 1), got {value!r}: e.g. {name}=0.3, or 0 to disable"
        )
    return float(value)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class LanguageModel(nn.Module):
    """AWD-style LM; the paper's PTB model is the default (``layers=3``: widths [400, 1150, 1150, 400]).

    Args:
        vocab_size: V; may be None when ``vocab`` is given (then it is ``len(vocab)``).
        embedding: embedding width, also the last layer's width when ``tie_weights``.
        hidden: width of the inner layers.
        layers: number of recurrent layers (>= 1).
        chunk_size: ON-LSTM chunk size; must divide ``hidden`` and the last width (unused by "lstm").
        cell: "on-lstm" or "lstm" (the AWD-LSTM baseline).
        master_input: "paper" or "su" (see :class:`~zoo_on_lstm.layers.ONLSTMCell`).
        dropout, dropouth, dropouti, dropoute, wdrop: output, between-layer, input, word (embedding row)
            and DropConnect probabilities, AWD-LSTM's names.
        tie_weights: share the embedding matrix with the decoder (last width = ``embedding``); untied, the
            last width is ``hidden``.
        vocab: the word list (index = id) the model carries in its config, or None.
    """

    def __init__(
        self,
        vocab_size: int | None = None,
        embedding: int = 400,
        hidden: int = 1150,
        layers: int = 3,
        chunk_size: int = 10,
        cell: str = "on-lstm",
        master_input: str = "paper",
        dropout: float = 0.45,
        dropouth: float = 0.3,
        dropouti: float = 0.5,
        dropoute: float = 0.1,
        wdrop: float = 0.45,
        tie_weights: bool = True,
        vocab: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if vocab is not None:
            vocab = list(vocab)
            if not all(isinstance(w, str) for w in vocab):
                raise ValueError("vocab must be a list of words (str), index = token id")
            if vocab_size is None:
                vocab_size = len(vocab)
            elif vocab_size != len(vocab):
                raise ValueError(
                    f"vocab_size {vocab_size} does not match len(vocab) {len(vocab)}: pass vocab_size=None "
                    "(or len(vocab)) with a vocab"
                )
        if vocab_size is None:
            raise ValueError("vocab_size is required when no vocab is given, e.g. vocab_size=10000")
        self.vocab_size = _positive("vocab_size", vocab_size)
        self.vocab = vocab
        embedding, hidden = _positive("embedding", embedding), _positive("hidden", hidden)
        layers, chunk_size = _positive("layers", layers), _positive("chunk_size", chunk_size)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.cell = cell
        self.dropout, self.dropouth = _rate("dropout", dropout), _rate("dropouth", dropouth)
        self.dropouti, self.dropoute = _rate("dropouti", dropouti), _rate("dropoute", dropoute)
        self.wdrop = _rate("wdrop", wdrop)
        last = embedding if tie_weights else hidden
        self.sizes = [embedding, *([hidden] * (layers - 1)), last]
        self.tie_weights = bool(tie_weights)

        self.encoder = nn.Embedding(self.vocab_size, embedding)
        self.lockdrop = LockedDropout()
        self.rnn: ONLSTMStack | None = None
        self.lstms: nn.ModuleList | None = None
        if cell == "on-lstm":
            if any(size % chunk_size for size in self.sizes[1:]):
                raise ValueError(
                    f"chunk_size {chunk_size} must divide the layer widths {self.sizes[1:]}: pick a "
                    f"chunk_size dividing hidden={hidden} and the last width {last}"
                )
            self.rnn = ONLSTMStack(
                embedding, self.sizes[1:], chunk_size, self.wdrop, self.dropouth, master_input
            )
        else:
            self.lstms = nn.ModuleList(
                nn.LSTM(i, h) for i, h in zip(self.sizes[:-1], self.sizes[1:], strict=True)
            )
        self.decoder = nn.Linear(last, self.vocab_size)
        if self.tie_weights:
            self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if not self.tie_weights:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    @property
    def layers(self) -> int:
        return len(self.sizes) - 1

    def _run_lstms(
        self, x: Tensor, state: Sequence[State] | None
    ) -> tuple[Tensor, list[State], list[Tensor], list[Tensor]]:
        assert self.lstms is not None
        raw_outputs, outputs, new_state = [], [], []
        for k, lstm in enumerate(self.lstms):
            raw: Tensor = lstm.weight_hh_l0  # type: ignore[assignment]
            weight = F.dropout(raw, self.wdrop, self.training)  # one mask per sequence
            hc = None if state is None else (state[k][0][None], state[k][1][None])
            out, (h, c) = functional_call(lstm, {"weight_hh_l0": weight}, (x, hc))
            raw_outputs.append(out)
            new_state.append((h[0], c[0]))
            if k < len(self.lstms) - 1:
                out = self.lockdrop(out, self.dropouth)
            outputs.append(out)
            x = out
        return x, new_state, raw_outputs, outputs

    def forward(self, tokens: Tensor, state: Sequence[State] | None = None) -> LMOutput:
        """tokens (T, B) long ids; state: one (h, c) per layer from the previous segment, or None."""
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"tokens must be a (T, B) long tensor, got {tuple(tokens.shape)} {tokens.dtype}")
        if state is not None and len(state) != self.layers:
            raise ValueError(f"state must hold one (h, c) per layer ({self.layers}), got {len(state)}")
        emb = embedded_dropout(self.encoder, tokens, self.dropoute, self.training)
        emb = self.lockdrop(emb, self.dropouti)
        distances: Tensor | None = None
        if self.rnn is not None:
            res = self.rnn(emb, state)
            last, new_state, raw_outputs, outputs, distances = (
                res.output,
                res.state,
                res.raw_outputs,
                res.outputs,
                res.distances,
            )
        else:
            last, new_state, raw_outputs, outputs = self._run_lstms(emb, state)
        logits = self.decoder(self.lockdrop(last, self.dropout))
        return LMOutput(logits, new_state, distances, raw_outputs, outputs)

    def loss(
        self,
        tokens: Tensor,
        targets: Tensor,
        state: Sequence[State] | None = None,
        alpha: float = 2.0,
        beta: float = 1.0,
    ) -> dict[str, object]:
        """Training objective on one segment: ``loss = CE + AR + TAR`` (CE: mean over the T*B targets).

        Returns dict(loss, ce, ar, tar, state) where ``state`` is detached (truncated BPTT)."""
        if targets.shape != tokens.shape:
            raise ValueError(
                f"targets must have the shape of tokens {tuple(tokens.shape)}, got {tuple(targets.shape)}"
            )
        out = self(tokens, state)
        ce = F.cross_entropy(out.logits.reshape(-1, self.vocab_size), targets.reshape(-1))
        last_raw = out.raw_outputs[-1]
        ar = alpha * out.outputs[-1].pow(2).mean() if alpha else ce.new_zeros(())
        tar = (
            beta * (last_raw[1:] - last_raw[:-1]).pow(2).mean()
            if beta and len(last_raw) > 1
            else ce.new_zeros(())
        )
        detached = [(h.detach(), c.detach()) for h, c in out.state]
        return {"loss": ce + ar + tar, "ce": ce, "ar": ar, "tar": tar, "state": detached}

    @torch.no_grad()
    def distances(self, tokens: Tensor) -> Tensor:
        """Master-forget distances d_f of every layer, (L, T, B), in eval mode from a zero state."""
        if self.rnn is None:
            raise ValueError(
                "distances are defined for cell='on-lstm' only; this is the nn.LSTM baseline (cell='lstm')"
            )
        was_training = self.training
        self.eval()
        try:
            out = self(tokens)
        finally:
            self.train(was_training)
        assert out.distances is not None
        return out.distances
