"""Decoding the answer slots: constrained (the article's), unconstrained argmax, and autoregressive.

**Constrained** (bert4keras' ``gen_answer``): at slot ``i`` only the tokens that follow the answer so far
somewhere in the passage tokens (which end with ``[SEP]``), plus ``[SEP]``, are allowed; the slot's
argmax among them is taken and decoding stops at ``[SEP]``. The answer is therefore a contiguous run of
passage tokens, "" when ``[SEP]`` comes first. The last slot allows ``[SEP]`` only, so an answer has at
most ``max_a_len - 1`` tokens (as the training targets). Score = mean of the chosen probabilities,
``[SEP]``'s included.

The next-token sets are kept as a boolean map of passage positions where the prefix ends (one vector
update per chosen token), so a whole batch of passages decodes with tensor operations; :func:`allowed_next`
is the same set for one prefix, by a plain scan.

**One pass** (:func:`one_pass_decode`): one forward for every slot of every passage in the batch.
**Autoregressive** (:func:`autoregressive_decode`): the same model run once per answer token, with the
answer so far written into the first slots (the rest ``[MASK]``), the next slot decoded with the same
constraint: the baseline of the article's speed comparison.

Shapes: ``B`` passages, ``A`` = ``max_a_len`` slots, ``V`` vocabulary, ``P`` passage tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import torch
from torch import Tensor, nn

import zoo
from zoo.checks import check_int

__all__ = [
    "Decoded",
    "allowed_next",
    "autoregressive_decode",
    "constrained_decode",
    "constrained_decode_batch",
    "one_pass_decode",
    "unconstrained_decode",
    "unconstrained_decode_batch",
]

#: ``(answer token ids, score)``.
Decoded = tuple[list[int], float]
SlotModel = Callable[[Tensor], Tensor]  # ids (B, L) -> slot logits (B, A, V)


def allowed_next(passage_ids: Sequence[int], prefix: Sequence[int], sep: int) -> set[int]:
    """The tokens that follow ``prefix`` somewhere in ``passage_ids``, plus ``sep``.

    ``passage_ids`` are the passage's tokens followed by ``[SEP]`` (as in the input), so a prefix that
    ends the passage allows ``sep`` only; the empty prefix allows every passage token.
    """
    p, n = list(passage_ids), len(prefix)
    target = list(prefix)
    out = {p[j + n] for j in range(len(p) - n) if p[j : j + n] == target}
    out.add(sep)
    return out


class _Constrained:
    """The batched constrained search: ``active[b, j]`` = the prefix of row ``b`` ends right before
    passage position ``j`` (so ``passage[b, j]`` may come next)."""

    def __init__(
        self, passages: Sequence[Sequence[int]], sep: int, vocab_size: int, steps: int, device: torch.device
    ):
        width = max((len(p) for p in passages), default=0)
        self.passage = torch.full((len(passages), max(width, 1)), -1, dtype=torch.long)
        for b, p in enumerate(passages):
            if len(p):
                self.passage[b, : len(p)] = torch.as_tensor(list(p), dtype=torch.long)
        if int(self.passage.max()) >= vocab_size:
            raise ValueError(
                f"passage token id {int(self.passage.max())} is outside the model's vocabulary "
                f"[0, {vocab_size}): decode with the model's own tokenizer"
            )
        self.passage = self.passage.to(device)
        self.index = self.passage.clamp(min=0)
        self.active = self.passage >= 0
        self.sep, self.vocab_size, self.steps = sep, vocab_size, steps
        b = len(passages)
        self.done = torch.zeros(b, dtype=torch.bool, device=device)
        self.tokens = torch.full((b, steps), sep, dtype=torch.long, device=device)
        self.total = torch.zeros(b, dtype=torch.float64, device=device)
        self.count = torch.zeros(b, dtype=torch.long, device=device)

    def allowed(self, step: int) -> Tensor:
        """``(B, V)`` bool: the tokens allowed at ``step``."""
        b = len(self.done)
        if step == self.steps - 1:  # the last slot closes the answer
            allowed = torch.zeros((b, self.vocab_size), dtype=torch.bool, device=self.done.device)
        else:
            hits = torch.zeros((b, self.vocab_size), device=self.done.device)
            hits.scatter_add_(1, self.index, self.active.to(hits.dtype))
            allowed = hits > 0
        allowed[:, self.sep] = True
        return allowed

    def step(self, step: int, probs: Tensor) -> None:
        """Choose slot ``step`` from its probabilities ``(B, V)``."""
        best, chosen = probs.masked_fill(~self.allowed(step), -torch.inf).max(dim=-1)
        live = ~self.done
        self.tokens[:, step] = torch.where(live, chosen, self.sep)
        self.total += torch.where(live, best.to(torch.float64), 0.0)
        self.count += live.long()
        follow = torch.zeros_like(self.active)
        follow[:, 1:] = self.active[:, :-1] & (self.passage[:, :-1] == chosen[:, None])
        self.active = follow
        self.done |= chosen == self.sep

    def results(self) -> list[Decoded]:
        return _results(self.tokens, self.total, self.count, self.sep)


def _results(tokens: Tensor, total: Tensor, count: Tensor, sep: int) -> list[Decoded]:
    out = []
    for row, t, c in zip(tokens.tolist(), total.tolist(), count.tolist(), strict=True):
        end = row.index(sep) if sep in row else len(row)
        out.append((row[:end], t / max(c, 1)))
    return out


def _check_probs(probs: Tensor, batched: bool) -> None:
    want = 3 if batched else 2
    if probs.dim() != want:
        shape = "(B, max_a_len, V)" if batched else "(max_a_len, V)"
        raise ValueError(f"probs must be {shape} slot probabilities; got shape {tuple(probs.shape)}")


def constrained_decode_batch(probs: Tensor, passages: Sequence[Sequence[int]], sep: int) -> list[Decoded]:
    """Constrained answers of ``B`` passages from slot probabilities ``(B, A, V)``; ``passages[b]`` the
    passage tokens ending with ``[SEP]`` (:class:`zoo_mlm_qa.encoding.PassageTokens` ``.ids``)."""
    _check_probs(probs, batched=True)
    if len(passages) != probs.shape[0]:
        raise ValueError(f"got {len(passages)} passages for {probs.shape[0]} rows of probs")
    return _search(lambda step: probs[:, step], probs.shape, passages, sep, probs.device)


def _search(
    slot_probs: Callable[[int], Tensor],
    shape: Sequence[int],
    passages: Sequence[Sequence[int]],
    sep: int,
    device: torch.device,
) -> list[Decoded]:
    """The constrained search over ``shape = (B, A, V)`` slots; ``slot_probs(i)`` gives slot ``i``'s
    probabilities ``(B, V)``, asked for only until every row has chosen ``[SEP]``."""
    search = _Constrained(passages, sep, shape[2], shape[1], device)
    for step in range(shape[1]):
        search.step(step, slot_probs(step))
        if bool(search.done.all()):
            break
    return search.results()


def constrained_decode(probs: Tensor, passage_ids: Sequence[int], sep: int) -> Decoded:
    """The constrained answer ``(token ids, score)`` of one passage from slot probabilities ``(A, V)``."""
    _check_probs(probs, batched=False)
    return constrained_decode_batch(probs[None], [passage_ids], sep)[0]


def unconstrained_decode_batch(probs: Tensor, sep: int) -> list[Decoded]:
    """Plain argmax of every slot ``(B, A, V)``, cut at the first ``[SEP]``; score = mean chosen
    probability up to and including that ``[SEP]`` (all ``A`` slots when there is none)."""
    _check_probs(probs, batched=True)
    best, tokens = probs.max(dim=-1)
    is_sep = tokens == sep
    first = torch.where(is_sep.any(1), is_sep.long().argmax(1), tokens.shape[1] - 1)
    kept = torch.arange(tokens.shape[1], device=tokens.device) <= first[:, None]
    total = (best.to(torch.float64) * kept).sum(1)
    return _results(tokens, total, kept.sum(1), sep)


def unconstrained_decode(probs: Tensor, sep: int) -> Decoded:
    """:func:`unconstrained_decode_batch` of one passage's slot probabilities ``(A, V)``."""
    _check_probs(probs, batched=False)
    return unconstrained_decode_batch(probs[None], sep)[0]


def _inference(model: SlotModel) -> AbstractContextManager[object]:
    """Eval mode and no grad for a module; no grad for a plain function."""
    return zoo.eval_mode(model) if isinstance(model, nn.Module) else torch.no_grad()


def one_pass_decode(
    model: SlotModel, ids: Tensor, passages: Sequence[Sequence[int]], sep: int, constrained: bool = True
) -> list[Decoded]:
    """Every slot of every row of ``ids (B, L)`` from ONE forward of ``model`` (eval mode, no grad), then
    :func:`constrained_decode_batch` (or :func:`unconstrained_decode_batch` with ``constrained=False``).

    The constrained search takes the softmax of a slot only when it reaches it (the answer's length + 1
    slots, not all ``max_a_len``): the same answers and scores, less work after the forward.
    """
    with _inference(model):
        logits = model(ids)
    if not constrained:
        return unconstrained_decode_batch(logits.float().softmax(dim=-1), sep)
    if logits.dim() != 3 or len(passages) != logits.shape[0]:
        raise ValueError(
            f"model(ids) must give (B, max_a_len, V) slot logits for the {len(passages)} passages; "
            f"got shape {tuple(logits.shape)}"
        )
    return _search(
        lambda step: logits[:, step].float().softmax(dim=-1), logits.shape, passages, sep, logits.device
    )


def autoregressive_decode(
    model: SlotModel, ids: Tensor, passages: Sequence[Sequence[int]], sep: int, max_a_len: int
) -> list[Decoded]:
    """The constrained answers decoded one token per forward (eval mode, no grad).

    Step ``i`` runs ``model`` on the rows still decoding, with their answer so far in slots ``1..i`` of
    ``ids (B, L)`` (slots ``i+1..`` keep their ``[MASK]``), and takes slot ``i``'s constrained argmax.
    With a model whose slot outputs ignore the filled slots this equals :func:`one_pass_decode`.
    """
    check_int(max_a_len, "max_a_len", low=1)
    rows = torch.arange(len(ids), device=ids.device)
    search: _Constrained | None = None
    current = ids.clone()
    with _inference(model):
        for step in range(max_a_len):
            live = rows[~search.done] if search is not None else rows
            probs_live = model(current[live])[:, step].float().softmax(dim=-1)
            if search is None:
                search = _Constrained(passages, sep, probs_live.shape[-1], max_a_len, ids.device)
            probs = torch.zeros((len(ids), probs_live.shape[-1]), device=ids.device)
            probs[live] = probs_live
            search.step(step, probs)
            current[:, 1 + step] = search.tokens[:, step]
            if bool(search.done.all()):
                break
    assert search is not None
    return search.results()
