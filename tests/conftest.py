"""Loaded by pytest before any test module: import the project first so its OpenMP setting
(see common/__init__.py) is in place before a test file imports torch."""

import common  # noqa: F401
