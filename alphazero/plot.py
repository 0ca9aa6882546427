"""Strength against training time, from runs' log.jsonl files.

    python -m alphazero.plot RUN                      # RUN/strength.png, every opponent
    python -m alphazero.plot RUN_A RUN_B --opponent alphabeta:4 --out compare.png

The score rate (wins + draws/2) of the agent against evaluation opponents after each
evaluated iteration, against wall-clock minutes of training. With several runs, one line per
run against one opponent.
"""

from __future__ import annotations

import json
from pathlib import Path

from common import cli
from common.io import atomic_write


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
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def plot_compare(runs: dict[str, list[dict]], opponent: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = f"score_vs_{opponent}"
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in runs.items():
        pts = [(r["elapsed"] / 60, r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=name)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel(f"score vs {opponent}")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


@cli.command
def main(argv=None) -> None:
    ap = cli.parser(prog="python -m alphazero.plot", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="training run directories")
    ap.add_argument("--opponent", default="alphabeta:4", help="opponent for a comparison")
    ap.add_argument("--out", type=cli.out_file, help="PNG path (default RUN/strength.png)")
    args = ap.parse_args(argv)
    try:
        logs = {run.name: load_log(run) for run in args.runs}
    except FileNotFoundError as e:
        ap.error(str(e))
    if len(args.runs) == 1:
        out = Path(args.out or args.runs[0] / "strength.png")
        plot_strength(logs[args.runs[0].name], out, f"{args.runs[0].name}: score during training")
    else:
        if not args.out:
            ap.error("--out is required when comparing several runs")
        out = Path(args.out)
        plot_compare(logs, args.opponent, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
