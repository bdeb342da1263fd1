import pytest
import torch
from zoo_reparam.samplers import GumbelMax, GumbelNoise, GumbelSoftmax, NormalReparam
from zoo_reparam.schedules import ExponentialTemperature, JangTemperature
from zoo_reparam.score import ScoreFunction

import zoo
from zoo.errors import InvalidArgumentsError, UnknownEntryError

CLASSES = {
    "normal-reparam": NormalReparam,
    "gumbel-noise": GumbelNoise,
    "gumbel-max": GumbelMax,
    "gumbel-softmax": GumbelSoftmax,
    "score-function": ScoreFunction,
    "tau-exponential": ExponentialTemperature,
    "tau-jang": JangTemperature,
}


def test_every_sampler_entry_builds_its_class_with_the_registry_defaults():
    entries = zoo.list(plugin="reparam", kind="sampler")
    assert {e.name for e in entries} == set(CLASSES)
    for entry in entries:
        sampler = zoo.load(entry.name)
        assert type(sampler) is CLASSES[entry.name]
        for key, value in entry.defaults.items():
            assert getattr(sampler, key) == value, (entry.name, key)


def test_registry_defaults():
    defaults = {e.name: dict(e.defaults) for e in zoo.list(plugin="reparam", kind="sampler")}
    assert defaults["gumbel-softmax"] == {"tau": 1.0, "hard": False}
    assert defaults["tau-exponential"] == {"start": 1.0, "end": 0.01, "rate": 0.999}
    assert defaults["tau-jang"] == {"start": 1.0, "minimum": 0.5, "rate": 3e-5, "every": 1000}


def test_tag_aliases_and_overrides():
    assert zoo.load("gumbel-softmax.hard").hard is True
    assert zoo.load("gumbel-softmax").hard is False
    assert zoo.load("gumbel-softmax", tau=0.3).tau == 0.3
    assert type(zoo.load("concrete")) is GumbelSoftmax
    assert type(zoo.load("normal")) is NormalReparam
    assert type(zoo.load("reinforce")) is ScoreFunction
    assert zoo.load("reinforce", baseline="loo").baseline == "loo"


def test_unknown_names_and_arguments_raise_zoo_errors():
    with pytest.raises(InvalidArgumentsError, match="tau"):
        zoo.load("gumbel-softmax", temperature=1)
    with pytest.raises(UnknownEntryError):
        zoo.load("gumbel-softmax.cold")


def test_hard_entry_is_straight_through():
    logits = torch.randn(8, 5, generator=torch.Generator().manual_seed(0)).requires_grad_()
    noise = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    y = zoo.load("gumbel-softmax.hard", tau=0.5)(logits, noise=noise)
    assert torch.equal(y, torch.nn.functional.one_hot((logits + noise).argmax(-1), 5).float())
    (grad,) = torch.autograd.grad(y[:, 0].sum(), logits)
    (soft,) = torch.autograd.grad(
        zoo.load("gumbel-softmax", tau=0.5)(logits, noise=noise)[:, 0].sum(), logits
    )
    assert torch.equal(grad, soft)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_gumbel_max_one_hot_in_the_logits_dtype(dtype):
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(2)).to(dtype)
    noise = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))
    y = zoo.load("gumbel-max", one_hot=True)(logits, noise=noise)
    assert y.dtype == dtype
    index = (logits.float() + noise).argmax(-1)
    assert torch.equal(y, torch.nn.functional.one_hot(index, 5).to(dtype))
    assert torch.equal(zoo.load("gumbel-max")(logits, noise=noise), index)


def test_gumbel_max_along_another_dim():
    logits = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(4))
    noise = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(GumbelMax(dim=1)(logits, noise=noise), (logits + noise).argmax(1))
    assert torch.equal(
        GumbelMax(one_hot=True, dim=1)(logits, noise=noise).argmax(1), (logits + noise).argmax(1)
    )


def test_options_given_per_call_win_like_torchs_gumbel_softmax():
    """``sampler(logits, tau, hard, dim=)`` as ``F.gumbel_softmax(logits, tau, hard, dim=)`` takes them;
    checked against the closed form on shared noise: soft = softmax((logits + g) / tau), hard = its
    one-hot argmax in the forward pass."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=g)
    noise = zoo.load("gumbel-noise")(logits.shape, generator=g)
    soft = torch.softmax((logits + noise) / 0.5, dim=-1)
    one_hot = torch.nn.functional.one_hot(soft.argmax(-1), 4).to(soft.dtype)
    plain, hard = zoo.load("gumbel-softmax"), zoo.load("gumbel-softmax.hard", tau=3.0)
    torch.testing.assert_close(plain(logits, tau=0.5, hard=True, noise=noise), one_hot)
    torch.testing.assert_close(plain(logits, 0.5, True, noise=noise), one_hot)  # positional, as torch's
    torch.testing.assert_close(hard(logits, tau=0.5, hard=False, noise=noise), soft)  # per call beats .hard
    torch.testing.assert_close(hard(logits, tau=0.5, noise=noise), one_hot)  # the sampler's own otherwise
    down = plain(logits.T, tau=0.5, dim=0, noise=noise.T)  # dim per call: the same sample, transposed
    torch.testing.assert_close(down, soft.T)
    assert plain.tau == 1.0 and plain.hard is False and hard.hard is True  # a call changes nothing


def test_gumbel_max_takes_one_hot_and_dim_per_call():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 6, generator=g)
    noise = zoo.load("gumbel-noise")(logits.shape, generator=g)
    index = (logits + noise).argmax(-1)
    sampler = zoo.load("gumbel-max")
    assert torch.equal(sampler(logits, noise=noise), index)
    assert torch.equal(sampler(logits, one_hot=True, noise=noise).argmax(-1), index)
    assert torch.equal(sampler(logits.T, dim=0, noise=noise.T), index)
    assert sampler.one_hot is False and sampler.dim == -1


def test_zoo_info_lists_the_options_a_sampler_takes_per_call():
    assert zoo.info("gumbel-softmax")["per_call"] == ["tau", "hard", "dim", "generator", "noise"]
    assert zoo.info("gumbel-max")["per_call"] == ["one_hot", "dim", "generator", "noise"]
    assert "per_call" not in zoo.info("categorical-vae")  # models have no per-call options
