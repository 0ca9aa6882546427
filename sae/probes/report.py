"""Linear probes for every concept family at every hook site of several checkpoints: what the
agent knows, when in training, and where in the net (McGrath et al.'s picture).

    python -m sae.probes                       # random net, pretrained/levels/*, the agent
    python -m sae.probes --checkpoint random --checkpoint pretrained/agent --families mine

Positions: a seeded sample of --positions held-out positions of the store (default
data/acts/agent), split by game into probe-train and probe-test (--test-fraction). Positions
are boards, so every checkpoint runs on the same ones through its own `run_with_cache`.
Labels: every binary concept of `sae.concepts.labels`, cached beside the store; the exact solver
families on up to --solver-positions of the sampled positions with <= 14 empties
(`sae.concepts.report.position_labels`), and their probes are fitted and scored on those only.
best_reply is the reply to the move of the agent that played the store's games, whichever
net is probed.

Sites: `input` (the planes the net reads, the "can a linear map read it off the board"
control) and every hook site of the net (`net.sites`). Checkpoints: agent checkpoints, or
`random`: the first checkpoint's architecture with PyTorch's default initialisation, seeded
(the random-network control of McGrath et al. and of Othello-GPT probing). Probes:
`sae.probes.fit` (shrunk whitening, one L-BFGS for every concept of a site). Sites with
identical activations (blocks.i.resid_post is blocks.i+1.resid_pre; the input planes are the
same for every checkpoint) are fitted once.

Per family, the score of a (checkpoint, site) is the mean over its concepts (squares,
thresholds) of the held-out balanced accuracy, accuracy and F1; concepts with fewer than 10
positives or negatives on either side are left out and counted. Output under --out (default
runs/probes/): probes.json (every number, per concept too; atomic), one heatmap PNG per family
(site x checkpoint, balanced accuracy), threat.png (both threat families) and overview.png
(all families); a table per family and checkpoint (best site, and the last site) is printed.

probes.json: {"schema_version": 1, "kind": "probes", "store": {path, hash, board_size},
"positions": {sampled, train, test, solved_train, solved_test, test_games}, "config",
"checkpoints": [{name, path, sha256, iteration} | {name: "random", seed, architecture_of}]
(the heatmap columns, in order), "sites" (rows, in order), "metric", "concept_names",
"family_names", "families": {family: [concept names]}, "base_rate": [per concept, test],
"summary": {family: {checkpoint: {site: {balanced_accuracy, accuracy, f1, fitted,
concepts}}}}, "per_concept": {checkpoint: {site: {balanced_accuracy: [..], accuracy: [..],
f1: [..]}}} (aligned with concept_names; null where not fitted), "seconds"}.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from alphazero.model import AlphaZeroNet, load_agent
from common import cli
from common.io import CheckpointError, atomic_write_json, bundle_paths
from sae.activations.batches import store_argument
from sae.activations.collect import file_hash
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.baselines import random_net, site_activations
from sae.concepts.labels import Labels, UnknownConcept, family_of
from sae.concepts.report import ConceptsConfig, position_labels
from sae.probes.fit import FitConfig, ProbeResult, fit_probe
from sae.probes.plots import plot_families

SCHEMA_VERSION = 1
INPUT = "input"
RANDOM = "random"
METRICS = ("balanced_accuracy", "accuracy", "f1")
THREATS = ("threat_defensive", "threat_offensive")


class ProbeError(cli.InputError):
    """The inputs do not fit together (one line says what)."""


@dataclass
class ProbesConfig:
    positions: int = 6000  # held-out positions sampled; 2 / 3 train the probes
    test_fraction: float = 1 / 3  # of the games, for scoring
    solver_positions: int = 2000  # endgames (<= 14 empties) among them, solved exactly
    families: list[str] | None = None  # restrict to these families / concept names
    sites: list[str] | None = None  # restrict to these sites (default: input + net.sites)
    fit: FitConfig = field(default_factory=FitConfig)
    seed: int = 0
    progress: bool = True


def default_checkpoints() -> list[str]:
    """The random-init control, the skill levels in training order, the shipped agent."""
    levels = sorted(str(p.with_suffix("")) for p in Path("pretrained/levels").glob("*.json"))
    return [RANDOM, *levels, "pretrained/agent"]


# -- probing one net -------------------------------------------------------------------------
def check_sites(net: AlphaZeroNet, sites: list[str]) -> None:
    bad = [s for s in sites if s != INPUT and s not in net.sites]
    if bad:
        raise ProbeError(f"unknown site(s) {bad}; sites: {INPUT}, {', '.join(net.sites)}")


def site_features(net: AlphaZeroNet, me, opp, sites: list[str]) -> dict[str, np.ndarray]:
    """float32 [B, d] per site; INPUT is the net's input planes."""
    check_sites(net, sites)
    hooks = [s for s in sites if s != INPUT]
    with torch.no_grad():
        feats = site_activations(net, me, opp, hooks) if hooks else {}
        if INPUT in sites:
            feats[INPUT] = net.encode(me, opp)[0].float().cpu().numpy()
    return {s: feats[s] for s in sites}


def split_positions(count: int, test_fraction: float, seed: int, groups=None) -> np.ndarray:
    """bool [count], True for test: a seeded share of the groups (games), or of the positions
    when no groups are given."""
    groups = np.arange(count) if groups is None else np.asarray(groups)
    ids = np.unique(groups)
    n_test = min(max(1, round(test_fraction * len(ids))), len(ids) - 1)
    return np.isin(groups, np.random.default_rng(seed).permutation(ids)[:n_test])


def _key(x: np.ndarray) -> tuple:
    return x.shape, hashlib.blake2b(np.ascontiguousarray(x).data, digest_size=16).hexdigest()


def probe_sites(
    net: AlphaZeroNet,
    me,
    opp,
    labels: Labels,
    sites: list[str],
    test: np.ndarray | None = None,
    config: FitConfig | None = None,
    memo: dict | None = None,
    progress: bool = False,
) -> dict[str, ProbeResult]:
    """One probe per concept of `labels` (rows = the positions me / opp) at each site:
    {site: ProbeResult}, arrays aligned with labels.names. `test` (bool per position) picks
    the scoring positions; default: a seeded third of the positions (pass
    `split_positions(..., groups=games)` when positions come from games). Solver concepts
    are fitted and scored on `labels.solved` positions only. `memo` (a dict the caller keeps
    for fixed labels, split and config) reuses the fit of identical activations."""
    me, opp = np.asarray(me, np.uint64), np.asarray(opp, np.uint64)
    if len(labels.rows) != len(me):
        raise ProbeError(f"{len(labels.rows)} label rows for {len(me)} positions")
    test = split_positions(len(me), 1 / 3, 0) if test is None else np.asarray(test, bool)
    memo = {} if memo is None else memo
    solver = np.array([labels.is_solver(n) for n in labels.names], bool)
    groups = [(np.flatnonzero(~solver), np.ones(len(me), bool))]
    if solver.any():
        groups.append((np.flatnonzero(solver), labels.solved))
    feats = site_features(net, me, opp, sites)
    results = {}
    for site in tqdm(sites, desc="sites", disable=not progress, leave=False):
        x = feats[site]
        key = _key(x)
        if key not in memo:
            parts = []
            for cols, rows in groups:
                train, held = rows & ~test, rows & test
                y = labels.matrix[:, cols]
                parts.append((cols, fit_probe(x[train], y[train], x[held], y[held], config)))
            memo[key] = ProbeResult.gather(parts, len(labels.names), x.shape[1])
        results[site] = memo[key]
    return results


def family_scores(result: ProbeResult, names: list[str]) -> dict[str, dict]:
    """{family: {metric: mean over its fitted concepts, "fitted": n, "concepts": n}}."""
    fams = np.array([family_of(n) for n in names])
    out = {}
    for fam in dict.fromkeys(fams):
        cols = np.flatnonzero(fams == fam)
        fitted = cols[result.fitted[cols]]
        row = {
            m: float(np.mean(getattr(result, m)[fitted])) if len(fitted) else None for m in METRICS
        }
        out[str(fam)] = {**row, "fitted": int(len(fitted)), "concepts": int(len(cols))}
    return out


# -- the grid ----------------------------------------------------------------------------------
def load_checkpoints(specs: list[str], store: ActivationStore, seed: int):
    """[(name, net, info)]: agent checkpoints as given, RANDOM with the architecture of the
    first real one (the store's board size and default widths when there is none)."""
    loaded = {}
    for spec in specs:
        if spec == RANDOM:
            continue
        weights, config_path = bundle_paths(spec)
        if not config_path.exists():
            raise ProbeError(f"checkpoint {spec} not found (no {config_path})")
        net, config = load_agent(weights.with_suffix(""))
        if net.cfg.board_size != store.board_size:
            n, m = net.cfg.board_size, store.board_size
            raise ProbeError(f"{spec} plays {n}x{n}, but {store.root} holds {m}x{m} positions")
        info = {"path": spec, "sha256": file_hash(weights), "iteration": config.get("iteration")}
        loaded[spec] = (net, info)
    out, names = [], set()
    for spec in specs:
        if spec == RANDOM:
            first = next(iter(loaded.values()), None)
            cfg = first[0].cfg if first else AlphaZeroNet().cfg
            if cfg.board_size != store.board_size:
                cfg = type(cfg)(**{**asdict(cfg), "board_size": store.board_size})
            net = random_net(cfg, seed)
            info = {
                "path": None,
                "seed": seed,
                "architecture_of": first[1]["path"] if first else None,
            }
        else:
            net, info = loaded[spec]
        name = spec if spec == RANDOM else bundle_paths(spec)[1].stem
        while name in names:  # two checkpoints with one file name: keep both
            name += "'"
        names.add(name)
        out.append((name, net, info))
    return out


def sample(store: ActivationStore, cfg: ProbesConfig) -> tuple[np.ndarray, np.ndarray, Labels]:
    """(held-out rows, test mask by game, labels of the rows)."""
    if not store.manifest.get("split", {}).get("heldout_rows"):
        raise ProbeError(f"{store.root} has no held-out positions (collected with --heldout 0)")
    held = store.rows("heldout")
    rows = np.sort(np.random.default_rng(cfg.seed).permutation(held)[: cfg.positions])
    test = split_positions(len(rows), cfg.test_fraction, cfg.seed, store.read("game", rows))
    concepts = ConceptsConfig(
        solver_positions=cfg.solver_positions, seed=cfg.seed, progress=cfg.progress
    )
    labels = position_labels(store, rows, concepts)
    if cfg.families:
        labels = labels.select(cfg.families)
    return rows, test, labels


def _rounded(values: np.ndarray) -> list:
    return [None if np.isnan(v) else round(float(v), 4) for v in values]


def run_grid(store: ActivationStore, specs: list[str], cfg: ProbesConfig) -> dict:
    """Every family at every site of every checkpoint: the report (a JSON-ready dict)."""
    t0 = time.perf_counter()
    checkpoints = load_checkpoints(specs, store, cfg.seed)
    sites = cfg.sites or [INPUT, *checkpoints[0][1].sites]
    for _, net, _ in checkpoints:
        check_sites(net, sites)
    rows, test, labels = sample(store, cfg)
    me, opp = store.read("me", rows), store.read("opp", rows)
    memo: dict = {}
    summary: dict = {}
    per_concept: dict = {}
    for name, net, _ in tqdm(checkpoints, desc="checkpoints", disable=not cfg.progress):
        results = probe_sites(
            net.to(cfg.fit.device), me, opp, labels, sites, test, cfg.fit, memo, cfg.progress
        )
        per_concept[name] = {
            site: {m: _rounded(getattr(r, m)) for m in METRICS} for site, r in results.items()
        }
        for site, r in results.items():
            for fam, scores in family_scores(r, labels.names).items():
                summary.setdefault(fam, {}).setdefault(name, {})[site] = scores
    any_result = next(iter(memo.values()))
    solved = labels.solved
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "probes",
        "store": {"path": str(store.root), "hash": store.hash, "board_size": store.board_size},
        "positions": {
            "sampled": len(rows),
            "train": int((~test).sum()),
            "test": int(test.sum()),
            "solved_train": int((solved & ~test).sum()),
            "solved_test": int((solved & test).sum()),
            "test_games": int(len(np.unique(store.read("game", rows[test])))),
        },
        "config": {**asdict(cfg), "fit": asdict(cfg.fit)},
        "checkpoints": [{"name": name, **info} for name, _, info in checkpoints],  # columns
        "sites": sites,
        "metric": "balanced_accuracy",
        "concept_names": labels.names,
        "family_names": labels.families,
        "base_rate": _rounded(any_result.base_rate),
        "families": {
            fam: [n for n in labels.names if family_of(n) == fam] for fam in labels.families
        },
        "summary": summary,
        "per_concept": per_concept,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def checkpoint_names(report: dict) -> list[str]:
    """The report's checkpoints in column order (the JSON file sorts dict keys)."""
    return [c["name"] for c in report["checkpoints"]]


def best_site(report: dict, family: str, checkpoint: str) -> tuple[str | None, float | None]:
    """The site with the highest mean balanced accuracy for a family on a checkpoint."""
    scores = [
        (v["balanced_accuracy"], site)
        for site, v in report["summary"][family][checkpoint].items()
        if v["balanced_accuracy"] is not None and site != INPUT
    ]
    return (max(scores)[1], max(scores)[0]) if scores else (None, None)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_table(report: dict) -> str:
    """Per family: the input planes, then per checkpoint the best site's balanced accuracy
    and that of the last site (what the heads read)."""
    names, last = checkpoint_names(report), report["sites"][-1]
    width = max(len(f) for f in report["summary"])
    lines = [
        "held-out balanced accuracy, mean over a family's concepts: the input planes, and per "
        f"checkpoint the best site and {last}",
        f"{'family':<{width}}  {'input':>6}  " + "  ".join(f"{n:>34}" for n in names),
    ]
    for fam in report["family_names"]:
        by_ckpt = report["summary"][fam]
        inp = by_ckpt[names[0]].get(INPUT, {}).get("balanced_accuracy")
        cells = []
        for n in names:
            site, score = best_site(report, fam, n)
            final = by_ckpt[n].get(last, {}).get("balanced_accuracy")
            cells.append(f"{_fmt(score):>5} {site or '':>20} {_fmt(final):>7}")
        lines.append(f"{fam:<{width}}  {_fmt(inp):>6}  " + "  ".join(cells))
    return "\n".join(lines)


def write_outputs(report: dict, out: Path) -> list[Path]:
    atomic_write_json(out / "probes.json", report)
    written = [out / "probes.json"]
    for fam in report["family_names"]:
        written.append(plot_families(report, [fam], out / f"{fam}.png"))
    threats = [f for f in THREATS if f in report["summary"]]
    if threats:
        written.append(plot_families(report, threats, out / "threat.png"))
    written.append(plot_families(report, report["family_names"], out / "overview.png", dpi=70))
    return written


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(prog="python -m sae.probes", description=__doc__)
    d, f = ProbesConfig(), FitConfig()
    ap.add_argument(
        "--checkpoint",
        action="append",
        help=f"agent checkpoint or '{RANDOM}', repeated "
        f"(default: {', '.join(default_checkpoints())})",
    )
    ap.add_argument("--store", help="activation store whose held-out positions are probed")
    ap.add_argument("--positions", type=int, default=d.positions, help=f"default {d.positions}")
    ap.add_argument(
        "--test-fraction", type=float, default=d.test_fraction, help="share of games scored"
    )
    ap.add_argument(
        "--solver-positions",
        type=int,
        default=d.solver_positions,
        help=f"endgames solved exactly (default {d.solver_positions}; 0: no solver families)",
    )
    ap.add_argument("--families", help="comma-separated families or concept names (default: all)")
    ap.add_argument("--sites", help=f"comma-separated sites (default: {INPUT} and every hook site)")
    ap.add_argument("--l2", type=cli.finite, default=f.l2, help=f"L2 penalty (default {f.l2})")
    ap.add_argument("--max-iter", type=int, default=f.max_iter, help="L-BFGS iterations")
    ap.add_argument(
        "--out", type=cli.out_dir, default="runs/probes", help="output folder (default runs/probes)"
    )
    ap.add_argument("--seed", type=cli.seed, default=d.seed)
    ap.add_argument("--device", type=cli.device, default="cpu", help="torch device (default cpu)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if args.positions < 20 or not 0 < args.test_fraction < 1 or args.solver_positions < 0:
        ap.error("--positions must be >= 20, --test-fraction in (0, 1), --solver-positions >= 0")
    if args.l2 < 0 or args.max_iter < 1:
        ap.error("--l2 must be >= 0 and --max-iter >= 1")
    split = lambda s: [v.strip() for v in s.split(",") if v.strip()] if s else None  # noqa: E731
    cfg = ProbesConfig(
        positions=args.positions,
        test_fraction=args.test_fraction,
        solver_positions=args.solver_positions,
        families=split(args.families),
        sites=split(args.sites),
        fit=FitConfig(l2=args.l2, max_iter=args.max_iter, device=args.device),
        seed=args.seed,
        progress=not args.quiet,
    )
    store_path = store_argument(ap, args.store, "blocks.2.resid_post")
    try:
        report = run_grid(
            ActivationStore(store_path), args.checkpoint or default_checkpoints(), cfg
        )
    except (CheckpointError, StoreError, ProbeError, UnknownConcept) as e:
        sys.exit(f"error: {e}")
    written = write_outputs(report, Path(args.out))
    print(format_table(report))
    print(f"\n{report['seconds']} s; wrote {written[0]} and {len(written) - 1} PNGs in {args.out}")


if __name__ == "__main__":
    main()
