import pytest
import torch
from zoo_example.data import read_csv, two_spirals


def test_two_spirals_is_balanced_seeded_and_bounded():
    x, y = two_spirals(1000, seed=3)
    assert x.shape == (1000, 2) and torch.equal(torch.bincount(y), torch.tensor([500, 500]))
    assert torch.equal(x, two_spirals(1000, seed=3)[0]) and not torch.equal(x, two_spirals(1000, seed=4)[0])
    # the two classes are point reflections of each other before the noise
    assert x.abs().max() < 1.3


def test_read_csv(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("x1,x2,label\n0.5,-1,1\n2,3,0\n")
    x, y = read_csv(f)
    assert torch.equal(x, torch.tensor([[0.5, -1.0], [2.0, 3.0]])) and torch.equal(y, torch.tensor([1, 0]))
    f.write_text("x1,x2,label\n0.5,oops,1\n")
    with pytest.raises(ValueError, match=r"d.csv:2: bad row"):
        read_csv(f)
    f.write_text("x1,x2,label\n")
    with pytest.raises(ValueError, match="no rows"):
        read_csv(f)
