"""The AWD-style language model: tying, the nn.LSTM baseline against plain nn.LSTM, loss, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from zoo_on_lstm.model import LanguageModel

SMALL = {"embedding": 8, "hidden": 12, "layers": 3, "chunk_size": 4}
NO_DROP = {"dropout": 0.0, "dropouth": 0.0, "dropouti": 0.0, "dropoute": 0.0, "wdrop": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # many tiny ops: see the fixture


def test_tied_weights_are_one_tensor_and_layer_sizes_follow_the_paper():
    model = LanguageModel(30, **SMALL)
    assert model.decoder.weight is model.encoder.weight
    assert model.sizes == [8, 12, 12, 8]
    assert model.rnn is not None and [c.hidden_size for c in model.rnn.cells] == [12, 12, 8]
    untied = LanguageModel(30, **SMALL, tie_weights=False)
    assert untied.decoder.weight is not untied.encoder.weight and untied.sizes == [8, 12, 12, 12]
    with torch.device("meta"):  # the paper's model, built without paying for it
        paper = LanguageModel(10000)
    assert paper.sizes == [400, 1150, 1150, 400]
    assert paper.rnn is not None and paper.rnn.cells[0].levels == 115


def test_forward_shapes_state_and_distances():
    torch.manual_seed(0)
    model = LanguageModel(30, **SMALL)
    tokens = torch.randint(0, 30, (9, 4))
    out = model(tokens)
    assert out.logits.shape == (9, 4, 30)
    assert out.distances is not None and out.distances.shape == (3, 9, 4)
    assert [tuple(h.shape) for h, _ in out.state] == [(4, 12), (4, 12), (4, 8)]
    assert len(out.raw_outputs) == len(out.outputs) == 3
    model.train()
    dist = model.distances(tokens)
    assert model.training  # restored
    model.eval()
    torch.testing.assert_close(dist, model(tokens).distances)


def test_lstm_baseline_equals_plain_nn_lstm_stack_without_dropout():
    torch.manual_seed(1)
    model = LanguageModel(30, **SMALL, **NO_DROP, cell="lstm").train()
    assert model.lstms is not None
    plain = nn.ModuleList(nn.LSTM(i, h) for i, h in zip(model.sizes[:-1], model.sizes[1:], strict=True))
    plain.load_state_dict(model.lstms.state_dict())
    tokens = torch.randint(0, 30, (7, 3))
    x = model.encoder(tokens)
    for lstm in plain:
        x, _ = lstm(x)
    want = x @ model.encoder.weight.t() + model.decoder.bias
    out = model(tokens)
    torch.testing.assert_close(out.logits, want)
    assert out.distances is None
    with pytest.raises(ValueError, match="cell='on-lstm'"):
        model.distances(tokens)


def test_lstm_baseline_dropconnect_masks_only_weight_hh_once_per_pass():
    torch.manual_seed(2)
    model = LanguageModel(30, **SMALL, **{**NO_DROP, "wdrop": 0.5}, cell="lstm")
    tokens = torch.randint(0, 30, (6, 2))
    model.eval()
    torch.testing.assert_close(model(tokens).logits, model(tokens).logits)
    model.train()
    a, b = model(tokens).logits, model(tokens).logits
    torch.testing.assert_close(a[0], b[0])  # step 0 never sees h: the mask only touches weight_hh
    assert not torch.allclose(a[1:], b[1:])
    loss = model.loss(tokens, tokens)["loss"]
    loss.backward()  # the mask is differentiable: gradients reach the raw weight_hh
    assert model.lstms is not None and model.lstms[0].weight_hh_l0.grad is not None


@pytest.mark.parametrize("cell", ["on-lstm", "lstm"])
def test_loss_is_finite_and_decreases_on_a_repeated_sequence(cell):
    torch.manual_seed(3)
    model = LanguageModel(12, **SMALL, cell=cell, **{**NO_DROP, "wdrop": 0.1})
    seq = torch.arange(12).repeat(3)[:, None].repeat(1, 2)  # (36, 2)
    tokens, targets = seq[:-1], seq[1:]
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        out = model.loss(tokens, targets)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["ce"].item())
        assert torch.isfinite(out["loss"])
    assert losses[-1] < 0.6 * losses[0]  # (from ln 12 = 2.48 to about 1.25 / 1.0)
    assert all(not h.requires_grad and not c.requires_grad for h, c in out["state"])


def test_loss_terms_match_their_definitions():
    torch.manual_seed(4)
    model = LanguageModel(20, **SMALL).eval()
    tokens = torch.randint(0, 20, (5, 3))
    targets = torch.randint(0, 20, (5, 3))
    res = model.loss(tokens, targets, alpha=2.0, beta=1.0)
    out = model(tokens)
    ce = nn.functional.cross_entropy(out.logits.reshape(-1, 20), targets.reshape(-1))
    last = out.raw_outputs[-1]
    torch.testing.assert_close(res["ce"], ce)
    torch.testing.assert_close(
        res["loss"], ce + 2 * last.pow(2).mean() + (last[1:] - last[:-1]).pow(2).mean()
    )
    state = res["state"]
    torch.testing.assert_close(model(tokens[:2]).logits, model(tokens[:2], None).logits)
    assert len(state) == 3


def test_vocab_in_config_and_argument_errors():
    words = [f"w{i}" for i in range(15)]
    model = LanguageModel(vocab=words, **SMALL)
    assert model.vocab == words and model.vocab_size == 15
    assert LanguageModel(15, vocab=words, **SMALL).vocab_size == 15
    with pytest.raises(ValueError, match=r"vocab_size 14 .*len\(vocab\) 15"):
        LanguageModel(14, vocab=words, **SMALL)
    with pytest.raises(ValueError, match="vocab_size is required"):
        LanguageModel(**SMALL)
    with pytest.raises(ValueError, match=r"chunk_size 5 must divide"):
        LanguageModel(30, embedding=8, hidden=10, chunk_size=5)
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        LanguageModel(30, **SMALL, dropout=1.2)
    with pytest.raises(ValueError, match="cell must be one of"):
        LanguageModel(30, **SMALL, cell="gru")
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        LanguageModel(30, embedding=8, hidden=12, layers=0, chunk_size=4)
    model = LanguageModel(30, **SMALL)
    with pytest.raises(ValueError, match=r"tokens must be a \(T, B\) long tensor"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="one \\(h, c\\) per layer"):
        model(torch.zeros(5, 2, dtype=torch.long), [(torch.zeros(2, 12), torch.zeros(2, 12))])
