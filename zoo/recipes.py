"""Training recipes: the contract behind ``zoo train`` and ``zoo eval``, and run records.

A plugin attaches a recipe to a model entry (hook ``zoo_register_recipes``). The recipe
does the article-specific work: read data (its embedded default, or a user's file in the
task's standard format), train, evaluate. The core does the rest, the same for every
article: seeding, timing, the results file, the checkpoint, and the reload check.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from zoo.building import config_of
from zoo.checks import check_folder
from zoo.errors import CheckpointError, RecipeError, ZooError
from zoo.registry import Resolved, import_target
from zoo.seeding import seed_everything

EMBEDDED = "embedded default"


@dataclass(frozen=True)
class TrainConfig:
    """What ``zoo train`` passes to a recipe.

    Attributes:
        name: the entry (or ``name.tag``) being trained.
        data: a user's data file or folder in the task's standard format; None = embedded default.
        seed: the random seed (already applied to ``random`` and ``torch``).
        preset: a size preset defined by the recipe (e.g. "cpu" for a few minutes on a CPU).
        device: torch device string.
        model_args: overrides for the model's factory.
        options: the recipe's options (its ``options`` defaults, updated with the user's), e.g.
            ``{"estimator": "score-function", "epochs": 10}``.
        checkpoint_every: write a training state every this many steps (0 = never); for recipes that
            declare ``resumable = True`` and drive their steps with :class:`zoo.TrainLoop`.
        checkpoint_dir: where the training state goes (replaced atomically each time).
        resume: a training state folder to continue from.
    """

    name: str
    data: Path | None = None
    seed: int = 0
    preset: str = "cpu"
    device: str = "cpu"
    model_args: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 0
    checkpoint_dir: Path | None = None
    resume: Path | None = None


@dataclass
class TrainResult:
    """What a recipe's ``train`` returns.

    Attributes:
        model: the trained model, built with ``zoo.load`` (so it carries its config).
        metrics: the article's metric(s) on held-out data, e.g. ``{"accuracy": 0.97}``.
        reference: the article's (or paper's) numbers under the same keys, if comparable.
        example_inputs: positional inputs of ``model(...)`` used to prove that the reloaded
            checkpoint gives identical outputs.
        notes: one line on how this run differs from the article's setup (data, scale).
    """

    model: Any
    metrics: dict[str, float]
    reference: dict[str, float] = field(default_factory=dict)
    example_inputs: tuple[Any, ...] = ()
    notes: str = ""


@runtime_checkable
class Recipe(Protocol):
    """The recipe interface. ``summary`` says which data and metric it uses.

    A recipe may also define ``options``, a mapping of option name to default value: ``zoo train
    --option name=value`` may set only those, and ``TrainConfig.options`` holds them all; and
    ``data_format``, one line on what ``--data`` takes (a folder of which files, or a file of which
    lines; ``summary`` stands in when it is missing). Pass the same text to the registration,
    ``register(model, target, data_format=...)``, so that ``zoo info`` shows it without importing the recipe.
    ``evaluate`` should read only the test split of ``data`` (``zoo eval --data`` may give only that).
    ``eval_options``, a mapping like ``options``, names the keywords ``zoo eval --option name=value`` may
    pass to ``evaluate`` (only those the user gives are passed; ``evaluate``'s own defaults hold the rest).
    ``distributed = True`` says that ``train`` runs under ``zoo train --nproc N`` (it drives its steps with
    :class:`zoo.TrainLoop`: DDP, the rank's share of each global batch); ``resumable = True`` that it takes
    ``--checkpoint-every`` and ``--resume``. Without them those flags are refused before any work.
    """

    summary: str

    def train(self, config: TrainConfig) -> TrainResult: ...

    def evaluate(self, model: Any, data: Path | None, device: str = "cpu") -> dict[str, float]: ...


def get_recipe(name: str) -> Recipe:
    """The recipe attached to a model entry (``name`` may be an alias or ``name.tag``)."""
    from zoo import lookup

    resolved = lookup.resolve(name)
    target = lookup.registry().recipe_target(resolved.entry.name)
    if target is None:
        raise RecipeError(
            f"{resolved.entry.name!r} has no training recipe (plugin {resolved.entry.plugin!r})"
        )
    obj = (
        import_target(target, owner=f"recipe of {resolved.entry.name!r}")
        if isinstance(target, str)
        else target
    )
    recipe = obj() if isinstance(obj, type) else obj
    if not isinstance(recipe, Recipe):
        raise RecipeError(f"the recipe of {resolved.entry.name!r} lacks summary/train/evaluate ({target!r})")
    return recipe


def data_format(name: str, recipe: Recipe | None = None) -> str | None:
    """What ``--data`` takes for the recipe of ``name``: its registration's ``data_format``, else the
    recipe's ``data_format`` or ``summary``. Without ``recipe``, a ``"module:attr"`` recipe is not
    imported (``zoo info`` stays torch-free) and None is returned if the registration states nothing."""
    from zoo import lookup

    stated = lookup.registry().recipe_data_format(name)
    if stated:
        return stated
    if recipe is None:
        target = lookup.registry().recipe_target(name)
        if target is None or isinstance(target, str):
            return None
        recipe = target  # type: ignore[assignment]
    return getattr(recipe, "data_format", None) or getattr(recipe, "summary", None)


def full_name(resolved: Resolved) -> str:
    """``entry`` or ``entry.tag``."""
    return f"{resolved.entry.name}.{resolved.tag}" if resolved.tag else resolved.entry.name


def summary_of(resolved: Resolved) -> str:
    """The tag's own summary for ``name.tag`` (when it has one), else the entry's."""
    tag = resolved.tag_info
    return tag.summary if tag and tag.summary else resolved.entry.summary


def resolve_data(data: str | os.PathLike[str] | None) -> Path | None:
    """A user's ``--data`` as an absolute path (recorded in the run, so ``zoo eval RUN`` finds it)."""
    return Path(data).expanduser().resolve() if data else None


def resolve_options(
    recipe: Recipe, name: str, given: Mapping[str, Any], attribute: str = "options"
) -> dict[str, Any]:
    """The recipe's option defaults (its ``attribute``: ``options`` for training, ``eval_options`` for
    evaluation) updated with ``given``; unknown names are a RecipeError."""
    import difflib

    defaults: Mapping[str, Any] = getattr(recipe, attribute, {}) or {}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, defaults, 1)
            hints.append(f"{u!r} (did you mean {close[0]!r}?)" if close else repr(u))
        known = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
        kind = "option" if attribute == "options" else "evaluation option"
        raise RecipeError(f"the recipe of {name!r} has no {kind} {', '.join(hints)}; its {kind}s: {known}")
    resolved = {**defaults, **given}
    for key, value in given.items():
        default = defaults[key]
        numeric_default = isinstance(default, (int, float)) and not isinstance(default, bool)
        numeric_value = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric_default and not numeric_value:
            raise RecipeError(
                f"option {key!r} of {name!r} takes a number (default {default!r}); got {value!r}"
            )
        if isinstance(default, float) and numeric_value:
            resolved[key] = float(value)
    return resolved


def preset_options(config: TrainConfig, presets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``config.options`` with every ``None`` replaced by the preset's value for that option.

    For recipes whose option defaults are ``None`` ("the preset's"); an unknown ``config.preset`` is a
    :class:`~zoo.errors.RecipeError` naming the choices."""
    if config.preset not in presets:
        raise RecipeError(f"unknown preset {config.preset!r}; choose one of {sorted(presets)}")
    preset = presets[config.preset]
    return {k: (preset.get(k) if v is None else v) for k, v in config.options.items()}


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cwd, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine() -> dict[str, Any]:
    """Where a run or benchmark happened: OS, CPU, Python, torch and its threads, GPU if any."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
    return info


def train(
    name: str,
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    seed: int = 0,
    preset: str = "cpu",
    device: str = "cpu",
    command: str | None = None,
    options: Mapping[str, Any] | None = None,
    model_args: Mapping[str, Any] | None = None,
    checkpoint_every: int = 0,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train ``name`` with its recipe, save the checkpoint and results to ``out``, verify the reload.

    ``options`` are the recipe's options (see :class:`Recipe`); ``model_args`` override the model's
    factory arguments. ``checkpoint_every`` steps a training state is written to ``checkpoint_dir``
    (default: ``OUT-state`` beside ``out``); ``resume`` continues from one. Launched by torchrun (``zoo
    train --nproc N``), this joins the process group; only rank 0 saves and checks the reload.

    Returns the results record (also written to ``out/results.json``): entry, metrics, the
    article's reference numbers, command, git commit, machine, wall time, seed.
    """
    import torch

    from zoo import atomic, checkpoint, distributed, loading, lookup, train_state

    resolved = lookup.resolve(name)
    recipe = get_recipe(name)
    resolved_options = resolve_options(recipe, resolved.entry.name, options or {})
    check_support(recipe, name, distributed.world()[1], resumable=bool(checkpoint_every or resume))
    # a folder that cannot be written is an error before training, not after
    atomic.check_destination(Path(out), is_replaceable=checkpoint.is_checkpoint)
    if checkpoint_every < 0:
        raise RecipeError(f"--checkpoint-every takes a number of steps >= 1, got {checkpoint_every}")
    state_dir = Path(checkpoint_dir) if checkpoint_dir else default_state_dir(out)
    if checkpoint_every:
        atomic.check_destination(state_dir, is_replaceable=train_state.is_state)
    model_args = dict(model_args or {})
    path = resolve_data(data)
    config = TrainConfig(
        name, path, seed, preset, device, model_args, resolved_options,
        checkpoint_every, state_dir if checkpoint_every else None, Path(resume) if resume else None,
    )  # fmt: skip
    if config.resume is not None:
        train_state.check_resume(config.resume, config)
    config = replace(config, device=distributed.setup(device))
    seed_everything(seed)
    start = time.perf_counter()
    result = recipe.train(config)
    wall = time.perf_counter() - start
    if config_of(result.model) is None:
        raise RecipeError(f"the recipe of {name!r} must build its model with zoo.load (so it can be saved)")
    record = {
        "entry": resolved.entry.name,
        "tag": resolved.tag,
        "name": full_name(resolved),
        "plugin": resolved.entry.plugin,
        "article": resolved.entry.article,
        "summary": summary_of(resolved),
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "reference": {k: float(v) for k, v in result.reference.items()},
        "notes": result.notes,
        "data": str(path) if path else EMBEDDED,
        "preset": preset,
        "options": resolved_options,
        "model_args": dict(model_args),
        "seed": seed,
        "command": command or shlex.join(["zoo", "train", name, "--out", str(out)]),
        "git_commit": git_commit(),
        "machine": machine(),
        "wall_time_s": round(wall, 2),
        "processes": distributed.world()[1],
    }
    if config.resume is not None:
        record["resumed_from"] = str(config.resume)
    model = result.model
    if not distributed.is_main():
        return record  # rank 0 saves; the others trained the same weights
    checkpoint.save(model, out, results=record)
    reloaded = loading.load_dir(out, device=device)
    if result.example_inputs:
        model.eval()
        reloaded.eval()
        with torch.no_grad():
            same = outputs_equal(model(*result.example_inputs), reloaded(*result.example_inputs))
        if not same:
            raise RecipeError(f"the checkpoint in {out} reloads with different outputs; please report this")
        record["reload_identical"] = True
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        atomic.write_text(Path(out) / checkpoint.RESULTS_NAME, text)
    return record


def check_support(recipe: Recipe, name: str, processes: int, *, resumable: bool) -> None:
    """Refuse, before any work, a distributed or resumable run of a recipe that does not declare it."""
    if processes > 1 and not getattr(recipe, "distributed", False):
        raise RecipeError(
            f"the recipe of {name!r} does not support distributed training (it does not declare "
            "distributed = True): run it in one process, without --nproc or torchrun"
        )
    if resumable and not getattr(recipe, "resumable", False):
        raise RecipeError(
            f"the recipe of {name!r} cannot write or resume training states (it does not declare "
            "resumable = True): run it without --checkpoint-every and --resume"
        )


def default_state_dir(out: str | os.PathLike[str]) -> Path:
    """Where ``--checkpoint-every`` writes by default: ``OUT-state`` beside the run's folder."""
    out = Path(out)
    return out.with_name(f"{out.name}-state")


def outputs_equal(a: Any, b: Any) -> bool:
    """Whether two model outputs are identical: tensors bit for bit (``torch.equal``), and the same through
    tuples, lists, dicts, named tuples and dataclasses of them; ``None`` and other values by ``==``."""
    import dataclasses

    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(outputs_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(outputs_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(outputs_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def evaluate(
    target: str,
    *,
    data: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint (folder, ``local-dir:``, ``hf-hub:``) or a model entry's pinned weights.

    ``options`` (``zoo eval --option``) must be names of the recipe's ``eval_options``; the given ones are
    passed to its ``evaluate`` as keywords (e.g. a file to write predictions to).

    Without ``data``, a run trained on a user's data (``results.json`` records its absolute path) is
    scored on that data again; if that path does not exist here (a pulled checkpoint, another machine),
    the embedded default data is scored instead and a warning says so (also in the report's ``warnings``).
    """
    from zoo import checkpoint, hub, lookup

    if not target.startswith(lookup.SCHEMES) and lookup.looks_like_path(target):
        expected = (
            "expected a checkpoint folder written by zoo train / zoo.save "
            "(or give local-dir:PATH, hf-hub:ORG/REPO[@REV] or an entry name)"
        )
        target = f"local-dir:{check_folder(target, expected, CheckpointError)}"
    elif Path(target).is_dir():
        target = f"local-dir:{target}"
    if target.startswith(lookup.SCHEMES):
        scheme, _, rest = target.partition(":")
        directory = Path(rest).expanduser() if scheme == "local-dir" else hub.download(rest)
        model = load_checkpoint(f"local-dir:{directory}", target, device)
        resolved = lookup.resolve(model.zoo_config.architecture)
        resolved = Resolved(resolved.entry, model.zoo_config.tag if model.zoo_config.tag else None)
    else:
        resolved = lookup.resolve(target)
        if resolved.hub is None:
            raise RecipeError(
                f"{target!r} has no pretrained weights to evaluate: train it first "
                f"(zoo train {target} --out DIR) and evaluate DIR"
            )
        directory = hub.download(str(resolved.hub))
        model = load_checkpoint(target, target, device, pretrained=True)
    run = _read_results(directory / checkpoint.RESULTS_NAME)
    trained_on = run.get("data") if isinstance(run.get("data"), str) else None
    found: list[str] = []
    path = resolve_data(data)
    if path is None and trained_on and trained_on != EMBEDDED:
        if Path(trained_on).expanduser().exists():
            path = Path(trained_on).expanduser()
        else:
            found.append(
                f"the run was trained on {trained_on}, which does not exist here: scoring the EMBEDDED "
                "default data instead, so the metrics are not comparable with the run's; pass --data PATH "
                "to score your copy of the training data"
            )
            warnings.warn(found[-1], UserWarning, stacklevel=2)
    recipe = get_recipe(resolved.entry.name)
    given = options or {}
    resolved_options = resolve_options(recipe, resolved.entry.name, given, "eval_options")
    model.eval()
    metrics = recipe.evaluate(model, path, device, **{k: resolved_options[k] for k in given})
    reference = run.get("reference") or {}
    return {
        "entry": resolved.entry.name,
        "tag": resolved.tag,
        "name": full_name(resolved),
        "checkpoint": target,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "reference": reference,
        "data": str(path) if path else EMBEDDED,
        "trained_on": trained_on,
        "warnings": found,
    }


def load_checkpoint(spec: str, target: str, device: str, *, pretrained: bool = False) -> Any:
    """``zoo.load(spec)``, with any failure that is not already a :class:`ZooError` (a factory rejecting
    the checkpoint's model_args, a config nested too deeply to read, a malformed index) turned into a
    :class:`CheckpointError` naming ``target``: the content of a checkpoint is the user's input."""
    from zoo import loading, lookup

    try:
        if pretrained:
            return loading.load_pretrained(lookup.resolve(spec), device=device)
        return loading.load_checkpoint(spec, device=device)
    except ZooError:
        raise
    except (ValueError, TypeError, RuntimeError, RecursionError, AttributeError, KeyError) as exc:
        kind = "is nested too deeply to read" if isinstance(exc, RecursionError) else "cannot be loaded"
        raise CheckpointError(
            f"the checkpoint {target} {kind}: {type(exc).__name__}: {str(exc)[:500]} "
            "(is it a kexue-zoo checkpoint written by zoo.save for an installed plugin version?)"
        ) from exc


def _read_results(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def format_metrics(metrics: Mapping[str, float], reference: Mapping[str, float]) -> str:
    """A small table: each metric of this run beside the article's number."""
    rows = [("metric", "this run", "article")]
    rows += [(k, f"{v:.4f}", f"{reference[k]:.4f}" if k in reference else "—") for k, v in metrics.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


COMMAND_ENV = "ZOO_COMMAND"  # the user's command, passed by zoo train --nproc to the ranks it starts


def main_command() -> str:
    """The command line of this run, as the user typed it (``zoo …``; ``python -m zoo …``)."""
    if os.environ.get(COMMAND_ENV):
        return os.environ[COMMAND_ENV]
    program = Path(sys.argv[0]).name
    program = "python -m zoo" if program == "__main__.py" else program
    return " ".join([program, shlex.join(sys.argv[1:])]).strip()
