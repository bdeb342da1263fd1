"""The core's test fixtures this plugin's tests use."""

from zoo.testing.pytest_plugin import one_torch_thread

__all__ = ["one_torch_thread"]
