"""Which board concepts a dictionary's latents carry: the per-feature concepts report.

    python -m sae.concepts runs/sae_agent/topk_k32_n1024/dictionary.json --store data/acts/agent

Positions: a seeded sample of --positions held-out positions of the store (other games than
the dictionary trained on), split in halves A / B by game. Labels: every binary concept of
`sae.labels` (board families on all positions; the exact solver families on a seeded sample
of --solver-positions of them with <= 14 empties), cached beside the store. Latents: the
dictionary's activations on its input site (a transcoder's in_site), encoded from the store.

The report (`sae.concept_analysis` for what each number is): exact AUC of every latent for
every concept; per concept its top latents; per latent its label (best-F1 concept among its
top concepts by AUC) and the fraction of live latents explained at F1 >= 0.7; Karvonen et
al.'s coverage and board reconstruction for the board state and the legal moves; the same
for two baselines computed here (`sae.concept_baselines`: the block's raw MLP neurons, and
the dictionary's recipe trained on a randomly initialised net); SAEBench-style k-sparse
probing (`sae.sparse_probing`, trained on A, F1 on B) and feature absorption
(`sae.absorption`). Schema: docs/concepts_report.md. The report is written atomically to
<folder of DICT>/concepts.json (--out elsewhere; --json - prints it to stdout instead of the
summary table).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from alphazero.model import load_agent
from common.io import CheckpointError, atomic_write_json, bundle_paths, read_json
from othello import batch
from othello import bitboard as bb
from sae.absorption import CHILD, PARENT, absorption
from sae.activations import file_hash
from sae.auc import SortedColumns, auc_matrix  # noqa: F401  (auc_matrix: this module's API)
from sae.concept_analysis import (
    EXPLAINED_F1,
    TOP_CONCEPTS,
    TOP_LATENTS,
    analyse,
    groups,
    latent_columns,
)
from sae.concept_baselines import (
    RandomNetConfig,
    neuron_site,
    random_net,
    site_activations,
    train_like,
)
from sae.labels import (
    MAX_EMPTIES,
    Labels,
    UnknownConcept,
    board_names,
    family_of,
    load_labels,
    solver_names,
)
from sae.model import load_dictionary
from sae.sparse_probing import KS, k_sparse_probing
from sae.store import ActivationStore, StoreError

SCHEMA_VERSION = 1


class ReportError(ValueError):
    """The inputs do not fit together (one line says what)."""


@dataclass
class ConceptsConfig:
    positions: int = 20000  # held-out positions analysed (50k: the bench, ~2 min)
    solver_positions: int = 2000  # of them, solved exactly (cached after the first run)
    max_empties: int = MAX_EMPTIES
    concepts: list[str] | None = None  # restrict to these families / names
    top_latents: int = TOP_LATENTS
    top_concepts: int = TOP_CONCEPTS
    baselines: bool = True
    random_net: RandomNetConfig = field(default_factory=RandomNetConfig)
    seed: int = 0
    progress: bool = True


# -- inputs ---------------------------------------------------------------------------------
def check_inputs(config: dict, store: ActivationStore, in_site: str, d_in: int) -> None:
    """One-line errors for a store that does not fit the dictionary."""
    if in_site not in store.sites:
        raise ReportError(
            f"{store.root} has no activations at {in_site}, the dictionary's input site; "
            f"it holds {', '.join(store.sites)}"
        )
    if store.sites[in_site] != d_in:
        raise ReportError(
            f"{store.root}: {in_site} has {store.sites[in_site]} dims, the dictionary reads {d_in}"
        )
    data = config.get("data") or {}
    trained = (data.get("checkpoint") or {}).get("sha256")
    here = (store.manifest.get("checkpoint") or {}).get("sha256")
    if trained and here and trained != here:
        raise ReportError(
            f"the dictionary was trained on activations of agent {data['checkpoint'].get('path')} "
            f"(sha256 {trained}), but {store.root} holds agent "
            f"{store.manifest['checkpoint'].get('path')} (sha256 {here})"
        )
    origin = Path(data.get("store") or "") / "manifest.json"
    if data.get("store") and origin.exists():
        size = json.loads(origin.read_text()).get("board_size")
        if size is not None and size != store.board_size:
            raise ReportError(
                f"the dictionary was trained on a {size}x{size} store ({data['store']}), "
                f"{store.root} is {store.board_size}x{store.board_size}"
            )
    if not store.manifest.get("split", {}).get("heldout_rows"):
        raise ReportError(f"{store.root} has no held-out positions (collected with --heldout 0)")


def load_net(store: ActivationStore, checkpoint: str | None):
    """The agent the store was collected with (its weights hash checked)."""
    recorded = store.manifest.get("checkpoint") or {}
    path = checkpoint or recorded.get("path")
    if not path:
        raise ReportError(f"{store.root} records no agent checkpoint: pass --checkpoint")
    weights, _ = bundle_paths(path)
    if not weights.exists():
        raise ReportError(f"agent checkpoint {weights} not found: pass --checkpoint")
    if recorded.get("sha256") and file_hash(weights) != recorded["sha256"]:
        raise ReportError(
            f"{weights} is not the agent {store.root} was collected with (sha256 differs)"
        )
    net, agent_config = load_agent(path)
    if net.cfg.board_size != store.board_size:
        raise ReportError(
            f"{path} plays {net.cfg.board_size}x{net.cfg.board_size}, {store.root} is "
            f"{store.board_size}x{store.board_size}"
        )
    return net, {"path": str(path), "sha256": file_hash(weights)}


def sample_positions(store: ActivationStore, cfg: ConceptsConfig) -> tuple[np.ndarray, np.ndarray]:
    """(sorted held-out rows, bool set B): a seeded sample, halves split by game."""
    held = store.rows("heldout")
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.permutation(held)[: cfg.positions])
    games = store.read("game", rows)
    ids = np.unique(games)
    set_b = np.isin(games, rng.permutation(ids)[: len(ids) // 2])
    return rows, set_b


def position_labels(store: ActivationStore, rows: np.ndarray, cfg: ConceptsConfig) -> Labels:
    """Board labels for every row; solver labels on a seeded sample of the endgame rows."""
    board = load_labels(store, rows, progress=cfg.progress)
    if cfg.solver_positions <= 0:
        return board
    me, opp = store.read("me", rows), store.read("opp", rows)
    empties = batch.popcount(~(me | opp) & np.uint64(bb.geometry(store.board_size).full))
    endgame = np.flatnonzero(empties <= cfg.max_empties)
    pick = np.sort(
        np.random.default_rng([cfg.seed, 1]).permutation(endgame)[: cfg.solver_positions]
    )
    solver = load_labels(
        store, rows[pick], solver=True, progress=cfg.progress, max_empties=cfg.max_empties
    )
    extra = solver.select([n for n in solver.names if solver.is_solver(n)])
    matrix = np.zeros((len(rows), len(extra.names)), bool)
    matrix[pick] = extra.matrix
    solved = np.zeros(len(rows), bool)
    solved[pick] = extra.solved
    return Labels(
        board.names + extra.names, np.concatenate([board.matrix, matrix], 1), rows, solved
    )


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


def _summary(result: dict) -> dict:
    """What a baseline reports (the dictionary reports more)."""
    return {
        "features": int(len(result["density"])),
        "live": result["live"],
        "l0": result["l0"],
        "families": {
            f: {k: v[k] for k in ("best_auc", "mean_best_auc", "best_latent", "best_concept")}
            for f, v in result["families"].items()
        },
        "coverage": result["coverage"],
        "reconstruction": result["reconstruction"],
        "explained_fraction": result["explained_fraction"],
    }


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
    stages = tqdm(total=6, desc="concepts report", disable=not cfg.progress, file=sys.stderr)

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
        me, opp = store.read("me", rows), store.read("opp", rows)
        site, note = neuron_site(dcfg.in_site, net.cfg.n_blocks)
        hidden = site_activations(net, me, opp, [site])[site]
        neurons = analyse(SortedColumns.from_dense(hidden), labels, set_b, cfg.top_concepts)
        baselines["neurons"] = {"site": site, "note": note, **_summary(neurons)}
        del hidden
        t = stage("neurons", t)
        rc = cfg.random_net
        control = random_net(net.cfg, rc.seed).to(net.stem.weight.device)
        train_rows = store.rows("train")
        pick = np.sort(np.random.default_rng([rc.seed, 2]).permutation(train_rows)[: rc.positions])
        acts = site_activations(
            control, store.read("me", pick), store.read("opp", pick), [dcfg.in_site, dcfg.out_site]
        )
        y = None if dcfg.out_site == dcfg.in_site else acts[dcfg.out_site]
        trained, info = train_like(config, acts[dcfg.in_site], y, rc, cfg.progress)
        x_random = site_activations(control, me, opp, [dcfg.in_site])[dcfg.in_site]
        random_result = analyse(
            latent_columns(trained.to(net.stem.weight.device), x_random),
            labels,
            set_b,
            cfg.top_concepts,
        )
        baselines["random_net"] = {
            "site": dcfg.in_site,
            "training": info,
            "seed": rc.seed,
            **_summary(random_result),
        }
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
        "reconstruction": result["reconstruction"],
        "board_metrics": result["board_metrics"],
        "baselines": baselines,
        "sparse_probing": probing_summary,
        "absorption": absorb,
        "seconds": seconds,
    }
    return _finite(report)


# -- reading a report -------------------------------------------------------------------------
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


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def format_summary(report: dict, explanations: int = 5) -> str:
    base = report.get("baselines", {})
    neurons, rand = base.get("neurons", {}), base.get("random_net", {})
    p = report["positions"]
    lines = [
        f"{report['dictionary']['path']}: {report['dictionary']['architecture']} "
        f"{report['dictionary']['n_latents']} latents at {report['dictionary']['site']}; "
        f"{p['auc']} held-out positions ({p['solver']} solved)",
        "",
        f"{'family':<18} {'best AUC':>8} {'mean':>6}  {'neurons':>8} {'mean':>6}  "
        f"{'random':>8} {'mean':>6}  best concept (latent)",
    ]
    for family, v in report["families"].items():
        nf = neurons.get("families", {}).get(family, {})
        rf = rand.get("families", {}).get(family, {})
        lines.append(
            f"{family:<18} {_fmt(v['best_auc']):>8} {_fmt(v['mean_best_auc']):>6}  "
            f"{_fmt(nf.get('best_auc')):>8} {_fmt(nf.get('mean_best_auc')):>6}  "
            f"{_fmt(rf.get('best_auc')):>8} {_fmt(rf.get('mean_best_auc')):>6}  "
            f"{v['best_concept'] or '-'} ({v['best_latent']})"
        )
    lines.append("")
    for metric in ("coverage", "reconstruction"):
        for fam in report[metric]:
            lines.append(
                f"{metric} {fam}: dictionary {_fmt(report[metric][fam])}, neurons "
                f"{_fmt(neurons.get(metric, {}).get(fam))}, "
                f"random net {_fmt(rand.get(metric, {}).get(fam))}"
            )
    lines.append(
        f"explained at F1 >= {report['explained_f1']}: "
        f"dictionary {_fmt(report['explained_fraction'])} "
        f"of {report['live_latents']} live, neurons {_fmt(neurons.get('explained_fraction'))}, "
        f"random net {_fmt(rand.get('explained_fraction'))}"
    )
    lines.append(
        f"L0 (features firing per position): dictionary {_fmt(report['l0'], '.1f')}, "
        f"neurons {_fmt(neurons.get('l0'), '.1f')}, random net {_fmt(rand.get('l0'), '.1f')}"
    )
    sp = report["sparse_probing"].get("mean_f1", {})
    lines.append(
        "k-sparse probing mean F1: " + ", ".join(f"k={k} {_fmt(v)}" for k, v in sp.items())
    )
    ab = report["absorption"]
    if "mean_absorption_fraction" in ab:
        lines.append(
            f"absorption ({ab['child']} -> {ab['parent']}): mean fraction "
            f"{_fmt(ab['mean_absorption_fraction'])}, full {_fmt(ab['full_absorption_rate'])} "
            f"over {ab['probe_true_positives']} probe true positives; "
            f"main latents {ab['main_latents']}"
        )
    else:
        lines.append(f"absorption: {ab.get('skipped')}")
    best = sorted(
        ((v["f1"], int(k), v) for k, v in report["latents"].items() if v["f1"] is not None),
        key=lambda t: -t[0],
    )[:explanations]
    lines.append("")
    lines.append("best-explained latents:")
    for f1, latent, v in best:
        lines.append(
            f"  latent {latent}: {v['label']} (F1 {f1:.3f}, precision {v['precision']:.3f}, "
            f"recall {v['recall']:.3f}, AUC {v['auc']:.3f}, fires on {v['density']:.1%})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m sae.concepts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    ap.add_argument("--out", help="report path (default: <folder of DICT>/concepts.json)")
    ap.add_argument(
        "--json", metavar="-", help="'-': print the report JSON to stdout instead of the table"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--device", default="cpu", help="torch device for the nets and encoding (default cpu)"
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if args.positions < 2 or args.solver_positions < 0 or args.random_net_steps < 1:
        ap.error("--positions must be >= 2, --solver-positions >= 0, --random-net-steps >= 1")
    if args.json not in (None, "-"):
        ap.error("--json takes '-' (stdout); use --out for a file")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: CUDA is not available here")
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
    out = Path(args.out) if args.out else bundle_paths(args.dictionary)[1].parent / "concepts.json"
    atomic_write_json(out, report)
    if args.json == "-":
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(format_summary(report))
        print(f"\nreport: {out}")


if __name__ == "__main__":
    main()
