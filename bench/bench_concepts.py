"""Speed of the concepts layer: labelling positions, exact AUC of every latent for every
concept, and the whole `sae.concepts.report` report.

1. Labels: positions labelled per second by `sae.concepts.labels.load_labels` into an empty cache (a
   temporary folder, so the store's own cache is neither used nor touched), board families
   alone and with the exact solver families, then the same rows read back from the cache.
2. AUC of every latent of a 4096-latent TopK SAE for every binary concept on 50,000 held-out
   positions (`sae.concepts.analysis.auc_all`: board concepts on all rows, solver concepts on
   the solved ones), next to the plain per-latent loop (ranks with ties averaged by
   np.unique per latent, then that latent's rank sums) timed on 64 latents in the same run.
3. The full report for that dictionary (`sae.concepts.report.build_report`, default settings but
   --positions), with the seconds of each stage.

    python bench/bench_concepts.py [--store data/acts/agent] [--positions 50000]
        [--dictionary DICT | --latents 4096 --k 32 --train-steps 200]

Without --dictionary a TopK SAE is trained once into runs/bench_concepts/ (reused after).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.bench_transcoder import cpu_features  # noqa: E402
from sae.activations.batches import Pairs  # noqa: E402
from sae.activations.store import ActivationStore  # noqa: E402
from sae.concepts.analysis import auc_all, groups, latent_columns  # noqa: E402
from sae.concepts.labels import load_labels  # noqa: E402
from sae.concepts.report import (  # noqa: E402
    ConceptsConfig,
    build_report,
    load_net,
    position_labels,
    sample_positions,  # noqa: E402
)
from sae.dictionary.model import DictConfig, load_dictionary  # noqa: E402
from sae.dictionary.train import RunSpec, TrainConfig, train  # noqa: E402

LOOP_LATENTS = 64


class CacheElsewhere:
    """A store whose label cache lives in another folder (everything else is the store's)."""

    def __init__(self, store: ActivationStore, root: Path):
        self._store, self.root = store, root

    def __getattr__(self, name):
        return getattr(self._store, name)


def per_latent_auc(acts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The obvious loop: per latent, ranks with ties averaged, then its rank sums."""
    y = labels.astype(np.float64)
    pos = y.sum(0)
    neg = len(y) - pos
    out = np.empty((acts.shape[1], y.shape[1]))
    np.seterr(invalid="ignore", divide="ignore")  # concepts without positives: NaN
    for j in range(acts.shape[1]):
        values, inverse, counts = np.unique(acts[:, j], return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        ranks = (ends - (counts - 1) / 2)[inverse]
        out[j] = (ranks @ y - pos * (pos + 1) / 2) / (pos * neg)
    return out


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def bench_labels(store: ActivationStore, rows: np.ndarray, solver_rows: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        temp = CacheElsewhere(store, Path(tmp))
        _, board_s = timed(load_labels, temp, rows, progress=False)
        labels, solver_s = timed(load_labels, temp, solver_rows, solver=True, progress=False)
        _, again_s = timed(load_labels, temp, rows, progress=False)
        _, again_solver_s = timed(load_labels, temp, solver_rows, solver=True, progress=False)
    solved = int(labels.solved.sum())
    print(f"\nlabels (empty cache; {len(rows):,} held-out positions, {len(solver_rows):,} of them "
          f"with the solver, {solved:,} solved)")  # fmt: skip
    print(
        f"  board families:           {len(rows) / board_s:>12,.0f} positions/s ({board_s:.2f} s)"
    )
    print(
        f"  solver families:          {len(solver_rows) / solver_s:>12,.0f} positions/s "
        f"({solver_s:.2f} s; {solver_s / max(1, solved) * 1e3:.2f} ms per solved position)"
    )
    print(f"  board, read from cache:   {len(rows) / again_s:>12,.0f} positions/s")
    print(f"  solver, read from cache:  {len(solver_rows) / again_solver_s:>12,.0f} positions/s")
    ratio = (len(rows) / board_s) / (len(solver_rows) / solver_s)
    print(f"  without / with solver:    {ratio:.1f}x")


def default_dictionary(store: ActivationStore, site: str, args) -> Path:
    out = Path("runs/bench_concepts")
    spec = RunSpec(f"topk_k{args.k}_n{args.latents}", DictConfig("topk", store.sites[site],
                   args.latents, args.k, in_site=site))  # fmt: skip
    cfg = TrainConfig(
        steps=args.train_steps, warmup_steps=20, checkpoint_every=args.train_steps, progress=False
    )
    train([spec], Pairs.from_store(store, site), cfg, out_dir=out)
    return out / spec.name / "dictionary.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="data/acts/agent")
    ap.add_argument("--site", default="blocks.2.resid_post")
    ap.add_argument("--positions", type=int, default=50000)
    ap.add_argument("--solver-positions", type=int, default=2000)
    ap.add_argument("--dictionary", help="a dictionary to time (default: train a TopK SAE)")
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=200)
    args = ap.parse_args()
    store = ActivationStore(args.store)
    print(f"CPU: {cpu_features()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cfg = ConceptsConfig(positions=args.positions, solver_positions=args.solver_positions,
                         progress=False)  # fmt: skip
    rows, set_b = sample_positions(store, cfg)
    pick = np.random.default_rng(1).permutation(len(rows))[: args.solver_positions]
    bench_labels(store, rows, np.sort(rows[pick]))

    dict_path = (
        Path(args.dictionary) if args.dictionary else default_dictionary(store, args.site, args)
    )
    dictionary, _ = load_dictionary(dict_path)
    labels = position_labels(store, rows, cfg)
    x = store.read(dictionary.cfg.in_site, rows).astype(np.float32)
    sc, encode_s = timed(latent_columns, dictionary, x)
    (auc, _, _), auc_s = timed(auc_all, sc, labels, groups(sc, labels))
    board = groups(sc, labels)[0]
    dense = sc.columns(np.arange(LOOP_LATENTS))
    loop, loop_s = timed(per_latent_auc, dense, board[3])
    assert np.allclose(loop, auc[:LOOP_LATENTS][:, board[0]], equal_nan=True)
    loop_s *= sc.n_cols / LOOP_LATENTS
    print(f"\nAUC: {sc.n_cols} latents x {len(labels.names)} concepts on {len(rows):,} positions "
          f"({int(labels.solved.sum()):,} solved), {dict_path}")  # fmt: skip
    print(f"  encode the latents:           {encode_s:7.2f} s")
    print(f"  rank sums, one product:       {auc_s:7.2f} s")
    print(f"  per-latent loop (board concepts only, {LOOP_LATENTS} latents timed, scaled): "
          f"{loop_s:7.2f} s -> {loop_s / auc_s:.1f}x")  # fmt: skip

    net, agent = load_net(store, None)
    cpu0 = cpu_seconds()
    report, report_s = timed(build_report, dict_path, store, net, agent, cfg)
    cpu = cpu_seconds() - cpu0
    stages = ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items())
    print(f"\nfull report ({len(rows):,} positions): {report_s:.1f} s ({stages})")
    print(f"  CPU time of the report: {cpu:.1f} s (all threads); load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    rn = report["baselines"]["random_net"]["training"]
    print(
        f"  random-net baseline training: {rn['steps']} steps of {rn['batch_size']} "
        f"in {rn['seconds']} s"
    )


if __name__ == "__main__":
    main()
