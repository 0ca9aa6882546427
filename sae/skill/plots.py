"""Plots of the skill study (`sae.skill.study`): awareness and externalisation against exact skill,
and the distribution of transition points, clean and steered."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.io import atomic_write
from sae.skill.awareness import FAMILIES


def _save(fig, path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def plot_adaptation(result: dict, path) -> None:
    """Left: awareness of each checkpoint (mean over blocks, band = min..max over blocks)
    against its raw policy's exact-best move rate. Right: externalisation of every level
    against its exact-best move rate, one line per budget, Wilson 95% bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores, levels = result["scores"], result["levels"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    lowest = min(v["sims"] for v in levels.values())
    raw = {lv["checkpoint"]: name for name, lv in levels.items() if lv["sims"] == lowest}
    stems = sorted(result["awareness"], key=lambda s: scores[raw[s]]["exact_accuracy"])
    x = np.array([scores[raw[s]]["exact_accuracy"] for s in stems])
    for group, colour in zip(FAMILIES, ("tab:red", "tab:blue"), strict=False):
        for measure, style in (("probe", "-"), ("auc", "--")):
            per_block = np.array(
                [[a[measure][group] for a in result["awareness"][s].values()] for s in stems]
            )
            left.plot(
                x,
                per_block.mean(1),
                style,
                color=colour,
                marker="o",
                label=f"{group} {'probe bal. acc.' if measure == 'probe' else 'best-latent AUC'}",
            )
            left.fill_between(x, per_block.min(1), per_block.max(1), color=colour, alpha=0.1)
    for xi, s in zip(x, stems, strict=True):
        left.annotate(
            Path(s).name, (xi, left.get_ylim()[0]), fontsize=7, rotation=90, va="bottom", ha="right"
        )
    left.set_xlabel("exact-best move rate of the raw policy (solver)")
    left.set_ylabel("awareness (mean over blocks; band: min..max)")
    left.legend(fontsize=7)
    sims = sorted({lv["sims"] for lv in levels.values()})
    for budget, colour in zip(sims, plt.cm.viridis(np.linspace(0, 0.85, len(sims))), strict=True):
        names = [n for n, lv in levels.items() if lv["sims"] == budget]
        names.sort(key=lambda n: scores[n]["exact_accuracy"])
        xs = [scores[n]["exact_accuracy"] for n in names]
        ys = np.array([scores[n]["externalisation"] for n in names])
        ci = np.array([scores[n]["externalisation_95"] for n in names], dtype=float)
        right.errorbar(
            xs,
            ys,
            yerr=[ys - ci[:, 0], ci[:, 1] - ys],
            color=colour,
            marker="o",
            capsize=2,
            label=f"{budget} simulations" if budget else "raw policy",
        )
    right.set_xlabel("exact-best move rate (solver)")
    right.set_ylabel("externalisation: optimal threat-resolving move played")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    p = result["positions"]
    fig.suptitle(
        f"awareness vs externalisation across skill ({p['solved']} solved held-out positions, "
        f"{p['threat']} with a threat to resolve)",
        fontsize=9,
    )
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_transition(result: dict, path) -> None:
    """Positions per transition level (skill order, then "never"), clean and steered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*result["order"], "never"]
    clean = [result["transition"]["clean"][n] for n in names]
    steered = [result["transition"]["steered"][n] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(names)), 4))
    ax.bar(x - 0.2, clean, 0.4, label="clean")
    ax.bar(x + 0.2, steered, 0.4, label="threat latents steered (every level)")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("positions")
    ax.set_xlabel("transition point: lowest level from which every stronger level plays optimally")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
