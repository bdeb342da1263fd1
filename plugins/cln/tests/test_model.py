"""The conditional LM: label independence at init, causal masking, the loss by hand, the ablation tag,
label errors, and a save / load round trip of weights, tokenizer and seeded generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from zoo_cln.layers import ConditionalLayerNorm
from zoo_cln.model import ConditionalLM

import zoo
from zoo.text import bert_char_tokenizer, encode_batch

# label 1 = praise, label 0 = complaint: after the first character the label decides the text
POSITIVE = ["很好很好", "真好", "好好好", "很好"]
NEGATIVE = ["很差很差", "真差", "差差差", "很差"]
LAYERS = 2


def tiny(tag: str = "", **overrides: Any) -> ConditionalLM:
    sizes: dict[str, Any] = {
        "vocab_size": 12,
        "hidden_size": 16,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 16,
        "label_dim": 8,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    model = zoo.load("cln-lm" + tag, **{**sizes, **overrides})
    assert isinstance(model, ConditionalLM)
    return model


def corpus() -> tuple[Any, torch.Tensor, torch.Tensor]:
    """(tokenizer, ids (8, L) right-padded ``[CLS] text [SEP]``, labels (8,))."""
    tokenizer = bert_char_tokenizer(POSITIVE + NEGATIVE)
    encoded = encode_batch(tokenizer, POSITIVE + NEGATIVE)
    labels = torch.tensor([1] * len(POSITIVE) + [0] * len(NEGATIVE))
    return tokenizer, encoded.ids, labels


def train(
    model: ConditionalLM, ids: torch.Tensor, labels: torch.Tensor, steps: int, lr: float = 1e-2
) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model.loss(ids, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def both_labels(model: ConditionalLM, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        zeros = torch.zeros(len(ids), dtype=torch.long)
        return model(ids, zeros), model(ids, zeros + 1)


@pytest.mark.parametrize("norm_options", [{}, {"hidden_units": 6, "hidden_activation": "tanh"}])
def test_every_norm_is_conditional_and_the_label_is_ignored_at_init(
    one_torch_thread: None, norm_options: dict[str, Any]
) -> None:
    torch.manual_seed(0)
    model = tiny(**norm_options)
    norms = [m for m in model.modules() if isinstance(m, ConditionalLayerNorm)]
    assert len(norms) == 2 * LAYERS + 2  # embeddings, two per block, the MLM head
    assert all(n.condition_size == 8 and n.gamma_dense is not None for n in norms)
    ids = torch.randint(1, 12, (3, 7))
    neg, pos = both_labels(model.eval(), ids)
    assert torch.equal(neg, pos)
    # the labels' embeddings differ; the zero-initialized projections hide them
    assert model.labels.weight.abs().sum() > 0


def test_after_training_the_label_matters(one_torch_thread: None) -> None:
    torch.manual_seed(0)
    tokenizer, ids, labels = corpus()
    model = tiny(vocab_size=tokenizer.get_vocab_size())
    train(model, ids, labels, steps=40)
    neg, pos = both_labels(model, ids)
    assert (neg - pos).abs().max() > 0.1
    with torch.no_grad():
        true_nll, count = model.token_nll(ids, labels)
        swapped_nll, _ = model.token_nll(ids, 1 - labels)
    assert true_nll.sum() / count.sum() < swapped_nll.sum() / count.sum() - 0.3
    # greedy decoding per label writes that label's character
    model.tokenizer = tokenizer
    praise, complaint = (
        model.generate(1, top_k=1, max_new_tokens=6),
        model.generate(0, top_k=1, max_new_tokens=6),
    )
    assert "好" in praise[0] and "差" not in praise[0], praise
    assert "差" in complaint[0] and "好" not in complaint[0], complaint


def test_the_ablation_tag_ignores_the_label_even_after_training(one_torch_thread: None) -> None:
    torch.manual_seed(0)
    tokenizer, ids, labels = corpus()
    model = tiny(".unconditional", vocab_size=tokenizer.get_vocab_size())
    assert not model.conditional
    assert not any(isinstance(m, ConditionalLayerNorm) and m.gamma_dense is not None for m in model.modules())
    train(model, ids, labels, steps=10)
    with torch.no_grad():
        neg, count_neg = model.token_nll(ids, torch.zeros_like(labels))
        pos, count_pos = model.token_nll(ids, torch.ones_like(labels))
    assert torch.equal(neg, pos) and torch.equal(count_neg, count_pos)


def test_causal_logits_at_t_ignore_later_tokens(one_torch_thread: None) -> None:
    torch.manual_seed(0)
    model = tiny().eval()
    with torch.no_grad():  # make the label matter, so the check covers the conditional path
        for norm in model.modules():
            if isinstance(norm, ConditionalLayerNorm) and norm.gamma_dense is not None:
                norm.gamma_dense.weight.normal_(std=0.1)
                assert norm.beta_dense is not None
                norm.beta_dense.weight.normal_(std=0.1)
    labels = torch.tensor([0, 1, 1])
    ids = torch.randint(1, 12, (3, 9))
    ids[0, 5:] = 0  # right padding on one row
    ids[2, 3:] = 0
    with torch.no_grad():
        full = model(ids, labels)
        for t in range(ids.shape[1]):
            changed = ids.clone()
            changed[:, t + 1 :] = torch.randint(1, 12, changed[:, t + 1 :].shape)  # padding becomes text too
            torch.testing.assert_close(
                model(changed, labels)[:, : t + 1], full[:, : t + 1], atol=1e-5, rtol=0
            )
            torch.testing.assert_close(model(ids[:, : t + 1], labels), full[:, : t + 1], atol=1e-5, rtol=0)
            if t + 1 < ids.shape[1]:  # the test can fail: position t+1 does see the change
                assert not torch.allclose(model(changed, labels)[:, t + 1], full[:, t + 1], atol=1e-4)


def test_loss_and_token_nll_by_hand(one_torch_thread: None) -> None:
    torch.manual_seed(0)
    model = tiny(pad_token_id=0).eval()
    ids = torch.randint(1, 12, (3, 8))
    ids[0, 4:] = 0
    ids[1, 6:] = 0
    labels = torch.tensor([1, 0, 1])
    with torch.no_grad():
        logits = model(ids, labels).double()
        loss = model.loss(ids, labels)
        nll, count = model.token_nll(ids, labels)
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    rows = []
    for b in range(3):
        terms = [-log_probs[b, t, ids[b, t + 1]] for t in range(ids.shape[1] - 1) if int(ids[b, t + 1]) != 0]
        rows.append(torch.stack(terms))
    assert count.tolist() == [3, 5, 7]
    torch.testing.assert_close(nll.double(), torch.stack([r.sum() for r in rows]), atol=1e-5, rtol=1e-6)
    expected = torch.cat(rows).mean()
    torch.testing.assert_close(loss.double(), expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(nll.sum() / count.sum(), loss, atol=1e-6, rtol=1e-6)
    # the test can fail: scoring the padding targets too gives another number
    assert not torch.allclose(
        loss, F.cross_entropy(logits[:, :-1].reshape(-1, 12).float(), ids[:, 1:].reshape(-1))
    )


def test_a_label_outside_the_table_is_a_clear_error() -> None:
    tokenizer, ids, _ = corpus()
    for model in (tiny(), tiny(".unconditional")):
        with pytest.raises(ValueError, match=r"label id\(s\) \[2\] outside the condition table \[0, 2\)"):
            model(ids[:2], torch.tensor([1, 2]))
        with pytest.raises(ValueError, match=r"label id\(s\) \[-1\] outside the condition table"):
            model.loss(ids[:2], torch.tensor([-1, 0]))
        with pytest.raises(ValueError, match="labels must be \\(B,\\) integer ids"):
            model(ids[:2], torch.tensor([0.0, 1.0]))
        with pytest.raises(ValueError, match=r"labels \(1,\) must hold one label per sequence of ids \(2, "):
            model(ids[:2], torch.tensor([1]))  # would silently broadcast one label over the batch
        with pytest.raises(ValueError, match=r"labels \(3,\) must hold one label per sequence"):
            model.loss(ids[:2], torch.tensor([1, 0, 1]))
        model.tokenizer = tokenizer
        with pytest.raises(ValueError, match=r"label id\(s\) \[5\] outside the condition table"):
            model.generate(5)


def test_generate_needs_a_tokenizer() -> None:
    with pytest.raises(zoo.ZooError, match="this model has no tokenizer"):
        tiny().generate(0)


def test_save_and_load_keep_logits_tokenizer_and_seeded_text(one_torch_thread: None, tmp_path: Path) -> None:
    torch.manual_seed(0)
    tokenizer, ids, labels = corpus()
    model = tiny(vocab_size=tokenizer.get_vocab_size())
    train(model, ids, labels, steps=8, lr=3e-3)  # trained a little: the label matters, sampling is not sharp
    model.tokenizer = tokenizer
    zoo.save(model, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "tokenizer.json").is_file()
    loaded = zoo.load(f"local-dir:{tmp_path / 'ckpt'}")
    assert isinstance(loaded, ConditionalLM) and not loaded.training
    assert loaded.tokenizer.get_vocab() == tokenizer.get_vocab()
    assert loaded.tokenizer.encode("很好").ids == tokenizer.encode("很好").ids
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(ids, labels), model(ids, labels))
        assert not torch.equal(model(ids, labels), model(ids, 1 - labels))
    for label in (0, 1):
        texts = model.generate(label, n=4, max_new_tokens=10, seed=3)
        assert loaded.generate(label, n=4, max_new_tokens=10, seed=3) == texts
    many = model.generate(1, n=6, max_new_tokens=10, seed=3, top_k=None)
    assert many != model.generate(1, n=6, max_new_tokens=10, seed=4, top_k=None)
    assert all(set(text) <= set("很真好差") for text in many)  # special tokens never show up
