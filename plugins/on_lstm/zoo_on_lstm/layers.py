"""ON-LSTM layers (article 6621; Shen et al., ICLR 2019): ``cumax``, the cell, the stack, and the AWD-LSTM
regularisers the language model uses (locked dropout, embedding dropout).

Shapes are sequence-first like ``nn.LSTM``: a sequence is ``(T, B, features)``. A cell with hidden size
``H`` and chunk size ``C`` has ``n = H / C`` levels. Its two linear maps hold the reference layout
(yikangshen/Ordered-Neurons): ``ih: Linear(in, 4H + 2n)`` and ``hh: Linear(H, 4H + 2n)``; the pre-activation
``g = ih(x) + hh(h)`` is ``[master-input logits (n) | master-forget logits (n) | o (H) | cell (H) | i (H) |
f (H)]``, each of the four H-blocks ordered level by level (``(n, C)``).

Master gates: ``f~ = cumax(.)`` rises to 1 over the levels; ``i~`` falls from 1: ``1 - cumax(.)`` in the
paper's code (``master_input="paper"``; the top level's ``i~`` is then exactly 0, so from a zero state the
top chunk of the cell never leaves 0 -- dead units), or Su's right-to-left inclusive cumax
(``master_input="su"``; with one level the cell is exactly an ``nn.LSTMCell``). With ``w = f~ * i~``:
``f^ = f*w + (f~ - w)``, ``i^ = i*w + (i~ - w)``, ``c = f^*c' + i^*tanh(cell)``, ``h = o*tanh(c)``.
The syntactic distance of a step is ``d_f = 1 - mean_k f~_k`` in ``[0, 1 - 1/n]``.

Speed: the whole sequence of a layer runs in one custom autograd function (:class:`_Scan`): the input
projection of all steps is one matmul, each step does one ``addmm`` and fused element-wise math written into
preallocated buffers, and the backward pass is written by hand (one matmul per step for the recurrent
gradient, one matmul for ``dW_hh`` at the end, ``dW_ih`` by autograd from the projection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MASTER_INPUTS = ("paper", "su")
State = tuple[Tensor, Tensor]

_sigmoid_backward = torch.ops.aten.sigmoid_backward.default
_tanh_backward = torch.ops.aten.tanh_backward.default
_softmax_backward = torch.ops.aten._softmax_backward_data.default


def cumax(x: Tensor, dim: int = -1, reverse: bool = False) -> Tensor:
    """``cumsum(softmax(x))`` along ``dim``: values in [0, 1], rising to exactly the total 1 at the end.

    ``reverse=True`` sums right to left (inclusive; Su's master input gate), falling from 1:
    ``1 - cumax(x) == cumax(x, reverse=True) - softmax(x)``.
    """
    p = torch.softmax(x, dim=dim)
    if not reverse:
        return p.cumsum(dim)
    return p.flip(dim).cumsum(dim).flip(dim)


class Cumax(nn.Module):
    """:func:`cumax` as a module (the registry's ``cumax`` entry): ``(…, n) -> (…, n)`` along ``dim``."""

    def __init__(self, dim: int = -1, reverse: bool = False) -> None:
        super().__init__()
        self.dim, self.reverse = int(dim), bool(reverse)

    def forward(self, x: Tensor) -> Tensor:
        return cumax(x, self.dim, self.reverse)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, reverse={self.reverse}"


def _check_rate(name: str, p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p!r}: pass a drop probability such as 0.3")
    return float(p)


class LockedDropout(nn.Module):
    """Variational dropout of a sequence ``(T, B, F)``: one mask per sequence and unit, shared over time,
    scaled by ``1/(1-p)`` in training; identity in eval or when ``p == 0``."""

    def forward(self, x: Tensor, p: float) -> Tensor:
        if not self.training or p == 0.0:
            return x
        mask = x.new_empty(1, *x.shape[1:]).bernoulli_(1.0 - p).div_(1.0 - p)
        return x * mask


def embedded_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool = True) -> Tensor:
    """Embedding lookup that drops whole words (rows of the embedding matrix) with probability ``p``,
    scaling the kept rows by ``1/(1-p)`` (AWD-LSTM's ``dropoute``); a dropped word is all zeros at every
    position it occurs in the batch. ``tokens`` of any shape; returns ``tokens.shape + (dim,)``."""
    weight = embedding.weight
    if training and p > 0.0:
        mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1.0 - p).div_(1.0 - p)
        weight = weight * mask
    return F.embedding(tokens, weight, embedding.padding_idx)


# ---------------------------------------------------------------------------------------------------------
# The fused recurrence
# ---------------------------------------------------------------------------------------------------------


class _Buffers(NamedTuple):
    """What the forward pass keeps for the hand-written backward (T steps, B rows, n levels, C units)."""

    acts: Tensor  # (T, B, 4, n, C): sigmoid(o), tanh(cell), sigmoid(i), sigmoid(f)
    acts_m1: Tensor  # (T, B, 2, n, C): [i, f] - 1
    master: Tensor  # (T, B, 2, n): the master gates [i~, f~]
    probs: Tensor  # (T, B, 2, n): the softmaxes of the master logits [input, forget]
    overlap: Tensor  # (T, B, n): w = f~ * i~
    hats: Tensor  # (T, B, 2, n, C): [i^, f^]
    cells: Tensor  # (T + 1, B, n, C): c_0 (the initial state), c_1 ... c_T
    tanh_cells: Tensor  # (T, B, n, C)


def _packed_linear_ok(weight: Tensor) -> bool:
    return bool(
        weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


class _StepMatmul:
    """``other + x @ weight.T`` for one weight (out, in) and many x of ``rows`` rows (one call per step).

    On CPU in float32 the weight is packed once for oneDNN (``torch.ops.mkldnn``, the packed linear that
    torch's inductor uses on CPU; about 2x faster than ``addmm`` for these skinny products) and the
    addition is fused; elsewhere (other dtypes, CUDA, torch without oneDNN) it is ``torch.addmm``."""

    def __init__(self, weight: Tensor, rows: int) -> None:
        self.weight_t = weight.t()
        self.packed: Tensor | None = None
        if _packed_linear_ok(weight):
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), rows)
            except (RuntimeError, NotImplementedError):  # an unusual build: fall back to addmm
                self.packed = None

    def __call__(self, x: Tensor, other: Tensor) -> Tensor:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, None, "add")
        return torch.addmm(other, x, self.weight_t)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T (+ bias)`` for 2-d x (M, K) and weight (N, K): oneDNN's linear on CPU float32 (on the
    AMD EPYC of our benchmarks 2-3x faster than ``torch.mm``'s MKL for these shapes), else ``addmm``."""
    if _packed_linear_ok(weight):
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight.contiguous(), bias, "none", [], "")
    return F.linear(x, weight, bias)


def _scan_forward(
    xproj: Tensor, h0: Tensor, c0: Tensor, weight: Tensor, levels: int, su: bool
) -> tuple[Tensor, _Buffers]:
    """Run the recurrence over ``xproj`` (T, B, 4H+2n) (input projection plus both biases) from (h0, c0)
    with recurrent weight ``weight`` (4H+2n, H). Returns the outputs (T, B, H) and the buffers."""
    steps, batch, _ = xproj.shape
    hidden = weight.shape[1]
    n, chunk = levels, hidden // levels
    new = xproj.new_empty
    out = new(steps, batch, hidden)
    buf = _Buffers(
        acts=new(steps, batch, 4, n, chunk),
        acts_m1=new(steps, batch, 2, n, chunk),
        master=new(steps, batch, 2, n),
        probs=new(steps, batch, 2, n),
        overlap=new(steps, batch, n),
        hats=new(steps, batch, 2, n, chunk),
        cells=new(steps + 1, batch, n, chunk),
        tanh_cells=new(steps, batch, n, chunk),
    )
    buf.cells[0].copy_(c0.reshape(batch, n, chunk))
    matmul = _StepMatmul(weight, batch)
    # per-step views, made once (indexing in the loop costs as much as the small kernels)
    xs = xproj.contiguous().unbind(0)
    probs, master, gate_in = buf.probs.unbind(0), buf.master.unbind(0), buf.master[:, :, 0].unbind(0)
    gate_f, probs_in = buf.master[:, :, 1].unbind(0), buf.probs[:, :, 0].unbind(0)
    master5 = buf.master.unsqueeze(-1).unbind(0)
    overlap, overlap5 = buf.overlap.unbind(0), buf.overlap[:, :, None, :, None].unbind(0)
    flat = buf.acts.view(steps, batch, 4 * hidden)
    acts_flat, acts_cell = flat.unbind(0), flat[:, :, hidden : 2 * hidden].unbind(0)
    acts_out, acts_c = buf.acts[:, :, 0].unbind(0), buf.acts[:, :, 1].unbind(0)
    acts_if, acts_m1 = buf.acts[:, :, 2:].unbind(0), buf.acts_m1.unbind(0)
    hats, hat_i, hat_f = buf.hats.unbind(0), buf.hats[:, :, 0].unbind(0), buf.hats[:, :, 1].unbind(0)
    cells, tanh_cells = buf.cells.unbind(0), buf.tanh_cells.unbind(0)
    outs, outs_flat = out.view(steps, batch, n, chunk).unbind(0), out.unbind(0)
    h = h0.contiguous()
    m2 = 2 * n
    for t in range(steps):
        gates = matmul(h, xs[t])
        torch.softmax(gates[:, :m2].view(batch, 2, n), -1, out=probs[t])
        torch.cumsum(probs[t], -1, out=master[t])  # [cumax(input logits), f~]
        gate_in[t].neg_().add_(1.0)  # paper: i~ = 1 - cumax
        if su:
            gate_in[t].add_(probs_in[t])  # Su: right-to-left inclusive cumax = 1 - cumax + softmax
        torch.mul(gate_in[t], gate_f[t], out=overlap[t])
        torch.sigmoid(gates[:, m2:], out=acts_flat[t])
        torch.tanh(gates[:, m2 + hidden : m2 + 2 * hidden], out=acts_cell[t])
        torch.sub(acts_if[t], 1.0, out=acts_m1[t])
        torch.addcmul(master5[t], overlap5[t], acts_m1[t], out=hats[t])  # [i^, f^] = w([i, f] - 1) + [i~, f~]
        cell = torch.mul(hat_f[t], cells[t], out=cells[t + 1])
        cell.addcmul_(hat_i[t], acts_c[t])
        torch.tanh(cell, out=tanh_cells[t])
        torch.mul(acts_out[t], tanh_cells[t], out=outs[t])
        h = outs_flat[t]
    return out, buf


_sigmoid_backward_into = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward_into = torch.ops.aten.tanh_backward.grad_input


def _scan_backward(
    grad_out: Tensor | None,
    grad_cell: Tensor | None,
    grad_dist: Tensor | None,
    out: Tensor,
    h0: Tensor,
    weight: Tensor,
    buf: _Buffers,
    su: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of (the pre-activations (T, B, 4H+2n), h0, c0) from those of (outputs, last cell,
    distances)."""
    steps, batch, hidden = out.shape
    n = buf.master.shape[-1]
    chunk = hidden // n
    m2 = 2 * n
    grad_out = out.new_zeros(out.shape) if grad_out is None else grad_out.contiguous()
    dc = out.new_zeros(batch, n, chunk)
    if grad_cell is not None:
        dc.copy_(grad_cell.reshape(batch, n, chunk))
    dgates = out.new_empty(steps, batch, m2 + 4 * hidden)
    dacts = out.new_empty(batch, 4, n, chunk)  # gradients of [o, tanh(cell), i, f]
    dhats = out.new_empty(batch, 2, n, chunk)  # gradients of [i^, f^]
    da_out, da_cell, da_if = dacts[:, 0], dacts[:, 1], dacts[:, 2:]
    dh_i, dh_f = dhats[:, 0], dhats[:, 1]
    da_flat = dacts.view(batch, 4 * hidden)
    da_cell_flat = da_flat[:, hidden : 2 * hidden]
    matmul = _StepMatmul(weight.t(), batch)
    # per-step views
    grads = grad_out.unbind(0)
    dg_m = dgates[:, :, :m2].unflatten(-1, (2, n)).unbind(0)
    dg_acts, dg_cell = dgates[:, :, m2:].unbind(0), dgates[:, :, m2 + hidden : m2 + 2 * hidden].unbind(0)
    acts_out, acts_c = buf.acts[:, :, 0].unbind(0), buf.acts[:, :, 1].unbind(0)
    acts_flat = buf.acts.view(steps, batch, 4 * hidden).unbind(0)
    acts_cell = buf.acts.view(steps, batch, 4 * hidden)[:, :, hidden : 2 * hidden].unbind(0)
    acts_m1, probs = buf.acts_m1.unbind(0), buf.probs.unbind(0)
    swapped = buf.master.flip(2).unbind(0)  # [f~, i~]
    overlap5 = buf.overlap[:, :, None, :, None].unbind(0)
    hat_i, hat_f = buf.hats[:, :, 0].unbind(0), buf.hats[:, :, 1].unbind(0)
    cells, tanh_cells = buf.cells.unbind(0), buf.tanh_cells.unbind(0)
    dist = (grad_dist / n).unsqueeze(-1).unbind(0) if grad_dist is not None else None
    sign = out.new_tensor([[-1.0], [1.0]])  # paper: d(1 - cumsum) = -(right-to-left cumsum)
    is_input = torch.tensor([[True], [False]], device=out.device)
    dh = grads[steps - 1]
    for t in range(steps - 1, -1, -1):
        dh4 = dh.view(batch, n, chunk)
        dc.add_(torch.ops.aten.tanh_backward(dh4 * acts_out[t], tanh_cells[t]))
        torch.mul(dh4, tanh_cells[t], out=da_out)
        torch.mul(dc, hat_i[t], out=da_cell)
        torch.mul(dc, acts_c[t], out=dh_i)
        torch.mul(dc, cells[t], out=dh_f)
        torch.mul(dhats, overlap5[t], out=da_if)
        # master gates, per level: d[i~, f~] = sum_C d[i^, f^] + dw [f~, i~], dw = sum d[i^, f^]([i, f] - 1)
        d_overlap = torch.mul(dhats, acts_m1[t]).sum((1, 3))
        d_master = dhats.sum(-1).addcmul_(d_overlap.unsqueeze(1), swapped[t])
        if dist is not None:
            d_master[:, 1].sub_(dist[t])
        # through the cumsums to the softmax outputs: f~ = cumsum -> dp = right-to-left cumsum(df~)
        if su:  # i~ = right-to-left cumsum -> dp = cumsum(di~)
            csum = d_master.cumsum(-1)
            d_probs = torch.where(is_input, csum, d_master.sum(-1, keepdim=True) - csum + d_master)
        else:  # i~ = 1 - cumsum -> dp = -(right-to-left cumsum(di~))
            d_probs = d_master.flip(-1).cumsum(-1).flip(-1).mul_(sign)
        dg_m[t].copy_(_softmax_backward(d_probs, probs[t], -1, d_probs.dtype))  # (its out= form needs
        # a contiguous out)
        _sigmoid_backward_into(da_flat, acts_flat[t], grad_input=dg_acts[t])
        _tanh_backward_into(da_cell_flat, acts_cell[t], grad_input=dg_cell[t])
        if t > 0:
            dh = matmul(dgates[t], grads[t - 1])
        dc.mul_(hat_f[t])
    dh0 = torch.mm(dgates[0], weight)
    return dgates, dh0, dc.view(batch, hidden)


class _Layer(torch.autograd.Function):
    """One ON-LSTM layer over a whole sequence, input projection included, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight_ih: Tensor,
        bias: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_hh: Tensor,
        levels: int,
        su: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        steps, batch, _ = x.shape
        xproj = _linear(x.reshape(steps * batch, -1), weight_ih, bias).view(steps, batch, -1)
        out, buf = _scan_forward(xproj, h0, c0, weight_hh, levels, su)
        del xproj
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, weight_ih, h0, weight_hh, out)
        ctx.buf, ctx.su = buf, su
        return out, buf.cells[-1].reshape(c0.shape), 1.0 - buf.master[:, :, 1].mean(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any, grad_out: Tensor | None, grad_cell: Tensor | None, grad_dist: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x, weight_ih, h0, weight_hh, out = ctx.saved_tensors
        need_x, need_wih, need_b, need_h0, need_c0, need_whh = ctx.needs_input_grad[:6]
        dgates, dh0, dc0 = _scan_backward(grad_out, grad_cell, grad_dist, out, h0, weight_hh, ctx.buf, ctx.su)
        steps, batch, inputs = x.shape
        dg = dgates.view(steps * batch, -1)
        dx = _linear(dg, weight_ih.t()).view(x.shape) if need_x else None
        db = dg.sum(0) if need_b else None
        dwih = dwhh = None
        if need_wih or need_whh:  # both weight gradients in one product: dG^T [x | h_prev]
            h_prev = torch.cat((h0[None], out[:-1])).view(steps * batch, -1)
            both = torch.cat((x.reshape(steps * batch, inputs), h_prev), 1)
            dwih, dwhh = _linear(dg.t(), both.t()).split((inputs, h_prev.shape[1]), 1)
        return dx, dwih, db, dh0 if need_h0 else None, dc0 if need_c0 else None, dwhh, None, None


def on_lstm_layer(
    x: Tensor,
    weight_ih: Tensor,
    bias: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    levels: int,
    master_input: str = "paper",
) -> tuple[Tensor, Tensor, Tensor]:
    """One ON-LSTM layer over a sequence: the fast path behind :class:`ONLSTMCell`.

    Args:
        x: inputs (T, B, in).
        weight_ih: (4H+2n, in); bias: ``ih.bias + hh.bias`` (4H+2n,).
        h0, c0: the initial state, (B, H) each.
        weight_hh: the recurrent weight (already DropConnect-masked), (4H+2n, H).
        levels: n, the number of chunks.
        master_input: "paper" or "su".
    Returns:
        outputs h_1..h_T (T, B, H), the last cell c_T (B, H), distances d_f (T, B).
    """
    su = master_input == "su"
    args = (x, weight_ih, bias, h0, c0, weight_hh)
    if torch.is_grad_enabled() and any(t.requires_grad for t in args):
        out, cell, dist = _Layer.apply(*args, levels, su)
        return out, cell, dist
    with torch.no_grad():
        steps, batch, _ = x.shape
        xproj = _linear(x.reshape(steps * batch, -1), weight_ih, bias).view(steps, batch, -1)
        out, buf = _scan_forward(xproj, h0, c0, weight_hh, levels, su)
    return out, buf.cells[-1].reshape(c0.shape), 1.0 - buf.master[:, :, 1].mean(-1)


# ---------------------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------------------


class ONLSTMCell(nn.Module):
    """One ON-LSTM layer: ``forward`` takes one step, ``scan`` a whole sequence (one DropConnect mask).

    Args:
        input_size: features of x.
        hidden_size: H, a multiple of ``chunk_size``.
        chunk_size: C, units per level; n = H / C levels.
        dropconnect: DropConnect probability p on ``hh.weight`` (not its bias) in training. One mask per
            call of ``scan``/``forward`` (per sequence), shared over time and batch. Inverted convention,
            as AWD-LSTM's WeightDrop: kept weights are scaled by 1/(1-p) in training and the weight is
            used as is in eval. (The reference ON-LSTM code instead leaves kept weights unscaled in
            training and multiplies the weight by (1-p) in eval: the same in expectation, but weights
            trained there must be multiplied by (1-p) to be used here.)
        master_input: "paper" (i~ = 1 - cumax, the reference) or "su" (right-to-left cumax, the article's).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        chunk_size: int,
        dropconnect: float = 0.0,
        master_input: str = "paper",
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("chunk_size", chunk_size),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if hidden_size % chunk_size:
            raise ValueError(
                f"hidden_size {hidden_size} is not divisible by chunk_size {chunk_size}: pick a chunk_size "
                f"that divides it (e.g. {_divisor_near(hidden_size, chunk_size)}) or a hidden_size that is a "
                f"multiple of {chunk_size}"
            )
        if master_input not in MASTER_INPUTS:
            raise ValueError(f"master_input must be one of {MASTER_INPUTS}, got {master_input!r}")
        self.input_size, self.hidden_size, self.chunk_size = input_size, hidden_size, chunk_size
        self.levels = hidden_size // chunk_size
        self.dropconnect = _check_rate("dropconnect", dropconnect)
        self.master_input = master_input
        gates = 4 * hidden_size + 2 * self.levels
        self.ih = nn.Linear(input_size, gates)
        self.hh = nn.Linear(hidden_size, gates)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, chunk_size={self.chunk_size}, levels={self.levels}, "
            f"dropconnect={self.dropconnect}, master_input={self.master_input!r}"
        )

    def recurrent_weight(self) -> Tensor:
        """``hh.weight`` with a fresh DropConnect mask in training (scaled 1/(1-p)), as is in eval."""
        return F.dropout(self.hh.weight, self.dropconnect, self.training)

    def zero_state(self, batch: int, like: Tensor) -> State:
        z = like.new_zeros(batch, self.hidden_size)
        return z, z

    def scan(
        self, x: Tensor, state: State | None = None, weight_hh: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """Run a sequence x (T, B, in). Returns (outputs (T, B, H), (h_T, c_T), distances d_f (T, B)).

        ``weight_hh`` replaces the (masked) recurrent weight, e.g. to share one mask across calls."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be (T, B, {self.input_size}) (sequence first), got {tuple(x.shape)}")
        batch = x.shape[1]
        h0, c0 = state if state is not None else self.zero_state(batch, x)
        weight = self.recurrent_weight() if weight_hh is None else weight_hh
        bias = self.ih.bias + self.hh.bias
        out, cell, dist = on_lstm_layer(
            x, self.ih.weight, bias, h0, c0, weight, self.levels, self.master_input
        )
        return out, (out[-1], cell), dist

    def forward(
        self, x: Tensor, state: State | None = None, weight_hh: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One step: x (B, in), state (h, c) of (B, H) each (zeros when None).

        Returns (h, c, distance d_f (B,)). In training each call draws a new DropConnect mask unless
        ``weight_hh`` (e.g. one ``recurrent_weight()`` per sequence) is given."""
        _, (h, c), dist = self.scan(x[None], state, weight_hh)
        return h, c, dist[0]


class StackOutput(NamedTuple):
    """What :class:`ONLSTMStack` returns (L layers)."""

    output: Tensor  # (T, B, H_last), the last layer's outputs (no dropout after it)
    state: list[State]  # per layer (h_T, c_T), (B, H_l) each; detach them for truncated BPTT
    distances: Tensor  # (L, T, B), the master-forget distances d_f of every layer
    raw_outputs: list[Tensor]  # per layer (T, B, H_l), before dropout
    outputs: list[Tensor]  # per layer, after the locked dropout between layers (the last one undropped)


class ONLSTMStack(nn.Module):
    """Layers of ON-LSTM cells with locked (variational) dropout ``dropouth`` between them.

    Args:
        input_size: features of the input sequence.
        hidden_sizes: H of each layer, e.g. ``[1150, 1150, 400]``; ``chunk_size`` must divide each.
        chunk_size, dropconnect, master_input: as :class:`ONLSTMCell` (the same for every layer).
        dropouth: locked-dropout probability on the outputs of every layer but the last.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int],
        chunk_size: int,
        dropconnect: float = 0.0,
        dropouth: float = 0.0,
        master_input: str = "paper",
    ) -> None:
        super().__init__()
        sizes = list(hidden_sizes)
        if not sizes:
            raise ValueError("hidden_sizes must name at least one layer, e.g. [1150, 1150, 400]")
        bad = [h for h in sizes if not isinstance(h, int) or h < 1 or h % chunk_size]
        if bad:
            raise ValueError(
                f"chunk_size {chunk_size} must divide every hidden size, but not {bad} of {sizes}: "
                "pick a chunk_size that divides them all or change those sizes"
            )
        self.dropouth = _check_rate("dropouth", dropouth)
        ins = [input_size, *sizes[:-1]]
        self.cells = nn.ModuleList(
            ONLSTMCell(i, h, chunk_size, dropconnect, master_input) for i, h in zip(ins, sizes, strict=True)
        )
        self.lockdrop = LockedDropout()

    def forward(self, x: Tensor, state: Sequence[State] | None = None) -> StackOutput:
        """x (T, B, input_size); state: one (h, c) per layer, or None for zeros."""
        if state is not None and len(state) != len(self.cells):
            raise ValueError(f"state must hold one (h, c) per layer ({len(self.cells)}), got {len(state)}")
        raw_outputs, outputs, new_state, distances = [], [], [], []
        layer_in = x
        cell: ONLSTMCell
        for k, cell in enumerate(self.cells):  # type: ignore[assignment]
            out, st, dist = cell.scan(layer_in, None if state is None else state[k])
            raw_outputs.append(out)
            new_state.append(st)
            distances.append(dist)
            if k < len(self.cells) - 1:
                out = self.lockdrop(out, self.dropouth)
            outputs.append(out)
            layer_in = out
        return StackOutput(layer_in, new_state, torch.stack(distances), raw_outputs, outputs)


def _divisor_near(value: int, target: int) -> int:
    """The divisor of ``value`` closest to ``target`` (for error messages)."""
    divisors = [d for d in range(1, value + 1) if value % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))
