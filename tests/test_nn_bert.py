"""zoo.nn.bert: the encoder against a hand-written float64 reference (explicit LayerNorm, erf GELU and
nn.MultiheadAttention on the same weights), mask semantics seen through the model (causal / UniLM
independence, padding invariance), norms that receive the condition, the tied MLM head, dropout, config
validation and initialization."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from zoo.nn import BertConfig, BertEncoder

SMALL = {
    "vocab_size": 40,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 24,
    "max_position_embeddings": 12,
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


def encoder(seed: int = 0, dtype: torch.dtype = torch.float64, **overrides: object) -> BertEncoder:
    """A small encoder in eval mode with random (not initial) norm weights, so the reference must use them."""
    torch.manual_seed(seed)
    enc = BertEncoder(BertConfig(**{**SMALL, **overrides}))  # type: ignore[arg-type]
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if "norm" in name or "bias" in name:
                p.add_(0.3 * torch.randn_like(p))
    return enc.to(dtype).eval()


def random_ids(batch: int, length: int, seed: int = 1, low: int = 1) -> Tensor:
    return torch.randint(
        low, SMALL["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed)
    )


# ----------------------------------------------------------------------------------------- (a) reference


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu(x: Tensor) -> Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def reference_hidden(enc: BertEncoder, ids: Tensor, segments: Tensor, allowed: Tensor) -> list[Tensor]:
    """BERT by hand: embeddings, then per block nn.MultiheadAttention (fed the block's stacked q/k/v
    weights and output projection) and an explicit post-LN FFN. ``allowed (B, L, L)``: True = may attend."""
    c = enc.config
    h, heads, eps = c.hidden_size, c.num_attention_heads, c.layer_norm_eps
    emb = enc.embeddings
    assert emb.segment is not None
    x = emb.word.weight[ids] + emb.position.weight[: ids.shape[1]] + emb.segment.weight[segments]
    x = layer_norm(x, emb.norm.weight, emb.norm.bias, eps)
    out = [x]
    # MultiheadAttention's bool mask is True = NOT allowed, one (L, L) per batch row and head
    mha_mask = (~allowed).repeat_interleave(heads, dim=0)
    for block in enc.blocks:
        mha = nn.MultiheadAttention(h, heads, batch_first=True, dtype=x.dtype)
        with torch.no_grad():
            mha.in_proj_weight.copy_(block.qkv.weight)
            mha.in_proj_bias.copy_(block.qkv.bias)
            mha.out_proj.weight.copy_(block.attn_out.weight)
            mha.out_proj.bias.copy_(block.attn_out.bias)
        a = mha(x, x, x, attn_mask=mha_mask, need_weights=False)[0]
        x = layer_norm(x + a, block.attn_norm.weight, block.attn_norm.bias, eps)
        f = (
            gelu(x @ block.ffn_up.weight.T + block.ffn_up.bias) @ block.ffn_down.weight.T
            + block.ffn_down.bias
        )
        x = layer_norm(x + f, block.ffn_norm.weight, block.ffn_norm.bias, eps)
        out.append(x)
    return out


def reference_allowed(kind: str, padding: Tensor, segments: Tensor) -> Tensor:
    length = padding.shape[1]
    if kind == "bidirectional":
        base = torch.ones(length, length, dtype=torch.bool)[None]
    elif kind == "causal":
        base = torch.ones(length, length, dtype=torch.bool).tril()[None]
    else:
        c = segments.cumsum(1)
        base = c[:, None, :] <= c[:, :, None]
    allowed = base & padding[:, None, :]
    return allowed | (torch.eye(length, dtype=torch.bool) & ~allowed.any(-1, keepdim=True))


@pytest.mark.parametrize("kind", ["bidirectional", "causal", "unilm"])
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_encoder_matches_hand_written_reference(kind: str, padded: bool) -> None:
    enc = encoder()
    ids = random_ids(3, 9)
    lengths = torch.tensor([9, 6, 3]) if padded else torch.tensor([9, 9, 9])
    padding = torch.arange(9)[None, :] < lengths[:, None]
    ids = ids * padding
    segments = ((torch.arange(9)[None, :] >= torch.tensor([[4], [2], [1]])) & padding).long()
    with torch.no_grad():
        ours = enc.hidden_states(ids, segments, attention=kind)  # type: ignore[arg-type]
        ref = reference_hidden(enc, ids, segments, reference_allowed(kind, padding, segments))
    assert len(ours) == len(ref) == SMALL["num_hidden_layers"] + 1
    for layer, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert torch.allclose(a, b, atol=1e-10, rtol=0), f"layer {layer}: {(a - b).abs().max():.2e}"
    assert torch.equal(enc(ids, segments, attention=kind), ours[-1])  # type: ignore[arg-type]


def test_explicit_mask_matches_reference() -> None:
    enc = encoder()
    ids, segments = random_ids(2, 7), torch.zeros(2, 7, dtype=torch.long)
    explicit = torch.rand(2, 7, 7, generator=torch.Generator().manual_seed(3)) < 0.5
    explicit |= torch.eye(7, dtype=torch.bool)
    with torch.no_grad():
        ours = enc(ids, segments, attention=explicit)
        ref = reference_hidden(enc, ids, segments, explicit)[-1]
    assert torch.allclose(ours, ref, atol=1e-10, rtol=0)


def test_pooler_and_mlm_head_match_reference() -> None:
    enc = encoder(pooler=True, mlm_head=True)
    ids = random_ids(2, 5)
    with torch.no_grad():
        hidden = enc(ids)
        m = enc.mlm
        assert m is not None and enc.pooler is not None
        t = layer_norm(gelu(hidden @ m.dense.weight.T + m.dense.bias), m.norm.weight, m.norm.bias, 1e-12)
        logits = t @ enc.embeddings.word.weight.T + m.bias
        pooled = torch.tanh(hidden[:, 0] @ enc.pooler.weight.T + enc.pooler.bias)
        assert torch.allclose(enc.mlm_logits(hidden), logits, atol=1e-12)
        assert torch.allclose(enc.pooled(hidden), pooled, atol=1e-12)


def test_no_segment_embedding_and_default_segments() -> None:
    enc = encoder(type_vocab_size=0)
    assert enc.embeddings.segment is None
    ids = random_ids(2, 5)
    with torch.no_grad():
        assert torch.equal(enc(ids), enc(ids, torch.ones_like(ids)))  # segments ignored: no table
    with_segments = encoder()
    with torch.no_grad():  # no segments = all segment 0
        assert torch.equal(with_segments(ids), with_segments(ids, torch.zeros_like(ids)))
        assert not torch.allclose(with_segments(ids), with_segments(ids, torch.ones_like(ids)))


# ------------------------------------------------------------------------------ (b)-(d) mask semantics


def perturbed_after(ids: Tensor, t: int, seed: int = 7) -> Tensor:
    """``ids`` with every real token after position ``t`` replaced by another real token (pads stay)."""
    shift = random_ids(*ids.shape, seed=seed, low=1) % 38 + 1  # in [1, 38]: never a full turn of 39
    other = ids.clone()
    later = ids[:, t + 1 :]
    other[:, t + 1 :] = torch.where(later == 0, 0, (later - 1 + shift[:, t + 1 :]) % 39 + 1)
    assert (other[:, t + 1 :] != later)[later != 0].all()
    return other


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_causal_position_t_ignores_later_tokens(padded: bool) -> None:
    enc = encoder(mlm_head=True)
    ids = random_ids(3, 10)
    if padded:
        ids[1, 7:] = 0
        ids[2, 4:] = 0
    with torch.no_grad():
        for t in range(9):
            other = perturbed_after(ids, t)
            a, b = enc(ids, attention="causal"), enc(other, attention="causal")
            assert torch.allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-12, rtol=0), t
            la, lb = enc.mlm_logits(a), enc.mlm_logits(b)
            assert torch.allclose(la[:, : t + 1], lb[:, : t + 1], atol=1e-12, rtol=0), t
            # the perturbation is seen: later positions and the bidirectional encoder change
            assert not torch.allclose(a[0, t + 1 :], b[0, t + 1 :])
            bi_a, bi_b = enc(ids), enc(other)
            assert not torch.allclose(bi_a[0, : t + 1], bi_b[0, : t + 1])


def test_causal_gradients_of_position_t_reach_no_later_embedding() -> None:
    enc = encoder()
    ids = random_ids(2, 8)
    ids[1, 5:] = 0
    captured: list[Tensor] = []

    def keep(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        out.retain_grad()
        captured.append(out)

    handle = enc.embeddings.word.register_forward_hook(keep)
    jac = []  # jac[t][b, s] = |d out[b, t] / d word_vector[b, s]|
    for t in range(8):
        captured.clear()
        enc(ids, attention="causal")[:, t].sum().backward()
        grad = captured[0].grad
        assert grad is not None
        jac.append(grad.abs().sum(-1))
    handle.remove()
    jac_t = torch.stack(jac, 1)  # (B, t, s)
    later = torch.ones(8, 8, dtype=torch.bool).triu(1)
    assert (jac_t[:, later] == 0).all()
    assert (jac_t[0, ~later] > 0).all()  # while every earlier position does matter
    # the same probe sees later positions in the bidirectional encoder (the test can fail)
    captured.clear()
    handle = enc.embeddings.word.register_forward_hook(keep)
    enc(ids)[:, 0].sum().backward()
    handle.remove()
    grad = captured[0].grad
    assert grad is not None and (grad[0].abs().sum(-1) > 0).all()


@pytest.mark.parametrize("kind", ["bidirectional", "causal", "unilm"])
def test_appending_padding_leaves_real_positions_unchanged(kind: str) -> None:
    enc = encoder()
    lengths = [8, 5, 2]
    rows = [random_ids(1, n, seed=n) for n in lengths]
    segs = [(torch.arange(n) >= n // 2).long()[None] for n in lengths]
    padded = torch.zeros(3, 11, dtype=torch.long)
    padded_segs = torch.zeros(3, 11, dtype=torch.long)
    for i, (r, s) in enumerate(zip(rows, segs, strict=True)):
        padded[i, : r.shape[1]], padded_segs[i, : s.shape[1]] = r, s
    with torch.no_grad():
        batch = enc(padded, padded_segs, attention=kind)  # type: ignore[arg-type]
        for i, (r, s) in enumerate(zip(rows, segs, strict=True)):
            alone = enc(r, s, attention=kind)  # type: ignore[arg-type]  # unpadded: the no-mask fast path
            n = r.shape[1]
            assert torch.allclose(batch[i, :n], alone[0], atol=1e-12, rtol=0), (kind, i)
        # and without the padding mask the padded tokens would leak in (the test can fail)
        leaky = enc(padded, padded_segs, padding=torch.ones_like(padded, dtype=torch.bool), attention=kind)  # type: ignore[arg-type]
        if kind != "causal":
            assert not torch.allclose(leaky[1, :5], batch[1, :5])


def test_explicit_padding_argument_overrides_pad_ids() -> None:
    enc = encoder()
    ids = random_ids(1, 6)
    with torch.no_grad():
        short = enc(ids[:, :4])
        masked = enc(ids, padding=torch.tensor([[True] * 4 + [False] * 2]))
    assert torch.allclose(masked[:, :4], short, atol=1e-12, rtol=0)


def test_unilm_source_ignores_target_and_target_ignores_later_targets() -> None:
    enc = encoder(mlm_head=True)
    source, length = 4, 9
    ids = random_ids(2, length)
    segments = (torch.arange(length) >= source).long().expand(2, length)
    with torch.no_grad():
        base = enc(ids, segments, attention="unilm")
        for t in range(source - 1, length - 1):  # change every token after t (t = source-1: all targets)
            other = perturbed_after(ids, t)
            out = enc(other, segments, attention="unilm")
            assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-12, rtol=0), t
            assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :])
        # the source is bidirectional and targets see it: changing the LAST source token changes the
        # FIRST source position and the last target
        other = ids.clone()
        other[:, source - 1] = ids[:, source - 1] % 39 + 1
        out = enc(other, segments, attention="unilm")
        assert not torch.allclose(out[:, 0], base[:, 0])
        assert not torch.allclose(out[:, -1], base[:, -1])


# ------------------------------------------------------------------------------------ (e) conditioning


class AddCondition(nn.Module):
    """A norm that records its calls and adds ``condition (B, H)`` to a LayerNorm's output."""

    def __init__(self, size: int, eps: float, log: list[tuple[int, bool]]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))
        self.eps, self.log = eps, log

    def forward(self, x: Tensor, *condition: Tensor) -> Tensor:
        self.log.append((id(self), bool(condition)))
        y = F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        return y + condition[0][:, None, :] if condition else y


def test_every_norm_gets_the_condition_and_none_without_it() -> None:
    log: list[tuple[int, bool]] = []
    torch.manual_seed(0)
    config = BertConfig(**{**SMALL, "mlm_head": True, "num_hidden_layers": 3})  # type: ignore[arg-type]
    enc = BertEncoder(config, norm=lambda size, eps: AddCondition(size, eps, log)).double().eval()
    norms = [m for m in enc.modules() if isinstance(m, AddCondition)]
    assert len(norms) == 1 + 2 * 3 + 1  # embeddings, two per block, MLM head
    ids = random_ids(2, 6)
    cond = torch.randn(2, 16, dtype=torch.float64)
    with torch.no_grad():
        log.clear()
        plain = enc.mlm_logits(enc(ids))
        assert sorted(i for i, _ in log) == sorted(id(m) for m in norms) and not any(c for _, c in log)
        log.clear()
        conditioned = enc.mlm_logits(enc(ids, condition=cond), condition=cond)
        assert sorted(i for i, _ in log) == sorted(id(m) for m in norms) and all(c for _, c in log)
        # the condition changes the output; a zero condition does not
        assert not torch.allclose(plain, conditioned)
        zero = torch.zeros_like(cond)
        assert torch.allclose(enc.mlm_logits(enc(ids, condition=zero), condition=zero), plain, atol=1e-12)
        # per-sample: row 0's output depends only on row 0's condition
        swapped = cond.clone()
        swapped[1] = torch.randn(16, dtype=torch.float64)
        other = enc(ids, condition=swapped)
        base = enc(ids, condition=cond)
        assert torch.allclose(other[0], base[0], atol=1e-12) and not torch.allclose(other[1], base[1])


class ProjectedNorm(nn.Module):
    """A conditional norm with its own zero-initialized, bias-free projection (as a CLN has)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((size,), 2.0))
        self.bias = nn.Parameter(torch.zeros(size))
        self.gamma = nn.Linear(3, size, bias=False)
        nn.init.zeros_(self.gamma.weight)
        self.eps = eps

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        w = self.weight if condition is None else self.weight + self.gamma(condition)[:, None, :]
        return F.layer_norm(x, x.shape[-1:]) * w + self.bias


def test_init_leaves_a_custom_norm_and_its_inner_layers_alone() -> None:
    enc = BertEncoder(BertConfig(**{**SMALL, "mlm_head": True}), norm=ProjectedNorm)  # type: ignore[arg-type]
    norms = [m for m in enc.modules() if isinstance(m, ProjectedNorm)]
    assert len(norms) == 1 + 2 * SMALL["num_hidden_layers"] + 1
    for m in norms:
        assert torch.equal(m.gamma.weight, torch.zeros_like(m.gamma.weight))
        assert torch.equal(m.weight, torch.full_like(m.weight, 2.0))
    ids = random_ids(2, 5)
    with torch.no_grad():  # zero projections: the condition does not matter at init
        assert torch.equal(enc.eval()(ids, condition=torch.randn(2, 3)), enc(ids))


# ------------------------------------------------------------------------------------- (f) tied MLM head


def test_mlm_decoder_is_the_word_embedding_and_learns_through_it() -> None:
    enc = encoder(mlm_head=True)
    word = enc.embeddings.word.weight
    # no separate (V, H) decoder parameter: the word table is the only one of that shape
    shapes = [name for name, p in enc.named_parameters() if p.shape == word.shape]
    assert shapes == ["embeddings.word.weight"]
    ids = torch.tensor([[1, 2, 3, 4]])
    logits = enc.mlm_logits(enc(ids))
    logits[..., 30].sum().backward()  # token 30 is not in the input: its row learns only as a decoder row
    assert word.grad is not None and word.grad[30].abs().sum() > 0
    assert word.grad[5].abs().sum() == 0  # neither input nor target
    with torch.no_grad():
        word[30] += 1.0
        assert not torch.allclose(enc.mlm_logits(enc(ids))[..., 30], logits[..., 30])


def test_safetensors_round_trip_keeps_the_tie(tmp_path: Path) -> None:
    enc = encoder(mlm_head=True, pooler=True)
    path = tmp_path / "model.safetensors"
    save_model(enc, str(path))
    loaded = encoder(seed=5, mlm_head=True, pooler=True)
    missing, unexpected = load_model(loaded, str(path))
    assert not missing and not unexpected
    ids = random_ids(2, 6)
    with torch.no_grad():
        assert torch.equal(loaded.mlm_logits(loaded(ids)), enc.mlm_logits(enc(ids)))
        loaded.embeddings.word.weight[7] += 1.0  # still one tensor: the decoder row moves with it
        before = enc.mlm_logits(enc(ids))[..., 7]
        assert not torch.allclose(loaded.mlm_logits(loaded(ids))[..., 7], before)


# ---------------------------------------------------------------------------------------- (g) dropout


def test_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    config = BertConfig(**{**SMALL, "hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.3})  # type: ignore[arg-type]
    enc = BertEncoder(config)
    plain = BertEncoder(
        BertConfig(**{**SMALL, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    )  # type: ignore[arg-type]
    plain.load_state_dict(enc.state_dict())
    ids = random_ids(2, 8)
    ids[1, 5:] = 0
    enc.eval()
    with torch.no_grad():
        assert torch.equal(enc(ids), enc(ids))
        assert torch.allclose(enc(ids), plain.eval()(ids), atol=1e-6)
        enc.train()
        assert not torch.allclose(enc(ids), enc(ids))
        # attention dropout alone also acts in training only
        attn_only = BertEncoder(
            BertConfig(**{**SMALL, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.5})
        )  # type: ignore[arg-type]
        attn_only.load_state_dict(enc.state_dict())
        assert not torch.allclose(attn_only.train()(ids), attn_only(ids))
        assert torch.allclose(attn_only.eval()(ids), plain(ids), atol=1e-6)


# --------------------------------------------------------------------------------------- (h) validation


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"vocab_size": 0}, "vocab_size must be >= 1"),
        ({"hidden_size": 0}, "hidden_size must be >= 1"),
        ({"num_hidden_layers": 0}, "num_hidden_layers must be >= 1"),
        ({"num_attention_heads": 0}, "num_attention_heads must be >= 1"),
        ({"intermediate_size": 0}, "intermediate_size must be >= 1"),
        ({"max_position_embeddings": 0}, "max_position_embeddings must be >= 1"),
        ({"type_vocab_size": -1}, "type_vocab_size must be >= 0"),
        ({"hidden_dropout_prob": 1.0}, r"hidden_dropout_prob must be in \[0, 1\)"),
        ({"attention_probs_dropout_prob": -0.1}, r"attention_probs_dropout_prob must be in \[0, 1\)"),
        ({"num_attention_heads": 3}, "not a multiple of num_attention_heads 3"),
        ({"hidden_act": "tanh"}, "hidden_act 'tanh' is not one of"),
        ({"pad_token_id": 40}, r"pad_token_id 40 is outside the vocabulary \[0, 40\)"),
        ({"pad_token_id": -1}, "pad_token_id -1 is outside"),
    ],
)
def test_config_errors_name_the_field(override: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BertConfig(**{**SMALL, **override})  # type: ignore[arg-type]


def test_config_from_hf_dict_ignores_unknown_keys_and_round_trips() -> None:
    hf = {**SMALL, "model_type": "bert", "architectures": ["BertModel"], "hidden_act": "gelu_new"}
    config = BertConfig.from_dict(hf)
    assert config.hidden_act == "gelu_new" and config.hidden_size == 16
    assert BertConfig.from_dict(config.to_dict()) == config


def test_longer_than_max_positions_is_an_error() -> None:
    enc = encoder()
    enc(random_ids(1, 12))  # exactly max_position_embeddings is fine
    with pytest.raises(ValueError, match="sequence length 13 exceeds max_position_embeddings 12"):
        enc(random_ids(1, 13))


def test_missing_heads_are_errors() -> None:
    enc = encoder()
    hidden = enc(random_ids(1, 3))
    with pytest.raises(ValueError, match=r"no pooler.*pooler=True"):
        enc.pooled(hidden)
    with pytest.raises(ValueError, match=r"no MLM head.*mlm_head=True"):
        enc.mlm_logits(hidden)


# ------------------------------------------------------------------------------------------- (i) init


@pytest.mark.parametrize("pad", [0, 3])
def test_pad_row_is_zero_at_init_and_gets_no_gradient(pad: int) -> None:
    torch.manual_seed(0)
    enc = BertEncoder(BertConfig(**{**SMALL, "pad_token_id": pad}))  # type: ignore[arg-type]
    word = enc.embeddings.word.weight
    assert torch.equal(word[pad], torch.zeros(16))
    assert (word.abs().sum(1) > 0).sum() == SMALL["vocab_size"] - 1
    assert 0.015 < word[torch.arange(40) != pad].std() < 0.025  # N(0, 0.02^2)
    with torch.no_grad():
        word[pad] = 1.0
    enc.reset_parameters()
    assert torch.equal(word[pad], torch.zeros(16))
    ids = torch.tensor([[1, 2, pad, 4]])
    enc(ids, padding=torch.ones_like(ids, dtype=torch.bool)).sum().backward()
    assert word.grad is not None and torch.equal(word.grad[pad], torch.zeros(16))


def test_init_is_bert_s() -> None:
    torch.manual_seed(0)
    enc = BertEncoder(BertConfig(**{**SMALL, "mlm_head": True, "pooler": True}))  # type: ignore[arg-type]
    for name, p in enc.named_parameters():
        if "norm" in name:
            assert torch.equal(p, torch.ones_like(p) if name.endswith("weight") else torch.zeros_like(p)), (
                name
            )
        elif name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p)), name
        else:
            assert 0.01 < p.std() < 0.03, name


def test_the_plugin_guide_section_runs(tmp_path):
    """docs/plugins.md, "A BERT-style encoder (zoo.nn)": its example runs (a custom norm, HF round trip)."""
    from zoo.testing import run_python_blocks

    page = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    title = "## A BERT-style encoder (`zoo.nn`)"
    section = title + page.split(title, 1)[1].split("\n## ", 1)[0]
    (tmp_path / "section.md").write_text(section, encoding="utf-8")
    namespace = run_python_blocks(tmp_path / "section.md")
    assert namespace["hidden"].shape == (1, 5, 32)
    assert not namespace["again"].embeddings.norm.shift.weight.any()
