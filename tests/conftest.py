from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from zoo_test_models import FakeEntryPoint

import zoo
from zoo.plugins import PluginHost

pytest_plugins = ["zoo.testing.pytest_plugin"]


@pytest.fixture
def make_host() -> Callable[..., PluginHost]:
    """Build a PluginHost over fake plugins: ``make_host(name=plugin_obj, ...)``."""

    def make(strict: bool = False, **plugins: Any) -> PluginHost:
        eps = [FakeEntryPoint(name, obj) for name, obj in plugins.items()]
        return PluginHost(eps, strict=strict, allow=None).load()

    return make


@pytest.fixture
def use_host() -> Iterator[Callable[[PluginHost], PluginHost]]:
    """Install a host as the process-wide one for the test (restored afterwards)."""

    def install(host: PluginHost) -> PluginHost:
        zoo.reset(host)
        return host

    yield install
    zoo.reset()
