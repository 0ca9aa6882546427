"""Probe heatmaps from a probes report: site (rows, input first, then down the net) x
checkpoint (columns, in the report's order), coloured by the family's mean held-out balanced
accuracy from 0.5 (chance) to 1; one panel per family (matplotlib, files only)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_write  # noqa: E402

ANNOTATE_UP_TO = 3  # panels; more and the numbers are too small to read


def family_grid(report: dict, family: str) -> np.ndarray:
    """[sites, checkpoints] mean balanced accuracy (NaN where nothing was fitted)."""
    by_ckpt = report["summary"][family]
    grid = np.full((len(report["sites"]), len(report["checkpoints"])), np.nan)
    for j, ckpt in enumerate(c["name"] for c in report["checkpoints"]):
        for i, site in enumerate(report["sites"]):
            value = by_ckpt.get(ckpt, {}).get(site, {}).get(report["metric"])
            grid[i, j] = np.nan if value is None else value
    return grid


def plot_families(report: dict, families: list[str], path: str | Path, dpi: int = 110) -> Path:
    """One heatmap panel per family, side by side (wrapped at 6 per row)."""
    cols = min(len(families), 6)
    rows = math.ceil(len(families) / cols)
    names = [c["name"] for c in report["checkpoints"]]
    n_sites, n_ckpt = len(report["sites"]), len(names)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.1 + cols * (0.55 * n_ckpt + 0.6), rows * (0.22 * n_sites + 1.6)),
        squeeze=False, sharey=True, layout="constrained",
    )  # fmt: skip
    annotate = len(families) <= ANNOTATE_UP_TO
    image = None
    for ax, family in zip(axes.flat, families, strict=False):
        grid = family_grid(report, family)
        image = ax.imshow(grid, vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_title(family, fontsize=9)
        ax.set_xticks(range(n_ckpt), names, rotation=45, ha="right")
        ax.set_yticks(range(n_sites), report["sites"], fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        if annotate:
            for (i, j), v in np.ndenumerate(grid):
                if not np.isnan(v):
                    colour = "black" if v > 0.8 else "white"  # readable on viridis
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color=colour)
    for ax in axes.flat[len(families) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.6, label="held-out balanced accuracy")
    fig.suptitle(
        f"linear probes: {report['positions']['test']} held-out positions "
        f"({report['positions']['solved_test']} solved)",
        fontsize=10,
    )
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    plt.close(fig)
    return path
