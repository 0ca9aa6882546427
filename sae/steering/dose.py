"""Dose-response of steering: the edit's strength against the number of top latents per
concept, with both controls (`sae.steering.effect`) at every point.

For each n in top_ns the top-n latents of every concept (merged) get the edit with value =
strength (op scale: 0 ablates them, 1 is the clean net); the random-latent control edits as
many live latents, the random-direction control pushes as far along a random direction. Each
point is the paired change against the clean net on the concept's positions, with its 95%
bootstrap interval; a point whose edit makes the net non-finite is recorded as such.
"""

from __future__ import annotations

import numpy as np

from common.io import atomic_write
from sae.steering.edit import Edit, SteeringError, random_direction, random_latents
from sae.steering.effect import (
    CONDITIONS,
    EffectConfig,
    EvalSet,
    compare,
    condition_setups,
    measure,
    top_latents,
)

STRENGTHS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
TOP_NS = (1, 5, 10)
PLOTTED = ("policy_mass", "protect_rate", "value", "outcome_accuracy", "discs_lost")


def sweep(
    net, dictionary, ev: EvalSet, ranked: dict, live, op: str, strengths, top_ns, cfg: EffectConfig
) -> list[dict]:
    """One row per (top_n, strength, condition): the change of every metric on the concept's
    positions, or `"non_finite": True`."""
    rng = np.random.default_rng(cfg.seed)
    clean = measure(net, ev, None, cfg.sims)
    direction = random_direction(dictionary.cfg.d_out, cfg.seed)
    rows = []
    for n in top_ns:
        latents = top_latents(ranked, n)
        others = random_latents(live, latents, len(latents), cfg.seed + n)
        for strength in strengths:
            edits = [Edit(tuple(latents), op, float(strength))]
            for condition, (e, d) in condition_setups(edits, others, direction).items():
                row = {"top_n": n, "latents": len(latents), "strength": float(strength)}
                row["condition"] = condition
                try:
                    steered = measure(net, ev, (dictionary, e, d), cfg.sims)
                except SteeringError:
                    rows.append({**row, "non_finite": True})
                    continue
                rows.append({**row, **compare(ev, clean, steered, rng, cfg.resamples)["concept"]})
    return rows


def _cell(stat) -> str:
    if not isinstance(stat, dict) or stat["mean"] is None:
        return "-"
    return f"{stat['mean']:+.3f} [{stat['low']:+.3f}, {stat['high']:+.3f}]"


def format_sweep(rows: list[dict], metrics=PLOTTED) -> str:
    head = f"{'n':>3} {'latents':>7} {'strength':>8}  {'condition':<17}" + "".join(
        f"{m:>28}" for m in metrics
    )
    lines = [head]
    for r in rows:
        cells = (
            ["non-finite"] * len(metrics) if r.get("non_finite") else [_cell(r[m]) for m in metrics]
        )
        lines.append(
            f"{r['top_n']:>3} {r['latents']:>7} {r['strength']:>8g}  {r['condition']:<17}"
            + "".join(f"{c:>28}" for c in cells)
        )
    return "\n".join(lines)


def plot_sweep(rows: list[dict], path, title: str, metrics=PLOTTED) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if any(isinstance(r.get(m), dict) for r in rows)]
    cols = 3
    rows_ = -(-(len(metrics) + 1) // cols)  # one more panel holds the legend
    fig, grid = plt.subplots(rows_, cols, figsize=(4.2 * cols, 3.4 * rows_), squeeze=False)
    axes, spare = grid.reshape(-1)[: len(metrics)], grid.reshape(-1)[len(metrics) :]
    styles = {"steered": "-", "random_latents": "--", "random_direction": ":"}
    top_ns = sorted({r["top_n"] for r in rows})
    colours = dict(zip(top_ns, plt.cm.viridis(np.linspace(0, 0.85, len(top_ns))), strict=True))
    for ax, metric in zip(axes, metrics, strict=True):
        for n in top_ns:
            for condition in CONDITIONS:
                pts = [
                    r
                    for r in rows
                    if r["top_n"] == n and r["condition"] == condition and not r.get("non_finite")
                ]
                if not pts or pts[0][metric]["mean"] is None:
                    continue
                x = [max(r["strength"], 0.5) for r in pts]  # 0 drawn at 0.5 on the log axis
                mean = [r[metric]["mean"] for r in pts]
                ax.plot(x, mean, styles[condition], color=colours[n], marker="o", ms=3)
                if condition == "steered":
                    lo = [r[metric]["low"] for r in pts]
                    hi = [r[metric]["high"] for r in pts]
                    ax.fill_between(x, lo, hi, color=colours[n], alpha=0.15)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("strength (0 plotted at 0.5)")
        ax.set_ylabel(f"change in {metric.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[n], label=f"top {n}") for n in top_ns]
    handles += [plt.Line2D([], [], color="k", ls=s, label=c) for c, s in styles.items()]
    for ax in spare:
        ax.axis("off")
    spare[0].legend(handles=handles, fontsize=9, loc="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
