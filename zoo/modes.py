"""Inference mode for models: ``eval()`` and no autograd for a call, the caller's modes restored after.

A plugin's inference helpers (``classify``, ``predict``, ``sample``) must give the same answer whatever
mode the caller left the model in: a VIB model in training mode samples ``z`` on every call, dropout
drops units. Decorate such methods with :func:`inference`; use :func:`eval_mode` around code that runs
a model it does not own::

    class MyModel(nn.Module):
        @zoo.inference
        def classify(self, x):             # eval mode, torch.no_grad(), training flags restored
            return self(x).softmax(-1)

    with zoo.eval_mode(model):             # the same, as a context manager
        logits = model(x)

Nothing here imports torch at import time (``import zoo`` stays light).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from torch import nn

__all__ = ["eval_mode", "inference"]

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def eval_mode(model: nn.Module, *, no_grad: bool = True) -> Iterator[nn.Module]:
    """Put ``model`` (every submodule) in eval mode, and under ``torch.no_grad()`` unless
    ``no_grad=False``; on exit, each submodule gets back its own training flag, even after an error.

    ``torch.no_grad`` rather than ``torch.inference_mode``: the outputs stay ordinary tensors that a
    caller may later use in autograd.
    """
    import torch

    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        if no_grad:
            with torch.no_grad():
                yield model
        else:
            yield model
    finally:
        for module, training in modes:
            module.training = training


def inference(method: F) -> F:
    """Decorate a model's method (first argument ``self``, an ``nn.Module``) to run in :func:`eval_mode`."""

    @functools.wraps(method)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        with eval_mode(self):
            return method(self, *args, **kwargs)

    return cast(F, wrapper)
