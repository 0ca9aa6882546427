"""The static feature viewer: `vis.export` writes its data folder, `index.html` shows it."""

import common  # noqa: F401  (chooses the OpenMP wait policy before torch loads)
