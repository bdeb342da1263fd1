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


def test_a_temperature_given_per_call_wins_for_that_call():
    logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]]).expand(500, 2, 3)
    sampler = zoo.load("example-temperature", temperature=100.0)  # nearly uniform on its own
    cold = sampler(logits, generator=torch.Generator().manual_seed(0), temperature=1e-4)
    assert torch.equal(cold, torch.tensor([1, 0]).expand(500, 2))  # the argmax, every time
    warm = sampler(logits, generator=torch.Generator().manual_seed(0))
    assert len(warm.unique()) == 3 and sampler.temperature == 100.0  # the sampler's own again
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sampler(logits, temperature=0.0)
