"""Tokenizer helpers over Hugging Face ``tokenizers``, shared by the text plugins.

A model that carries a ``tokenizers.Tokenizer`` as ``model.tokenizer`` gets it saved as
``tokenizer.json`` beside its weights and restored by ``zoo.load``, so a checkpoint pulled from the
Hub encodes text exactly as it did in training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["OOV", "PAD", "char_tokenizer", "encode_texts"]

PAD, OOV = 0, 1
SPECIAL_TOKENS = ["[PAD]", "[UNK]"]


def char_tokenizer(
    texts: Iterable[str], vocab_size: int | None = None, min_frequency: int = 1, maxlen: int | None = None
) -> Tokenizer:
    """A character-level tokenizer trained on ``texts``: one token per non-space character.

    Text is NFKC-normalized and lower-cased (full-width letters and digits fold to ASCII); whitespace
    separates nothing and is dropped. Ids: 0 = ``[PAD]``, 1 = ``[UNK]`` (characters outside the
    vocabulary), then characters from most to least frequent. ``vocab_size`` counts the two special
    tokens. With ``maxlen`` the tokenizer truncates and right-pads every text to ``maxlen`` ids.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    if vocab_size is not None and vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size must exceed {len(SPECIAL_TOKENS)} (the [PAD] and [UNK] ids); got {vocab_size}"
        )
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size or 2**31 - 1, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if maxlen is not None:
        tokenizer.enable_truncation(maxlen)
        tokenizer.enable_padding(pad_id=PAD, pad_token="[PAD]", length=maxlen)
    return tokenizer


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str], maxlen: int | None = None) -> torch.Tensor:
    """Token ids ``(len(texts), L)`` int64, right-padded with :data:`PAD`.

    ``L`` is ``maxlen`` if given (longer texts are truncated), else the tokenizer's own fixed length,
    else the longest text. A text with no tokens encodes to all padding.
    """
    if isinstance(texts, str):
        raise TypeError("encode_texts takes a sequence of texts, not one string; wrap it in a list")
    ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
    if maxlen is None:
        maxlen = (tokenizer.padding or {}).get("length") or max((len(i) for i in ids), default=0)
    length = maxlen
    out = torch.full((len(ids), length), PAD, dtype=torch.long)
    for row, seq in enumerate(ids):
        seq = seq[:length]
        if seq:
            out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out
