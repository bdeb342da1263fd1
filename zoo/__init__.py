"""kexue-zoo: models, samplers and optimizers from the articles of kexue.fm, as plugins.

    import zoo
    zoo.list(kind="model")                    # the catalog of installed entries
    m = zoo.load("example-mlp", hidden=32)    # build with defaults + validated overrides
    zoo.save(m, "runs/mlp")                   # a Hub-format folder
    m2 = zoo.load("local-dir:runs/mlp")       # or "hf-hub:org/repo@rev"

Importing this package does not import torch; building an entry does.
"""

from typing import TYPE_CHECKING

from zoo._version import __version__
from zoo.api import info, load, plugins, register_plugin, reset, resolve
from zoo.api import list_entries as list
from zoo.bars import progress
from zoo.building import ModelConfig, check_arguments
from zoo.checkpoint import save
from zoo.errors import (
    ArgumentTypeError,
    CatalogError,
    CheckpointError,
    CheckpointWriteError,
    DistributedError,
    DuplicateEntryError,
    InvalidArgumentsError,
    MissingPluginError,
    PluginError,
    RecipeError,
    RegistrationError,
    TargetImportError,
    UnknownEntryError,
    ZooError,
)
from zoo.hookspecs import hookimpl
from zoo.hub import HubError, pull
from zoo.modes import eval_mode, inference
from zoo.publish import push
from zoo.recipes import Recipe, TrainConfig, TrainResult
from zoo.registry import Entry, HubWeights, Tag

__all__ = [
    "ArgumentTypeError",
    "CatalogError",
    "CheckpointError",
    "CheckpointWriteError",
    "DistributedError",
    "DuplicateEntryError",
    "Entry",
    "EpochBatches",
    "HubError",
    "HubWeights",
    "InvalidArgumentsError",
    "MissingPluginError",
    "ModelConfig",
    "PluginError",
    "RankShards",
    "Recipe",
    "RecipeError",
    "RegistrationError",
    "Tag",
    "TargetImportError",
    "TrainConfig",
    "TrainLoop",
    "TrainResult",
    "UnknownEntryError",
    "ZooError",
    "__version__",
    "check_arguments",
    "eval_mode",
    "hookimpl",
    "inference",
    "info",
    "list",
    "load",
    "plugins",
    "progress",
    "pull",
    "push",
    "register_plugin",
    "reset",
    "resolve",
    "save",
]

if TYPE_CHECKING:
    from zoo.training import EpochBatches, RankShards, TrainLoop


def __getattr__(name: str) -> object:
    """``zoo.TrainLoop``, ``zoo.EpochBatches``, ``zoo.RankShards`` import torch: imported when first used."""
    if name in ("TrainLoop", "EpochBatches", "RankShards"):
        from zoo import training

        return getattr(training, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
