"""Sparse dictionaries over the agent's activations: store, models, training engine, metrics."""
