"""Pytest fixtures for a local Hub: enable with ``pytest_plugins = ["zoo.testing.pytest_plugin"]``.

- ``hub_server``: a started :class:`~zoo.testing.HubServer` (token :data:`~zoo.testing.TEST_TOKEN`),
  stopped after the test.
- ``hub_env``: ``hub_server`` with ``huggingface_hub`` pointed at it (``HF_ENDPOINT``, a temporary
  ``HF_HOME``, ``HF_TOKEN``, ``HF_HUB_DISABLE_XET=1``, offline mode off, telemetry off): env vars *and* the
  constants ``huggingface_hub`` cached at import time, all undone by ``monkeypatch`` after the test.
  Yields the server.
- ``one_torch_thread``: the test runs on one torch thread (restored after), for tests of many tiny ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .hub_server import TEST_TOKEN, HubServer, apply_hub_env

__all__ = ["hub_env", "hub_server"]


@pytest.fixture
def hub_server() -> Iterator[HubServer]:
    """A running :class:`HubServer` (in memory, token ``TEST_TOKEN``), stopped after the test."""
    server = HubServer(token=TEST_TOKEN).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub_env(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubServer]:
    """``hub_server`` with the ``huggingface_hub`` client configured to use it (see :func:`apply_hub_env`)."""
    apply_hub_env(monkeypatch, hub_server, tmp_path / "hf_home")
    yield hub_server


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run the test on one torch thread (the count is restored after). Tests of many tiny ops are fastest
    that way, and immune to OpenMP oversubscription on a busy machine (two threads on two shared cores
    made such tests 10-50x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
