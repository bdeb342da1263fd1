"""Tokenizer helpers over Hugging Face ``tokenizers``, shared by the text plugins.

A model that carries a ``tokenizers.Tokenizer`` as ``model.tokenizer`` gets it saved as
``tokenizer.json`` beside its weights and restored by ``zoo.load``, so a checkpoint pulled from the
Hub encodes text exactly as it did in training.

Two families: :func:`char_tokenizer` / :func:`encode_texts` (plain ids, ``[PAD]`` and ``[UNK]`` only),
and the BERT-style helpers (``[CLS] text [SEP]`` templates, segment ids): :func:`bert_char_tokenizer`,
:func:`wordpiece_tokenizer`, :func:`special_ids` and :func:`encode_batch`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zoo.checks import check_int
from zoo.errors import ZooError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "BERT_SPECIAL_TOKENS",
    "OOV",
    "PAD",
    "Encoded",
    "SpecialIds",
    "bert_char_tokenizer",
    "char_tokenizer",
    "encode_batch",
    "encode_texts",
    "special_ids",
    "wordpiece_tokenizer",
]

PAD, OOV = 0, 1
SPECIAL_TOKENS = ["[PAD]", "[UNK]"]
#: BERT's special tokens in the order (and so at the ids 0..4) :func:`bert_char_tokenizer` gives them.
BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _names(tokens: Sequence[str]) -> str:
    """``"[A]"``, ``"[A] and [B]"``, ``"[A], [B] and [C]"``."""
    return tokens[0] if len(tokens) == 1 else f"{', '.join(tokens[:-1])} and {tokens[-1]}"


def _train_chars(
    texts: Iterable[str],
    specials: Sequence[str],
    vocab_size: int | None,
    min_frequency: int,
    whole_specials: bool = False,
) -> Tokenizer:
    """One token per non-space character (NFKC + lower case); ``specials`` at ids 0.., then by frequency.

    With ``whole_specials`` a special token spelt out in a training text counts as that token (as it
    encodes), not as its characters."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    if vocab_size is not None and vocab_size <= len(specials):
        raise ValueError(
            f"vocab_size must exceed {len(specials)} (the {_names(specials)} ids); got {vocab_size}"
        )
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    if whole_specials:
        tokenizer.add_special_tokens(list(specials))
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size or 2**31 - 1, min_frequency=min_frequency, special_tokens=list(specials)
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def char_tokenizer(
    texts: Iterable[str], vocab_size: int | None = None, min_frequency: int = 1, maxlen: int | None = None
) -> Tokenizer:
    """A character-level tokenizer trained on ``texts``: one token per non-space character.

    Text is NFKC-normalized and lower-cased (full-width letters and digits fold to ASCII); whitespace
    separates nothing and is dropped. Ids: 0 = ``[PAD]``, 1 = ``[UNK]`` (characters outside the
    vocabulary), then characters from most to least frequent. ``vocab_size`` counts the two special
    tokens. With ``maxlen`` the tokenizer truncates and right-pads every text to ``maxlen`` ids.
    """
    tokenizer = _train_chars(texts, SPECIAL_TOKENS, vocab_size, min_frequency)
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


# --------------------------------------------------------------------------- BERT-style tokenizers


@dataclass(frozen=True)
class SpecialIds:
    """The ids of BERT's five special tokens in one tokenizer."""

    pad: int
    unk: int
    cls: int
    sep: int
    mask: int


def _token_ids(tokenizer: Tokenizer, tokens: Sequence[str]) -> list[int]:
    """The ids of ``tokens``; a ZooError naming every one the tokenizer lacks."""
    ids = [tokenizer.token_to_id(token) for token in tokens]
    missing = [token for token, i in zip(tokens, ids, strict=True) if i is None]
    if missing:
        raise ZooError(
            f"the tokenizer has no {_names(missing)} token{'s' if len(missing) > 1 else ''} "
            f"(a BERT-style tokenizer needs {_names(BERT_SPECIAL_TOKENS)}); build it with "
            "zoo.text.bert_char_tokenizer or zoo.text.wordpiece_tokenizer, or add the missing ones with "
            f"tokenizer.add_special_tokens({missing!r})"
        )
    return [i for i in ids if i is not None]


def special_ids(tokenizer: Tokenizer) -> SpecialIds:
    """``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]`` and ``[MASK]`` ids, looked up by token string.

    A tokenizer without one of them is a :class:`~zoo.errors.ZooError` naming the missing tokens.
    """
    return SpecialIds(*_token_ids(tokenizer, BERT_SPECIAL_TOKENS))


def _bert_template(tokenizer: Tokenizer) -> None:
    """Set BERT's post-processor: ``[CLS] A [SEP]`` (type ids 0) and ``[CLS] A [SEP] B [SEP]`` (B: 1)."""
    from tokenizers import processors

    cls, sep = _token_ids(tokenizer, ("[CLS]", "[SEP]"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )


def bert_char_tokenizer(
    texts: Iterable[str], vocab_size: int | None = None, min_frequency: int = 1
) -> Tokenizer:
    """A character-level BERT vocabulary trained on ``texts``, with BERT's template.

    Ids 0..4 are ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]`` (:data:`BERT_SPECIAL_TOKENS`),
    then characters from most to least frequent (ties by character). Normalization as
    :func:`char_tokenizer`: NFKC, lower case, whitespace dropped; an unseen character is one ``[UNK]``; a
    special token spelt out in a text (``"[MASK]"``) is that token, in training and in encoding.
    ``tok.encode(text).ids`` is ``[CLS] chars [SEP]``; ``tok.encode(a, b)`` is ``[CLS] a [SEP] b [SEP]``
    with type ids 0 up to the first ``[SEP]`` and 1 after it. ``tok.decode(ids)`` joins the characters
    with no spaces (special tokens skipped). ``vocab_size`` counts the five special tokens.
    """
    from tokenizers import decoders

    tokenizer = _train_chars(texts, BERT_SPECIAL_TOKENS, vocab_size, min_frequency, whole_specials=True)
    _bert_template(tokenizer)
    tokenizer.decoder = decoders.Fuse()
    return tokenizer


_VOCAB, _JSON, _CONFIG = "vocab.txt", "tokenizer.json", "tokenizer_config.json"


def wordpiece_tokenizer(path: str | Path, lowercase: bool | None = None) -> Tokenizer:
    """A BERT WordPiece tokenizer from a ``tokenizer.json`` or a ``vocab.txt``, encoding as BERT does.

    ``path`` is the file or a folder holding one (``tokenizer.json`` preferred). A ``tokenizer.json``
    is taken as it is. A ``vocab.txt`` (one token a line, id = line number) gets what
    ``transformers.BertTokenizerFast`` builds from it: ``BertNormalizer`` (lower case and accent stripping
    per ``lowercase``; default ``do_lower_case`` of a ``tokenizer_config.json`` beside it, else True,
    which also supplies ``strip_accents`` and ``tokenize_chinese_chars``), ``BertPreTokenizer``, WordPiece
    (``[UNK]``, ``##`` continuations, words over 100 characters are one ``[UNK]``), the five special tokens
    matched whole in text, the ``[CLS] A [SEP] B [SEP]`` template and a WordPiece decoder.

    Padding and truncation saved in a ``tokenizer.json`` are switched off (as transformers does):
    :func:`encode_batch` pads and truncates per call.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

    path = Path(path)
    if path.is_dir():
        found = [path / name for name in (_JSON, _VOCAB) if (path / name).is_file()]
        if not found:
            raise FileNotFoundError(
                f"{path} holds neither {_JSON} nor {_VOCAB}; pass the folder of a BERT tokenizer "
                "(as saved by transformers) or the file itself"
            )
        path = found[0]
    elif not path.is_file():
        raise FileNotFoundError(
            f"no tokenizer at {path}: pass a BERT {_VOCAB} or {_JSON}, or a folder holding one"
        )
    if path.suffix == ".json":
        if lowercase is not None:
            raise ValueError(
                f"lowercase applies to a {_VOCAB} only; {path.name} carries its own normalizer: "
                "leave lowercase=None, or pass the vocab.txt"
            )
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    config_file = path.parent / _CONFIG
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    if lowercase is None:
        lowercase = bool(config.get("do_lower_case", True))
    vocab = models.WordPiece.read_file(str(path))
    tokenizer = Tokenizer(
        models.WordPiece(
            vocab, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100
        )
    )
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
        strip_accents=config.get("strip_accents"),
        lowercase=lowercase,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    _token_ids(tokenizer, ("[UNK]",))  # WordPiece needs it: say so before the first text fails
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in BERT_SPECIAL_TOKENS if token in vocab]
    )
    _bert_template(tokenizer)
    return tokenizer


@dataclass(frozen=True)
class Encoded:
    """A batch from :func:`encode_batch`: ``B`` texts, ``L`` positions.

    ``ids (B, L)`` int64 right-padded with ``[PAD]``; ``segments (B, L)`` int64 type ids (0 for the first
    text, 1 for the pair, 0 on padding); ``lengths (B,)`` int64 tokens before padding; ``unknown``: how
    many of the batch's tokens are ``[UNK]`` (characters or words outside the vocabulary).
    """

    ids: torch.Tensor
    segments: torch.Tensor
    lengths: torch.Tensor
    unknown: int

    @property
    def mask(self) -> torch.Tensor:
        """``(B, L)`` bool, True on real tokens and False on padding."""
        return torch.arange(self.ids.shape[1]) < self.lengths[:, None]


def _text_list(texts: Sequence[str], name: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(
            f"encode_batch takes a sequence of texts as {name}, not one string; wrap it in a list"
        )
    return list(texts)


@contextmanager
def _batch_settings(tokenizer: Tokenizer, maxlen: int | None, pad: int) -> Iterator[None]:
    """Truncate to ``maxlen`` (if any) and pad to the batch's longest with ``pad``; restore on exit."""
    padding, truncation = tokenizer.padding, tokenizer.truncation
    try:
        tokenizer.enable_padding(pad_id=pad, pad_type_id=0, pad_token=tokenizer.id_to_token(pad) or "[PAD]")
        if maxlen is None:
            tokenizer.no_truncation()
        else:
            tokenizer.enable_truncation(maxlen, strategy="longest_first", direction="right")
        yield
    finally:
        if padding is None:
            tokenizer.no_padding()
        else:
            tokenizer.enable_padding(**padding)
        if truncation is None:
            tokenizer.no_truncation()
        else:
            tokenizer.enable_truncation(**truncation)


def encode_batch(
    tokenizer: Tokenizer, texts: Sequence[str], maxlen: int | None = None, pairs: Sequence[str] | None = None
) -> Encoded:
    """Encode ``texts`` (and ``pairs``, one per text: ``[CLS] a [SEP] b [SEP]``) into one padded batch.

    ``L`` is ``maxlen`` if given, else the longest encoding. A longer encoding is truncated by the
    tokenizer (longest text of a pair first), so the template's ``[CLS]``/``[SEP]`` survive; ``maxlen``
    must leave room for them. The tokenizer's own padding and truncation settings are ignored (and left as
    they were). Needs ``[PAD]`` and ``[UNK]`` tokens; ``Encoded.unknown`` counts the ``[UNK]`` in the
    returned ids (what the model sees; tokens cut by truncation are not counted).
    """
    first = _text_list(texts, "texts")
    batch: list[str] | list[tuple[str, str]] = first
    pad, unk = _token_ids(tokenizer, ("[PAD]", "[UNK]"))
    is_pair = pairs is not None
    if pairs is not None:
        second = _text_list(pairs, "pairs")
        if len(second) != len(first):
            raise ValueError(
                f"pairs must hold one text per text: got {len(second)} pairs for {len(first)} texts"
            )
        batch = list(zip(first, second, strict=True))
    if maxlen is not None:
        process = tokenizer.post_processor
        room = process.num_special_tokens_to_add(is_pair) if process is not None else 0
        check_int(maxlen, "maxlen", low=max(room, 1))
    with _batch_settings(tokenizer, maxlen, pad):
        encodings = tokenizer.encode_batch(batch)
    width = len(encodings[0].ids) if encodings else 0
    if maxlen is not None and width > maxlen:  # tokenizers logs instead of raising in some corners
        raise ZooError(f"the tokenizer could not truncate to maxlen={maxlen}; got {width} tokens")
    length = width if maxlen is None else maxlen
    ids = torch.full((len(encodings), length), pad, dtype=torch.long)
    segments = torch.zeros((len(encodings), length), dtype=torch.long)
    if encodings:
        ids[:, :width] = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        segments[:, :width] = torch.tensor([e.type_ids for e in encodings], dtype=torch.long)
    lengths = torch.tensor([sum(e.attention_mask) for e in encodings], dtype=torch.long)
    real = torch.arange(length) < lengths[:, None]
    return Encoded(ids, segments, lengths, int(((ids == unk) & real).sum()))
