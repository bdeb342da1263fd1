import pytest
import torch
from zoo_derived_optim.lazy import LazyOptimization, touched_rows


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
