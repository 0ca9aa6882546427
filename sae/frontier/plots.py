"""The frontier plot (explained fraction against FVU) and the per-site heatmap."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_write  # noqa: E402
from sae.frontier.table import FAMILY  # noqa: E402

MARKERS = {"relu": "o", "topk": "s", "batchtopk": "^", "matryoshka": "D"}


def _save(fig, path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def plot_frontier(result: dict, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    best = result["choice"]["best"]
    for arch, marker in MARKERS.items():
        pts = [(n, r) for n, r in result["records"].items() if r.get("architecture") == arch]
        if not pts:
            continue
        ax.scatter([r["fvu"] for _, r in pts], [r["explained_fraction"] for _, r in pts],
                   marker=marker, label=FAMILY[arch], s=40)  # fmt: skip
        for n, r in pts:
            ax.annotate(f"{n}{' (best)' if n == best else ''}", (r["fvu"], r["explained_fraction"]),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")  # fmt: skip
    for site, kinds in result.get("baselines", {}).items():
        for kind, b in kinds.items():
            if isinstance(b.get("explained_fraction"), float):
                label = f"{kind.replace('_', ' ')} ({site})"
                ls = ":" if kind == "neurons" else "--"
                ax.axhline(b["explained_fraction"], ls=ls, color="grey", lw=1, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("FVU (held-out)")
    ax.set_ylabel("explained fraction of live latents (held-out)")
    ax.set_title("Meaning against reconstruction")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def site_grid(results: list[dict]) -> tuple[list[int], list[str], dict]:
    """{(block, kind): record} of the chosen dictionary of each site (block i, resid_post /
    mlp_out ...), from frontier results."""
    cells = {}
    for res in results:
        for r in res["records"].values():
            parts = str(r.get("site", "")).split(".")
            if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit():
                key = (int(parts[1]), parts[2])
                old = cells.get(key)
                if old is None or r["explained_fraction"] > old["explained_fraction"]:
                    cells[key] = r
    blocks = sorted({b for b, _ in cells})
    kinds = sorted({k for _, k in cells}, key=lambda k: (k != "resid_post", k))
    return blocks, kinds, cells


def plot_sites(results: list[dict], path) -> None:
    blocks, kinds, cells = site_grid(results)
    metrics = (
        ("explained_fraction", "explained fraction", None),
        ("coverage_all", "board coverage (all concepts)", "board"),
        ("coverage_all", "legal coverage (all concepts)", "legal"),
    )
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 1.2 + 0.7 * len(blocks)))
    for ax, (key, title, sub) in zip(np.atleast_1d(axes), metrics, strict=True):
        grid = np.full((len(blocks), len(kinds)), math.nan)
        for (b, k), r in cells.items():
            v = r.get(key)
            v = (v or {}).get(sub) if sub else v
            grid[blocks.index(b), kinds.index(k)] = v if isinstance(v, int | float) else math.nan
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for i in range(len(blocks)):
            for j in range(len(kinds)):
                if math.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center",
                            color="white" if grid[i, j] < 0.6 else "black", fontsize=9)  # fmt: skip
        ax.set_xticks(range(len(kinds)), kinds)
        ax.set_yticks(range(len(blocks)), [f"block {b}" for b in blocks])
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save(fig, path)
