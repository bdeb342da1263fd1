"""VIB classifiers: the loss, evaluation modes, the baselines, and what beta does to learning."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zoo_vib.bottleneck import gaussian_kl
from zoo_vib.classifier import MLPClassifier, TextCNN, VIBClassifier

import zoo
from zoo.datasets import load_mnist
from zoo.text import char_tokenizer


def test_loss_is_cross_entropy_plus_beta_kl():
    torch.manual_seed(0)
    model = MLPClassifier(inputs=12, hidden=[16], classes=5, latent=4, beta=0.3, scale="log-var").train()
    x, y = torch.randn(9, 12), torch.randint(0, 5, (9,))
    torch.manual_seed(1)
    parts = model.loss(x, y)
    torch.manual_seed(1)  # the same noise, by hand
    h = model.encoder(x)
    mean, log_var = model.bottleneck.distribution(h)
    z = mean + (0.5 * log_var).exp() * torch.randn(mean.shape)
    ce = F.cross_entropy(model.head(z), y)
    kl = gaussian_kl(mean, log_var)
    assert torch.allclose(parts["ce"], ce, atol=1e-6) and torch.allclose(parts["kl"], kl, atol=1e-6)
    assert torch.allclose(parts["loss"], ce + 0.3 * kl, atol=1e-6)


def test_binary_head_uses_sigmoid_cross_entropy():
    model = VIBClassifier(nn.Identity(), features=6, classes=1, latent=None).eval()
    x, y = torch.randn(7, 6), torch.tensor([0, 1, 1, 0, 1, 0, 0])
    parts = model.loss(x, y)
    logit = model.head(x).squeeze(-1)
    assert torch.allclose(parts["ce"], F.binary_cross_entropy(torch.sigmoid(logit), y.float()), atol=1e-6)
    assert parts["kl"].item() == 0 and torch.equal(model.predict(x), (logit > 0).long())


def test_baseline_is_the_same_net_without_the_bottleneck():
    vib, base = zoo.load("vib-mnist"), zoo.load("vib-mnist.baseline")
    assert base.bottleneck is None and base.head.in_features == 1024
    assert vib.bottleneck is not None and vib.head.in_features == 256 and vib.bottleneck.scale == "softplus"
    shared = {k: v.shape for k, v in base.state_dict().items() if k.startswith("encoder.")}
    assert shared == {k: v.shape for k, v in vib.state_dict().items() if k.startswith("encoder.")}
    text, text_base = zoo.load("vib-textcnn"), zoo.load("vib-textcnn.baseline")
    assert text.head.in_features == 128 and text_base.head.in_features == 250 and text_base.bottleneck is None


def test_eval_averages_probabilities_over_seeded_samples():
    torch.manual_seed(0)
    model = MLPClassifier(inputs=8, hidden=[16], classes=4, latent=3, eval_samples=5, scale="log-var").eval()
    x = torch.randn(6, 8)
    out = model(x)
    assert torch.equal(out, model(x))  # deterministic: the noise is seeded per call
    g = torch.Generator().manual_seed(model.eval_seed)
    mean, log_var = model.bottleneck.distribution(model.encoder(x))
    z = mean + (0.5 * log_var).exp() * torch.randn(5, 6, 3, generator=g)
    probs = model.head(z).softmax(-1).mean(0)
    assert torch.allclose(out.exp(), probs, atol=1e-6)
    model.eval_samples = 0
    assert torch.allclose(model(x), model.head(mean), atol=1e-6)  # eval without samples: z = mu


def test_binary_eval_samples_return_the_logit_of_the_mean_probability():
    torch.manual_seed(0)
    model = VIBClassifier(nn.Identity(), features=5, classes=1, latent=3, eval_samples=4).eval()
    x = torch.randn(6, 5)
    g = torch.Generator().manual_seed(0)
    mean, log_var = model.bottleneck.distribution(x)
    z = mean + (0.5 * log_var).exp() * torch.randn(4, 6, 3, generator=g)
    p = torch.sigmoid(model.head(z)).mean(0)
    assert torch.allclose(torch.sigmoid(model(x)), p, atol=1e-6)
    with torch.no_grad():
        model.head.bias.fill_(80.0)  # sigmoid saturates to exactly 1.0 in float32
    out = model(x)
    assert torch.isfinite(out).all() and (out > 70).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"classes \(1 = binary with one logit\) must be an integer >= 1"):
        VIBClassifier(nn.Identity(), 4, 0)
    with pytest.raises(ValueError, match=r"beta \(the weight of the KL term\) must be a finite .*>= 0"):
        VIBClassifier(nn.Identity(), 4, 2, beta=-1)
    with pytest.raises(zoo.InvalidArgumentsError, match="laten"):
        zoo.load("vib-mnist", laten=3)
    with pytest.raises(ValueError, match="encoder_args applies only"):
        zoo.load("vib-classifier", encoder=nn.Identity(), features=3, classes=2, encoder_args={"a": 1})


def test_wrapper_around_a_registry_encoder_saves_and_reloads(tmp_path):
    model = zoo.load(
        "vib-classifier", encoder="example-mlp", encoder_args={"num_classes": 32}, features=32, classes=3
    )
    assert isinstance(model, VIBClassifier) and model.bottleneck is not None
    zoo.save(model, tmp_path / "m")
    again = zoo.load(f"local-dir:{tmp_path / 'm'}").eval()
    x = torch.randn(4, 2)
    assert torch.equal(model.eval()(x), again(x))


def test_text_cnn_encodes_texts_with_its_tokenizer_and_pads_short_input():
    model = zoo.load("vib-textcnn", vocab_size=50, maxlen=12).eval()
    with pytest.raises(zoo.ZooError, match="has no tokenizer"):
        model.classify(["好"])
    model.tokenizer = char_tokenizer(["很好很好", "太差了"], vocab_size=50, maxlen=12)
    ids = model.encode(["很好", "差"])
    assert ids.shape == (2, 12) and ids[0, 2:].eq(0).all()
    p = model.classify(["很好", "差"])
    assert p.shape == (2,) and ((p > 0) & (p < 1)).all()
    assert model(torch.tensor([[2]])).shape == (1, 1)  # one token: shorter than the kernel, padded


def train_small(beta: float, steps: int = 300) -> tuple[float, float]:
    """A small VIB MLP on 2,000 real digits: (test accuracy, test KL)."""
    torch.manual_seed(0)
    mnist = load_mnist()
    x, y = mnist.train[0][:2000], mnist.train[1][:2000]
    tx, ty = mnist.test[0][:1000], mnist.test[1][:1000]
    model = MLPClassifier(hidden=[64], latent=8, beta=beta, eval_samples=0, scale="log-var")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        i = torch.randint(0, len(y), (100,), generator=g)
        loss = model.loss(x[i], y[i])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model.predict(tx) == ty).float().mean().item(), model.loss(tx, ty)["kl"].item()


def test_beta_extremes():
    acc_huge, kl_huge = train_small(beta=1e3)
    acc_zero, kl_zero = train_small(beta=0.0)
    chance = torch.bincount(load_mnist().test[1][:1000]).max().item() / 1000  # the majority class
    assert kl_huge < 0.05 and acc_huge <= chance + 0.03  # z forgets x: predictions carry no information
    assert acc_zero > 0.8 and kl_zero > 10 * max(kl_huge, 1e-3)


def test_text_cnn_defaults_follow_the_author():
    model = TextCNN()
    assert model.encoder.embedding.embedding_dim == 50 and model.encoder.conv.out_channels == 250
    assert model.encoder.conv.kernel_size == (3,) and model.bottleneck is not None
    assert model.bottleneck.latent == 128 and model.beta == 0.1 and model.classes == 1
    # Keras' initializers (the author's framework): U(-0.05, 0.05) embeddings, Glorot kernels, zero biases
    emb = model.encoder.embedding.weight
    assert emb.abs().max() <= 0.05 and emb[0].eq(0).all() and emb.std() > 0.025
    for layer in (model.encoder.conv, model.bottleneck.mean, model.head):
        fan_in, fan_out = layer.weight[0].numel(), layer.weight.shape[0] * layer.weight[0, 0].numel()
        assert layer.bias.eq(0).all() and layer.weight.abs().max() <= (6 / (fan_in + fan_out)) ** 0.5


@pytest.mark.parametrize(
    ("entry", "args", "message"),
    [
        ("vib-textcnn", {"beta": math.nan}, r"beta .* must be a finite number >= 0\.0; got nan"),
        ("vib-mnist", {"beta": math.inf}, r"beta .* must be a finite number >= 0\.0; got inf"),
        ("vib-textcnn", {"latent": 0}, r"latent .*None = the baseline.* must be an integer >= 1; got 0"),
        ("vib-mnist", {"latent": -5}, r"latent .* must be an integer >= 1; got -5"),
        ("vib-mnist", {"hidden": []}, r"hidden must be a non-empty list"),
        ("vib-mnist", {"eval_samples": -1}, r"eval_samples .* must be an integer >= 0"),
        ("vib-textcnn", {"vocab_size": 2}, r"vocab_size .* must be an integer >= 3"),
        ("vib-layer", {"in_features": 8, "latent": 0}, r"latent .* must be an integer >= 1; got 0"),
        ("gaussian-vae", {"latent": 0}, r"latent must be an integer >= 1; got 0"),
    ],
)
def test_silent_nonsense_is_refused_with_the_argument_and_range(entry, args, message):
    """Issue 11: beta=nan trained NaNs, latent=0 silently built the baseline, latent=-5 a raw torch error."""
    with pytest.raises(ValueError, match=message):
        zoo.load(entry, **args)


def test_a_fractional_latent_is_refused_by_its_annotation():
    with pytest.raises(zoo.InvalidArgumentsError, match=r"'latent' must be int or None; got 2\.5 \(float\)"):
        zoo.load("vib-mnist", latent=2.5)


def test_latent_none_is_still_the_baseline():
    assert zoo.load("vib-textcnn", latent=None).bottleneck is None
    assert zoo.load("vib-textcnn.baseline").bottleneck is None
