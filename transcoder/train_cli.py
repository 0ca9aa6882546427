"""Train TopK transcoders that replace the agent's MLPs (the body of train_transcoder.py).

    python train_transcoder.py --store data/acts/agent --all-layers --skip --out runs/transcoders
    python train_transcoder.py --store data/acts/agent --layer 2 --out runs/transcoders

Block i's transcoder reads `blocks.{i}.mlp_in` (the LayerNorm'd residual) and predicts
`blocks.{i}.mlp_out`: TopK (default 16 x d_model latents, k = 32), unit-norm decoder, AuxK,
and with --skip a linear skip term (Paulo et al. 2025). With --all-layers every block's
transcoder trains from one pass over the store: the engine reads all eight sites of each
batch's rows and each run takes its own pair. Output: the transcoder set of
transcoder/set.py (OUT/blocks.{i}/dictionary.* per block, OUT/transcoders.json written last).
Interrupted training resumes when rerun with the same settings. With --ray [ADDRESS] each
block's transcoder is its own Ray task, with the same result (docs/ray.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from alphazero.model import load_agent
from common import cli, cluster
from common.io import CheckpointError
from sae.activations.batches import Columns, store_argument
from sae.activations.store import ActivationStore, StoreError
from sae.dictionary.model import DictConfig
from sae.dictionary.train import RunSpec, TrainConfig, TrainingDiverged, train
from transcoder.set import block_sites, layer_name, write_set_config

EXPANSION = 16  # latents per d_model dimension


def parse_args(argv):
    ap = cli.parser(prog="train_transcoder.py", description=__doc__)
    ap.add_argument("--store", help="activation store (default: data/acts/<agent name>)")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--layer", type=int, metavar="I", help="train block I's transcoder")
    which.add_argument(
        "--all-layers", action="store_true", help="every block's, from one pass over the store"
    )
    ap.add_argument(
        "--latents",
        type=cli.count(1),
        help=f"latents per transcoder (default {EXPANSION} x d_model)",
    )
    ap.add_argument("--k", type=int, default=32, help="active latents per position")
    ap.add_argument("--skip", action="store_true", help="add a linear skip term W_skip x")
    ap.add_argument("--steps", type=int, default=TrainConfig.steps, help="optimiser steps")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--lr", type=cli.finite, help="learning rate (default: 2e-4 / sqrt(n / 2^14))")
    ap.add_argument(
        "--out", type=cli.out_dir, default="runs/transcoders", help="output folder (the set)"
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument(
        "--device",
        type=cli.device,
        default="cpu",
        help="torch device to train on, e.g. cuda (default cpu; batches are read on the CPU)",
    )
    ap.add_argument("--wandb", action="store_true", help="log to Weights & Biases")
    cluster.add_argument(ap)  # one Ray task per block
    args = ap.parse_args(argv)
    if min(args.steps, args.batch_size, args.k) < 1 or (
        args.latents is not None and args.latents < 1
    ):
        ap.error("--steps, --batch-size, --k and --latents must be positive")
    if args.lr is not None and args.lr <= 0:
        ap.error("--lr must be positive")
    if args.latents is not None and args.k > args.latents:
        ap.error("--k must be at most --latents")
    args.store = store_argument(ap, args.store, "blocks.0.mlp_in,blocks.0.mlp_out,...")
    return ap, args


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap, args = parse_args(argv)
    try:
        store = ActivationStore(args.store)
        agent = dict(store.manifest.get("checkpoint") or {})
        if not agent.get("path"):
            sys.exit(f"error: {args.store} records no agent checkpoint")
        net, _ = load_agent(agent["path"])
    except (StoreError, CheckpointError) as e:
        sys.exit(f"error: {e}")
    n_blocks, d = net.cfg.n_blocks, net.cfg.d_model
    if args.layer is not None and not 0 <= args.layer < n_blocks:
        ap.error(f"block {args.layer} does not exist: the agent has blocks 0..{n_blocks - 1}")
    blocks = range(n_blocks) if args.all_layers else [args.layer]
    latents = args.latents or EXPANSION * d
    if args.k > latents:
        ap.error(f"--k {args.k} exceeds the {latents} latents")
    specs = []
    for i in blocks:
        in_site, out_site = block_sites(i)
        cfg = DictConfig(
            "topk",
            d_in=d,
            n_latents=latents,
            k=args.k,
            in_site=in_site,
            out_site=out_site,
            skip=args.skip,
        )
        specs.append(RunSpec(layer_name(i), cfg, lr=args.lr))
    sites = [s for spec in specs for s in (spec.dictionary.in_site, spec.dictionary.out_site)]
    try:
        data = Columns.from_store(store, sites)
    except ValueError as e:
        sys.exit(f"error: {e}")
    cfg = TrainConfig(
        batch_size=args.batch_size,
        steps=args.steps,
        seed=args.seed,
        wandb=args.wandb,
        device=args.device,
    )
    print(
        f"{len(specs)} transcoder(s) ({latents} latents, k={args.k}"
        f"{', skip' if args.skip else ''}) on {data.n_rows} training rows "
        f"({args.steps} steps x {args.batch_size}) -> {args.out}"
    )
    try:
        if args.ray is None:
            train(specs, data, cfg, args.out)
        else:
            _train_on_ray(args.ray, specs, cfg, store, args.out)
    except (TrainingDiverged, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
    written = write_set_config(
        args.out,
        n_blocks,
        agent={"path": agent["path"], "sha256": agent.get("sha256")},
        store={"path": str(store.root), "hash": store.hash},
    )
    done = [i for i, stem in enumerate(written["layers"]) if stem]
    print(f"wrote {Path(args.out) / 'transcoders.json'} (blocks {done} of {n_blocks})")
    print(f"fidelity: python -m transcoder.evaluate {args.out}")


def _train_on_ray(where: str, specs, cfg, store, out) -> None:
    """Each block's transcoder trained by its own Ray task (sae.dictionary.tasks)."""
    from sae.dictionary.tasks import train_each  # imports Ray: only with --ray

    with cluster.session(where):
        train_each(specs, cfg, store, out, columns=True)
