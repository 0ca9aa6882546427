"""Thread configurations side by side: every workload under every candidate setting, each run
in a fresh process, rounds alternating the order, medians and ratios printed as a table.

    python bench/bench_threads.py                    # all workloads, all configurations
    python bench/bench_threads.py --rounds 5 --workloads play,selfplay

Why processes: OpenMP reads OMP_WAIT_POLICY once, when torch's runtime loads, and numba's
threading layer starts once; a setting can only be compared in a process of its own.

Configurations (the first three are what the toolkit did, or could be told to do, before
`common/threads.py`; "best old" is the better of the first two, the two settings users got):
  passive      OMP_WAIT_POLICY=PASSIVE set before torch loads (the old project default)
  torch-first  torch imported before the project (the OpenMP default policy: spin, then sleep)
  active       OMP_WAIT_POLICY=ACTIVE
  auto         the toolkit now, project imported first: the wait policy chosen from the load
               at import (common/wait_policy.py), the thread count per call (common/threads.py)
  auto-torch   the same with torch imported first (only the thread count is chosen)
Three more run only when named in --configs:
  passive-auto  OMP_WAIT_POLICY=PASSIVE with the toolkit's choice
  spin2k-auto   GOMP_SPINCOUNT=2000 (libgomp: spin about 20 us, then sleep) with the choice
  fixed         project imported first, no choice at all (A/B against auto and torch-first)
The three old ones run with OTHELLO_THREADS=fixed (torch keeps its thread count for every
call, numba its default threading layer), which is what the code did before.

Workloads (higher is better in every column):
  play      sequential self-play, three games, a batch-1 network call per simulation (positions/s)
  selfplay  128 games in lockstep, PUCT, 32 simulations (positions/s)
  arena     160 games az:pretrained/agent:32 vs greedy in lockstep (games/s)
  collect   activation collection of 20,000 positions, raw policy (positions/s)
  sae       TopK SAE training steps (4096 latents, k = 32, batch 4096; rows/s)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE", "OTHELLO_THREADS": "fixed"}, False),
    "torch-first": ({"OTHELLO_THREADS": "fixed"}, True),
    "active": ({"OMP_WAIT_POLICY": "ACTIVE", "OTHELLO_THREADS": "fixed"}, False),
    "auto": ({}, False),
    "auto-torch": ({}, True),
    # not run unless named in --configs: what a user can still set in the environment
    "passive-auto": ({"OMP_WAIT_POLICY": "PASSIVE"}, False),
    "fixed": ({"OTHELLO_THREADS": "fixed"}, False),
    "spin2k-auto": ({"GOMP_SPINCOUNT": "2000"}, False),
}
SET_HERE = ("OMP_WAIT_POLICY", "OTHELLO_THREADS", "GOMP_SPINCOUNT")  # only as a config says
DEFAULT_CONFIGS = ("passive", "torch-first", "active", "auto", "auto-torch")
OLD = ("passive", "torch-first")  # "today's two settings" before common/threads.py
NEW = ("auto", "auto-torch")
WORKLOADS = ("play", "selfplay", "arena", "collect", "sae")
# two-sided 95% t quantiles for 1..20 degrees of freedom
T95 = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
       2.12, 2.11, 2.10, 2.09, 2.09]  # fmt: skip


def cpu_features() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        )
    except OSError:
        return "unknown CPU"
    has = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} CPUs, {' '.join(has) or 'no AVX2'}"


# -- the workloads, run inside a worker process ------------------------------------------------
def _agent():
    from alphazero.model import load_agent

    net, _ = load_agent(ROOT / "pretrained" / "agent")
    return net


def work_play() -> float:
    from alphazero.inference import NetEvaluator
    from alphazero.selfplay import SelfPlayConfig, self_play

    evaluator = NetEvaluator(_agent())
    cfg = SelfPlayConfig(parallel_games=1, simulations=32, root_rule="puct")
    self_play(evaluator, 6, 1, SelfPlayConfig(1, 2, "puct"), seed=1, progress=False)  # warm up
    t0 = time.perf_counter()
    _, stats = self_play(evaluator, 6, 3, cfg, seed=0, progress=False)
    return stats.positions / (time.perf_counter() - t0)


def work_selfplay() -> float:
    from alphazero.inference import NetEvaluator
    from alphazero.selfplay import SelfPlayConfig, self_play

    evaluator = NetEvaluator(_agent())
    self_play(evaluator, 6, 1, SelfPlayConfig(1, 2, "puct"), seed=1, progress=False)
    cfg = SelfPlayConfig(parallel_games=128, simulations=32, root_rule="puct")
    t0 = time.perf_counter()
    _, stats = self_play(evaluator, 6, 128, cfg, seed=0, progress=False)
    return stats.positions / (time.perf_counter() - t0)


def work_arena() -> float:
    from othello.arena import play_match
    from othello.players import make_player

    agent = make_player(f"az:{ROOT / 'pretrained' / 'agent'}:32", 6)
    greedy = make_player("greedy", 6)
    play_match(agent, greedy, 2, 6, 4, 1, progress=False)  # warm up
    t0 = time.perf_counter()
    play_match(agent, greedy, 160, 6, 4, 0, progress=False)
    return 160 / (time.perf_counter() - t0)


def work_collect() -> float:
    from sae.activations.collect import collect

    with tempfile.TemporaryDirectory() as tmp:
        collect(ROOT / "pretrained" / "agent", ["blocks.2.resid_post"], 2048, Path(tmp) / "w",
                games_per_chunk=64, progress=False)  # fmt: skip
        t0 = time.perf_counter()
        collect(ROOT / "pretrained" / "agent", ["blocks.2.resid_post"], 20000, Path(tmp) / "s",
                progress=False)  # fmt: skip
        return 20000 / (time.perf_counter() - t0)


def work_sae() -> float:
    import numpy as np

    from sae.activations.batches import Pairs
    from sae.dictionary.model import DictConfig
    from sae.dictionary.train import RunSpec, TrainConfig, train

    x = np.random.default_rng(0).standard_normal((65536, 256)).astype(np.float32)
    spec = RunSpec("topk", DictConfig("topk", d_in=256, n_latents=4096, k=32, in_site="x"))
    steps = 12
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(steps=2, batch_size=4096, init_rows=4096, progress=False)
        train([spec], Pairs.from_arrays(x), cfg, Path(tmp) / "warm")
        cfg = TrainConfig(steps=steps, batch_size=4096, init_rows=4096, progress=False)
        t0 = time.perf_counter()
        train([spec], Pairs.from_arrays(x), cfg, Path(tmp) / "run")
        return steps * 4096 / (time.perf_counter() - t0)


def worker(workload: str, torch_first: bool) -> None:
    if torch_first:
        import torch  # noqa: F401  (before the project, as a notebook user would)
    sys.path.insert(0, str(ROOT))
    import warnings

    warnings.simplefilter("ignore")
    value = globals()[f"work_{workload}"]()
    print(json.dumps({"value": value}))


# -- the driver ----------------------------------------------------------------------------------
def run_one(workload: str, config: str) -> float:
    env_extra, torch_first = CONFIGS[config]
    env = {k: v for k, v in os.environ.items() if k not in SET_HERE}
    env.update(env_extra)
    cmd = [sys.executable, __file__, "--worker", workload]
    if torch_first:
        cmd.append("--torch-first")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{workload} under {config} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["value"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"of {', '.join(CONFIGS)}")
    ap.add_argument(
        "--background-load",
        type=int,
        default=0,
        help="busy processes running beside every measurement (a machine that is not idle)",
    )
    ap.add_argument("--json", help="also write every measurement here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--torch-first", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.torch_first)
    workloads = [w for w in args.workloads.split(",") if w]
    configs = [c for c in args.configs.split(",") if c]
    bad = [w for w in workloads if w not in WORKLOADS] + [c for c in configs if c not in CONFIGS]
    if bad:
        ap.error(f"unknown workload(s) / configuration(s) {bad}")
    results = {w: {c: [] for c in configs} for w in workloads}
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(args.background_load)
    ]
    try:
        measure_rounds(args.rounds, workloads, configs, results)
    finally:
        for p in busy:
            p.kill()
    report(args, workloads, configs, results)


def measure_rounds(rounds, workloads, configs, results) -> None:
    for r in range(rounds):
        order = configs if r % 2 == 0 else configs[::-1]  # alternate to spread drift
        for w in workloads:
            for c in order:
                results[w][c].append(run_one(w, c))
                print(f"round {r + 1} {w:9} {c:12} {results[w][c][-1]:10.1f}", flush=True)


def paired_ratio(new: list[float], base: list[float]) -> str:
    """Rounds pair the runs (alternating order within a round): the geometric mean of
    new/base per round with a 95% t-interval, since runs of one setting spread +-20% here."""
    logs = [math.log(a / b) for a, b in zip(new, base, strict=True)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return f"{math.exp(mean):.2f}x"
    half = T95[min(len(logs) - 2, len(T95) - 1)] * statistics.stdev(logs) / math.sqrt(len(logs))
    return f"{math.exp(mean):.2f}x [{math.exp(mean - half):.2f}, {math.exp(mean + half):.2f}]"


def report(args, workloads, configs, results) -> None:
    load = f", {args.background_load} busy processes beside" if args.background_load else ""
    print(f"\n{cpu_features()}; medians of {args.rounds} alternating rounds{load}")
    head = f"{'workload':10}" + "".join(f"{c:>13}" for c in configs)
    old = [c for c in OLD if c in configs]
    if old:
        head += f"{'best old':>10}" + "".join(
            f"{c + ' / best old':>22}" for c in configs if c in NEW
        )
    print(head)
    for w in workloads:
        med = {c: statistics.median(v) for c, v in results[w].items()}
        line = f"{w:10}" + "".join(f"{med[c]:13.1f}" for c in configs)
        if old:
            best = max(old, key=med.get)
            line += f"{med[best]:10.1f}" + "".join(
                f"{paired_ratio(results[w][c], results[w][best]):>22}" for c in configs if c in NEW
            )
        print(line)
    if old:
        print(
            "ratios: geometric mean of the per-round ratios to the best old setting (by median), "
            "with its 95% interval"
        )
    if args.json:
        sys.path.insert(0, str(ROOT))
        from common.io import atomic_write_json

        atomic_write_json(args.json, {"cpu": cpu_features(), "results": results})


if __name__ == "__main__":
    main()
