"""TopK transcoders that replace the agent's MLPs."""

import common  # noqa: F401  (chooses the OpenMP wait policy before torch loads)
