"""The hooks a kexue-zoo plugin may implement (pluggy project name ``"zoo"``).

A plugin is a module named by an entry point of group ``"zoo"``. It imports only
:data:`hookimpl` from here and implements any of the hooks below. Each hook receives
a ``register`` callback bound to the plugin, so entries are attributed to it and the
registry's internals stay private. Keep the module light: name factories as
``"module:attr"`` strings, which the core imports on first build, never at listing time.

Example::

    from zoo import hookimpl

    @hookimpl
    def zoo_register_models(register):
        register("my-model", "my_pkg.model:MyModel", summary="…", article="https://kexue.fm/…")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from argparse import _SubParsersAction

    from zoo.registry import RecipeRegistrar, Registrar

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_models(register: Registrar) -> None:
    """Register model factories: ``register(name, target, *, summary, article, defaults, …)``.

    A model factory returns a ``torch.nn.Module``; ``zoo.load`` records its name and
    arguments on the module so ``zoo.save`` can write ``config.json``.
    """


@hookspec
def zoo_register_samplers(register: Registrar) -> None:
    """Register sampler factories; the built object is a callable (e.g. ``sampler(logits)``)."""


@hookspec
def zoo_register_optimizers(register: Registrar) -> None:
    """Register optimizer factories; they take ``params`` first, like ``torch.optim`` classes."""


@hookspec
def zoo_register_recipes(register: RecipeRegistrar) -> None:
    """Attach a training recipe to a model entry: ``register(model_name, "module:attr")``.

    The target is an object following :class:`zoo.recipes.Recipe` (``train`` and
    ``evaluate``); ``zoo train`` and ``zoo eval`` dispatch to it.
    """


@hookspec
def zoo_register_commands(cli: _SubParsersAction) -> None:
    """Add sub-commands to the ``zoo`` CLI.

    ``cli`` is argparse's sub-parser collection: ``p = cli.add_parser("name", help=…)``, add
    arguments, and ``p.set_defaults(func=run)`` where ``run(args) -> int`` is the exit code.
    """
