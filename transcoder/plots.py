"""The fidelity heatmap: top-1 agreement of replaced vs original net, skill level x game phase."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_write  # noqa: E402


def plot_phase_heatmap(rows: list[dict], path: str | Path, title: str) -> Path:
    """One row per phase_agreement result (with its "label"), one column per bin of empties
    plus "all"; each cell printed with its value."""
    labels = [r["label"] for r in rows]
    bins = rows[0]["bins"] + ["all"]
    grid = np.array([r["agreement"] + [r["overall"]] for r in rows])
    fig, ax = plt.subplots(figsize=(1.0 * len(bins) + 2.5, 0.6 * len(labels) + 1.8))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=np.nanmin(grid), vmax=1.0)
    for (r, c), v in np.ndenumerate(grid):
        if np.isfinite(v):
            dark = v < (np.nanmin(grid) + 1.0) / 2
            colour = "white" if dark else "black"
            ax.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(bins)), bins)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("empty squares (game phase: opening on the left)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="top-1 agreement", fraction=0.04)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path
