"""Estimate how long `train_sae.py --sweep` takes on this machine.

Times a few training steps (batch 4096, d=256, synthetic data) of every run in the grid and
scales to the sweep's step count. ReLU runs are timed on the dense path (their state early in
training, and throughout for small lambda / widths, where L0 stays above n/16): an upper bound.

    python bench/bench_sae_sweep.py [--steps 4000] [--timed 3]
    python bench/bench_sae_sweep.py --families relu --batch 16384 --steps 1000   # the seed's grid
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from sae.dictionary.sweep import grid  # noqa: E402
from sae.dictionary.train import Run, TrainConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=TrainConfig.steps, help="steps per run")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--timed", type=int, default=3, help="timed steps per run")
    ap.add_argument(
        "--families", default="relu,topk", help="sweep families (train_sae.py --families)"
    )
    ap.add_argument(
        "--scale-from",
        help="time only these widths (e.g. 256,4096) at the first L1 coefficient / k, and "
        "estimate the grid from per-latent cost (a step's cost grows with the latents)",
    )
    args = ap.parse_args()
    if min(args.steps, args.batch, args.timed) < 1:
        ap.error("all values must be positive")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 256) + 2.0  # mean offset like a residual stream
    total = 0.0
    print(f"{'run':>16s} {'s/step':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        specs = grid(256, "blocks.2.resid_post", families=tuple(args.families.split(",")))
        timed = specs
        if args.scale_from:
            widths = {int(w) for w in args.scale_from.split(",")}
            first = {}
            for spec in specs:  # one run per (family, width)
                first.setdefault((spec.dictionary.architecture, spec.dictionary.n_latents), spec)
            timed = [s for (_, n), s in first.items() if n in widths]
        per_latent = {}
        for spec in timed:
            run = Run(spec, TrainConfig(progress=False), tmp)
            run.dict.set_scales(float(x.norm(dim=1).mean()), float(x.norm(dim=1).mean()))
            run.train_step(x, x)  # warm-up (first-call compile and allocation)
            t = time.perf_counter()
            for _ in range(args.timed):
                run.train_step(x, x)
            per_step = (time.perf_counter() - t) / args.timed
            total += per_step
            arch = spec.dictionary.architecture
            per_latent.setdefault(arch, []).append(per_step / spec.dictionary.n_latents)
            print(f"{spec.name:>16s} {per_step:8.3f}", flush=True)
        if args.scale_from:  # the grid from the mean per-latent cost of each family
            cost = {a: sum(v) / len(v) for a, v in per_latent.items()}
            total = sum(cost[s.dictionary.architecture] * s.dictionary.n_latents for s in specs)
            print(f"(scaled from {len(timed)} timed runs by latents)")
    hours = total * args.steps / 3600
    print(
        f"all {len(specs)} runs, one step each (batch {args.batch}): {total:.2f} s -> "
        f"{args.steps} steps: {hours:.1f} h "
        f"(+ data reading and evaluation, which are small)"
    )


if __name__ == "__main__":
    main()
