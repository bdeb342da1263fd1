import pytest
import torch

import zoo


def test_frequencies_match_the_tempered_softmax():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    sampler = zoo.load("example-temperature", temperature=2.0)
    g = torch.Generator().manual_seed(0)
    n = 100_000
    ids = sampler(logits.expand(n, 4), generator=g)
    freq = torch.bincount(ids, minlength=4).double() / n
    expected = torch.softmax(logits.double() / 2.0, -1)
    # Pearson chi-square with 3 degrees of freedom: 16.27 is the 0.001 quantile
    chi2 = (n * (freq - expected) ** 2 / expected).sum().item()
    assert chi2 < 16.27


def test_shape_and_validation():
    assert zoo.load("example-temperature")(torch.zeros(2, 3, 5)).shape == (2, 3)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        zoo.load("example-temperature", temperature=0.0)
