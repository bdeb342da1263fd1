import warnings

import pytest
import torch
from zoo_derived_optim.lazy import LazyOptimization, touched_rows

import zoo


class Bag(torch.nn.Module):
    def __init__(self, sparse: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(10, 4, sparse=sparse)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(ids).mean(1)).squeeze(-1)


ROUNDS = [torch.tensor([[1, 2], [2, 3]]), torch.tensor([[5, 6]]), torch.tensor([[1, 1]])]


def run(model, opt, rounds=ROUNDS):
    for ids in rounds:
        opt.zero_grad()
        (model(ids) ** 2).sum().backward()
        opt.step()


def test_touched_rows_dense_and_sparse():
    g = torch.zeros(4, 3)
    g[1, 2] = 1.0
    assert touched_rows(g).tolist() == [False, True, False, False]
    s = torch.sparse_coo_tensor(
        torch.tensor([[3, 0]]), torch.tensor([[1.0, 0.0], [0.0, 0.0]]), (4, 2), check_invariants=True
    )
    assert touched_rows(s).tolist() == [False, False, False, True]


@pytest.mark.parametrize("mode", ["params", "slots"])
def test_untouched_rows_are_bit_identical_and_touched_rows_follow_the_inner_optimizer(mode):
    lazy_model, plain_model = Bag(), Bag()
    start = lazy_model.emb.weight.detach().clone()
    opt = LazyOptimization(
        torch.optim.Adam(lazy_model.named_parameters(), lr=0.1), include=["emb"], mode=mode
    )
    run(lazy_model, opt, ROUNDS[:1])
    plain = torch.optim.Adam(plain_model.parameters(), lr=0.1)
    run(plain_model, plain, ROUNDS[:1])
    ever = torch.zeros(10, dtype=torch.bool)
    ever[[1, 2, 3]] = True
    assert torch.equal(lazy_model.emb.weight[~ever], start[~ever])
    torch.testing.assert_close(lazy_model.emb.weight[ever], plain_model.emb.weight[ever], atol=1e-12, rtol=0)
    torch.testing.assert_close(lazy_model.head.weight, plain_model.head.weight, atol=1e-12, rtol=0)
    run(lazy_model, opt, ROUNDS[1:])  # later rounds touch other rows; rows never touched stay put
    ever[[5, 6]] = True
    assert torch.equal(lazy_model.emb.weight[~ever], start[~ever])


def test_params_mode_lets_moments_decay_and_slots_mode_freezes_them():
    moments = {}
    for mode in ("params", "slots"):
        model = Bag()
        opt = LazyOptimization(torch.optim.Adam(model.named_parameters(), lr=0.1), include=["emb"], mode=mode)
        run(model, opt)
        moments[mode] = opt.base.state[model.emb.weight]["exp_avg"][
            3
        ].clone()  # row 3: touched in round 1 only
    assert not torch.equal(moments["params"], moments["slots"])
    # slots: row 3's exp_avg kept its value from round 1: (1 − β1)·g, not decayed twice by β1
    model = Bag()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    run(model, opt, ROUNDS[:1])
    torch.testing.assert_close(
        moments["slots"], opt.state[model.emb.weight]["exp_avg"][3], atol=1e-12, rtol=0
    )


def test_slots_mode_is_close_to_sparse_adam_with_sparse_gradients():
    lazy_model, sparse_model = Bag(sparse=True), Bag(sparse=True)
    eps = 1e-14  # the two put ε in different places (Adam: √v̂ + ε; SparseAdam: (√v + ε)/√bc2): make it moot
    lazy = LazyOptimization(torch.optim.Adam(lazy_model.named_parameters(), lr=0.01, eps=eps),
                            include=["emb"], mode="slots")  # fmt: skip
    emb = torch.optim.SparseAdam([sparse_model.emb.weight], lr=0.01, eps=eps)
    head = torch.optim.Adam(sparse_model.head.parameters(), lr=0.01, eps=eps)
    for ids in ROUNDS * 3:
        for m in (lazy_model, sparse_model):
            m.zero_grad()
            (m(ids) ** 2).sum().backward()
        lazy.step()
        emb.step()
        head.step()
    torch.testing.assert_close(lazy_model.emb.weight, sparse_model.emb.weight, atol=1e-10, rtol=0)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be 'params' or 'slots'"):
        LazyOptimization(torch.optim.Adam(Bag().parameters()), mode="rows")


# -- the row rule for every rank: a row is a slice along the LAST axis (spec, reference) --------------
def reference_rows(grad: torch.Tensor) -> torch.Tensor:
    """The reference's mask, written out: any(g != 0) along the last axis, one flag per leading index."""
    flat = grad.reshape(-1, grad.shape[-1])
    flags = [any(v != 0 for v in row.tolist()) for row in flat]
    return torch.tensor(flags, dtype=torch.bool).reshape(grad.shape[:-1])


class Shapes(torch.nn.Module):
    """Parameters of rank 1, 2 and 3, all matched by include=["embed"]."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed_norm = torch.nn.Parameter(torch.randn(4))
        self.embed_table = torch.nn.Parameter(torch.randn(5, 3))
        self.embed_cube = torch.nn.Parameter(torch.randn(2, 3, 4))


def hand_grads():
    """Gradients with zeros placed so that a per-element or per-first-axis rule would differ."""
    g1 = torch.tensor([1.0, 0.0, 1.0, 0.0])  # the example: the reference moves all four
    g2 = torch.zeros(5, 3)
    g2[1, 2], g2[3, 0] = 1.0, -2.0
    g3 = torch.zeros(2, 3, 4)
    g3[0, 1, 3], g3[1, 2, 0] = 0.5, 1.5  # rows (0, 1) and (1, 2) of the 6 rows of length 4
    return [g1, g2, g3]


def test_touched_rows_is_any_nonzero_along_the_last_axis_for_every_rank():
    zero1 = torch.zeros(4)
    for g in [*hand_grads(), zero1, torch.randn(3, 2, 2, 5).relu()]:
        expected = reference_rows(g)
        assert torch.equal(touched_rows(g), expected)
        for sparse_dims in range(1, g.dim() + 1):  # hybrid and fully sparse COO gradients
            assert torch.equal(touched_rows(g.to_sparse(sparse_dims)), expected), (g.shape, sparse_dims)
    assert touched_rows(torch.tensor([1.0, 0.0, 1.0, 0.0])).item() is True  # one row: the whole vector
    assert touched_rows(zero1).item() is False


@pytest.mark.parametrize("mode", ["params", "slots"])
def test_rows_follow_the_reference_rule_for_1d_2d_and_3d_parameters(mode):
    lazy_model, plain_model = Shapes(), Shapes()
    lazy = LazyOptimization(
        torch.optim.Adam(lazy_model.named_parameters(), lr=0.1), include=["embed"], mode=mode
    )
    plain = torch.optim.Adam(plain_model.parameters(), lr=0.1)
    for model, opt in ((lazy_model, lazy), (plain_model, plain)):  # a first step touching everything
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        opt.step()
    before = [p.detach().clone() for p in lazy_model.parameters()]
    moments = [lazy.base.state[p]["exp_avg"].clone() for p in lazy_model.parameters()]
    for model, opt in ((lazy_model, lazy), (plain_model, plain)):
        for p, g in zip(model.parameters(), hand_grads(), strict=True):
            p.grad = g.clone()
        opt.step()
    for p, old, new, g, m_old in zip(
        lazy_model.parameters(), before, plain_model.parameters(), hand_grads(), moments, strict=True
    ):
        r = reference_rows(g).unsqueeze(-1)  # p ← p_old + r⊙Δ, with r ∈ {0, 1}: p_new where r, else p_old
        assert torch.equal(p, torch.where(r, new, old)), p.shape
        exp_avg = lazy.base.state[p]["exp_avg"]
        plain_avg = plain.state[new]["exp_avg"]
        expected = torch.where(r, plain_avg, m_old) if mode == "slots" else plain_avg
        assert torch.equal(exp_avg, expected), p.shape
    assert not torch.equal(before[0], lazy_model.embed_norm)  # [1, 0, 1, 0] moved the whole 1-d vector


def test_a_non_contiguous_parameter_follows_the_same_rule():
    base = torch.randn(4, 3)
    p = torch.nn.Parameter(base.t())  # (3, 4), not contiguous
    q = torch.nn.Parameter(base.t().contiguous())
    lazy = LazyOptimization(torch.optim.SGD([("embed", p)], lr=0.1, momentum=0.9), include=["embed"])
    plain = torch.optim.SGD([q], lr=0.1, momentum=0.9)
    for g in (torch.ones(3, 4), torch.tensor([[0.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])):
        old = p.detach().clone()
        p.grad, q.grad = g.clone(), g.clone()
        lazy.step()
        plain.step()
    assert torch.equal(p, torch.where(reference_rows(g).unsqueeze(-1), q, old))


def test_nothing_lazy_warns_once_and_says_what_to_pass():
    model = Bag()
    opt = zoo.load("lazy-adam", params=model.named_parameters(), lr=0.1)
    with pytest.warns(UserWarning, match=r'treated no parameter lazily.*include=\["embed"\]'):
        run(model, opt, ROUNDS[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(model, opt, ROUNDS[1:])  # once only


def test_patterns_that_match_nothing_warn_too_and_matching_or_sparse_ones_do_not():
    model = Bag()
    opt = LazyOptimization(torch.optim.Adam(model.named_parameters(), lr=0.1), include=["embedding"])
    with pytest.warns(UserWarning, match=r"no parameter name matches include=\['embedding'\]"):
        run(model, opt, ROUNDS[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = Bag()
        run(model, LazyOptimization(torch.optim.Adam(model.named_parameters(), lr=0.1), include=["emb"]))
        sparse = Bag(sparse=True)  # sparse gradients are always lazy: no include needed
        run(sparse, LazyOptimization(torch.optim.SGD(sparse.parameters(), lr=0.1)))
