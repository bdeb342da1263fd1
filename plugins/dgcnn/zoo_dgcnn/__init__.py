"""Article 6671 — a lightweight information-extraction model from DGCNN and a probabilistic graph.

Hook implementations only (no torch import here): the blocks live in ``zoo_dgcnn.layers``, the extractor
in ``zoo_dgcnn.model``, decoding and triple F1 in ``zoo_dgcnn.decode``, data in ``zoo_dgcnn.data``, raw-text
extraction in ``zoo_dgcnn.extractor`` and the training recipe in ``zoo_dgcnn.recipe``.
"""

from zoo import hookimpl
from zoo.data_formats import DUIE_JSON

ARTICLE = "https://kexue.fm/archives/6671"
DILATIONS = [1, 2, 5, 1, 2, 5, 1, 2, 5, 1, 1, 1]


@hookimpl
def zoo_register_models(register):
    register(
        "dgcnn-extractor",
        "zoo_dgcnn.model:DGCNNExtractor",
        summary="DGCNN half-pointer-half-tagging subject-predicate-object extractor (bojone/kg-2019)",
        article=ARTICLE,
        aliases=["dgcnn"],
        defaults={
            "dim": 128,
            "dilations": DILATIONS,
            "heads": 8,
            "head_dim": 16,
            "max_len": 512,
            "subject_encoder": "gru",
        },
        tags={
            "lite": {
                "defaults": {"dilations": [1, 2, 5, 1, 2, 5], "subject_encoder": "gather"},
                "summary": "the article's fast model: 6 DGCNN blocks, no RNN (subject vector = its two ends)",
            },
            "no-subject": {
                "defaults": {"subject_encoder": None},
                "summary": "ablation: the object head gets no subject vector and no relative positions",
            },
        },
    )
    register(
        "dgcnn-encoder",
        "zoo_dgcnn.layers:DGCNNEncoder",
        summary="stack of gated dilated residual convolutions, dilations [1,2,5]x3+[1,1,1]: (x, mask) -> y",
        article=ARTICLE,
        defaults={"dim": 128, "dilations": DILATIONS},
    )
    register(
        "gated-dilated-conv",
        "zoo_dgcnn.layers:GatedDilatedConv",
        summary="one DGCNN block: y = (g x + (1 - g) conv(x)) * mask, g = sigmoid(gate conv)",
        article=ARTICLE,
        defaults={"dim": 128, "dilation": 1},
    )


@hookimpl
def zoo_register_recipes(register):
    register("dgcnn-extractor", "zoo_dgcnn.recipe:ExtractionRecipe", data_format=DUIE_JSON)
