"""Article 6621 — ON-LSTM: expressing hierarchy with ordered neurons (https://kexue.fm/archives/6621).

Hook implementations only (no torch import here): cumax, the cell and the stack live in
``zoo_on_lstm.layers``, the language model in ``zoo_on_lstm.model``, trees and F1 in
``zoo_on_lstm.parsing``, the corpora in ``zoo_on_lstm.data`` and the recipe in ``zoo_on_lstm.recipe``.
"""

from zoo import hookimpl
from zoo.data_formats import PTB_LM_TEXT

ARTICLE = "https://kexue.fm/archives/6621"
SU = {"defaults": {"master_input": "su"}, "summary": "the article's master input gate: a right-to-left cumax"}


@hookimpl
def zoo_register_models(register):
    register(
        "cumax",
        "zoo_on_lstm.layers:Cumax",
        summary="cumsum(softmax(x)) over the last dim: a soft, monotone 'level' gate in [0, 1]",
        article=ARTICLE,
        defaults={"reverse": False},
    )
    register(
        "on-lstm-cell",
        "zoo_on_lstm.layers:ONLSTMCell",
        summary="one ON-LSTM step: (x, (h, c)) -> (h, c, distance); master gates by cumax over chunks",
        article=ARTICLE,
        defaults={
            "input_size": 400,
            "hidden_size": 400,
            "chunk_size": 10,
            "dropconnect": 0.0,
            "master_input": "paper",
        },
        tags={"su": SU},
    )
    register(
        "on-lstm",
        "zoo_on_lstm.layers:ONLSTMStack",
        summary="stacked ON-LSTM over (T, B, in) with DropConnect and locked dropout; per-layer distances",
        article=ARTICLE,
        defaults={  # widths of 400 (the paper's input and top layer) split into chunks of 8 or 10 alike
            "input_size": 400,
            "hidden_sizes": [400, 400, 400],
            "chunk_size": 10,
            "dropconnect": 0.0,
            "dropouth": 0.0,
            "master_input": "paper",
        },
        tags={"su": SU},
    )
    register(
        "on-lstm-lm",
        "zoo_on_lstm.model:LanguageModel",
        summary="the paper's AWD-style LM: ON-LSTM [400, 1150, 1150, 400], chunk 10, tied softmax",
        article=ARTICLE,
        defaults={"embedding": 400, "hidden": 1150, "layers": 3, "chunk_size": 10},
        tags={
            "lstm": {
                "defaults": {"cell": "lstm"},
                "summary": "the matched AWD-LSTM baseline: nn.LSTM layers with the same widths and tricks",
            },
            "su": SU,
        },
    )


@hookimpl
def zoo_register_recipes(register):
    register("on-lstm-lm", "zoo_on_lstm.recipe:LanguageModelRecipe", data_format=PTB_LM_TEXT)
