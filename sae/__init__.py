"""Sparse dictionaries over the agent's activations: store, models, training engine, metrics."""

import common  # noqa: F401  (chooses the OpenMP wait policy before torch loads)
