"""The example plugin: hook implementations only.

This module is imported whenever kexue-zoo discovers plugins (even for ``zoo list``),
so it stays light: no torch import here, factories are named as "module:attr" strings
and imported the first time somebody builds them.
"""

from zoo import hookimpl

ARTICLE = "https://kexue.fm"
# What `zoo train example-mlp --data` takes: shown by `zoo info` (without importing the recipe) and --help.
DATA_FORMAT = (
    "a CSV file with the header x1,x2,label (label 0 or 1); a fixed shuffle (the same for every seed) "
    "keeps 80% of the rows for training and holds out the other 20%, which training and zoo eval both score"
)


@hookimpl
def zoo_register_models(register):
    register(
        "example-mlp",
        "zoo_example.model:SpiralMLP",
        summary="MLP classifier for the two-spirals toy data (the plugin-authoring example)",
        article=ARTICLE,
        aliases=["spiral-mlp"],
        defaults={"hidden": 64, "depth": 3},
        tags={"wide": {"defaults": {"hidden": 256}, "summary": "a wider variant"}},
    )


@hookimpl
def zoo_register_samplers(register):
    register(
        "example-temperature",
        "zoo_example.sampler:TemperatureSampler",
        summary="sample class ids from logits at a temperature",
        article=ARTICLE,
        defaults={"temperature": 1.0},
    )


@hookimpl
def zoo_register_optimizers(register):
    register(
        "example-signsgd",
        "zoo_example.optim:SignSGD",
        summary="signSGD: step by the sign of the gradient",
        article=ARTICLE,
        defaults={"lr": 0.01},
    )


@hookimpl
def zoo_register_recipes(register):
    register("example-mlp", "zoo_example.recipe:SpiralRecipe", data_format=DATA_FORMAT)
