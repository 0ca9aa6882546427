"""Scaling plots like the seed's, from scaling.json rows (matplotlib, files only)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from common.io import atomic_write  # noqa: E402


def _series(scaling: dict, architecture: str) -> dict:
    """Group runs by their sparsity knob (lambda or k): knob -> sorted [(n_latents, row)]."""
    groups: dict = {}
    for row in scaling.values():
        if (row["architecture"] == "relu") != (architecture == "relu"):
            continue
        knob = row["l1_coeff"] if architecture == "relu" else row["k"]
        groups.setdefault(knob, []).append((row["n_latents"], row))
    return {k: sorted(v, key=lambda t: t[0]) for k, v in sorted(groups.items())}


def plot_scaling(scaling: dict, out_dir: str | Path) -> list[Path]:
    """Per family: L0, MSE, train loss and MSE-vs-L0 against the number of latents (log x);
    then the L0-vs-FVU frontier of L1 and TopK on one chart."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for arch, label in (("relu", "lambda"), ("topk", "k")):
        series = _series(scaling, arch)
        if not series:
            continue
        fig, axes = plt.subplots(1, 4, figsize=(18, 4))
        for knob, pts in series.items():
            ns = [n for n, _ in pts]
            rows = [r for _, r in pts]
            name = f"{label}={knob:g}"
            axes[0].plot(ns, [r["l0"] for r in rows], "o-", label=name)
            axes[1].plot(ns, [r["mse"] for r in rows], "o-", label=name)
            axes[2].plot(ns, [r["train_loss"] for r in rows], "o-", label=name)
            axes[3].plot([r["l0"] for r in rows], [r["mse"] for r in rows], "o-", label=name)
        for ax, title in zip(
            axes, ("L0", "MSE (held-out)", "train loss", "MSE vs L0"), strict=True
        ):
            ax.set_title(title)
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
            ax.set_xlabel("L0" if title == "MSE vs L0" else "latents")
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{'L1 (ReLU)' if arch == 'relu' else 'TopK'} SAEs")
        fig.tight_layout()
        path = out_dir / f"scaling_{arch}.png"
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, dpi=110, format="png"))
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    widths = sorted({r["n_latents"] for r in scaling.values()})
    # one colour scale for both families, so a colour means the same width in each
    norm = LogNorm(widths[0], widths[-1]) if len(widths) > 1 else None
    sc = None
    for arch, marker in (("relu", "o"), ("topk", "s")):
        pts = [r for r in scaling.values() if (r["architecture"] == "relu") == (arch == "relu")]
        if not pts:
            continue
        sc = ax.scatter(
            [r["l0"] for r in pts],
            [r["fvu"] for r in pts],
            marker=marker,
            c=[r["n_latents"] for r in pts] if norm else None,
            cmap="viridis" if norm else None,
            norm=norm,
            label="L1" if arch == "relu" else "TopK",
        )
        for r in pts:  # name each point by its sparsity setting
            tag = f"λ={r['l1_coeff']:g}" if arch == "relu" else f"k={r['k']}"
            ax.annotate(
                tag, (r["l0"], r["fvu"]), fontsize=7, xytext=(4, 3), textcoords="offset points"
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("L0 (held-out)")
    ax.set_ylabel("FVU (held-out)")
    title = "Sparsity vs reconstruction: L1 vs TopK"
    if len(widths) == 1:  # no colour bar: name the one width
        title += f" ({widths[0]} latents)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if sc is not None:
        ax.legend()
        if norm:
            fig.colorbar(sc, ax=ax, label="latents")
    fig.tight_layout()
    path = out_dir / "frontier.png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return written + [path]
