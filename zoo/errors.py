"""Exceptions raised by kexue-zoo. Every message names the problem and the fix."""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every kexue-zoo error."""


class UnknownEntryError(ZooError, LookupError):
    """A name, alias or tag that no installed plugin provides."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0]) if self.args else ""


class DuplicateEntryError(ZooError):
    """Two plugins (or one plugin twice) claim the same name or alias."""


class InvalidArgumentsError(ZooError, TypeError):
    """Arguments that an entry's factory does not accept, or required ones missing."""


class ArgumentTypeError(InvalidArgumentsError, ValueError):
    """An argument whose value does not match the factory's annotation (``hidden="wide"`` for an int).

    Also a ``ValueError``, as the range checks of :mod:`zoo.checks` raise for the same kind of value."""


class RegistrationError(ZooError):
    """A plugin called ``register`` with something invalid (bad name, bad field)."""


class PluginError(ZooError):
    """A plugin failed to import, to validate, or to register (strict mode re-raises these)."""


class TargetImportError(PluginError, ImportError):
    """An entry's factory string names a module or attribute that does not import (a plugin defect)."""


class CatalogError(ZooError):
    """``registry.yaml`` cannot be parsed or has a field the schema does not know."""


class RecipeError(ZooError):
    """No recipe for an entry, or a recipe returned something the core cannot use."""


class DistributedError(ZooError):
    """A distributed run (``zoo train --nproc``, torchrun) cannot start, or one of its ranks failed."""


class CheckpointError(ZooError):
    """A checkpoint folder or file that cannot be read or does not match the model."""


class MissingPluginError(CheckpointError):
    """A checkpoint names an architecture that no installed plugin provides."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint folder that cannot be written (read-only, full disk); the old content is unchanged."""
