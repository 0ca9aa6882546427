"""Strength against training time, from a run's log.jsonl: `python -m alphazero.plot RUN`.

Writes RUN/strength.png: the score rate (wins + draws/2) of the agent against each evaluation
opponent after every iteration, against wall-clock minutes of training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_log(run: Path) -> list[dict]:
    path = run / "log.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run} a training run directory?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_strength(rows: list[dict], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["elapsed"] / 60 for r in rows]
    keys = sorted({k for r in rows for k in r if k.startswith("score_vs_")})
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in keys:
        pts = [(m, r[k]) for m, r in zip(minutes, rows, strict=True) if k in r]
        ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=k.removeprefix("score_vs_"))
    ax.set_xlabel("training time (minutes, 2 CPU cores)")
    ax.set_ylabel("score vs opponent (win = 1, draw = 0.5)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "agent strength during training")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="training run directory (holds log.jsonl)")
    ap.add_argument("--out", type=Path, help="PNG path (default RUN/strength.png)")
    args = ap.parse_args(argv)
    try:
        rows = load_log(args.run)
    except FileNotFoundError as e:
        ap.error(str(e))
    out = args.out or args.run / "strength.png"
    plot_strength(rows, out, title=f"{args.run.name}: score during training")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
