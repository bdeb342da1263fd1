"""Hugging Face BERT checkpoints in and out of :class:`~zoo.nn.bert.BertEncoder`.

- :func:`read_hf_bert` reads a BERT folder (or ``hf-hub:org/repo[@rev]``) into our parameter names, with
  optional vocabulary slicing ``keep_tokens`` (bert4keras' convention);
- :func:`load_bert_state` loads such a state strictly into an encoder whose norms may be custom;
- :func:`load_hf_bert` does both and returns the encoder, in eval mode, with its tokenizer;
- :func:`hf_state_dict` / :func:`export_hf_bert` write the Hugging Face layout back, which
  ``transformers.BertModel`` / ``BertForMaskedLM`` load.

Name map (Hugging Face -> ours; an optional ``bert.`` prefix and the old ``LayerNorm.gamma/beta`` names
are accepted)::

    embeddings.{word,position,token_type}_embeddings      embeddings.{word,position,segment}
    embeddings.LayerNorm                                   embeddings.norm
    encoder.layer.{i}.attention.self.{query,key,value}     blocks.{i}.qkv  (stacked q, k, v on dim 0)
    encoder.layer.{i}.attention.output.dense / LayerNorm   blocks.{i}.attn_out / attn_norm
    encoder.layer.{i}.intermediate.dense                   blocks.{i}.ffn_up
    encoder.layer.{i}.output.dense / LayerNorm             blocks.{i}.ffn_down / ffn_norm
    pooler.dense                                           pooler
    cls.predictions.transform.dense / LayerNorm            mlm.dense / mlm.norm
    cls.predictions.bias (or decoder.bias)                 mlm.bias  (decoder.weight: tied to embeddings.word)

Weights are read from safetensors only (a pickle is never opened); files that are links leading out of
the folder and index shards that are not plain file names in it are refused (:mod:`zoo.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from zoo import atomic, checkpoint
from zoo.errors import CheckpointError
from zoo.nn.bert import BertConfig, BertEncoder, NormFactory

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "ENCODER_SIZES",
    "HF_BERT_FILES",
    "HFBert",
    "export_hf_bert",
    "hf_state_dict",
    "init_from_hf_bert",
    "load_bert_state",
    "load_hf_bert",
    "read_hf_bert",
]

VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
#: What a download of a Hugging Face BERT repo fetches (plus the shards its index names): never a pickle.
HF_BERT_FILES = [
    checkpoint.CONFIG_NAME,
    checkpoint.WEIGHTS_NAME,
    checkpoint.INDEX_NAME,
    VOCAB_NAME,
    checkpoint.TOKENIZER_NAME,
    TOKENIZER_CONFIG_NAME,
]

# module paths, Hugging Face -> ours (each carries .weight and .bias, the embeddings .weight only)
_TOP = {
    "embeddings.word_embeddings": "embeddings.word",
    "embeddings.position_embeddings": "embeddings.position",
    "embeddings.token_type_embeddings": "embeddings.segment",
    "embeddings.LayerNorm": "embeddings.norm",
    "pooler.dense": "pooler",
    "cls.predictions.transform.dense": "mlm.dense",
    "cls.predictions.transform.LayerNorm": "mlm.norm",
}
_BLOCK = {
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "ffn_norm",
}
_QKV = ("query", "key", "value")
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)")
_MLM_BIAS = "cls.predictions.bias"
_DECODER_WEIGHT = "cls.predictions.decoder.weight"
_DECODER_BIAS = "cls.predictions.decoder.bias"
_UNUSED = ("embeddings.position_ids", "cls.seq_relationship.")  # known, not part of the encoder
#: the BertConfig fields a model starting from a checkpoint must share with it (heads and vocabulary aside)
ENCODER_SIZES = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "hidden_act",
    "layer_norm_eps",
    "pad_token_id",
    "type_vocab_size",
)


@dataclass
class HFBert:
    """A Hugging Face BERT checkpoint read into our names.

    ``state`` holds :class:`BertEncoder` keys for a plain-LayerNorm encoder of ``config``; ``tokenizer`` is
    None when the folder has none or when ``keep_tokens`` sliced the vocabulary (the caller's own
    vocabulary then applies); ``ignored`` lists the checkpoint keys that were known and not used.
    """

    config: BertConfig
    state: dict[str, Tensor]
    tokenizer: Tokenizer | None
    source: str
    ignored: list[str] = field(default_factory=list)

    def encoder_sizes(self) -> dict[str, Any]:
        """The checkpoint's :data:`ENCODER_SIZES` (Hugging Face names): the arguments that give a plugin
        model built on :class:`BertEncoder` this checkpoint's shape (its vocabulary: the tokenizer's)."""
        values = self.config.to_dict()
        return {name: values[name] for name in ENCODER_SIZES}


# -- names ---------------------------------------------------------------------------------
def _hf_names(config: BertConfig) -> Iterator[tuple[str, str]]:
    """``(hf_name, our_name)`` of every tensor a Hugging Face BERT of ``config`` holds (no prefix); the
    q/k/v tensors all map to their block's ``qkv`` tensor."""
    for hf, ours in _TOP.items():
        if (hf == "pooler.dense" and not config.pooler) or (hf.startswith("cls.") and not config.mlm_head):
            continue
        if hf == "embeddings.token_type_embeddings" and not config.type_vocab_size:
            continue
        for p in ("weight",) if hf.endswith("_embeddings") else ("weight", "bias"):
            yield f"{hf}.{p}", f"{ours}.{p}"
    for i in range(config.num_hidden_layers):
        for p in ("weight", "bias"):
            for proj in _QKV:
                yield f"encoder.layer.{i}.attention.self.{proj}.{p}", f"blocks.{i}.qkv.{p}"
            for hf, ours in _BLOCK.items():
                yield f"encoder.layer.{i}.{hf}.{p}", f"blocks.{i}.{ours}.{p}"
    if config.mlm_head:
        yield _MLM_BIAS, "mlm.bias"


def _normalize(name: str, prefixed: bool) -> str:
    """Strip the ``bert.`` prefix (when the checkpoint uses it) and map ``gamma/beta`` to ``weight/bias``."""
    if prefixed and name.startswith("bert."):
        name = name[len("bert.") :]
    if ".LayerNorm." in name or name.startswith("LayerNorm."):
        name = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", name))
    return name


def _shown(items: Sequence[str], limit: int = 8) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


@functools.lru_cache(maxsize=32)
def _plain_shapes(config: BertConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a plain-LayerNorm :class:`BertEncoder` of ``config`` (built on the meta device)."""
    with torch.device("meta"):
        model = BertEncoder(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# -- reading -------------------------------------------------------------------------------
def _resolve(source: str | os.PathLike[str], token: str | bool | None) -> tuple[Path, str]:
    """The local folder of ``source`` (a path, ``local-dir:PATH`` or ``hf-hub:org/repo[@rev]``)."""
    text = os.fspath(source)
    if text.startswith("hf-hub:"):
        from zoo import hub

        return hub.download(text[len("hf-hub:") :], token=token, files=HF_BERT_FILES), text
    folder = Path(text.removeprefix("local-dir:")).expanduser()
    if not folder.is_dir():
        raise CheckpointError(
            f"{text} is not a folder: pass the folder of a Hugging Face BERT model (config.json + "
            "model.safetensors) or 'hf-hub:org/repo[@revision]'"
        )
    return folder, text


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / checkpoint.CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(
            f"{folder} has no {checkpoint.CONFIG_NAME}: it is not a Hugging Face model folder"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc!r}") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} must hold a JSON object (a Hugging Face BertConfig)")
    model_type = raw.get("model_type", "bert")
    if model_type != "bert":
        raise CheckpointError(
            f"{path} says model_type {model_type!r}: only BERT checkpoints (model_type 'bert') map onto "
            "zoo.nn.BertEncoder"
        )
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(
            f"{path}: position_embedding_type {raw['position_embedding_type']!r} is not supported; "
            "BertEncoder has absolute position embeddings only"
        )
    if raw.get("is_decoder") or raw.get("add_cross_attention"):
        raise CheckpointError(f"{path}: a BERT decoder (is_decoder / add_cross_attention) is not supported")
    return raw


def _key_diff_error(
    where: str, missing: list[str], unexpected: list[str], misshaped: list[str]
) -> CheckpointError:
    lines = [f"{where} is not BERT-shaped (its tensors do not match a Hugging Face BERT of its config.json):"]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if items:
            lines.append(f"  {title} ({len(items)}): {_shown(items)}")
    lines.append(
        "  expected names like embeddings.word_embeddings.weight and "
        "encoder.layer.0.attention.self.query.weight (optionally prefixed 'bert.'), as transformers' "
        "BertModel / BertForMaskedLM save them"
    )
    return CheckpointError("\n".join(lines))


def _map_state(
    raw: dict[str, Tensor], config_dict: dict[str, Any], where: str
) -> tuple[BertConfig, dict[str, Tensor], list[str]]:
    """Hugging Face tensors -> (config, our state, ignored keys)."""
    prefixed = any(k.startswith("bert.") for k in raw)
    tensors: dict[str, Tensor] = {}
    original: dict[str, str] = {}
    for key, value in raw.items():
        name = _normalize(key, prefixed)
        if name in tensors:
            raise CheckpointError(
                f"{where} holds both {original[name]!r} and {key!r}: one tensor named twice"
            )
        tensors[name], original[name] = value, key
    flags = {
        "pooler": "pooler.dense.weight" in tensors,
        "mlm_head": any(k.startswith("cls.predictions.") for k in tensors),
    }
    try:
        config = BertConfig.from_dict({**config_dict, **flags})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: config.json does not describe a BertEncoder: {exc}") from None

    ignored = [original[k] for k in tensors if k.startswith(_UNUSED)]
    names = dict(_hf_names(config))  # hf -> ours
    if _MLM_BIAS not in tensors and _DECODER_BIAS in tensors:
        tensors[_MLM_BIAS] = tensors.pop(_DECODER_BIAS)
        original[_MLM_BIAS] = original[_DECODER_BIAS]
    elif _DECODER_BIAS in tensors:
        if not torch.equal(tensors[_DECODER_BIAS], tensors[_MLM_BIAS]):
            raise CheckpointError(f"{where}: {_DECODER_BIAS} differs from {_MLM_BIAS}; BERT ties them")
        ignored.append(original[_DECODER_BIAS])
    word = tensors.get("embeddings.word_embeddings.weight")
    if _DECODER_WEIGHT in tensors:
        decoder = tensors[_DECODER_WEIGHT]
        if word is None or decoder.shape != word.shape or not torch.equal(decoder, word):
            raise CheckpointError(
                f"{where}: {original[_DECODER_WEIGHT]} differs from the word embeddings; BertEncoder ties "
                "the MLM decoder to them, so an untied head cannot be loaded"
            )
        ignored.append(original[_DECODER_WEIGHT])
    used = set(names) | {_DECODER_WEIGHT, _DECODER_BIAS}
    missing = [
        ("bert." if prefixed and not k.startswith("cls.") else "") + k for k in names if k not in tensors
    ]
    unexpected = [original[k] for k in tensors if k not in used and not k.startswith(_UNUSED)]
    shapes = _plain_shapes(config)
    misshaped = []
    for hf, ours in names.items():
        if hf in tensors:
            want = shapes[ours]
            if ours.endswith("qkv.weight") or ours.endswith("qkv.bias"):
                want = (want[0] // 3, *want[1:])
            if tuple(tensors[hf].shape) != want:
                misshaped.append(f"{original[hf]} {tuple(tensors[hf].shape)} (config.json implies {want})")
    if missing or unexpected or misshaped:
        raise _key_diff_error(where, missing, unexpected, misshaped)

    state: dict[str, Tensor] = {}
    for hf, ours in names.items():
        if ".attention.self." not in hf:
            state[ours] = tensors[hf]
    for i in range(config.num_hidden_layers):
        for p in ("weight", "bias"):
            parts = [tensors[f"encoder.layer.{i}.attention.self.{proj}.{p}"] for proj in _QKV]
            state[f"blocks.{i}.qkv.{p}"] = torch.cat(parts, dim=0)
    return config, state, ignored


def _slice_vocab(
    config: BertConfig, state: dict[str, Tensor], keep_tokens: Sequence[int], where: str
) -> BertConfig:
    """Keep the word-embedding rows (and MLM bias entries) of ``keep_tokens``, in that order."""
    ids = list(keep_tokens)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise CheckpointError(
            f"keep_tokens must be a non-empty sequence of int token ids; got {keep_tokens!r}"
        )
    bad = [i for i in ids if not 0 <= i < config.vocab_size]
    if bad:
        raise CheckpointError(
            f"keep_tokens has ids outside the vocabulary of {where} [0, {config.vocab_size}): "
            f"{_shown([str(i) for i in bad])}"
        )
    if config.pad_token_id not in ids:
        raise CheckpointError(
            f"keep_tokens does not keep the padding id {config.pad_token_id} of {where}: put it in "
            "keep_tokens (usually first), since BertEncoder marks padding by that token"
        )
    index = torch.tensor(ids, dtype=torch.long)
    state["embeddings.word.weight"] = state["embeddings.word.weight"].index_select(0, index)
    if "mlm.bias" in state:
        state["mlm.bias"] = state["mlm.bias"].index_select(0, index)
    return dataclasses.replace(config, vocab_size=len(ids), pad_token_id=ids.index(config.pad_token_id))


def _read_tokenizer(folder: Path) -> Tokenizer | None:
    if not any((folder / n).is_file() for n in (checkpoint.TOKENIZER_NAME, VOCAB_NAME)):
        return None
    from zoo.text import wordpiece_tokenizer

    return wordpiece_tokenizer(folder)


def read_hf_bert(
    source: str | os.PathLike[str], keep_tokens: Sequence[int] | None = None, token: str | bool | None = None
) -> HFBert:
    """Read a Hugging Face BERT checkpoint into our names (nothing is built).

    Args:
        source: a folder holding ``config.json`` and ``model.safetensors`` (or a sharded
            ``model.safetensors.index.json``), or ``"hf-hub:org/repo[@revision]"`` (downloaded through
            ``huggingface_hub``: HF_ENDPOINT, HF_HUB_OFFLINE and tokens apply; only
            :data:`HF_BERT_FILES` and the index's shards are fetched).
        keep_tokens: token ids to keep, in the new vocabulary's order: the word embeddings (and MLM bias)
            become those rows, ``vocab_size`` becomes ``len(keep_tokens)`` and ``pad_token_id`` its
            position in it. The returned tokenizer is then None: the caller's new vocabulary applies.
        token: a Hub token (default: HF_TOKEN / ``hf auth login``).

    ``config.pooler`` / ``config.mlm_head`` are set by which tensors the checkpoint has. Raises
    :class:`~zoo.errors.CheckpointError` with the key diff when the tensors are not BERT's.
    """
    folder, where = _resolve(source, token)
    checkpoint.check_links(folder, extra=(VOCAB_NAME, TOKENIZER_CONFIG_NAME))
    config_dict = _read_config(folder)
    raw = checkpoint.read_weights(folder)
    config, state, ignored = _map_state(raw, config_dict, where)
    tokenizer = None
    if keep_tokens is not None:
        config = _slice_vocab(config, state, keep_tokens, where)
    else:
        tokenizer = _read_tokenizer(folder)
    return HFBert(config=config, state=state, tokenizer=tokenizer, source=where, ignored=ignored)


# -- loading into an encoder ---------------------------------------------------------------
def _extra_keys(encoder: BertEncoder) -> list[str]:
    """Keys of ``encoder`` that a plain-LayerNorm encoder of its config lacks (custom norms' extras)."""
    plain = _plain_shapes(encoder.config)
    return [k for k in encoder.state_dict() if k not in plain]


def load_bert_state(encoder: BertEncoder, state: Mapping[str, Tensor]) -> list[str]:
    """Load ``state`` (our names) into ``encoder`` strictly; return the keys left at their initialization.

    Every key of ``state`` must exist in the encoder with the same shape. Encoder keys missing from
    ``state`` are allowed only when a plain-LayerNorm encoder of the same config would not have them
    (extra parameters of custom norms, e.g. a conditional norm's zero-initialized projections): those
    keep their values. Anything else raises :class:`~zoo.errors.CheckpointError` with the diff.
    """
    own = encoder.state_dict()
    extras = set(_extra_keys(encoder))
    missing = [k for k in own if k not in state and k not in extras]
    unexpected = [k for k in state if k not in own]
    misshaped = [
        f"{k}: state {tuple(state[k].shape)} vs encoder {tuple(own[k].shape)}"
        for k in state
        if k in own and state[k].shape != own[k].shape
    ]
    if missing or unexpected or misshaped:
        lines = ["the BERT state does not fit this encoder:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                lines.append(f"  {title} ({len(items)}): {_shown(items)}")
        lines.append(
            "  (build the encoder from the checkpoint's config: BertEncoder(read_hf_bert(...).config))"
        )
        raise CheckpointError("\n".join(lines))
    with torch.no_grad():
        encoder.load_state_dict(dict(state), strict=False)
    return sorted(k for k in own if k not in state)


def init_from_hf_bert(encoder: BertEncoder, bert: HFBert) -> list[str]:
    """Start ``encoder`` (a plugin model's backbone, built with :meth:`HFBert.encoder_sizes`) from ``bert``.

    Where the heads differ: a pooler the encoder lacks is dropped, and an MLM head the checkpoint lacks (a
    ``BertModel``) keeps the encoder's fresh initialization; everything else loads strictly
    (:func:`load_bert_state`). Returns the keys left at their initialization.
    """
    state = dict(bert.state)
    if encoder.pooler is None:
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    fresh: list[str] = []
    if encoder.mlm is not None and not bert.config.mlm_head:
        own = encoder.state_dict()
        fresh = [k for k in own if k.startswith("mlm.")]
        state |= {k: own[k] for k in fresh}
    return sorted(set(load_bert_state(encoder, state)) | set(fresh))


def load_hf_bert(
    source: str | os.PathLike[str],
    keep_tokens: Sequence[int] | None = None,
    norm: NormFactory | None = None,
    token: str | bool | None = None,
    **config_overrides: Any,
) -> BertEncoder:
    """A :class:`BertEncoder` with the weights of a Hugging Face BERT checkpoint, in eval mode.

    ``source``, ``keep_tokens`` and ``token`` as in :func:`read_hf_bert`; ``norm`` a norm factory (its
    extra parameters keep their initialization); ``config_overrides`` replace :class:`BertConfig` fields
    (e.g. ``hidden_dropout_prob=0.0``; ``pooler=False`` / ``mlm_head=False`` drop those weights).
    ``encoder.tokenizer`` is the checkpoint's tokenizer (``tokenizer.json``, else one built from
    ``vocab.txt``), or None without one or with ``keep_tokens``.
    """
    read = read_hf_bert(source, keep_tokens=keep_tokens, token=token)
    known = {f.name for f in dataclasses.fields(BertConfig)}
    unknown = sorted(set(config_overrides) - known)
    if unknown:
        raise TypeError(f"load_hf_bert got unknown BertConfig fields {unknown}; valid: {sorted(known)}")
    try:
        config = dataclasses.replace(read.config, **config_overrides)
    except ValueError as exc:
        raise CheckpointError(f"config_overrides {config_overrides!r} for {read.source}: {exc}") from None
    state = read.state
    for flag, prefix in (("pooler", "pooler."), ("mlm_head", "mlm.")):
        if not getattr(config, flag):
            state = {k: v for k, v in state.items() if not k.startswith(prefix)}
    encoder: BertEncoder
    if norm is None:  # built on the meta device, the loaded tensors assigned: no random init
        built = checkpoint.materialise(lambda: BertEncoder(config), state, read.source)
        assert isinstance(built, BertEncoder)
        encoder = built
    else:
        encoder = BertEncoder(config, norm)
        load_bert_state(encoder, state)
    encoder.tokenizer = read.tokenizer  # type: ignore[assignment]  # a plain attribute, not a submodule
    encoder.eval()
    return encoder


# -- exporting -----------------------------------------------------------------------------
def hf_state_dict(encoder: BertEncoder, drop_extras: bool = False) -> dict[str, Tensor]:
    """The encoder's weights in Hugging Face BERT names (``bert.``-prefixed when it has an MLM head).

    The MLM decoder weight is not written (transformers ties it to the word embeddings). An encoder
    without segment embeddings gets one all-zero segment row (``type_vocab_size`` 1), which adds
    nothing, as ours. Custom norms' extra parameters cannot be expressed in BERT's layout: non-zero
    ones raise unless ``drop_extras`` (then they are left out and the export is a different model).
    """
    config = encoder.config
    own = {k: v.detach() for k, v in encoder.state_dict().items()}
    extras = [k for k in _extra_keys(encoder) if torch.count_nonzero(own[k])]
    if extras and not drop_extras:
        raise CheckpointError(
            f"this encoder's norms have non-zero extra parameters ({_shown(extras)}): a conditional model "
            "cannot be expressed in BERT's layout. Pass drop_extras=True to export it without them "
            "(the exported model then ignores the condition)"
        )
    prefix = "bert." if config.mlm_head else ""
    out: dict[str, Tensor] = {}
    for hf, ours in _hf_names(config):
        if ours not in own:
            raise CheckpointError(
                f"this encoder has no {ours!r}: its norms must keep LayerNorm's weight and bias to be "
                "exported"
            )
        name = hf if hf.startswith("cls.") else prefix + hf
        if ".attention.self." in hf:
            part = _QKV.index(hf.split(".")[-2])
            out[name] = own[ours].chunk(3, dim=0)[part].clone()
        else:
            out[name] = own[ours].clone()
    if not config.type_vocab_size:
        word = own["embeddings.word.weight"]
        out[prefix + "embeddings.token_type_embeddings.weight"] = word.new_zeros(1, config.hidden_size)
    return out


def _hf_config(config: BertConfig) -> dict[str, Any]:
    values = config.to_dict()
    del values["pooler"], values["mlm_head"]
    return {
        "architectures": ["BertForMaskedLM" if config.mlm_head else "BertModel"],
        "model_type": "bert",
        **values,
        "type_vocab_size": config.type_vocab_size or 1,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
    }


def _is_hf_export(folder: Path) -> bool:
    try:
        raw = json.loads((folder / checkpoint.CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False
    return isinstance(raw, dict) and raw.get("model_type") == "bert"


def export_hf_bert(
    encoder: BertEncoder,
    folder: str | os.PathLike[str],
    tokenizer: Tokenizer | None = None,
    drop_extras: bool = False,
) -> Path:
    """Write ``encoder`` as a Hugging Face BERT folder that ``transformers`` loads; return its path.

    Writes ``config.json`` (``architectures`` ``["BertForMaskedLM"]`` with an MLM head, else
    ``["BertModel"]``), ``model.safetensors`` (:func:`hf_state_dict`) and, given a tokenizer (default
    ``encoder.tokenizer``), ``tokenizer.json`` plus ``vocab.txt`` when it is a WordPiece vocabulary. The
    folder is replaced atomically, and only if it is empty or an earlier BERT export. An encoder without
    a pooler exported as ``BertModel`` gets transformers' random pooler (hidden states are unaffected).
    """
    from safetensors.torch import save_file

    state = hf_state_dict(encoder, drop_extras=drop_extras)
    tokenizer = tokenizer if tokenizer is not None else getattr(encoder, "tokenizer", None)
    dest = Path(folder).expanduser()
    with atomic.atomic_directory(dest, is_replaceable=_is_hf_export) as tmp:
        config_json = json.dumps(_hf_config(encoder.config), indent=2, sort_keys=True)
        (tmp / checkpoint.CONFIG_NAME).write_text(config_json + "\n", encoding="utf-8")
        save_file(
            {k: v.contiguous() for k, v in state.items()},
            tmp / checkpoint.WEIGHTS_NAME,
            metadata={"format": "pt"},
        )
        if tokenizer is not None:
            tokenizer.save(str(tmp / checkpoint.TOKENIZER_NAME))
            from tokenizers import models

            if isinstance(tokenizer.model, models.WordPiece):
                vocab = sorted(tokenizer.get_vocab(with_added_tokens=False).items(), key=lambda kv: kv[1])
                if [i for _, i in vocab] == list(range(len(vocab))):
                    (tmp / VOCAB_NAME).write_text("".join(f"{t}\n" for t, _ in vocab), encoding="utf-8")
    return dest
