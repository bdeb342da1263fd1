"""Article 7148 — reading comprehension with an MLM, decoded non-autoregressively.

Hook implementations only (no torch import here): the reader model lives in ``zoo_mlm_qa.model``, input and
target encoding in ``zoo_mlm_qa.encoding``, the constrained decoder in ``zoo_mlm_qa.decode``, passage
voting and ``answer()`` in ``zoo_mlm_qa.reader``, data in ``zoo_mlm_qa.data``, the SogouQA metric in
``zoo_mlm_qa.metric`` and the training recipe in ``zoo_mlm_qa.recipe``.
"""

from zoo import hookimpl
from zoo.data_formats import SOGOU_QA_JSON

ARTICLE = "https://kexue.fm/archives/7148"


@hookimpl
def zoo_register_models(register):
    register(
        "mlm-qa",
        "zoo_mlm_qa.model:MLMReader",
        summary="BERT MLM filling all answer slots in one pass; constrained decoding, passage voting",
        article=ARTICLE,
        aliases=["mlm-reader"],
        defaults={
            "vocab_size": 21128,
            "hidden_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 1024,
            "max_position_embeddings": 512,
            "max_a_len": 32,
            "max_q_len": 64,
            "max_p_len": 256,
        },
    )


@hookimpl
def zoo_register_recipes(register):
    register("mlm-qa", "zoo_mlm_qa.recipe:ReadingRecipe", data_format=SOGOU_QA_JSON)
