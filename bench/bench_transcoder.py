"""Transcoder training throughput vs SAE training: same store, same engine, side by side.

Each configuration runs the engine's inner loop (`sae.dictionary.train`: the data source's shuffled
batches, `data.pick`, `Run.train_step` of every run) on its own batch iterator over the same
store; the configurations take turns one step at a time, so machine noise hits all alike,
and every one of them reads its windows from disk within the timed steps. Throughput is rows
trained per second (one step trains every run of its configuration on the batch), mean
over the timed steps after two warm-up steps (numba compilation, first window). Ratios
compare configurations with the same number of dictionaries:

    SAE on blocks.1.mlp_in              vs  transcoder blocks.1 (mlp_in -> mlp_out), + skip
    4 SAEs on blocks.{i}.mlp_in, 1 pass vs  4 skip transcoders, 1 pass (--all-layers)

    python bench/bench_transcoder.py [--store data/acts/agent] [--steps 32] [--latents 4096]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from sae.activations.batches import Columns, Pairs  # noqa: E402
from sae.activations.store import ActivationStore, StoreError  # noqa: E402
from sae.dictionary.model import DictConfig  # noqa: E402
from sae.dictionary.train import Run, RunSpec, TrainConfig  # noqa: E402
from transcoder.set import block_sites  # noqa: E402


def cpu_features() -> str:
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}; {', '.join(have) or 'no AVX2/AVX-512/AMX'}"


class Config:
    """One timed configuration: a data source and its runs."""

    def __init__(self, name, data, cfgs, args, tmp):
        self.name, self.data = name, data
        train_cfg = TrainConfig(batch_size=args.batch, steps=10**9, progress=False)
        self.runs = []
        sample = data.sample(4096, 0)
        for j, cfg in enumerate(cfgs):
            run = Run(RunSpec(f"r{j}", cfg), train_cfg, Path(tmp) / name)
            x, y = data.pick(sample, cfg)  # scales from a sample, not a pass over the split
            run.dict.set_scales(float(x.norm(dim=1).mean()), float(y.norm(dim=1).mean()))
            self.runs.append(run)
        self.batches = data.batches(args.batch, seed=0)
        self.seconds = 0.0

    def step(self, timed: bool) -> None:
        t = time.perf_counter()
        batch = next(self.batches)
        for run in self.runs:
            run.train_step(*self.data.pick(batch, run.spec.dictionary))
        if timed:
            self.seconds += time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--store", default="data/acts/agent", help="store with blocks.*.mlp_in/out")
    ap.add_argument("--steps", type=int, default=32, help="timed steps per configuration")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    args = ap.parse_args()
    if min(args.steps, args.batch, args.latents, args.k) < 1 or args.k > args.latents:
        ap.error("sizes must be positive and k <= latents")
    try:
        store = ActivationStore(args.store)
    except StoreError as e:
        sys.exit(f"error: {e} (collect one: python -m sae.activations, docs/dictionaries.md)")
    blocks = sorted({int(s.split(".")[1]) for s in store.sites if s.endswith(".mlp_out")})
    if 1 not in blocks:
        sys.exit(f"error: {args.store} has no blocks.1.mlp_in / mlp_out activations")
    d = store.sites["blocks.1.mlp_in"]

    def topk(in_site, out_site=None, skip=False):
        sites = {"in_site": in_site, "out_site": out_site}
        return DictConfig("topk", d_in=d, n_latents=args.latents, k=args.k, skip=skip, **sites)

    ins = [block_sites(i)[0] for i in blocks]
    pairs = [block_sites(i) for i in blocks]
    with tempfile.TemporaryDirectory() as tmp:
        configs = [
            Config("SAE", Pairs.from_store(store, ins[1]), [topk(ins[1])], args, tmp),
            Config("transcoder", Pairs.from_store(store, *pairs[1]), [topk(*pairs[1])], args, tmp),
            Config(
                "skip transcoder",
                Pairs.from_store(store, *pairs[1]),
                [topk(*pairs[1], skip=True)],
                args,
                tmp,
            ),
            Config(
                f"{len(blocks)} SAEs, one pass",
                Columns.from_store(store, ins),
                [topk(s) for s in ins],
                args,
                tmp,
            ),
            Config(
                f"{len(blocks)} skip transcoders, one pass",
                Columns.from_store(store, [s for p in pairs for s in p]),
                [topk(*p, skip=True) for p in pairs],
                args,
                tmp,
            ),
        ]
        for i in range(args.steps + 2):
            for c in configs:
                c.step(timed=i >= 2)
    rate = {c.name: args.steps * args.batch / c.seconds for c in configs}
    print(
        f"Training throughput on {args.store} (batch {args.batch}, {args.latents} latents, "
        f"k={args.k}), mean of {args.steps} alternating steps, {torch.get_num_threads()} "
        f"threads\nCPU: {cpu_features()}"
    )
    print(f"{'configuration':<30}{'ms/step':>9}{'rows/s':>10}{'dict-rows/s':>13}")
    for c in configs:
        per_step = 1e3 * c.seconds / args.steps
        print(f"{c.name:<30}{per_step:9.1f}{rate[c.name]:10.0f}{rate[c.name] * len(c.runs):13.0f}")
    sae = rate["SAE"]
    n = len(blocks)
    print(f"transcoder / SAE: {rate['transcoder'] / sae:.2f}x")
    print(f"skip transcoder / SAE: {rate['skip transcoder'] / sae:.2f}x")
    print(
        f"{n} skip transcoders / {n} SAEs, one pass each: "
        f"{rate[f'{n} skip transcoders, one pass'] / rate[f'{n} SAEs, one pass']:.2f}x"
    )


if __name__ == "__main__":
    main()
