"""ON-LSTM layers against closed forms, ``nn.LSTMCell`` and a naive step-by-step reference cell."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_on_lstm import layers
from zoo_on_lstm.layers import LockedDropout, ONLSTMCell, ONLSTMStack, cumax, embedded_dropout

D = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # many tiny ops: see the fixture


def naive_cell(cell: ONLSTMCell, x: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor) -> tuple[Tensor, ...]:
    """A transcription of the reference cell's loop on flat (B, H) tensors: one step at a time, master
    gates expanded over the chunk with repeat_interleave, autograd for the gradients."""
    n, size = cell.levels, cell.chunk_size
    outs, dists = [], []
    for t in range(x.shape[0]):
        g = F.linear(x[t], cell.ih.weight, cell.ih.bias) + F.linear(h, weight_hh, cell.hh.bias)
        master_in, master_f = g[:, :n], g[:, n : 2 * n]
        o, cell_in, i, f = g[:, 2 * n :].chunk(4, 1)
        f_tilde = cumax(master_f)
        i_tilde = cumax(master_in, reverse=True) if cell.master_input == "su" else 1 - cumax(master_in)
        dists.append(1 - f_tilde.mean(-1))
        f_tilde, i_tilde = f_tilde.repeat_interleave(size, 1), i_tilde.repeat_interleave(size, 1)
        w = f_tilde * i_tilde
        f_hat = torch.sigmoid(f) * w + (f_tilde - w)
        i_hat = torch.sigmoid(i) * w + (i_tilde - w)
        c = f_hat * c + i_hat * torch.tanh(cell_in)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), c, torch.stack(dists)


def test_cumax_range_monotone_last_and_reverse_identity():
    x = torch.randn(5, 3, 11, dtype=D) * 3
    for reverse in (False, True):
        y = cumax(x, reverse=reverse)
        assert (y >= 0).all() and (y <= 1 + 1e-12).all()
        steps = y.diff(dim=-1)
        assert (steps <= 1e-12).all() if reverse else (steps >= -1e-12).all()
        end = y[..., 0] if reverse else y[..., -1]
        torch.testing.assert_close(end, torch.ones_like(end))
    torch.testing.assert_close(1 - cumax(x), cumax(x, reverse=True) - torch.softmax(x, -1))
    torch.testing.assert_close(cumax(x, dim=1), torch.softmax(x, 1).cumsum(1))


def test_the_registry_s_cumax_and_cells_are_these_layers():
    import zoo

    x = torch.randn(4, 9)
    torch.testing.assert_close(zoo.load("cumax")(x), torch.softmax(x, -1).cumsum(-1))
    torch.testing.assert_close(zoo.load("cumax", reverse=True)(x), cumax(x, reverse=True))
    assert zoo.load("on-lstm-cell.su", input_size=3, hidden_size=20).master_input == "su"
    assert zoo.load("on-lstm-cell", input_size=3, hidden_size=20).levels == 2  # chunk 10 by default


def test_hidden_not_divisible_by_chunk_names_both():
    with pytest.raises(ValueError, match=r"hidden_size 10 .*chunk_size 4"):
        ONLSTMCell(3, 10, 4)
    with pytest.raises(ValueError, match=r"chunk_size 4 must divide .*\[6\]"):
        ONLSTMStack(3, [8, 6], 4)
    with pytest.raises(ValueError, match="master_input"):
        ONLSTMCell(3, 8, 4, master_input="left")
    with pytest.raises(ValueError, match="dropconnect"):
        ONLSTMCell(3, 8, 4, dropconnect=1.0)


@pytest.mark.parametrize("master_input", ["paper", "su"])
@pytest.mark.parametrize("dropconnect", [0.0, 0.5])
def test_fast_path_equals_naive_cell_forward_and_gradients(master_input, dropconnect):
    torch.manual_seed(0)
    cell = ONLSTMCell(5, 12, 3, dropconnect=dropconnect, master_input=master_input).to(D).train()
    x = torch.randn(6, 4, 5, dtype=D, requires_grad=True)
    h0 = torch.randn(4, 12, dtype=D, requires_grad=True)
    c0 = torch.randn(4, 12, dtype=D, requires_grad=True)
    weight = cell.recurrent_weight()  # one fixed mask (scaled), used by both paths
    if dropconnect:
        assert (weight == 0).any()
    w = [torch.randn(6, 4, 12, dtype=D), torch.randn(4, 12, dtype=D), torch.randn(6, 4, dtype=D)]

    def objective(out: Tensor, c: Tensor, dist: Tensor) -> Tensor:  # every output gets a gradient
        return (out * w[0]).sum() + (c * w[1]).sum() + (dist * w[2]).sum() + out[-1].pow(2).sum()

    inputs = [x, h0, c0, *cell.parameters()]
    out, (h_last, c_last), dist = cell.scan(x, (h0, c0), weight_hh=weight)
    grads = torch.autograd.grad(objective(out, c_last, dist), inputs, retain_graph=True)
    ref_out, ref_c, ref_dist = naive_cell(cell, x, h0, c0, weight)
    ref_grads = torch.autograd.grad(objective(ref_out, ref_c, ref_dist), inputs)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_last, ref_out[-1], rtol=0, atol=1e-12)
    torch.testing.assert_close(c_last, ref_c, rtol=0, atol=1e-12)
    torch.testing.assert_close(dist, ref_dist, rtol=0, atol=1e-12)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_fast_path_float32_cpu_kernels_match_naive_cell():
    """float32 on CPU takes the oneDNN matmuls when torch has them; either way it matches the reference."""
    torch.manual_seed(1)
    cell = ONLSTMCell(16, 40, 8)
    x = torch.randn(7, 5, 16, requires_grad=True)
    out, (_, c), dist = cell.scan(x)
    grads = torch.autograd.grad(out.sum() + c.sum() + dist.sum(), [x, *cell.parameters()])
    zero = torch.zeros(5, 40)
    ref_out, ref_c, ref_dist = naive_cell(cell, x, zero, zero, cell.hh.weight)
    ref_grads = torch.autograd.grad(ref_out.sum() + ref_c.sum() + ref_dist.sum(), [x, *cell.parameters()])
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_gradcheck_of_the_hand_written_backward():
    torch.manual_seed(2)
    args = [
        torch.randn(3, 2, 3, dtype=D),
        torch.randn(28, 3, dtype=D),  # H = 6, n = 2 levels: 4H + 2n = 28 gate rows
        torch.randn(28, dtype=D),
        torch.randn(2, 6, dtype=D),
        torch.randn(2, 6, dtype=D),
        torch.randn(28, 6, dtype=D),
    ]
    for a in args:
        a.requires_grad_()
    for master_input in ("paper", "su"):
        assert torch.autograd.gradcheck(lambda *a, m=master_input: layers.on_lstm_layer(*a, 2, m), args)


def test_chunk_expansion_is_repeat_interleave():
    """The fast path's (n, C) broadcast of the master gates is the reference's repeat_interleave over
    flat units: with master logits that differ per level (and weights that differ per unit) both agree,
    and a permutation of the chunk layout (repeat instead of repeat_interleave) does not."""
    torch.manual_seed(3)
    cell = ONLSTMCell(4, 12, 4).to(D).eval()
    with torch.no_grad():
        cell.hh.bias[: 2 * cell.levels] = torch.tensor([3.0, -2.0, 1.0, 2.0, 0.0, -3.0], dtype=D)
    x = torch.randn(3, 2, 4, dtype=D)
    zero = torch.zeros(2, 12, dtype=D)
    out, _, _ = cell.scan(x)
    torch.testing.assert_close(out, naive_cell(cell, x, zero, zero, cell.hh.weight)[0], rtol=0, atol=1e-12)
    master = torch.tensor([[0.2, 0.5, 0.9]], dtype=D)
    expanded = master[:, :, None].expand(1, 3, 4).reshape(1, 12)
    torch.testing.assert_close(expanded, master.repeat_interleave(4, 1))
    assert not torch.equal(expanded, master.repeat(1, 4))


@pytest.mark.parametrize(
    ("master_input", "d_f", "d_i", "expected"),
    [
        # paper: i~ = 1 below d_i; f~ = 1 from d_f up. Per level: both -> LSTM, f~ only -> copy,
        # i~ only -> overwrite with the candidate, neither -> 0.
        ("paper", 2, 5, ["write", "write", "lstm", "lstm", "lstm", "copy", "copy"]),
        ("paper", 5, 2, ["write", "write", "zero", "zero", "zero", "copy", "copy"]),
        # Su's right-to-left cumax: i~ = 1 up to d_i inclusive
        ("su", 2, 5, ["write", "write", "lstm", "lstm", "lstm", "lstm", "copy"]),
    ],
)
def test_near_one_hot_master_logits_give_the_segmented_update(master_input, d_f, d_i, expected):
    n, size, batch = 7, 2, 3
    cell = ONLSTMCell(4, n * size, size, master_input=master_input).to(D).eval()
    torch.manual_seed(4)
    logits = torch.randn(4 * n * size, dtype=D)  # o, cell, i, f
    with torch.no_grad():
        cell.ih.weight.zero_()
        cell.hh.weight.zero_()
        cell.ih.bias.zero_()
        big = 60.0
        master = torch.zeros(2 * n, dtype=D)
        master[d_i], master[n + d_f] = big, big
        cell.hh.bias.copy_(torch.cat([master, logits]))
    c0 = torch.randn(batch, n * size, dtype=D)
    h, c, dist = cell(torch.randn(batch, 4, dtype=D), (torch.randn(batch, n * size, dtype=D), c0))
    o, cand, i, f = logits.view(4, n, size)
    o, cand, i, f = torch.sigmoid(o), torch.tanh(cand), torch.sigmoid(i), torch.sigmoid(f)
    prev = c0.view(batch, n, size)
    rules = {"write": cand.expand_as(prev), "copy": prev, "lstm": f * prev + i * cand, "zero": 0 * prev}
    want = torch.stack([rules[kind][:, k] for k, kind in enumerate(expected)], 1)
    torch.testing.assert_close(c.view(batch, n, size), want, rtol=0, atol=1e-12)
    torch.testing.assert_close(h, (o.reshape(-1) * torch.tanh(want.reshape(batch, -1))), rtol=0, atol=1e-12)
    torch.testing.assert_close(dist, torch.full((batch,), d_f / n, dtype=D), rtol=0, atol=1e-12)


def _lstm_cell_from(cell: ONLSTMCell) -> nn.LSTMCell:
    """nn.LSTMCell with the ON-LSTM cell's weights. Gate order: torch (i, f, g, o); ours after the 2n master
    rows: (o, g, i, f) -> rows [2n+2H, 2n+3H), [2n+3H, 2n+4H), [2n+H, 2n+2H), [2n, 2n+H)."""
    hidden, skip = cell.hidden_size, 2 * cell.levels
    order = [2, 3, 1, 0]
    rows = torch.cat([torch.arange(skip + k * hidden, skip + (k + 1) * hidden) for k in order])
    ref = nn.LSTMCell(cell.input_size, hidden).to(cell.ih.weight.dtype)
    with torch.no_grad():
        ref.weight_ih.copy_(cell.ih.weight[rows])
        ref.weight_hh.copy_(cell.hh.weight[rows])
        ref.bias_ih.copy_(cell.ih.bias[rows])
        ref.bias_hh.copy_(cell.hh.bias[rows])
    return ref


def test_su_variant_with_one_level_is_nn_lstm_cell_and_paper_variant_never_writes():
    torch.manual_seed(5)
    su = ONLSTMCell(3, 6, 6, master_input="su").to(D).eval()
    paper = ONLSTMCell(3, 6, 6, master_input="paper").to(D).eval()
    paper.load_state_dict(su.state_dict())
    ref = _lstm_cell_from(su)
    x = torch.randn(5, 2, 3, dtype=D)
    state = (torch.randn(2, 6, dtype=D), torch.randn(2, 6, dtype=D))
    ref_state, st_su, st_paper = state, state, state
    for t in range(5):
        ref_state = ref(x[t], ref_state)
        h, c, dist = su(x[t], st_su)
        st_su = (h, c)
        torch.testing.assert_close(h, ref_state[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(c, ref_state[1], rtol=0, atol=1e-12)
        torch.testing.assert_close(dist, torch.zeros(2, dtype=D))  # one level: d_f = 0
        h, c, _ = paper(x[t], st_paper)
        st_paper = (h, c)
        torch.testing.assert_close(c, state[1], rtol=0, atol=1e-12)  # i~ = 0: the cell is only copied


def test_paper_variant_top_chunk_stays_zero_from_a_zero_state():
    """The documented dead units: i~ of the top level is 1 - cumax = 0 (to rounding), so from c = 0 the top
    chunk never moves; Su's variant writes it."""
    torch.manual_seed(6)
    for master_input, dead in (("paper", True), ("su", False)):
        cell = ONLSTMCell(5, 12, 3, master_input=master_input).eval()
        with torch.no_grad():
            cell.ih.weight.mul_(4)
        out, (_, c), _ = cell.scan(torch.randn(20, 4, 5))
        top = out[..., -3:].abs().max().item()
        assert (top < 1e-6) if dead else (top > 1e-3), (master_input, top)
        assert (c[:, -3:].abs().max().item() < 1e-6) == dead
        assert out[..., :-3].abs().max() > 1e-2


def test_dropconnect_eval_deterministic_training_drops_p_one_mask_per_pass():
    torch.manual_seed(7)
    p = 0.4
    cell = ONLSTMCell(6, 40, 8, dropconnect=p).to(D)
    x = torch.randn(5, 3, 6, dtype=D)
    cell.eval()
    torch.testing.assert_close(cell.scan(x)[0], cell.scan(x)[0], rtol=0, atol=0)
    assert torch.equal(cell.recurrent_weight(), cell.hh.weight)  # no rescale at eval
    cell.train()
    weight = cell.recurrent_weight()
    kept = weight != 0
    assert abs((~kept).double().mean().item() - p) < 0.03  # 4 * 40 + 10 = 170 rows x 40
    torch.testing.assert_close(weight[kept], cell.hh.weight[kept] / (1 - p))  # inverted dropout
    # one mask per pass: the training pass equals the step-by-step reference with one fixed mask
    torch.manual_seed(8)
    mask_weight = cell.recurrent_weight()
    torch.manual_seed(8)
    out = cell.scan(x)[0]
    zero = torch.zeros(3, 40, dtype=D)
    torch.testing.assert_close(out, naive_cell(cell, x, zero, zero, mask_weight)[0], rtol=0, atol=1e-12)
    other = naive_cell(cell, x, zero, zero, cell.recurrent_weight())[0]
    assert not torch.allclose(out[1:], other[1:])  # a new pass draws a new mask
    torch.testing.assert_close(out[0], other[0])  # (the first step does not see h: no mask involved)


def test_right_padding_does_not_change_valid_positions():
    torch.manual_seed(9)
    stack = ONLSTMStack(4, [8, 8, 4], 2, dropconnect=0.3, dropouth=0.3).eval()
    x = torch.randn(6, 3, 4)
    padded = torch.cat([x, torch.randn(4, 3, 4)])
    a, b = stack(x), stack(padded)
    torch.testing.assert_close(b.output[:6], a.output, rtol=0, atol=0)
    torch.testing.assert_close(b.distances[:, :6], a.distances, rtol=0, atol=0)


def test_stack_shapes_locked_dropout_and_agreement_with_its_cells():
    torch.manual_seed(10)
    stack = ONLSTMStack(5, [12, 12, 6], 3, dropouth=0.5).to(D)
    x = torch.randn(7, 2, 5, dtype=D)
    res = stack.train()(x)
    assert res.output.shape == (7, 2, 6) and res.distances.shape == (3, 7, 2)
    assert [o.shape[-1] for o in res.raw_outputs] == [12, 12, 6]
    assert [tuple(h.shape) for h, _ in res.state] == [(2, 12), (2, 12), (2, 6)]
    for raw, dropped in zip(res.raw_outputs[:-1], res.outputs[:-1], strict=True):
        live = (raw.abs() > 1e-6).all(0)  # units that are not (near) zero at any step
        zeroed = (dropped == 0)[:, live]
        assert zeroed.any()
        assert (zeroed == zeroed[:1]).all()  # locked: the same units dropped at every step
        torch.testing.assert_close(dropped[:, live][~zeroed], raw[:, live][~zeroed] / 0.5)
    assert res.outputs[-1] is res.raw_outputs[-1] and res.output is res.outputs[-1]
    assert ((res.distances >= 0) & (res.distances <= 1 - 1 / 4 + 1e-12)).all()
    stack.eval()
    res = stack(x)
    layer_in, state = x, None
    for k, cell in enumerate(stack.cells):
        out, st, dist = cell.scan(layer_in)
        torch.testing.assert_close(res.raw_outputs[k], out)
        torch.testing.assert_close(res.distances[k], dist)
        layer_in, state = out, st
    assert state is not None
    torch.testing.assert_close(res.state[-1][1], state[1])
    # carrying the state over two halves == one pass
    first = stack(x[:3])
    second = stack(x[3:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output]), res.output)


def test_locked_dropout_and_embedded_dropout():
    torch.manual_seed(11)
    drop = LockedDropout().train()
    x = torch.ones(9, 4, 50)
    y = drop(x, 0.3)
    assert (y == y[:1]).all()  # one mask per sequence, shared over time
    values = y.unique()
    assert len(values) == 2 and values[0] == 0
    torch.testing.assert_close(values[1], torch.tensor(1 / 0.7))
    assert torch.equal(drop.eval()(x, 0.3), x)
    emb = nn.Embedding(30, 5)
    tokens = torch.randint(0, 30, (40, 6))
    out = embedded_dropout(emb, tokens, 0.5, training=True)
    dropped = (out == 0).all(-1)
    for word in tokens.unique():
        where = tokens == word
        assert dropped[where].all() or not dropped[where].any()  # a word is dropped everywhere or nowhere
        if not dropped[where].any():
            torch.testing.assert_close(out[where], emb.weight[word].expand(int(where.sum()), 5) / 0.5)
    assert 0 < dropped.float().mean() < 1
    torch.testing.assert_close(embedded_dropout(emb, tokens, 0.5, training=False), emb(tokens))
