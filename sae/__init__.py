"""Sparse dictionaries over the agent's activations: store, models, training engine, metrics."""

import os
import sys

# torch's OpenMP threads spin while idle by default. On a 2-core machine shared with other
# processes that made a training step 2x-20x slower (spinning threads preempting the working
# ones); passive waiting keeps steps steady. libgomp reads this once, when torch is first
# imported, so it only helps when sae is imported first (the sae CLIs and train_sae.py do);
# an explicit setting wins.
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
