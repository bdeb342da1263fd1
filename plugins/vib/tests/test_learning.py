"""Slow learning checks on real digits (run with ``pytest -m slow``; about 3 minutes on 2 cores).

VIB vs the same MLP without it, trained identically for 3 epochs; a Gaussian VAE whose reconstructions
and samples a trained classifier recognizes as digits.
"""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo import recipes
from zoo.datasets import binarized_mnist_test, load_mnist

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_PROGRESS", "0")
    records = {
        name: recipes.train(name, out / name, options=options)
        for name, options in (
            ("vib-mnist", {"epochs": 3}),
            ("vib-mnist.baseline", {"epochs": 3}),
            ("gaussian-vae.z32", {"epochs": 5}),
        )
    }
    mp.undo()
    return out, records


def test_vib_is_at_least_as_accurate_as_the_baseline(runs):
    _, records = runs
    vib, base = records["vib-mnist"]["metrics"], records["vib-mnist.baseline"]["metrics"]
    assert vib["error"] < 2.5 and base["error"] < 2.5
    # one seed: allow 0.2 points of seed noise (the 3-seed, 10-epoch comparison is in the docs)
    assert vib["error"] <= base["error"] + 0.2
    assert 10 < vib["kl"] < 500  # the bottleneck keeps some information, far less than at init (~1,100)


def test_vae_elbo_and_its_images_are_digits(runs):
    out, records = runs
    assert records["gaussian-vae.z32"]["metrics"]["nelbo"] < 115
    vae = zoo.load(f"local-dir:{out / 'gaussian-vae.z32'}").eval()
    classifier = zoo.load(f"local-dir:{out / 'vib-mnist'}").eval()
    x, labels = binarized_mnist_test(limit=1000), load_mnist().test[1][:1000]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        recognized = (classifier.predict(vae(x)) == labels).float().mean().item()
        samples = vae.sample(500, g)
        shuffled = samples[:, torch.randperm(784, generator=g)]  # same pixel values, no digit structure
        confidence, digit = classifier(samples).softmax(-1).max(-1)
        control = classifier(shuffled).softmax(-1).amax(-1)
    assert recognized > 0.9  # reconstructions keep the digit's identity
    # samples look like digits to the classifier, far more than their own pixels in random places
    # (measured: median 0.68 vs 0.28), and they are not all one digit
    assert confidence.median().item() > control.median().item() + 0.25
    assert len(digit.unique()) >= 8
