"""Article 6705 — reparameterization, from the normal distribution to Gumbel-softmax.

Hook implementations only (no torch import here): samplers live in ``zoo_reparam.samplers``,
``zoo_reparam.score`` and ``zoo_reparam.schedules``; the VAEs in ``zoo_reparam.vae``.
"""

from zoo import hookimpl
from zoo.data_formats import MNIST_IDX

ARTICLE = "https://kexue.fm/archives/6705"
HARD = "straight-through: exact one-hot forward, the soft sample's gradient"


@hookimpl
def zoo_register_samplers(register):
    s = "zoo_reparam.samplers:"
    register(
        "normal-reparam",
        s + "NormalReparam",
        summary="z = mean + exp(log_var / 2) * eps: the normal reparameterization",
        article=ARTICLE,
        aliases=["normal"],
    )
    register("gumbel-noise", s + "GumbelNoise", summary="standard Gumbel noise -log(-log u)", article=ARTICLE)
    register(
        "gumbel-max",
        s + "GumbelMax",
        summary="exact categorical samples argmax(logits + Gumbel noise)",
        article=ARTICLE,
        defaults={"one_hot": False},
    )
    register(
        "gumbel-softmax",
        s + "GumbelSoftmax",
        summary="softmax((logits + Gumbel noise) / tau): the Gumbel-softmax relaxation",
        article=ARTICLE,
        aliases=["concrete"],
        defaults={"tau": 1.0, "hard": False},
        tags={"hard": {"defaults": {"hard": True}, "summary": HARD}},
    )
    register(
        "score-function",
        "zoo_reparam.score:ScoreFunction",
        summary="REINFORCE: categorical samples and a surrogate whose gradient is (f - b) grad log p",
        article=ARTICLE,
        aliases=["reinforce"],
        defaults={"baseline": None},
    )
    register(
        "tau-exponential",
        "zoo_reparam.schedules:ExponentialTemperature",
        summary="the author's temperature schedule end + (start - end) * rate**step",
        article=ARTICLE,
        defaults={"start": 1.0, "end": 0.01, "rate": 0.999},
    )
    register(
        "tau-jang",
        "zoo_reparam.schedules:JangTemperature",
        summary="Jang et al.'s temperature schedule max(minimum, start * exp(-rate * step))",
        article=ARTICLE,
        defaults={"start": 1.0, "minimum": 0.5, "rate": 3e-5, "every": 1000},
    )


@hookimpl
def zoo_register_models(register):
    register(
        "gumbel-vae",
        "zoo_reparam.vae:ConvCategoricalVAE",
        summary="the author's Gumbel-softmax VAE for MNIST: conv encoder/decoder, 32 variables x 10 classes",
        article=ARTICLE,
        aliases=["gumbel-softmax-vae"],
        defaults={"latents": 32, "classes": 10},
    )
    register(
        "categorical-vae",
        "zoo_reparam.vae:MLPCategoricalVAE",
        summary="Jang et al.'s categorical VAE for MNIST: MLP 512-256, 20 variables x 10 classes",
        article=ARTICLE,
        defaults={"latents": 20, "classes": 10},
    )


@hookimpl
def zoo_register_recipes(register):
    register("gumbel-vae", "zoo_reparam.recipe:AuthorVAERecipe", data_format=MNIST_IDX)
    register("categorical-vae", "zoo_reparam.recipe:JangVAERecipe", data_format=MNIST_IDX)
