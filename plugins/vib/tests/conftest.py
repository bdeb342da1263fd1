"""The core's local Hub fixtures (``hub_env``, ``hub_server``) for this plugin's push/pull tests."""

from zoo.testing.pytest_plugin import hub_env, hub_server

__all__ = ["hub_env", "hub_server"]
