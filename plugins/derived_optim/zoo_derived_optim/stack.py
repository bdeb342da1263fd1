"""Composing derived optimizers from one spec, and the factories behind the registry entries.

    stack(model.named_parameters(), "layer_adaptation+weight_decay+adam",
          adam={"lr": 1e-3}, weight_decay={"rate": 0.01, "exclude": ["bias"]})

The spec reads like composition, outermost first: ``a+b+base`` is ``a(b(base))``, so ``b``'s
hook runs first (the reference's ``extend_with_a(extend_with_b(Base))``). The base is a
``torch.optim`` class name (``adam``, ``adamw``, ``sgd``, …) or an optimizer you built.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

import zoo
from zoo_derived_optim.accumulation import GradientAccumulation
from zoo_derived_optim.base import DerivedOptimizer
from zoo_derived_optim.ema import EMA
from zoo_derived_optim.layer_adaptation import LayerAdaptation
from zoo_derived_optim.lazy import LazyOptimization
from zoo_derived_optim.lookahead import Lookahead
from zoo_derived_optim.schedule import PiecewiseLinearLR, Schedule
from zoo_derived_optim.weight_decay import WeightDecay

TECHNIQUES: dict[str, type[DerivedOptimizer]] = {
    "weight_decay": WeightDecay,
    "layer_adaptation": LayerAdaptation,
    "gradient_accumulation": GradientAccumulation,
    "lookahead": Lookahead,
    "lazy": LazyOptimization,
    "ema": EMA,
}


# Classes whose fused kernel takes every gradient their other paths take. SGD and Adagrad also have
# fused kernels, but only their for-loop/foreach paths take sparse gradients (nn.Embedding(sparse=True)),
# which the lazy wrapper passes on to them: they default to foreach (pass fused=True to choose it).
FUSED_BY_DEFAULT: tuple[type[Optimizer], ...] = (torch.optim.Adam, torch.optim.AdamW)


def _fused_devices() -> set[str]:
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices

        return set(_get_fused_kernels_supported_devices())
    except ImportError:  # a torch without the helper: the devices every fused Adam supports
        return {"cpu", "cuda"}


def fastest_impl(
    cls: type[Optimizer], params: Sequence[torch.Tensor], options: Mapping[str, Any] | None = None
) -> dict[str, bool]:
    """The implementation flags that make ``cls`` fastest for ``params``: ``{"fused": True}``,
    ``{"foreach": True}`` or ``{}`` (torch's own default).

    Fused when ``cls`` is in :data:`FUSED_BY_DEFAULT` (Adam, AdamW: one kernel per device and dtype,
    about 5x faster than foreach on CPU in ``benchmarks/derived_optim_step.py``) and every parameter is
    a plain floating-point tensor on a device
    torch has fused kernels for; else foreach when ``cls`` takes ``foreach`` and the parameters are
    plain tensors. An explicit choice wins: a non-None ``fused`` or ``foreach`` in ``options`` (e.g.
    ``fused=False``: torch's default path) leaves both to the caller, as do ``differentiable=True`` and
    a tensor ``lr``.
    """
    options = options or {}
    if options.get("fused") is not None or options.get("foreach") is not None:
        return {}
    if options.get("differentiable") or torch.is_tensor(options.get("lr")) or not params:
        return {}
    if any(type(p) not in (torch.Tensor, torch.nn.Parameter) for p in params):  # e.g. DTensor: torch decides
        return {}
    accepts = inspect.signature(cls.__init__).parameters
    devices = _fused_devices()
    if (
        issubclass(cls, FUSED_BY_DEFAULT)
        and "fused" in accepts
        and all(p.is_floating_point() and p.device.type in devices for p in params)
    ):
        return {"fused": True}
    return {"foreach": True} if "foreach" in accepts else {}


def _listed(params: Iterable[Any]) -> tuple[list[Any], list[torch.Tensor], bool]:
    """``params`` as a list (generators are consumed once), its tensors, and whether a group dict
    chooses its own ``fused`` / ``foreach``."""
    items: list[Any] = []
    tensors: list[torch.Tensor] = []
    chosen = False
    for item in params:
        if isinstance(item, Mapping):
            group = dict(item)
            group["params"] = [group["params"]] if torch.is_tensor(group["params"]) else list(group["params"])
            chosen = chosen or group.get("fused") is not None or group.get("foreach") is not None
            tensors.extend(p[1] if isinstance(p, tuple) else p for p in group["params"])
            item = group
        else:
            tensors.append(item[1] if isinstance(item, tuple) else item)
        items.append(item)
    return items, tensors, chosen


def base_optimizer(
    name: str | type[Optimizer], params: Iterable[Any], options: Mapping[str, Any] | None = None
) -> Optimizer:
    """Build a torch optimizer by class or lower-case name (``"adam"`` → ``torch.optim.Adam``).

    Unless ``options`` choose ``fused`` / ``foreach``, the fastest implementation torch has for the
    parameters' device and dtype is used (:func:`fastest_impl`: fused Adam/AdamW, else foreach).
    """
    if isinstance(name, str):
        classes = {n.lower(): c for n, c in vars(torch.optim).items()
                   if isinstance(c, type) and issubclass(c, Optimizer) and c is not Optimizer}  # fmt: skip
        cls = classes.get(name.lower())
        if cls is None:
            raise ValueError(f"unknown base optimizer {name!r}; one of: {', '.join(sorted(classes))}")
    elif isinstance(name, type) and issubclass(name, Optimizer):
        cls = name
    else:
        raise TypeError(f"the base optimizer must be a torch.optim class or its name, got {name!r}")
    options = dict(options or {})
    zoo.check_arguments(f"optimizer {cls.__name__}", cls, {"params": None, **options})
    if torch.is_tensor(params):  # not an iterable of parameters: torch's own error says so
        return cls(params, **options)
    items, tensors, chosen = _listed(params)
    if not chosen:
        options.update(fastest_impl(cls, tensors, options))
    return cls(items, **options)


def stack(
    params: Iterable[Any] | None,
    spec: str | Sequence[str],
    base: Optimizer | None = None,
    **options: Mapping[str, Any],
) -> Optimizer:
    """Build ``spec`` (``"lookahead+weight_decay+adam"``, outermost first) over ``params``.

    ``options`` maps each name in the spec to its keyword arguments; pass ``base=`` an
    optimizer you built instead of naming one last in the spec. A named base gets the fastest
    implementation torch has (:func:`fastest_impl`) unless its options set ``fused`` or ``foreach``.
    """
    names = [s.strip() for s in spec.split("+")] if isinstance(spec, str) else list(spec)
    if not names or any(not n for n in names):
        raise ValueError(f"empty name in the stack spec {spec!r}")
    unknown = set(options) - set(names)
    if unknown:
        raise ValueError(f"options for {sorted(unknown)}, which the spec {spec!r} does not name")
    if base is None:
        *wrappers, base_name = names
        if base_name in TECHNIQUES:
            raise ValueError(
                f"the spec {spec!r} must end with a base optimizer such as 'adam' (or pass base=)"
            )
        if params is None:
            raise ValueError("pass params (e.g. model.named_parameters()) or a built base optimizer")
        optimizer = base_optimizer(base_name, params, options.get(base_name))
    else:
        if not isinstance(base, Optimizer):
            raise TypeError(f"base must be a torch.optim.Optimizer, got {type(base).__name__}")
        wrappers, optimizer = names, base
    for name in reversed(wrappers):
        cls = TECHNIQUES.get(name)
        if cls is None:
            raise ValueError(f"unknown technique {name!r} in {spec!r}; one of: {', '.join(TECHNIQUES)}")
        kwargs = dict(options.get(name) or {})
        zoo.check_arguments(f"{name} ({cls.__name__})", cls, {"optimizer": None, **kwargs})
        optimizer = cls(optimizer, **kwargs)
    return optimizer


# -- registry factories (explicit signatures: zoo.load validates every option name) ---------
def _wrap(
    technique: str,
    params: Iterable[Any] | None,
    optimizer: Optimizer | None,
    inner: str | type[Optimizer],
    inner_options: Mapping[str, Any] | None,
    **options: Any,
) -> Optimizer:
    if (params is None) == (optimizer is None):
        raise ValueError(f"{technique}: pass either params=… (and inner=…) or optimizer=<a built optimizer>")
    if optimizer is None:
        optimizer = base_optimizer(inner, params or [], inner_options)
    return stack(None, [technique], optimizer, **{technique: options})


Params = Iterable[Any] | None
Inner = str | type[Optimizer]
Options = Mapping[str, Any] | None
Patterns = str | Sequence[str] | None


def weight_decay(
    params: Params = None,
    *,
    optimizer: Optimizer | None = None,
    inner: Inner = "adam",
    inner_options: Options = None,
    rate: float = 0.01,
    exclude: Patterns = None,
) -> Optimizer:
    """Decoupled weight decay around ``inner`` (default Adam: then this is AdamW).

    Every single-technique entry builds ``inner`` (a ``torch.optim`` class or its name) with
    ``inner_options`` and the fastest implementation torch has (fused Adam/AdamW, else foreach; see
    :func:`fastest_impl`) unless ``inner_options`` set ``fused`` or ``foreach``.
    """
    return _wrap("weight_decay", params, optimizer, inner, inner_options, rate=rate, exclude=exclude)


def layer_adaptation(
    params=None, *, optimizer=None, inner="adam", inner_options=None, exclude=None, min_lr=1e-7
):
    """LAMB's trust ratio around ``inner``."""
    return _wrap("layer_adaptation", params, optimizer, inner, inner_options, exclude=exclude, min_lr=min_lr)


def gradient_accumulation(
    params: Params = None,
    *,
    optimizer: Optimizer | None = None,
    inner: Inner = "adam",
    inner_options: Options = None,
    steps: int = 2,
) -> Optimizer:
    """Update with the mean gradient of ``steps`` micro-batches."""
    return _wrap("gradient_accumulation", params, optimizer, inner, inner_options, steps=steps)


def lookahead(
    params: Params = None,
    *,
    optimizer: Optimizer | None = None,
    inner: Inner = "adam",
    inner_options: Options = None,
    k: int = 5,
    alpha: float = 0.5,
) -> Optimizer:
    """Lookahead around ``inner``."""
    return _wrap("lookahead", params, optimizer, inner, inner_options, k=k, alpha=alpha)


def lazy(
    params: Params = None,
    *,
    optimizer: Optimizer | None = None,
    inner: Inner = "adam",
    inner_options: Options = None,
    include: Patterns = None,
    mode: str = "params",
) -> Optimizer:
    """Row-sparse (lazy) updates around ``inner``."""
    return _wrap("lazy", params, optimizer, inner, inner_options, include=include, mode=mode)


def ema(
    params: Params = None,
    *,
    optimizer: Optimizer | None = None,
    inner: Inner = "adam",
    inner_options: Options = None,
    momentum: float = 0.999,
) -> Optimizer:
    """An exponential moving average of the weights, kept beside ``inner``."""
    return _wrap("ema", params, optimizer, inner, inner_options, momentum=momentum)


def lamb(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
    weight_decay: float = 0.01,
    exclude: Patterns = None,
    foreach: bool | None = None,
    fused: bool | None = None,
) -> Optimizer:
    """LAMB = layer_adaptation(weight_decay(Adam)) (You et al. 2020; bert4keras' composition).

    ``fused`` / ``foreach`` choose the inner Adam's implementation; both None (default): the fastest
    (fused on CPU and CUDA for floating-point parameters, see :func:`fastest_impl`); ``fused=False``:
    torch's default path.
    """
    return stack(
        params, "layer_adaptation+weight_decay+adam",
        adam={"lr": lr, "betas": betas, "eps": eps, "foreach": foreach, "fused": fused},
        weight_decay={"rate": weight_decay, "exclude": exclude}, layer_adaptation={"exclude": exclude},
    )  # fmt: skip


def adamw_lookahead(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    exclude: Patterns = None,
    k: int = 5,
    alpha: float = 0.5,
    foreach: bool | None = None,
    fused: bool | None = None,
) -> Optimizer:
    """Lookahead(AdamW), with AdamW as weight_decay(Adam); ``fused`` / ``foreach`` as in :func:`lamb`."""
    return stack(
        params, "lookahead+weight_decay+adam",
        adam={"lr": lr, "betas": betas, "eps": eps, "foreach": foreach, "fused": fused},
        weight_decay={"rate": weight_decay, "exclude": exclude}, lookahead={"k": k, "alpha": alpha},
    )  # fmt: skip


def lazy_adam(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    include: Patterns = None,
    mode: str = "params",
    foreach: bool | None = None,
    fused: bool | None = None,
) -> Optimizer:
    """Adam whose untouched embedding rows stay put (bojone/keras_lazyoptimizer).

    ``fused`` / ``foreach`` as in :func:`lamb`; sparse gradients are made dense for Adam, whatever the path.
    """
    return stack(
        params,
        "lazy+adam",
        adam={"lr": lr, "betas": betas, "eps": eps, "foreach": foreach, "fused": fused},
        lazy={"include": include, "mode": mode},
    )


def piecewise_linear_lr(optimizer: Optimizer, schedule: Schedule | None = None) -> PiecewiseLinearLR:
    """The piecewise-linear learning-rate schedule as a torch LR scheduler over ``optimizer``."""
    return PiecewiseLinearLR(optimizer, schedule)
