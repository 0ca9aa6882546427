"""Skill levels: move accuracy of every saved iteration of a run on ONE fixed set of solved
positions, against training time. Far less noisy than match scores, and the axis along which
the skill-adaptation analysis compares checkpoints.

    python -m alphazero.skill runs/strong --positions 400 --sims 0,16

Writes RUN/skill.json and RUN/skill.png. Positions: 10-14 empties, half from the final agent's
own games and half from random games (`alphazero.evaluate.sample_positions`).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from alphazero.evaluate import accuracy_table, sample_positions, solve_all
from alphazero.model import load_agent
from common import cli
from common.io import atomic_write, atomic_write_json


def skill_curve(run: Path, positions: int, sims: list[int], seed: int = 0) -> list[dict]:
    stems = sorted((run / "iters").glob("iter_*.json"))
    if not stems:
        raise FileNotFoundError(f"no iteration checkpoints under {run / 'iters'}")
    final, _ = load_agent(stems[-1])
    solved = solve_all(sample_positions(final, positions, seed=seed))
    rows = []
    for stem in tqdm(stems, desc="checkpoints"):
        net, config = load_agent(stem)
        table = accuracy_table(net, solved, sims)
        rows.append(
            dict(
                iteration=config["iteration"],
                elapsed=config["elapsed_seconds"],
                checkpoint=str(stem.with_suffix("")),
                **{
                    f"{name}:{metric}": value
                    for name, r in table.items()
                    for metric, value in r.items()
                },
            )
        )
    return rows


def plot_skill(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["elapsed"] / 60 for r in rows]
    names = sorted({k.split(":")[0] for r in rows for k in r if k.endswith(":outcome_accuracy")})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in names:
        axes[0].plot(
            minutes, [r[f"{name}:outcome_accuracy"] for r in rows], marker="o", ms=3, label=name
        )
        axes[1].plot(minutes, [r[f"{name}:discs_lost"] for r in rows], marker="o", ms=3, label=name)
    axes[0].set_ylabel("moves keeping the solved outcome")
    axes[1].set_ylabel("discs lost per move vs perfect play")
    for ax in axes:
        ax.set_xlabel("training time (minutes, 2 CPU cores)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    count = next(v for k, v in rows[0].items() if k.endswith(":positions"))
    fig.suptitle(f"move accuracy on the same {count} solved positions (10-14 empties)")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


@cli.command
def main(argv=None) -> None:
    ap = cli.parser(prog="python -m alphazero.skill", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="training run directory (holds iters/)")
    ap.add_argument("--positions", type=int, default=400)
    ap.add_argument("--sims", default="0,16", help="simulation counts (0 = raw policy)")
    ap.add_argument("--seed", type=cli.seed, default=0)
    args = ap.parse_args(argv)
    cli.check_out_file(args.run / "skill.json", "RUN")
    try:
        sims = [int(s) for s in args.sims.split(",") if s.strip()]
        rows = skill_curve(args.run, args.positions, sims, args.seed)
    except (ValueError, FileNotFoundError) as e:
        ap.error(str(e))
    atomic_write_json(args.run / "skill.json", rows)
    plot_skill(rows, args.run / "skill.png")
    for r in rows:
        print(
            f"iter {r['iteration']:>3}  {r['elapsed'] / 60:5.1f} min  "
            + "  ".join(
                f"{k.split(':')[0]} {v:.3f}" for k, v in r.items() if k.endswith("outcome_accuracy")
            )
        )
    print(f"wrote {args.run / 'skill.json'} and {args.run / 'skill.png'}")


if __name__ == "__main__":
    main()
