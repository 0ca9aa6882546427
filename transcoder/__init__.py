"""TopK transcoders that replace the agent's MLPs."""

import common  # noqa: F401  (sets OpenMP's wait policy before torch loads)
