"""Article 7094 — "derived" optimizers: techniques that wrap ANY torch optimizer into a new one.

Hook implementations only (no torch import here): the factories live in ``zoo_derived_optim.stack``.
"""

from zoo import hookimpl

ARTICLE = "https://kexue.fm/archives/7094"
_S = "zoo_derived_optim.stack:"

ENTRIES = [
    ("weight-decay", "weight_decay", "decoupled weight decay around any optimizer (around Adam: AdamW)", []),
    ("layer-adaptation", "layer_adaptation", "LAMB's trust ratio around any optimizer", []),
    (
        "gradient-accumulation",
        "gradient_accumulation",
        "one update with the mean gradient of k micro-batches",
        ["accumulate"],
    ),
    ("lookahead", "lookahead", "Lookahead slow weights around any optimizer", []),
    ("lazy-optimization", "lazy", "row-sparse (lazy) updates for embeddings around any optimizer", []),
    ("ema", "ema", "exponential moving average of the weights, bias-corrected", []),
    ("lamb", "lamb", "LAMB = layer adaptation + weight decay + Adam", []),
    ("adamw-lookahead", "adamw_lookahead", "Lookahead over AdamW (weight decay + Adam)", []),
    ("lazy-adam", "lazy_adam", "Adam with lazy (row-sparse) embedding updates", []),
    ("derived-stack", "stack", "any composition of the techniques, e.g. lookahead+weight_decay+adam", []),
    (
        "piecewise-linear-lr",
        "piecewise_linear_lr",
        "piecewise-linear learning-rate schedule (an LR scheduler)",
        [],
    ),
]


@hookimpl
def zoo_register_optimizers(register):
    for name, attr, summary, aliases in ENTRIES:
        register(name, _S + attr, summary=summary, article=ARTICLE, aliases=aliases)
