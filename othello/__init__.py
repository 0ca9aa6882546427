"""6x6 (and 4..8) Othello: rules engine, concepts, players and an exact solver."""

import common  # noqa: F401  (chooses the OpenMP wait policy before torch loads)
