"""VIB classifiers: any encoder, an optional bottleneck, a linear head; loss = CE + β·KL.

``VIBClassifier`` wraps an encoder ``x -> h (B, features)``. With ``latent`` set, a
:class:`~zoo_vib.bottleneck.VariationalBottleneck` maps ``h`` to ``z`` and the head reads ``z``;
with ``latent=None`` the head reads ``h`` (the article's baseline: the same net without VIB).
``classes=1`` is a binary classifier with one logit (sigmoid + binary cross-entropy, the author's
``Dense(1, activation="sigmoid")``); ``classes >= 2`` uses softmax + cross-entropy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from zoo.checks import check_int, check_number
from zoo.text import PAD, encode_texts
from zoo_vib.bottleneck import Scale, VariationalBottleneck

__all__ = ["MLPClassifier", "TextCNN", "VIBClassifier", "wrap"]


class VIBClassifier(nn.Module):
    """``x -> logits (B, classes)``; :meth:`loss` gives ``CE + β·KL`` and its parts.

    Eval mode uses ``z = μ``; with ``eval_samples = S > 0`` it instead averages the class
    probabilities over ``S`` samples of ``z`` (Alemi et al. use 12) and returns their log (softmax) or
    logit (sigmoid), so ``argmax`` / ``> 0`` still predicts. That noise is drawn from a generator
    seeded with ``eval_seed`` at every call, so evaluation is deterministic: a checkpoint scores the same
    every time, and the same input always gets the same output.
    """

    eval_seed = 0

    def __init__(
        self,
        encoder: nn.Module,
        features: int,
        classes: int,
        latent: int | None = 128,
        beta: float = 0.1,
        scale: Scale = "log-var",
        eval_samples: int = 0,
    ) -> None:
        super().__init__()
        check_int(classes, "classes (1 = binary with one logit)", low=1)
        check_int(features, "features (the encoder's output size)", low=1)
        if latent is not None:
            check_int(latent, "latent (the bottleneck's size; None = the baseline without it)", low=1)
        beta = check_number(beta, "beta (the weight of the KL term)", low=0.0)
        check_int(eval_samples, "eval_samples (0 = evaluate with z = mean)", low=0)
        self.encoder = encoder
        self.bottleneck = VariationalBottleneck(features, latent, scale) if latent is not None else None
        self.head = nn.Linear(latent or features, classes)
        self.classes, self.beta, self.eval_samples = classes, beta, eval_samples

    def forward(self, x: Any) -> Tensor:
        h = self.encoder(x)
        if self.bottleneck is None:
            return self.head(h)
        if self.training or not self.eval_samples:
            return self.head(self.bottleneck(h))
        g = torch.Generator(device=h.device).manual_seed(self.eval_seed)
        logits = self.head(self.bottleneck(h, samples=self.eval_samples, generator=g))  # (S, B, C)
        if self.classes == 1:
            # logit of the mean probability, from log-means (no overflow where sigmoid saturates)
            return torch.logsumexp(F.logsigmoid(logits), 0) - torch.logsumexp(F.logsigmoid(-logits), 0)
        return torch.logsumexp(F.log_softmax(logits, -1), 0) - math.log(self.eval_samples)

    def loss(self, x: Any, y: Tensor) -> dict[str, Tensor]:
        """``{"loss": ce + beta * kl, "ce": ..., "kl": ...}``, each a scalar (nats per example)."""
        return self.loss_of_logits(self(x), y)

    def loss_of_logits(self, logits: Tensor, y: Tensor) -> dict[str, Tensor]:
        """:meth:`loss` from this model's last forward output ``logits`` (its KL is the one it stored)."""
        if self.classes == 1:
            ce = F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.to(logits.dtype))
        else:
            ce = F.cross_entropy(logits, y)
        kl = (
            self.bottleneck.kl
            if self.bottleneck is not None and self.bottleneck.kl is not None
            else ce.new_zeros(())
        )
        return {"loss": ce + self.beta * kl, "ce": ce, "kl": kl}

    @zoo.inference
    def predict(self, x: Any) -> Tensor:
        """Class ids ``(B,)`` (for ``classes=1``: 1 where the logit is positive); eval mode, no grad."""
        return self.labels_of(self(x))

    def labels_of(self, logits: Tensor) -> Tensor:
        """Class ids ``(B,)`` from forward outputs ``(B, classes)``."""
        return (logits.squeeze(-1) > 0).long() if self.classes == 1 else logits.argmax(-1)


class MLPClassifier(VIBClassifier):
    """Alemi et al.'s permutation-invariant MNIST net: ``784-1024-1024`` ReLU MLP, VIB ``K=256``
    (``σ = softplus(pre − 5)``), linear softmax decoder, ``β = 1e-3``, 12-sample evaluation.

    Input: ``(B, 784)`` pixels in [0, 1]. ``latent=None`` is the same MLP without VIB.
    """

    def __init__(
        self,
        inputs: int = 784,
        hidden: Sequence[int] = (1024, 1024),
        classes: int = 10,
        latent: int | None = 256,
        beta: float = 1e-3,
        scale: Scale = "softplus",
        eval_samples: int = 12,
    ) -> None:
        check_int(inputs, "inputs", low=1)
        if not hidden or isinstance(hidden, str):
            raise ValueError(f"hidden must be a non-empty list of layer sizes; got {hidden!r}")
        for size in hidden:
            check_int(size, "each hidden layer size", low=1)
        layers: list[nn.Module] = []
        for a, b in zip([inputs, *hidden[:-1]], hidden, strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        super().__init__(nn.Sequential(*layers), hidden[-1], classes, latent, beta, scale, eval_samples)


class CNNEncoder(nn.Module):
    """Token ids ``(B, L)`` -> ``(B, filters)``: embedding, Conv1d + ReLU, global max-pool over time."""

    def __init__(self, vocab_size: int, embedding: int, filters: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.embedding = nn.Embedding(vocab_size, embedding, padding_idx=PAD)
        self.conv = nn.Conv1d(embedding, filters, kernel_size)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.shape[-1] < self.kernel_size:  # too short for one window: pad
            ids = F.pad(ids, (0, self.kernel_size - ids.shape[-1]), value=PAD)
        h = F.relu(self.conv(self.embedding(ids).transpose(1, 2)))  # (B, filters, L - k + 1)
        return h.amax(-1)


class TextCNN(VIBClassifier):
    """The author's text CNN: Embedding 50, Conv1D 250 kernel 3 ReLU, global max-pool, VIB 128
    (``β = 0.1``), one sigmoid output. ``latent=None`` is his baseline without VIB.

    Input: token ids ``(B, L)`` int64 (0 = padding). A trained model carries its tokenizer as
    ``model.tokenizer`` (saved as ``tokenizer.json``); :meth:`classify` then takes raw texts.
    """

    def __init__(
        self,
        vocab_size: int = 5000,
        maxlen: int = 200,
        embedding: int = 50,
        filters: int = 250,
        kernel_size: int = 3,
        classes: int = 1,
        latent: int | None = 128,
        beta: float = 0.1,
        scale: Scale = "log-var",
        eval_samples: int = 0,
    ) -> None:
        check_int(vocab_size, "vocab_size ([PAD], [UNK] and at least one character)", low=3)
        check_int(maxlen, "maxlen (characters per text)", low=1)
        for value, name in ((embedding, "embedding"), (filters, "filters"), (kernel_size, "kernel_size")):
            check_int(value, name, low=1)
        encoder = CNNEncoder(vocab_size, embedding, filters, kernel_size)
        super().__init__(encoder, filters, classes, latent, beta, scale, eval_samples)
        self.maxlen = maxlen
        self.tokenizer: Any = None
        self.reset_parameters()

    @property
    def cnn(self) -> CNNEncoder:
        return cast(CNNEncoder, self.encoder)

    @property
    def vocab_size(self) -> int:
        """Rows of the embedding, [PAD] and [UNK] included."""
        return self.cnn.embedding.num_embeddings

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Keras' initializers, as in the author's script: embeddings U(−0.05, 0.05) (padding row 0),
        Glorot-uniform kernels and zero biases (torch's defaults start ~20× larger embeddings)."""
        embedding = self.cnn.embedding.weight
        nn.init.uniform_(embedding, -0.05, 0.05)
        embedding[PAD] = 0
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def encode(self, texts: Sequence[str]) -> Tensor:
        """Token ids ``(len(texts), maxlen)`` with the model's tokenizer."""
        if self.tokenizer is None:
            raise zoo.ZooError(
                "this TextCNN has no tokenizer: set model.tokenizer (zoo.text.char_tokenizer) or load a "
                "trained checkpoint, which carries its tokenizer.json"
            )
        return encode_texts(self.tokenizer, texts, self.maxlen).to(self.head.weight.device)

    @zoo.inference
    def classify(self, texts: Sequence[str]) -> Tensor:
        """Positive-class probabilities ``(len(texts),)`` (binary) or class probabilities ``(N, C)``.

        Runs in eval mode (``z = μ``, or the seeded ``eval_samples``) without autograd, whatever mode the
        model is in; the model's mode is restored afterwards."""
        logits = self(self.encode(texts))
        return torch.sigmoid(logits.squeeze(-1)) if self.classes == 1 else logits.softmax(-1)


def wrap(
    encoder: str | nn.Module,
    features: int,
    classes: int,
    latent: int | None = 128,
    beta: float = 0.1,
    scale: Scale = "log-var",
    eval_samples: int = 0,
    encoder_args: Mapping[str, Any] | None = None,
) -> VIBClassifier:
    """A VIB classifier around ``encoder``: a module, or a registry model name built with ``encoder_args``
    (a name keeps the wrapper saveable: its config stays JSON).

    A name is a registry name only, never a location: a saved wrapper's encoder weights are in its own
    checkpoint. For a Hub or local checkpoint as encoder, load it in code and pass the module:
    ``wrap(zoo.load("hf-hub:org/enc"), ...)``.
    """
    if isinstance(encoder, str):
        if encoder.strip().startswith(zoo.api.SCHEMES) or zoo.api.looks_like_path(encoder):
            raise zoo.InvalidArgumentsError(
                f"encoder={encoder!r} is a location; as a string, encoder takes a registry model name "
                "(`zoo list --kind model`). To wrap a checkpoint, load it in code and pass the module: "
                f"encoder=zoo.load({encoder!r})"
            )
        encoder = zoo.load(encoder, **dict(encoder_args or {}))
    elif encoder_args:
        raise ValueError("encoder_args applies only when encoder is a registry name")
    if not isinstance(encoder, nn.Module):
        raise TypeError(
            f"encoder must be an nn.Module or a registry model name; got {type(encoder).__name__}"
        )
    return VIBClassifier(encoder, features, classes, latent, beta, scale, eval_samples)
