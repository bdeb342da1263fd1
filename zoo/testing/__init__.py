"""Test utilities for kexue-zoo and its plugins: a local Hugging Face Hub-compatible server, and a runner
for the Python examples of Markdown pages (``run_python_blocks``).

Nothing here imports torch or huggingface_hub at import time. Pytest users can enable the fixtures
``hub_server`` and ``hub_env`` with ``pytest_plugins = ["zoo.testing.pytest_plugin"]``.
"""

from .examples import python_blocks, run_python_blocks
from .hub_server import (
    TEST_TOKEN,
    TEST_USER,
    HubServer,
    apply_hub_env,
    hub_offline,
    hub_server_env,
    set_hub_offline,
)

__all__ = [
    "TEST_TOKEN",
    "TEST_USER",
    "HubServer",
    "apply_hub_env",
    "hub_offline",
    "hub_server_env",
    "python_blocks",
    "run_python_blocks",
    "set_hub_offline",
]
