"""Train the AlphaZero agent: `python train_alphazero.py --preset quick --out runs/quick`.

Presets: quick (a few minutes, feeds the pipeline), strong (the shipped agent, ~30 min on
2 CPU cores), tiny (CI smoke test). Any TrainConfig field can be overridden, e.g.
`--simulations 64 --root-rule puct`. `--resume` continues a killed run from its last
completed iteration (replay buffer, optimizer and RNG included). `--ray [ADDRESS]` plays
the games on Ray actors (a local instance, or the cluster at ADDRESS) and trains here, with
the same results (docs/ray.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from alphazero.train import PRESETS, TrainConfig, make_config, train
from common import cli, cluster


def build_parser() -> argparse.ArgumentParser:
    ap = cli.parser(prog="train_alphazero.py", description=__doc__)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    ap.add_argument(
        "--out", type=cli.out_dir, default=None, help="run directory (default: runs/<preset>)"
    )
    ap.add_argument("--resume", action="store_true", help="continue the run in --out")
    ap.add_argument("--wandb", action="store_true", help="log to Weights & Biases")
    ap.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ap.add_argument("--print-config", action="store_true", help="print the settings and exit")
    cluster.add_argument(ap)  # self-play on Ray actors, the learner here
    group = ap.add_argument_group(
        "settings (override the preset; defaults shown are the dataclass defaults)"
    )
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            group.add_argument(
                flag, type=_parse_bool, default=None, metavar="BOOL", help=f"(default {f.default})"
            )
        else:
            kind = {"int": int, "float": cli.finite, "str": str}[str(f.type)]
            kind = {"seed": cli.seed, "device": cli.device}.get(f.name, kind)
            group.add_argument(flag, type=kind, default=None, help=f"(default {f.default})")
    return ap


def _ray_play(ray_cluster: cluster.Cluster, cfg):
    """Self-play actors, one per CPU of the cluster (with CUDA, one per GPU)."""
    from alphazero.selfplay_actors import SelfPlayPool  # imports Ray: only with --ray

    workers = ray_cluster.gpus if cfg.device.startswith("cuda") else ray_cluster.cpus
    return SelfPlayPool(max(1, workers), cfg.inference_dtype, cfg.device)


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


@cli.command
def main(argv=None) -> None:
    ap = build_parser()
    args = ap.parse_args(argv)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    try:
        cfg = make_config(args.preset, **overrides)
        cfg.net_config().validate()
        if cfg.root_rule not in ("puct", "gumbel"):
            raise ValueError("--root-rule must be puct or gumbel")
    except ValueError as e:
        ap.error(str(e))
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return
    out = args.out or f"runs/{args.preset}"
    cli.check_out_dir(out, "--out")
    wandb_run = None
    if args.wandb:
        import wandb  # optional dependency, only imported when asked for

        wandb_run = wandb.init(project="othello-alphazero", config=dataclasses.asdict(cfg))
    try:
        with cluster.session(args.ray) as ray_cluster:
            play = _ray_play(ray_cluster, cfg) if ray_cluster else None
            train(cfg, out, args.resume, wandb_run, progress=not args.no_progress, play=play)
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: `python train_alphazero.py --preset {args.preset} --out {out} "
            f"--resume` continues from the last completed iteration",
            file=sys.stderr,
        )
        sys.exit(130)
    print(f"agent saved to {out}/agent.safetensors (+ .json)")


if __name__ == "__main__":
    main()
