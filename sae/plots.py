"""Scaling plots like the seed's, from scaling.json rows (matplotlib, files only)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for arch, marker in (("relu", "o"), ("topk", "s")):
        pts = [r for r in scaling.values() if (r["architecture"] == "relu") == (arch == "relu")]
        if pts:
            sc = ax.scatter(
                [r["l0"] for r in pts],
                [r["fvu"] for r in pts],
                marker=marker,
                c=[r["n_latents"] for r in pts],
                cmap="viridis",
                norm="log",
                label="L1" if arch == "relu" else "TopK",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("L0 (held-out)")
    ax.set_ylabel("FVU (held-out)")
    ax.set_title("Sparsity vs reconstruction: L1 vs TopK")
    ax.grid(alpha=0.3)
    ax.legend()
    if scaling:
        fig.colorbar(sc, ax=ax, label="latents")
    fig.tight_layout()
    path = out_dir / "frontier.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return written + [path]
