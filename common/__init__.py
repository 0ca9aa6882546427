"""Small utilities shared by every package: atomic file writes and safetensors+JSON bundles.

Importing any package of this project (othello, alphazero, sae, transcoder) imports this
first, which sets OpenMP's wait policy to PASSIVE before torch loads. Once numba is loaded
beside torch, torch's spinning OpenMP workers (the default ACTIVE policy) made a batch-1
forward pass of the agent ~25x slower (21 ms instead of 0.9 ms) and a batch-256 float32
pass ~6x slower on 2 cores; passive waiting was as fast or faster in every case measured.
An explicit OMP_WAIT_POLICY in the environment wins.
"""

import os
import sys
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "torch" in sys.modules and os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE":
    warnings.warn(
        "torch was imported before this project's packages, so OMP_WAIT_POLICY=PASSIVE came "
        "too late; network calls may be much slower. Import othello/alphazero/sae first or "
        "export OMP_WAIT_POLICY=PASSIVE.",
        stacklevel=2,
    )
