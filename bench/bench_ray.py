"""What `--ray` costs on one machine: each workload local and on a local Ray instance, one run.

    python bench/bench_ray.py                       # ~5-10 minutes on 2 cores
    python bench/bench_ray.py --games 128 --positions 20000 --steps 100   # shorter

Measured, in this order, printed as one table:
  - Ray start: `ray.init` of a local instance (all CPUs);
  - worker start-up: a self-play actor created until its first reply (a new process importing
    the toolkit and torch), one alone, then one per CPU at once;
  - per-task overhead: an empty task submitted and waited for one at a time, and 500 at once
    (per task); an empty actor call one at a time; publishing the default-size net
    (`ray.put` of its float32 weights) and reading it back in a worker;
  - the three workloads with the same inputs and outputs both ways, each local path at its own
    best (all cores, the toolkit's thread choice), the Ray path on one worker per CPU, actors
    and task workers already started (their start-up is the row above):
      self-play   `self_play` vs `SelfPlayPool` (the default-size net, random weights)
      collection  `collect` vs `collect(chunks=chunks_on_ray)` (the shipped agent)
      sweep       four dictionaries from one pass (`train`) vs four tasks (`train_each`),
                  and the time one pass of batch reads takes (the local path reads once, the
                  tasks once each).
The ratio is Ray / local wall time (above 1: Ray slower). The outputs are checked equal.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import common  # noqa: E402, F401, I001  (before torch: the OpenMP wait policy, as in use)
import argparse  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.bench_transcoder import cpu_features  # noqa: E402


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _best_of(runs: int, *ways):
    """Each way (a function returning (seconds, output)) `runs` times, alternating so both
    see the same load; per way the fastest time and its output."""
    best = [(float("inf"), None)] * len(ways)
    for _ in range(runs):
        for i, way in enumerate(ways):
            t, out = way()
            if t < best[i][0]:
                best[i] = (t, out)
    return best


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".png")}  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--games", type=int, default=128, help="self-play games")
    ap.add_argument("--parallel", type=int, default=32, help="games per block")
    ap.add_argument("--sims", type=int, default=16)
    ap.add_argument("--positions", type=int, default=20000, help="activation rows")
    ap.add_argument("--steps", type=int, default=100, help="steps per dictionary")
    ap.add_argument("--runs", type=int, default=2, help="timed runs of each way (best kept)")
    ap.add_argument("--agent", default="pretrained/agent")
    args = ap.parse_args(argv)

    import ray

    from alphazero.inference import NetEvaluator
    from alphazero.model import AlphaZeroNet, NetConfig
    from alphazero.selfplay import SelfPlayConfig, self_play
    from alphazero.selfplay_actors import SelfPlayPool, SelfPlayWorker, net_payload
    from common import cluster
    from sae.activations.batches import Pairs
    from sae.activations.collect import collect, play_chunk
    from sae.activations.sharded import chunks_on_ray
    from sae.activations.store import ActivationStore
    from sae.dictionary.sweep import grid
    from sae.dictionary.tasks import train_each
    from sae.dictionary.train import TrainConfig, train

    cpus = cluster.cpu_count()
    load = os.getloadavg()
    print(f"CPU: {cpu_features()}; {cpus} CPUs; torch {torch.__version__}, ray {ray.__version__}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    from common import wait_policy

    print(f"OpenMP wait policy: {wait_policy.CHOSEN}; best of {args.runs} alternating runs")
    rows: list[tuple[str, str]] = []

    def row(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"{name}: {value}", flush=True)

    t, _ = _timed(cluster.init_local, num_cpus=cpus)
    row("Ray start (ray.init, local instance)", f"{t:.2f} s")

    # -- worker start-up and per-task overhead -------------------------------------------
    t0 = time.perf_counter()
    first = SelfPlayWorker.options(num_cpus=1).remote("float32", "cpu")
    ray.get(first.pid.remote())
    row("worker start-up: one actor to its first reply", f"{time.perf_counter() - t0:.2f} s")
    ray.kill(first)
    t0 = time.perf_counter()
    many = [SelfPlayWorker.options(num_cpus=1).remote("float32", "cpu") for _ in range(cpus)]
    ray.get([a.pid.remote() for a in many])
    row(f"worker start-up: {cpus} actors at once", f"{time.perf_counter() - t0:.2f} s")

    t, _ = _timed(lambda: [ray.get(many[0].pid.remote()) for _ in range(200)])
    row("empty actor call, one at a time", f"{t / 200 * 1e3:.2f} ms per call")
    for a in many:  # their CPUs go back to the tasks below
        ray.kill(a)

    @ray.remote(num_cpus=1)
    def nothing(x=None):
        return x

    ray.get([nothing.remote() for _ in range(2 * cpus)])  # task workers started
    t, _ = _timed(lambda: [ray.get(nothing.remote()) for _ in range(200)])
    row("empty task, one at a time", f"{t / 200 * 1e3:.2f} ms per task")
    t, _ = _timed(lambda: ray.get([nothing.remote() for _ in range(500)]))
    row("empty tasks, 500 at once", f"{t / 500 * 1e3:.2f} ms per task")
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig()).eval()
    payload = net_payload(net)
    size = sum(v.nbytes for v in payload["weights"].values())
    t_put, ref = _timed(ray.put, payload)
    t_get, _ = _timed(lambda: ray.get(nothing.remote(ref)))
    row(
        f"publish the net ({size / 2**20:.1f} MiB float32)",
        f"ray.put {t_put * 1e3:.1f} ms, read back in a worker {t_get * 1e3:.1f} ms",
    )

    # -- self-play ------------------------------------------------------------------------
    cfg = SelfPlayConfig(args.parallel, args.sims, "puct", opening_plies=2)
    evaluator = NetEvaluator(net)
    self_play(evaluator, 6, 2, SelfPlayConfig(2, 2, "puct"), seed=1, progress=False)  # warm
    pool = SelfPlayPool(cpus, "auto")
    pool(net, 6, cpus, SelfPlayConfig(1, 2, "puct"), 1, False)  # actors started and warm
    (t_local, (ex, stats)), (t_ray, (ex_ray, _)) = _best_of(
        args.runs,
        lambda: _timed(self_play, evaluator, 6, args.games, cfg, 0, False),
        lambda: _timed(pool, net, 6, args.games, cfg, 0, False),
    )
    pool.close()
    assert np.array_equal(ex.me, ex_ray.me) and np.array_equal(ex.policy, ex_ray.policy)
    row(
        f"self-play ({args.games} games, blocks of {args.parallel}, {args.sims} sims, "
        f"{stats.positions} positions)",
        f"local {t_local:.1f} s ({stats.positions / t_local:.0f} pos/s), Ray {cpus} workers "
        f"{t_ray:.1f} s ({stats.positions / t_ray:.0f} pos/s): ratio {t_ray / t_local:.2f}",
    )

    # -- activation collection -----------------------------------------------------------------
    sites = ["blocks.2.resid_post", "blocks.1.mlp_in", "blocks.1.mlp_out"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kw = dict(games_per_chunk=64, progress=False)
        warm = tmp / "warm"  # workers import the collector and compile its kernels once
        collect(args.agent, sites, 2000, warm, chunks=chunks_on_ray(cpus, play_chunk), **kw)
        collect(args.agent, sites, 2000, tmp / "warm_local", **kw)
        on_ray = dict(kw, chunks=chunks_on_ray(cpus, play_chunk))
        n = iter(range(99))

        def fresh(name, **kw):  # a new store each time
            folder = tmp / f"{name}{next(n)}"
            return _timed(collect, args.agent, sites, args.positions, folder, **kw)[0], folder

        (t_local, local), (t_ray, on) = _best_of(
            args.runs, lambda: fresh("local", **kw), lambda: fresh("ray", **on_ray)
        )
        assert _files(local) == _files(on)
        row(
            f"collection ({args.positions} positions, 3 sites, chunks of 64 games)",
            f"local {t_local:.1f} s, Ray {cpus} workers {t_ray:.1f} s: ratio {t_ray / t_local:.2f}",
        )

        # -- sweep ---------------------------------------------------------------------------
        store = ActivationStore(local)
        specs = grid(256, sites[0], widths=(1024,), l1_coeffs=(1.0, 2.0), ks=(16, 32))
        tcfg = TrainConfig(batch_size=4096, steps=args.steps, checkpoint_every=args.steps)
        tcfg.progress = False
        data = Pairs.from_store(store, sites[0])
        t_reads, _ = _timed(lambda: list(itertools.islice(data.batches(4096, 0), args.steps)))
        out = iter(range(99))

        def sweep(way, *a, **kw):  # a new folder each time: every run trains
            folder = tmp / f"sweep{next(out)}"
            return _timed(way, *a, folder, **kw)[0], folder

        (t_local, a), (t_ray, b) = _best_of(
            args.runs,
            lambda: sweep(train, specs, data, tcfg),
            lambda: sweep(train_each, specs, tcfg, store, progress=False),
        )
        for s in specs:
            same = _files(a / s.name)["dictionary.safetensors"]
            assert same == _files(b / s.name)["dictionary.safetensors"], s.name
        row(
            f"sweep ({len(specs)} dictionaries of 1024 latents, {args.steps} steps x 4096 rows)",
            f"local one pass {t_local:.1f} s, Ray {len(specs)} tasks on {cpus} CPUs "
            f"{t_ray:.1f} s: ratio {t_ray / t_local:.2f}; one pass of batch reads {t_reads:.2f} "
            f"s (local: once, Ray: once per task)",
        )
    ray.shutdown()
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("\n| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
