"""The static feature viewer: `vis.export` writes its data folder, `index.html` shows it."""

import common  # noqa: F401  (sets OpenMP's wait policy before torch loads)
