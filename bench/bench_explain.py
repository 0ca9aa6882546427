"""Speed of the explainer: every latent of a 4096-latent dictionary x every predicate x 50,000
held-out positions, and the per-latent library loop it replaces, measured in one run.

1. The sample (`sae.explain.report.Sample.draw`): labels (read from the store's cache after the
   first run), the game and agent predicates, the bitsets of both halves.
2. `sae.explain.explainer.explain` on every latent: pair counts, candidates, beam search,
   held-out scores with 1,000 game-bootstrap replicates, R^2, for both scopes (all positions,
   solved endgames).
3. The obvious alternative: a scikit-learn decision tree (depth 3, its defaults otherwise,
   on the same fitting rows and the same non-solver predicates) fitted per latent and scored
   on the scoring half, timed on --loop-latents latents and scaled to all of them.

    python bench/bench_explain.py [--store data/acts/agent] [--positions 50000]
        [--dictionary DICT | --latents 4096 --k 32 --train-steps 200]

scikit-learn is a bench-only dependency (`pip install -r bench/requirements.txt`); without it
step 3 is skipped. Without --dictionary a TopK SAE is trained once into runs/bench_explain/.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.bench_concepts import cpu_seconds, default_dictionary  # noqa: E402
from bench.bench_transcoder import cpu_features  # noqa: E402
from sae.activations.store import ActivationStore  # noqa: E402
from sae.concepts.analysis import latent_columns  # noqa: E402
from sae.dictionary.model import load_dictionary  # noqa: E402
from sae.explain.explainer import ExplainConfig, explain, summary  # noqa: E402
from sae.explain.report import ReportConfig, Sample  # noqa: E402


def library_loop(
    sample: Sample, columns, latents: np.ndarray, depth: int = 3
) -> tuple[float, np.ndarray]:
    """Seconds for a scikit-learn tree of this depth per latent, and each tree's held-out F1."""
    from sklearn.tree import DecisionTreeClassifier

    fit = ~sample.set_b
    usable = ~sample.vocab.solver
    x_fit = sample.vocab.matrix[fit][:, usable].astype(np.float32)
    x_score = sample.vocab.matrix[~fit][:, usable].astype(np.float32)
    fires = columns.positive().columns(latents) > 0
    f1 = np.zeros(len(latents))
    t0 = time.perf_counter()
    for j in range(len(latents)):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0)
        tree.fit(x_fit, fires[fit, j])
        pred = tree.predict(x_score).astype(bool)
        y = fires[~fit, j]
        f1[j] = 2 * (pred & y).sum() / max(pred.sum() + y.sum(), 1)
    return time.perf_counter() - t0, f1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="data/acts/agent")
    ap.add_argument("--site", default="blocks.2.resid_post")
    ap.add_argument("--positions", type=int, default=50000)
    ap.add_argument("--solver-positions", type=int, default=4000)
    ap.add_argument("--dictionary", help="a dictionary to time (default: train a TopK SAE)")
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=200)
    ap.add_argument("--loop-latents", type=int, default=16)
    ap.add_argument(
        "--tree-depths",
        default="3",
        help="comma-separated depths of the per-latent trees (the first is timed against ours)",
    )
    args = ap.parse_args()
    store = ActivationStore(args.store)
    print(f"CPU: {cpu_features()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    dict_path = (
        Path(args.dictionary) if args.dictionary else default_dictionary(store, args.site, args)
    )
    dictionary, _ = load_dictionary(dict_path)
    cfg = ReportConfig(
        positions=args.positions, solver_positions=args.solver_positions, progress=False
    )
    t0 = time.perf_counter()
    sample = Sample.draw(store, cfg)
    sample_s = time.perf_counter() - t0
    x = store.read(dictionary.cfg.in_site, sample.rows).astype(np.float32)
    t0 = time.perf_counter()
    columns = latent_columns(dictionary, x)
    encode_s = time.perf_counter() - t0
    explain(columns, sample.halves, ExplainConfig())  # compiles the kernels (cached on disk)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    result = explain(columns, sample.halves, ExplainConfig())
    explain_s, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    s = summary(result, 0.7)
    n_preds = len(sample.vocab.names)
    print(
        f"\n{columns.n_cols} latents ({s['live']} live) x {n_preds} predicates x "
        f"{len(sample.rows):,} positions ({int(sample.vocab.solved.sum()):,} solved), {dict_path}"
    )
    print(f"  sample (labels, predicates, bitsets):   {sample_s:7.1f} s")
    print(f"  encode the latents:                     {encode_s:7.1f} s")
    print(f"  explain, both scopes:                   {explain_s:7.1f} s  (CPU {cpu:.1f} s)")
    print(f"  explained: {s['explained']} of {s['live']} live ({s['explained_fraction']:.3f})")
    judged = np.flatnonzero(result["all"]["judged"])
    pick = np.sort(np.random.default_rng(0).permutation(judged)[: args.loop_latents])
    ours_f1 = result["all"]["f1"][pick]
    print(
        f"  on {len(pick)} judged latents drawn at random (seed 0): programs' held-out F1 "
        f"median {np.median(ours_f1):.3f}, >= 0.7 on {int((ours_f1 >= 0.7).sum())}"
    )
    for n, depth in enumerate(int(d) for d in args.tree_depths.split(",")):
        try:
            loop_s, tree_f1 = library_loop(sample, columns, pick, depth)
        except ImportError:
            print("  scikit-learn is not installed: pip install -r bench/requirements.txt")
            return
        line = (
            f"  scikit-learn tree per latent, depth {depth}: held-out F1 median "
            f"{np.median(tree_f1):.3f}, >= 0.7 on {int((tree_f1 >= 0.7).sum())}"
        )
        if n == 0:  # ours covers both scopes; the trees only the all-positions one
            scaled = loop_s * columns.n_cols / len(pick)
            line += (
                f"; {loop_s:.1f} s for {len(pick)} latents, {scaled:,.0f} s scaled to "
                f"{columns.n_cols} -> {scaled / explain_s:,.0f}x our time"
            )
        print(line)
    print(f"  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
