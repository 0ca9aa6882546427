"""Which board concepts a dictionary's latents carry: the per-feature concepts report.

    python -m sae.concepts runs/sae_agent/topk_k32_n1024/dictionary.json --store data/acts/agent

Positions: a seeded sample of --positions held-out positions of the store (other games than
the dictionary trained on), split in halves A / B by game. Labels: every binary concept of
`sae.concepts.labels` (board families on all positions; the exact solver families on a seeded sample
of --solver-positions of them with <= 14 empties), cached beside the store. Latents: the
dictionary's activations on its input site (a transcoder's in_site), encoded from the store.

The report (`sae.concepts.analysis` for what each number is): exact AUC of every latent for
every concept; per concept its top latents; per latent its label (best-F1 concept among its
top concepts by AUC) and the fraction of live latents explained at F1 >= 0.7; Karvonen et
al.'s coverage and board reconstruction for the board state and the legal moves; the same
for two baselines computed here (`sae.concepts.baselines`: the block's raw MLP neurons, and
the dictionary's recipe trained on a randomly initialised net); SAEBench-style k-sparse
probing (`sae.concepts.sparse_probing`, trained on A, F1 on B) and feature absorption
(`sae.concepts.absorption`). Schema: docs/concepts_report.md. The report is written atomically to
<folder of DICT>/concepts.json (--out elsewhere; --json - prints it to stdout instead of the
summary table).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common import cli
from common.io import CheckpointError, atomic_write_json, bundle_paths, read_json
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.absorption import CHILD, PARENT, absorption
from sae.concepts.analysis import EXPLAINED_F1, analyse, groups, latent_columns
from sae.concepts.auc import auc_matrix  # noqa: F401  (part of this module's interface)
from sae.concepts.baselines import RandomNetConfig, neuron_baseline, random_net_baseline
from sae.concepts.inputs import (  # noqa: F401  (ConceptsConfig: part of this module's API)
    ConceptsConfig,
    ReportError,
    check_inputs,
    load_net,
    position_labels,
    sample_positions,
)
from sae.concepts.labels import Labels, UnknownConcept, board_names, family_of, solver_names
from sae.concepts.sparse_probing import KS, k_sparse_probing
from sae.concepts.table import format_summary
from sae.dictionary.model import load_dictionary

SCHEMA_VERSION = 1


# -- the report -------------------------------------------------------------------------------
def _finite(x):
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _latent_entries(result: dict, names: list[str], top: int) -> dict:
    auc, best = result["auc"], result["best"]
    ranked = np.argsort(-np.nan_to_num(auc, nan=-1.0), axis=1)[:, :top]
    out = {}
    for latent in range(auc.shape[0]):
        c = int(best["concept"][latent])
        labelled = c >= 0 and result["density"][latent] > 0
        out[str(latent)] = {
            "density": float(result["density"][latent]),
            "label": names[c] if labelled else None,
            "auc": float(auc[latent, c]) if labelled else None,
            **{
                k: float(best[k][latent]) if labelled else None
                for k in ("precision", "recall", "f1", "threshold")
            },
            "top_concepts": [[names[j], float(auc[latent, j])] for j in ranked[latent]],
        }
    return out


def _concept_entries(result: dict, labels: Labels, top: int, probing: dict) -> dict:
    auc = result["auc"]
    ranked = np.argsort(-np.nan_to_num(auc, nan=-1.0), axis=0)[:top].T
    out = {}
    for j, name in enumerate(labels.names):
        entry = {
            "family": family_of(name),
            "positives": int(result["positives"][j]),
            "top_latents": [[int(l), float(auc[l, j])] for l in ranked[j]],
        }
        if name in probing:
            entry["sparse_probing_f1"] = probing[name]
        out[name] = entry
    return out


def sparse_probing(sc, labels: Labels, set_b: np.ndarray) -> tuple[dict, dict]:
    """({concept: {k: F1}}, summary) of k-sparse probes trained on A, scored on B."""
    per_concept = {}
    for cols, rows, part, y in groups(sc, labels):
        b = set_b[rows]
        got = k_sparse_probing(part.subset(~b), y[~b], part.subset(b), y[b], KS)["f1"]
        for i, c in enumerate(cols):
            if not np.isnan(got[i]).all():
                per_concept[labels.names[c]] = {str(k): float(got[i, j]) for j, k in enumerate(KS)}
    fams: dict[str, list] = {}
    for name, f1 in per_concept.items():
        fams.setdefault(family_of(name), []).append([f1[str(k)] for k in KS])
    summary = {
        "ks": list(KS),
        "concepts": len(per_concept),
        "mean_f1": {
            str(k): float(np.nanmean([v[str(k)] for v in per_concept.values()])) for k in KS
        }
        if per_concept
        else {},
        "families": {
            f: dict(zip(map(str, KS), np.nanmean(v, 0).tolist(), strict=True))
            for f, v in fams.items()
        },
    }
    return per_concept, summary


def build_report(dict_path, store: ActivationStore, net, agent: dict, cfg: ConceptsConfig) -> dict:
    dictionary, config = load_dictionary(dict_path, device=net.stem.weight.device)
    dcfg = dictionary.cfg
    check_inputs(config, store, dcfg.in_site, dcfg.d_in)
    seconds = {}
    stages = tqdm(
        total=4 + 2 * cfg.baselines,
        desc="concepts report",
        disable=not cfg.progress,
        file=sys.stderr,
    )

    def stage(name, t0):
        seconds[name] = round(time.perf_counter() - t0, 2)
        stages.update(1)
        stages.set_postfix_str(name)
        return time.perf_counter()

    if cfg.concepts:  # a misspelt name fails before any work
        names = [*board_names(store.board_size), *solver_names(store.board_size)]
        empty = np.zeros(0, bool)
        Labels(names, np.zeros((0, len(names)), bool), empty, empty).select(cfg.concepts)
    t = time.perf_counter()
    rows, set_b = sample_positions(store, cfg)
    all_labels = position_labels(store, rows, cfg)
    labels = all_labels.select(cfg.concepts) if cfg.concepts else all_labels
    t = stage("labels", t)
    x = store.read(dcfg.in_site, rows).astype(np.float32)
    sc = latent_columns(dictionary, x)
    result = analyse(sc, labels, set_b, cfg.top_concepts)
    t = stage("latents", t)

    baselines = {}
    if cfg.baselines:
        baselines["neurons"] = neuron_baseline(net, store, rows, dcfg.in_site, labels, set_b, cfg)
        t = stage("neurons", t)
        baselines["random_net"] = random_net_baseline(net, store, rows, config, labels, set_b, cfg)
        t = stage("random net", t)

    probing, probing_summary = sparse_probing(sc, labels, set_b)
    t = stage("sparse probing", t)
    if dcfg.autoencoder:
        parent = all_labels.select(PARENT).matrix.any(1)
        child = all_labels.column(CHILD)
        absorb = absorption(
            dictionary.cpu(),
            x[~set_b],
            sc.subset(~set_b),
            {"parent": parent[~set_b], "child": child[~set_b]},
            x[set_b],
            sc.subset(set_b),
            {"parent": parent[set_b], "child": child[set_b]},
            cfg.seed,
        )
    else:
        absorb = {"skipped": "transcoder: its decoder writes to another site than it reads"}
    stage("absorption", t)
    stages.close()
    latents = _latent_entries(result, labels.names, cfg.top_concepts)
    for entry in absorb.get("top_absorbing_latents", []):
        entry.append(latents[str(entry[0])]["label"])  # [latent, positions, label]

    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": "concepts_report",
        "dictionary": {
            "path": str(dict_path),
            "sha256": config.get("weights_sha256"),
            "site": dcfg.in_site,
            "out_site": dcfg.out_site,
            "architecture": dcfg.architecture,
            "n_latents": dcfg.n_latents,
            "k": dcfg.k if dcfg.sparse_by_k else None,
            "l1_coeff": config.get("l1_coeff") if dcfg.architecture == "relu" else None,
        },
        "store": {"path": str(store.root), "hash": store.hash},
        "agent": agent,
        "positions": {
            "auc": int(len(rows)),
            "solver": int(labels.solved.sum()),
            "set_a": int((~set_b).sum()),
            "set_b": int(set_b.sum()),
            "split": "heldout",
            "seed": cfg.seed,
        },
        "families": result["families"],
        "concepts": _concept_entries(result, labels, cfg.top_latents, probing),
        "latents": latents,
        "live_latents": result["live"],
        "l0": result["l0"],
        "explained_fraction": result["explained_fraction"],
        "explained_f1": EXPLAINED_F1,
        "coverage": result["coverage"],
        "coverage_all": result["coverage_all"],
        "reconstruction": result["reconstruction"],
        "board_metrics": result["board_metrics"],
        "baselines": baselines,
        "sparse_probing": probing_summary,
        "absorption": absorb,
        "seconds": seconds,
    }
    return _finite(report)


# -- reading a report -------------------------------------------------------------------------
def report_of(path, dict_path, config: dict) -> dict:
    """The concepts report at `path`, checked to describe the dictionary at `dict_path` (its
    config `config`): the weights hash the report records, or (reports written before it
    recorded one) the dictionary's path, or the report lying beside the dictionary, where
    `python -m sae.concepts` writes it. Width and site must agree too."""
    report = read_json(path, "concepts report")
    if not isinstance(report, dict) or report.get("kind") != "concepts_report":
        raise ReportError(f"{path} is not a concepts report (python -m sae.concepts)")
    made_for = report.get("dictionary") or {}
    mine = bundle_paths(dict_path)[1]
    dcfg = config.get("dictionary") or {}
    for key, want in (("n_latents", dcfg.get("n_latents")), ("site", dcfg.get("in_site"))):
        if made_for.get(key) != want:
            raise ReportError(
                f"{path} describes a dictionary with {key} {made_for.get(key)!r}, but {mine} "
                f"has {want!r}: it is another dictionary's report"
            )
    recorded, sha = made_for.get("sha256"), config.get("weights_sha256")
    if recorded and sha:
        same = recorded == sha
    else:
        theirs = bundle_paths(made_for.get("path") or "")[1]
        same = theirs.resolve() == mine.resolve() or Path(path).resolve().parent == (
            mine.resolve().parent
        )
    if not same:
        raise ReportError(
            f"{path} is the report of {made_for.get('path')}, not of {mine} (the weights "
            f"differ): make this dictionary's with python -m sae.concepts {mine}"
        )
    return report


def concept_latents(report_or_path, concept: str, n: int = 5) -> list[int]:
    """The top-n latent ids of a concept (by AUC) in a report (dict or path)."""
    report = (
        report_or_path
        if isinstance(report_or_path, dict)
        else read_json(report_or_path, "concepts report")
    )
    if concept not in report["concepts"]:
        raise UnknownConcept(f"unknown concept {concept!r} in this report")
    return [int(latent) for latent, _ in report["concepts"][concept]["top_latents"][:n]]


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(prog="python -m sae.concepts", description=__doc__)
    ap.add_argument("dictionary", help="dictionary checkpoint (dictionary.json or its stem)")
    ap.add_argument("--store", help="activation store (default: the one it was trained on)")
    ap.add_argument("--checkpoint", help="agent checkpoint (default: the store's)")
    d = ConceptsConfig()
    ap.add_argument(
        "--positions",
        type=int,
        default=d.positions,
        help=f"held-out positions analysed (default {d.positions})",
    )
    ap.add_argument(
        "--solver-positions",
        type=int,
        default=d.solver_positions,
        help=f"of them, endgames solved exactly (default {d.solver_positions}; "
        "0: no solver families)",
    )
    ap.add_argument(
        "--concepts", help="comma-separated families or concept names to keep (default: all)"
    )
    ap.add_argument(
        "--random-net-steps",
        type=int,
        default=d.random_net.steps,
        help=f"training steps of the random-net baseline (default {d.random_net.steps})",
    )
    ap.add_argument(
        "--no-baselines", action="store_true", help="skip the neuron and random-net baselines"
    )
    ap.add_argument(
        "--out", type=cli.out_file, help="report path (default: <folder of DICT>/concepts.json)"
    )
    ap.add_argument(
        "--json", metavar="-", help="'-': print the report JSON to stdout instead of the table"
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument(
        "--device",
        type=cli.device,
        default="cpu",
        help="torch device for the nets and encoding (default cpu)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if args.positions < 2 or args.solver_positions < 0 or args.random_net_steps < 1:
        ap.error("--positions must be >= 2, --solver-positions >= 0, --random-net-steps >= 1")
    if args.json not in (None, "-"):
        ap.error("--json takes '-' (stdout); use --out for a file")
    out = Path(args.out) if args.out else bundle_paths(args.dictionary)[1].parent / "concepts.json"
    cli.check_out_file(out, "--out" if args.out else "the report beside the dictionary")
    cfg = ConceptsConfig(
        positions=args.positions,
        solver_positions=args.solver_positions,
        concepts=[c.strip() for c in args.concepts.split(",") if c.strip()]
        if args.concepts
        else None,
        baselines=not args.no_baselines,
        random_net=RandomNetConfig(steps=args.random_net_steps, seed=args.seed),
        seed=args.seed,
        progress=not args.quiet,
    )
    try:
        _, config = load_dictionary(args.dictionary)
        store_path = args.store or (config.get("data") or {}).get("store")
        if not store_path:
            ap.error(f"{args.dictionary} records no activation store: pass --store")
        store = ActivationStore(store_path)
        net, agent = load_net(store, args.checkpoint)
        report = build_report(args.dictionary, store, net.to(args.device), agent, cfg)
    except (CheckpointError, StoreError, ReportError, UnknownConcept) as e:
        sys.exit(f"error: {e}")
    atomic_write_json(out, report)
    if args.json == "-":
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(format_summary(report))
        print(f"\nreport: {out}")


if __name__ == "__main__":
    main()
