"""Article 7124 — conditional text generation with Conditional Layer Normalization.

Hook implementations only (no torch import here): the layer lives in ``zoo_cln.layers``, the conditional
language model in ``zoo_cln.model``, the top-k / top-p sampler in ``zoo_cln.sampling`` and the training
recipe in ``zoo_cln.recipe``.
"""

from zoo import hookimpl
from zoo.data_formats import SENTIMENT_BERT4KERAS

ARTICLE = "https://kexue.fm/archives/7124"


@hookimpl
def zoo_register_models(register):
    register(
        "cln-lm",
        "zoo_cln.model:ConditionalLM",
        summary="label-conditioned causal LM: a label embedding shifts every LayerNorm of a BERT encoder",
        article=ARTICLE,
        aliases=["conditional-lm"],
        defaults={
            "vocab_size": 21128,
            "hidden_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 1024,
            "max_position_embeddings": 128,
            "num_labels": 2,
            "label_dim": 128,
        },
        tags={
            "unconditional": {
                "defaults": {"conditional": False},
                "summary": "ablation: the same LM with plain LayerNorms; the label is ignored",
            },
        },
    )
    register(
        "conditional-layer-norm",
        "zoo_cln.layers:ConditionalLayerNorm",
        summary="LayerNorm whose gain and bias are shifted by zero-initialized projections of a condition",
        article=ARTICLE,
        aliases=["cln"],
        defaults={"hidden_size": 256, "condition_size": 128},
    )


@hookimpl
def zoo_register_samplers(register):
    register(
        "top-k-top-p",
        "zoo_cln.sampling:TopKTopP",
        summary="next-token sampler: banned ids, temperature, top-k then top-p (nucleus); top_k=1 is greedy",
        article=ARTICLE,
        aliases=["top-k", "top-p", "nucleus"],
        defaults={"top_k": 5},
    )


@hookimpl
def zoo_register_recipes(register):
    register("cln-lm", "zoo_cln.recipe:ConditionalLMRecipe", data_format=SENTIMENT_BERT4KERAS)
