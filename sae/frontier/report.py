"""Measure every dictionary of finished sweeps for meaning, and choose the best by a rule.

    python -m sae.frontier runs/frontier --store data/acts/agent
    python -m sae.frontier runs/sites/* --heatmap docs/sites_heatmap.png

Per dictionary of each sweep folder (its scaling.json, from `train_sae.py --sweep`): the
held-out metrics already there (FVU, L0, dead, spliced KL / top-1 / value), the concepts
report (`python -m sae.concepts`: coverage under our average and under the original
SAE_BoardGameEval average over all concepts, board reconstruction, absorption) and the
explanations (`python -m sae.explain`: the explained fraction). All dictionaries are judged
on the same held-out positions (one seeded sample, --positions); the neuron and random-net
baselines come once per site. Reports already beside a dictionary for the same weights and
the same positions are reused, so an interrupted run resumes where it stopped.

Writes beside each sweep's scaling.json: frontier.json (the records, the baselines, the rule
and its choice), frontier.md (the table) and frontier_meaning.png (explained fraction against
FVU; frontier.png is the sweep's own L0-FVU plot).
The rule: `sae.frontier.rule`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from common import cli
from common.io import CheckpointError, atomic_write, atomic_write_json, read_json
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.inputs import ConceptsConfig, ReportError, load_net
from sae.concepts.labels import UnknownConcept
from sae.concepts.report import build_report
from sae.dictionary.model import load_dictionary
from sae.dictionary.sweep import read_scaling
from sae.explain.report import ReportConfig, Run, wants_random_net
from sae.frontier.plots import plot_frontier, plot_sites
from sae.frontier.rule import Rule, choose
from sae.frontier.table import format_table

SCALING_KEYS = (
    "architecture", "n_latents", "k", "l1_coeff", "p_end", "l0", "fvu", "dead_fraction", "kl",
    "kl_score", "agreement", "agreement_score", "value_mse", "value_score",
)  # fmt: skip


@dataclass
class FrontierConfig:
    positions: int = 20000
    solver_positions: int = 2000
    seed: int = 0
    progress: bool = True


class Measurer:
    """The shared sample and baselines; one concepts report and one explanation per dictionary."""

    def __init__(self, store: ActivationStore, net, agent: dict, cfg: FrontierConfig):
        self.store, self.net, self.agent, self.cfg = store, net, agent, cfg
        self._explainer: Run | None = None
        self.concepts_cfg = ConceptsConfig(
            positions=cfg.positions,
            solver_positions=cfg.solver_positions,
            seed=cfg.seed,
            progress=False,
        )
        self.explain_cfg = ReportConfig(
            positions=cfg.positions,
            solver_positions=cfg.solver_positions,
            random_net="site",  # a baseline per site: the sites are compared
            seed=cfg.seed,
            progress=False,
        )
        self.baselines_for: set[str] = set()  # sites whose concepts baselines were computed
        self.random_net_sites: set[str] = set()  # sites with a random-net explanation baseline
        self.rows = min(cfg.positions, len(store.rows("heldout")))  # what a sample holds

    @property
    def explainer(self) -> Run:
        if self._explainer is None:  # drawing the sample labels it: only when needed
            self._explainer = Run(self.store, self.net, self.agent, self.explain_cfg)
            self._explainer.random_net_sites = self.random_net_sites  # one set, shared
        return self._explainer

    def concepts(self, dict_path: Path, site: str, sha: str | None) -> dict:
        out = dict_path.parent / "concepts.json"
        old = _reusable(out, sha, {"auc": self.rows, "seed": self.cfg.seed})
        if old is not None and (site in self.baselines_for or old.get("baselines")):
            self.baselines_for.add(site)
            return old
        cfg = self.concepts_cfg
        cfg.baselines = site not in self.baselines_for
        report = build_report(dict_path, self.store, self.net, self.agent, cfg)
        atomic_write_json(out, report)
        self.baselines_for.add(site)
        return report

    def explanations(self, dict_path: Path, sha: str | None) -> dict:
        out = dict_path.parent / "explanations.json"
        old = _reusable(out, sha, None)
        if old is not None and old.get("frontier_sample") == self.sample_key():
            site = old["dictionary"]["site"]
            if (old.get("baselines") or {}).get("random_net"):
                self.random_net_sites.add(site)
                return old
            if not wants_random_net(self.explain_cfg.random_net, self.random_net_sites, site):
                return old
        report = self.explainer.report(dict_path)
        report["dictionary"]["sha256"] = sha
        report["frontier_sample"] = self.sample_key()  # what a rerun checks before reusing it
        atomic_write_json(out, report)
        return report

    def sample_key(self) -> dict:
        stats = self.explain_cfg.explain.stats
        return {
            "positions": self.cfg.positions,
            "solver_positions": self.cfg.solver_positions,
            "seed": self.cfg.seed,
            "min_support": stats.min_support,
            "f1_threshold": stats.f1_threshold,
        }


def _reusable(path: Path, sha: str | None, positions: dict | None) -> dict | None:
    """A report at `path` made for these weights (and these positions), else None."""
    if not path.exists() or sha is None:
        return None
    try:
        report = read_json(path, "report")
    except CheckpointError:
        return None
    if not isinstance(report, dict) or (report.get("dictionary") or {}).get("sha256") != sha:
        return None
    if positions and any((report.get("positions") or {}).get(k) != v for k, v in positions.items()):
        return None
    return report


def record(scaling_row: dict, concepts: dict, explanations: dict) -> dict:
    absorption = concepts.get("absorption") or {}
    s = explanations["summary"]
    return {
        **{k: scaling_row.get(k) for k in SCALING_KEYS},
        "site": concepts["dictionary"]["site"],
        "coverage": concepts["coverage"],
        "coverage_all": concepts.get("coverage_all"),
        "reconstruction": concepts["reconstruction"],
        "absorption": absorption.get("mean_absorption_fraction"),
        "full_absorption": absorption.get("full_absorption_rate"),
        "live": s["live"],
        "explained": s["explained"],
        "explained_fraction": s["explained_fraction"],
        "explained_of_judged": s["explained_of_judged"],
    }


def baselines(concepts: dict, explanations: dict) -> dict:
    """The neuron and random-net rows of one site (concepts' metrics + explained fraction)."""
    out = {}
    for kind in ("neurons", "random_net"):
        c = (concepts.get("baselines") or {}).get(kind) or {}
        e = (explanations.get("baselines") or {}).get(kind) or {}
        if c or e:
            out[kind] = {
                "site": e.get("site") or c.get("site"),
                "l0": c.get("l0"),
                "coverage": c.get("coverage"),
                "coverage_all": c.get("coverage_all"),
                "reconstruction": c.get("reconstruction"),
                "live": e.get("live"),
                "explained_fraction": e.get("explained_fraction"),
            }
    return out


def measure_sweep(folder: Path, m: Measurer, rule: Rule) -> dict:
    scaling = read_scaling(folder)
    records, base = {}, {}
    for name, row in tqdm(scaling.items(), desc=str(folder), disable=not m.cfg.progress):
        path = folder / name / "dictionary.json"
        _, config = load_dictionary(path)
        sha = config.get("weights_sha256")
        site = config["dictionary"]["in_site"]
        concepts = m.concepts(path, site, sha)
        explanations = m.explanations(path, sha)
        records[name] = record(row, concepts, explanations)
        for kind, b in baselines(concepts, explanations).items():
            entry = base.setdefault(site, {}).setdefault(kind, {})
            entry.update({k: v for k, v in b.items() if v is not None})
    result = {
        "kind": "frontier",
        "sweep": str(folder),
        "positions": {
            "rows": m.cfg.positions,
            "solver": m.cfg.solver_positions,
            "seed": m.cfg.seed,
            "split": "heldout",
        },  # fmt: skip
        "rule": rule.describe(),
        "choice": choose(records, rule),
        "records": records,
        "baselines": base,
    }
    return result


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(prog="python -m sae.frontier", description=__doc__)
    ap.add_argument("sweeps", nargs="+", help="finished sweep folders (with scaling.json)")
    ap.add_argument("--store", help="activation store (default: the first dictionary's)")
    ap.add_argument("--checkpoint", help="agent checkpoint (default: the store's)")
    d, r = FrontierConfig(), Rule()
    ap.add_argument("--positions", type=cli.count(100), default=d.positions)
    ap.add_argument("--solver-positions", type=cli.count(0), default=d.solver_positions)
    ap.add_argument("--min-agreement", type=cli.finite, default=r.min_agreement)
    ap.add_argument("--max-l0", type=cli.finite, default=r.max_l0)
    ap.add_argument("--margin", type=cli.finite, default=r.margin)
    ap.add_argument("--heatmap", type=cli.out_file, help="also write the per-site heatmap here")
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--device", type=cli.device, default="cpu")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    folders = [Path(f) for f in args.sweeps]
    for f in folders:
        if not (f / "scaling.json").exists():
            ap.error(f"{f} has no scaling.json: train it with train_sae.py --sweep --out {f}")
        for name in ("frontier.json", "frontier.md", "frontier_meaning.png"):
            cli.check_out_file(f / name, "the frontier beside the sweep")
    rule = Rule(args.min_agreement, args.max_l0, args.margin)
    cfg = FrontierConfig(args.positions, args.solver_positions, args.seed, not args.quiet)
    results = []
    try:
        first = next(iter(read_scaling(folders[0])))
        _, config = load_dictionary(folders[0] / first / "dictionary.json")
        store = ActivationStore(args.store or (config.get("data") or {}).get("store") or "")
        net, agent = load_net(store, args.checkpoint)
        m = Measurer(store, net.to(args.device), agent, cfg)
        for f in folders:
            result = measure_sweep(f, m, rule)
            atomic_write_json(f / "frontier.json", result)
            table = format_table(result)
            atomic_write(f / "frontier.md", lambda tmp, t=table: Path(tmp).write_text(t + "\n"))
            plot_frontier(result, f / "frontier_meaning.png")
            print(table + "\n")
            results.append(result)
    except (CheckpointError, StoreError, ReportError, UnknownConcept, ValueError) as e:
        sys.exit(f"error: {e}")
    if args.heatmap:
        plot_sites(results, args.heatmap)
        print(f"wrote {args.heatmap}")


if __name__ == "__main__":
    main()
