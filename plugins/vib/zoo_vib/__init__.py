"""Article 6181 — from VAE to the information bottleneck: why forgetting matters.

Hook implementations only (no torch import here): the layer lives in ``zoo_vib.bottleneck``, the
classifiers in ``zoo_vib.classifier``, the VAE in ``zoo_vib.vae``, interpolation in
``zoo_vib.interpolation`` and the training recipes in ``zoo_vib.recipe``.
"""

from zoo import hookimpl
from zoo.data_formats import MNIST_IDX, SENTIMENT_BERT4KERAS

ARTICLE = "https://kexue.fm/archives/6181"
BASELINE = "the same net without the bottleneck (the article's comparison)"


@hookimpl
def zoo_register_models(register):
    register(
        "vib-layer",
        "zoo_vib.bottleneck:VariationalBottleneck",
        summary="variational information bottleneck layer: z ~ N(mu, sigma^2) in training, mu in eval; .kl",
        article=ARTICLE,
        aliases=["vib"],
        defaults={"latent": 128, "scale": "log-var"},
    )
    register(
        "vib-classifier",
        "zoo_vib.classifier:wrap",
        summary="any encoder + VIB + linear head; loss = cross-entropy + beta * KL",
        article=ARTICLE,
        defaults={"latent": 128, "beta": 0.1},
    )
    register(
        "vib-textcnn",
        "zoo_vib.classifier:TextCNN",
        summary="the author's text CNN with VIB (embedding 50, conv 250x3, max-pool, VIB 128, beta 0.1)",
        article=ARTICLE,
        defaults={"vocab_size": 5000, "maxlen": 200, "latent": 128, "beta": 0.1},
        tags={"baseline": {"defaults": {"latent": None}, "summary": BASELINE}},
    )
    register(
        "vib-mnist",
        "zoo_vib.classifier:MLPClassifier",
        summary="Alemi et al.'s VIB MLP for MNIST: 784-1024-1024, K=256, beta 1e-3, 12-sample evaluation",
        article=ARTICLE,
        defaults={"hidden": [1024, 1024], "latent": 256, "beta": 1e-3, "eval_samples": 12},
        tags={"baseline": {"defaults": {"latent": None}, "summary": BASELINE}},
    )
    register(
        "gaussian-vae",
        "zoo_vib.vae:GaussianVAE",
        summary="the author's Gaussian VAE for binarized MNIST: MLP 784-256, 2-d latent (VIB with y = x)",
        article=ARTICLE,
        aliases=["vae"],
        defaults={"hidden": 256, "latent": 2},
        tags={
            "z32": {"defaults": {"latent": 32}, "summary": "a 32-d latent (tighter ELBO, for interpolation)"}
        },
    )


@hookimpl
def zoo_register_samplers(register):
    register(
        "spherical-interpolation",
        "zoo_vib.interpolation:SphericalInterpolation",
        summary="latent path z1 cos(theta) + z2 sin(theta), which stays N(0, I) (linear does not)",
        article=ARTICLE,
        defaults={"steps": 8},
    )


@hookimpl
def zoo_register_recipes(register):
    register("vib-mnist", "zoo_vib.recipe:MNISTRecipe", data_format=MNIST_IDX)
    register("vib-textcnn", "zoo_vib.recipe:ReviewsRecipe", data_format=SENTIMENT_BERT4KERAS)
    register("gaussian-vae", "zoo_vib.recipe:VAERecipe", data_format=MNIST_IDX)
