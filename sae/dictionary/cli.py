"""Train sparse autoencoders on the agent's activations (a thin CLI over sae/).

    python train_sae.py                      # one TopK SAE (4096 latents, k=32)
    python train_sae.py --architecture relu --l1 3 --latents 1024
    python train_sae.py --sweep              # the seed's L1 grid + a TopK grid, scaling.json
    python train_sae.py --sweep --quick      # a small grid that checks the pipeline in minutes
    python train_sae.py --sweep --families topk,batchtopk,matryoshka --ks 16,32 --widths 4096

Data: an activation store from `python -m sae.activations` (default data/acts/<agent>).
Output: <out>/<run>/dictionary.{json,safetensors} per run, plus for a sweep
<out>/scaling.json (every held-out metric per run) and plots. Interrupted runs resume.
With --ray [ADDRESS] every dictionary trains and is evaluated by its own Ray task, with the
same result (docs/ray.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from alphazero.model import load_agent
from common import cli, cluster
from common.io import CheckpointError, atomic_write_json, remove_stale_temp
from sae.activations.batches import Pairs, store_argument
from sae.activations.store import ActivationStore, StoreError
from sae.dictionary.evaluate import format_table
from sae.dictionary.metrics import evaluate
from sae.dictionary.model import ARCHITECTURES, DictConfig
from sae.dictionary.plots import plot_scaling
from sae.dictionary.sweep import best_pair, grid, run_name, summary_row
from sae.dictionary.train import RunSpec, TrainConfig, TrainingDiverged, train


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(cli.parse_int(v, 1) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e} in {text!r}") from None


def _families(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [n for n in names if n not in ARCHITECTURES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown famil{'y' if len(bad) == 1 else 'ies'} {', '.join(bad) or '(none)'}: "
            f"choose from {', '.join(ARCHITECTURES)}"
        )
    return names


def _floats(text: str) -> tuple[float, ...]:
    return tuple(cli.finite(v) for v in text.split(",") if v.strip())


def _exponent(text: str) -> float:
    p = cli.finite(text)
    if not 0 < p <= 1:
        raise argparse.ArgumentTypeError(f"the exponent must be in (0, 1], got {text!r}")
    return p


def parse_args(argv):
    ap = cli.parser(prog="train_sae.py", description=__doc__)
    ap.add_argument("--store", help="activation store (default: data/acts/<agent name>)")
    ap.add_argument("--site", default="blocks.2.resid_post", help="hook site to encode")
    ap.add_argument("--architecture", choices=ARCHITECTURES, default="topk")
    ap.add_argument("--latents", type=cli.count(1), default=4096)
    ap.add_argument("--k", type=cli.count(1), default=32, help="active latents (topk / batchtopk)")
    ap.add_argument("--l1", type=cli.finite, default=3.0, help="L1 coefficient (relu)")
    ap.add_argument(
        "--p-end",
        type=_exponent,
        default=1.0,
        help="relu: anneal the penalty's exponent from 1 to this (Karvonen et al.'s "
        "p-annealing, e.g. 0.2; default 1: plain L1)",
    )
    ap.add_argument("--sweep", action="store_true", help="train the L1 and TopK grids")
    ap.add_argument(
        "--families",
        type=_families,
        default=("relu", "topk"),
        help="sweep families, comma-separated, of " + ", ".join(ARCHITECTURES) + " (default "
        "relu,topk: the seed's L1 grid and a TopK grid; --ks applies to every k family)",
    )
    ap.add_argument("--quick", action="store_true", help="small grid / short run")
    ap.add_argument(
        "--widths", type=_ints, help="sweep widths, e.g. 1024,4096 (default: the seed's 256..4096)"
    )
    ap.add_argument(
        "--l1-coeffs", type=_floats, help="sweep L1 coefficients (default 1..5; empty string: none)"
    )
    ap.add_argument(
        "--ks", type=_ints, help="sweep TopK k values (default 8,16,32,64; empty string: none)"
    )
    ap.add_argument(
        "--steps", type=cli.count(1), help="optimiser steps (default 4000; --quick 300)"
    )
    ap.add_argument("--batch-size", type=cli.count(1), default=4096)
    ap.add_argument("--lr", type=cli.finite, help="learning rate (default: per architecture/width)")
    ap.add_argument("--out", type=cli.out_dir, default="runs/sae", help="output folder")
    ap.add_argument(
        "--games",
        type=cli.count(0),
        default=32,
        help="spliced-vs-clean games per evaluated run (0: skip)",
    )
    ap.add_argument(
        "--positions",
        type=cli.count(1),
        default=4096,
        help="held-out positions for the spliced metrics",
    )
    ap.add_argument("--no-eval", action="store_true", help="train only")
    ap.add_argument(
        "--checkpoint-every",
        type=cli.count(1),
        default=TrainConfig.checkpoint_every,
        help=f"steps between resumable checkpoints (default {TrainConfig.checkpoint_every})",
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument(
        "--device",
        type=cli.device,
        default="cpu",
        help="torch device to train on, e.g. cuda (default cpu; batches are read on the CPU)",
    )
    ap.add_argument("--wandb", action="store_true", help="log to Weights & Biases")
    cluster.add_argument(ap)  # one Ray task per dictionary
    args = ap.parse_args(argv)
    if min(args.latents, args.batch_size, args.checkpoint_every, args.steps or 1) < 1:
        ap.error("--latents, --batch-size, --steps and --checkpoint-every must be positive")
    if (args.lr is not None and args.lr <= 0) or args.l1 < 0:
        ap.error("--lr must be positive and --l1 >= 0")
    if args.architecture != "relu" and not 1 <= args.k <= args.latents:
        ap.error("--k must be in 1..--latents")
    if args.quick and not args.sweep and args.steps is None:
        args.steps = 300
    args.store = store_argument(ap, args.store, args.site)
    return args


@cli.command
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        store = ActivationStore(args.store)
    except StoreError as e:
        sys.exit(f"error: {e}")
    if args.site not in store.sites:
        sys.exit(f"error: {args.store} holds {', '.join(store.sites)}, not {args.site}")
    d = store.sites[args.site]
    if args.sweep:
        specs = grid(
            d,
            args.site,
            quick=args.quick,
            lr=args.lr,
            widths=args.widths,
            l1_coeffs=args.l1_coeffs,
            ks=args.ks,
            families=args.families,
            p_end=args.p_end,
        )
        if not specs:
            sys.exit("error: the sweep grid is empty")
    else:
        cfg = DictConfig(
            args.architecture, d_in=d, n_latents=args.latents, k=args.k, in_site=args.site
        )
        name = run_name(args.architecture, args.latents, args.k, args.l1, args.p_end)
        specs = [RunSpec(name, cfg, l1_coeff=args.l1, lr=args.lr, p_end=args.p_end)]
    steps = args.steps or (300 if args.quick else TrainConfig.steps)
    cfg = TrainConfig(
        batch_size=args.batch_size,
        steps=steps,
        seed=args.seed,
        wandb=args.wandb,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
    )
    if args.ray is not None:
        scaling = _train_on_ray(args, specs, cfg, store)
    else:
        scaling = _train_here(args, specs, cfg, store)
    if scaling is None:  # --no-eval
        return
    print(format_table(scaling))
    if args.sweep:
        remove_stale_temp(args.out)  # e.g. a scaling.json temporary from a killed sweep
        atomic_write_json(Path(args.out) / "scaling.json", scaling)
        for path in plot_scaling(scaling, args.out):
            print(f"wrote {path}")
        pair = best_pair(scaling)
        if pair:
            print("\nbest L1 and TopK at similar L0 (held-out):")
            print(format_table({name: scaling[name] for name in pair}))


def _train_here(args, specs, cfg, store) -> dict | None:
    """Every run from one pass over the store, then each evaluated: the scaling rows."""
    data = Pairs.from_store(store, args.site)
    print(
        f"{len(specs)} run(s) on {data.n_rows} training rows of {args.site} "
        f"({cfg.steps} steps x {args.batch_size}) -> {args.out}"
    )
    try:
        trained = {k: v.cpu() for k, v in train(specs, data, cfg, args.out).items()}
    except (TrainingDiverged, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
    if args.no_eval:
        return None
    if store.checkpoint is None:
        sys.exit(f"error: {args.store} records no agent checkpoint to evaluate with")
    try:
        net, _ = load_agent(store.checkpoint)
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    scaling = {}
    for spec in specs:
        metrics = evaluate(
            trained[spec.name],
            store,
            net,
            positions=args.positions,
            games=args.games,
            seed=args.seed,
        )
        history_path = Path(args.out) / spec.name / "log.json"
        history = json.loads(history_path.read_text())
        scaling[spec.name] = summary_row(spec, metrics, history)
    return scaling


def _train_on_ray(args, specs, cfg, store) -> dict | None:
    """Each run trained and evaluated by its own Ray task (sae.dictionary.tasks)."""
    from sae.dictionary.tasks import train_each  # imports Ray: only with --ray

    if not args.no_eval and store.checkpoint is None:
        sys.exit(f"error: {args.store} records no agent checkpoint to evaluate with")
    evaluation = dict(positions=args.positions, games=args.games, seed=args.seed)
    try:
        with cluster.session(args.ray):
            rows = train_each(specs, cfg, store, args.out, None if args.no_eval else evaluation)
    except (TrainingDiverged, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
    return None if args.no_eval else rows


if __name__ == "__main__":
    main()
