"""Sparse dictionaries over the agent's activations: store, models, training engine, metrics."""

import os

# The numba kernels and torch each keep an OpenMP thread pool. With the default (active)
# wait policy, idle threads of one pool spin and starve the other: on 2 cores a training step
# ran 2x slower alone and ~20x slower beside another busy process. Passive waiting fixes both.
# It only takes effect if set before torch is first imported; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
