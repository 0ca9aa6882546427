"""What each latent means, as an exact program that holds on held-out games, and what it does.

    python -m sae.explain runs/sae_agent/l1_3_n2048/dictionary.json [more ...] --store STORE

Positions: a seeded sample of --positions held-out positions of the store, split in halves
by game: programs are chosen on one half and judged on the other (`sae.explain.explainer`;
the support rule, intervals and threshold in `sae.explain.stats`). Vocabulary: every exact
predicate of `sae.explain.vocabulary` (board state, move consequences, lines and regions,
the agent's own output; the solver's families within the solved endgames, --solver-positions
of them). Per latent: its program, held-out precision / recall / F1 with 95% game-bootstrap
intervals and support, the program's R^2 for the activation's size, and a "does" line: what
the decoder direction at the latent's typical strength does to the agent's policy and value
through the rest of the net (`sae.explain.effects`).

Baselines, through the same explainer on the same positions: the block's raw MLP neurons
and the dictionary's recipe trained on a randomly initialised net (`sae.concepts.baselines`).
The headline is the fraction of live latents (firing at least once in the sample) that are
explained: judged with enough support and with the F1 interval's lower bound >= 0.7; also a
curve over thresholds and the fractions per firing-rate bin.

Each dictionary's report goes to <its folder>/explanations.json (atomically); the table of
all of them is printed (--json - prints the reports instead; --summary PATH writes the
table as JSON). Schema: docs/explanations.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common import cli
from common.io import CheckpointError, atomic_write_json, bundle_paths
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.analysis import latent_columns
from sae.concepts.auc import SortedColumns
from sae.concepts.baselines import RandomNetConfig, neuron_columns, random_net_columns
from sae.concepts.inputs import (
    ConceptsConfig,
    ReportError,
    check_inputs,
    load_net,
    position_labels,
    sample_positions,
)
from sae.concepts.labels import MAX_EMPTIES, UnknownConcept
from sae.dictionary.model import load_dictionary
from sae.explain import search as program_search
from sae.explain.effects import decoder_effects, does_line
from sae.explain.explainer import (
    SCOPE_TEXT,
    SCOPES,
    ExplainConfig,
    Halves,
    explain,
    summary,
)
from sae.explain.search import SearchConfig
from sae.explain.stats import StatsConfig
from sae.explain.table import format_table
from sae.explain.vocabulary import GROUPS, Vocabulary, build

SCHEMA_VERSION = 1
TOP_EXAMPLES = 20  # a latent's typical strong activation: the mean of its top activations


@dataclass
class ReportConfig:
    positions: int = 40000
    solver_positions: int = 4000
    max_empties: int = MAX_EMPTIES
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    neurons: bool = True
    random_net: str = "each"  # each | first | site (the first at each site) | none
    random_net_cfg: RandomNetConfig = field(default_factory=RandomNetConfig)
    effect_positions: int = 64
    seed: int = 0
    progress: bool = True

    def concepts(self) -> ConceptsConfig:
        return ConceptsConfig(
            positions=self.positions,
            solver_positions=self.solver_positions,
            max_empties=self.max_empties,
            seed=self.seed,
            progress=self.progress,
        )


@dataclass
class Sample:
    """The positions every dictionary and baseline of one run is explained on."""

    rows: np.ndarray
    set_b: np.ndarray
    vocab: Vocabulary
    halves: Halves
    seconds: float
    drawn: int  # sampled positions before repeated boards were dropped

    @classmethod
    def draw(cls, store: ActivationStore, cfg: ReportConfig) -> Sample:
        t0 = time.perf_counter()
        rows, set_b = sample_positions(store, cfg.concepts())
        drawn = len(rows)
        keep = first_occurrences(store.read("me", rows), store.read("opp", rows))
        rows, set_b = rows[keep], set_b[keep]
        labels = position_labels(store, rows, cfg.concepts())
        me, opp = store.read("me", rows), store.read("opp", rows)
        policy, value = store.read("policy", rows), store.read("value", rows)
        vocab = build(labels, me, opp, policy, value, store.board_size)
        halves = Halves.build(vocab, set_b, store.read("game", rows))
        return cls(rows, set_b, vocab, halves, time.perf_counter() - t0, drawn)

    def description(self, store: ActivationStore) -> dict:
        games = store.read("game", self.rows)
        return {
            "drawn": self.drawn,
            "rows": int(len(self.rows)),
            "fit": int((~self.set_b).sum()),
            "score": int(self.set_b.sum()),
            "fit_games": int(len(np.unique(games[~self.set_b]))),
            "score_games": int(len(np.unique(games[self.set_b]))),
            "solved": int(self.vocab.solved.sum()),
            "split": "heldout",
        }


def first_occurrences(me: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """Sorted indices of the first row of every distinct board. The net, its latents and every
    predicate are functions of the board, so a repeated board (the start position opens every
    game) adds no evidence: counted once, and only in the half of the game where it first
    occurs, so no board chosen on is judged again."""
    boards = np.stack([np.asarray(me, np.uint64), np.asarray(opp, np.uint64)], 1)
    _, first = np.unique(boards, axis=0, return_index=True)
    return np.sort(first)


def _triple(result: dict, key: str, i: int) -> list:
    return [_num(result[key][i]), _num(result[f"{key}_low"][i]), _num(result[f"{key}_high"][i])]


def _num(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


def _scope_entry(result: dict, i: int, names: list[str]) -> dict:
    p = result["programs"]
    size = int(p.size[i])
    return {
        "program": program_search.to_text(p.literals[i], p.terms[i], size, names),
        "literals": size,
        "predicates": [
            names[c] for c in program_search.used_predicates(p.literals[i], size, len(names))
        ],
        "fit_f1": _num(p.fit_f1[i]),
        "precision": _triple(result, "precision", i),
        "recall": _triple(result, "recall", i),
        "f1": _triple(result, "f1", i),
        "r2": _num(result["r2"][i]),
        "support": {k: int(v[i]) if np.ndim(v) else int(v) for k, v in result["support"].items()},
        "judged": bool(result["judged"][i]),
        "explained": bool(result["explained"][i]),
    }


def latent_entries(result: dict, names: list[str], does: dict | None) -> dict:
    """Per live latent: the shown explanation (the all-positions one if it holds, else the
    endgame one if that holds, else the all-positions best guess) and both scopes."""
    out = {}
    for i in np.flatnonzero(result["rate"] > 0):
        scopes = {s: _scope_entry(result[s], i, names) for s in SCOPES}
        shown = next((s for s in SCOPES if scopes[s]["explained"]), "all")
        entry = {
            "rate": round(float(result["rate"][i]), 5),
            "explained": scopes[shown]["explained"],
            "scope": shown,
            "scope_text": SCOPE_TEXT[shown],
            **{k: v for k, v in scopes[shown].items() if k != "explained"},
            "scopes": scopes,
        }
        if does is not None:
            entry["does"] = does["text"][i]
            entry["effect"] = {
                "strength": round(float(does["strength"][i]), 4),
                "value": round(float(does["value"][i]), 5),
                "tv": round(float(does["tv"][i]), 5),
            }
        out[str(int(i))] = entry
    return out


def latent_does(net, dictionary, columns: SortedColumns, me, opp, cfg: ReportConfig) -> dict:
    """The decoder direction's effect at each latent's typical strong activation."""
    pos = columns.positive()
    counts = np.diff(pos.colptr)
    strength = np.zeros(pos.n_cols, np.float64)
    for i in np.flatnonzero(counts):
        top = pos.vals[max(pos.colptr[i], pos.colptr[i + 1] - TOP_EXAMPLES) : pos.colptr[i + 1]]
        strength[i] = float(top.mean())
    effects = decoder_effects(net, dictionary, me, opp, strength, progress=cfg.progress)
    n = int(round((effects["policy"].shape[1] - 1) ** 0.5))
    text = [
        does_line(effects["policy"][i], float(effects["value"][i]), n) if strength[i] > 0 else ""
        for i in range(pos.n_cols)
    ]
    return {"text": text, "strength": strength, **effects}


def baseline_entry(result: dict, threshold: float, **info) -> dict:
    return {**info, **summary(result, threshold)}


def wants_random_net(mode: str, done: set[str], site: str) -> bool:
    """Whether a dictionary at `site` gets the random-net baseline (`done`: the sites that
    already have one) under `mode`: each | first | site | none."""
    if mode == "first":
        return not done
    return mode == "each" or (mode == "site" and site not in done)


class Run:
    """One command line's work: the sample, and baselines shared between dictionaries."""

    def __init__(self, store: ActivationStore, net, agent: dict, cfg: ReportConfig):
        self.store, self.net, self.agent, self.cfg = store, net, agent, cfg
        self.sample = Sample.draw(store, cfg)
        self.neurons: dict[str, dict] = {}
        self.random_net_sites: set[str] = set()  # sites whose random-net baseline is done
        rng = np.random.default_rng([cfg.seed, 3])
        score_rows = self.sample.rows[self.sample.set_b]
        self.effect_rows = np.sort(rng.permutation(score_rows)[: cfg.effect_positions])

    def explain_columns(self, columns: SortedColumns) -> dict:
        return explain(columns, self.sample.halves, self.cfg.explain)

    def neuron_baseline(self, site: str) -> dict:
        cols, hidden_site, note = neuron_columns(self.net, self.store, self.sample.rows, site)
        if hidden_site not in self.neurons:
            result = self.explain_columns(cols)
            self.neurons[hidden_site] = baseline_entry(
                result, self.threshold, site=hidden_site, note=note
            )
        return self.neurons[hidden_site]

    @property
    def threshold(self) -> float:
        return self.cfg.explain.stats.f1_threshold

    def report(self, dict_path) -> dict:
        cfg, store, sample = self.cfg, self.store, self.sample
        dev = self.net.stem.weight.device
        dictionary, config = load_dictionary(dict_path, device=dev)
        dcfg = dictionary.cfg
        check_inputs(config, store, dcfg.in_site, dcfg.d_in)
        seconds = {"sample": round(sample.seconds, 2)}
        t = time.perf_counter()
        x = store.read(dcfg.in_site, sample.rows).astype(np.float32)
        columns = latent_columns(dictionary, x)
        result = self.explain_columns(columns)
        seconds["explain"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        me, opp = store.read("me", self.effect_rows), store.read("opp", self.effect_rows)
        does = latent_does(self.net, dictionary, columns, me, opp, cfg)
        seconds["does"] = round(time.perf_counter() - t, 2)
        baselines = {}
        t = time.perf_counter()
        if cfg.neurons:
            baselines["neurons"] = self.neuron_baseline(dcfg.in_site)
        if wants_random_net(cfg.random_net, self.random_net_sites, dcfg.in_site):
            cols, info = random_net_columns(
                self.net, store, sample.rows, config, cfg.random_net_cfg, cfg.progress
            )
            baselines["random_net"] = baseline_entry(
                self.explain_columns(cols), self.threshold, site=dcfg.in_site, training=info
            )
            self.random_net_sites.add(dcfg.in_site)
        seconds["baselines"] = round(time.perf_counter() - t, 2)
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "explanations",
            "dictionary": {
                "path": str(Path(dict_path).resolve()),
                "site": dcfg.in_site,
                "out_site": dcfg.out_site,
                "architecture": dcfg.architecture,
                "n_latents": dcfg.n_latents,
                "k": dcfg.k if dcfg.sparse_by_k else None,
                "l1_coeff": config.get("l1_coeff") if dcfg.architecture == "relu" else None,
            },
            "store": {"path": str(store.root), "hash": store.hash},
            "agent": self.agent,
            "positions": sample.description(store),
            "rule": self.rule(),
            "vocabulary": {
                "predicates": len(sample.vocab.names),
                "groups": {
                    g: sum(1 for n in sample.vocab.names if sample.vocab.group_of(n) == g)
                    for g in GROUPS
                },
                "families": sample.vocab.families(),
            },
            "summary": summary(result, self.threshold),
            "endgame_summary": summary(
                {"rate": result["rate"], "all": result["endgame"], "endgame": result["endgame"]},
                self.threshold,
            ),
            "baselines": baselines,
            "latents": latent_entries(result, sample.vocab.names, does),
            "seconds": seconds,
        }

    def rule(self) -> dict:
        st, sc = self.cfg.explain.stats, self.cfg.explain.search
        return {
            "fires": "activation > 0"
            if not self.cfg.explain.fires_above
            else f"activation > {self.cfg.explain.fires_above} x its largest on half A",
            "positions": "distinct boards: a repeated board counts once, in the half of the "
            "game where it first occurs",
            "fit": "programs chosen on half A of the held-out games",
            "score": "scored on half B (other games; boards seen in A are not judged again)",
            "min_support": st.min_support,
            "support": "on B within the scope: the latent fires and is silent on >= min_support "
            "positions each, the program holds and fails on >= min_support each",
            "interval": f"95% percentile bootstrap over B's games, {st.resamples} resamples",
            "explained": f"judged and the F1 interval's lower bound >= {st.f1_threshold}",
            "f1_threshold": st.f1_threshold,
            "program": {
                "max_literals": sc.max_literals,
                "max_terms": sc.max_terms,
                "max_term_literals": sc.max_term_literals,
                "beam": sc.beam,
                "candidates": sc.candidates,
                "margin": sc.margin,
            },
        }


def build_parser() -> argparse.ArgumentParser:
    ap = cli.parser(prog="python -m sae.explain", description=__doc__)
    ap.add_argument("dictionaries", nargs="+", help="dictionary checkpoints (dictionary.json)")
    ap.add_argument("--store", help="activation store (default: the first one's training store)")
    ap.add_argument("--checkpoint", help="agent checkpoint (default: the store's)")
    d, s, st = ReportConfig(), SearchConfig(), StatsConfig()
    ap.add_argument("--positions", type=int, default=d.positions, help="held-out positions")
    ap.add_argument(
        "--solver-positions",
        type=int,
        default=d.solver_positions,
        help="of them, endgames solved exactly for the endgame scope (0: none)",
    )
    ap.add_argument("--min-support", type=int, default=st.min_support)
    ap.add_argument("--threshold", type=float, default=st.f1_threshold, help="F1 lower bound")
    ap.add_argument("--resamples", type=int, default=st.resamples, help="bootstrap replicates")
    ap.add_argument("--max-literals", type=int, default=s.max_literals)
    ap.add_argument("--max-terms", type=int, default=s.max_terms)
    ap.add_argument("--max-term-literals", type=int, default=s.max_term_literals)
    ap.add_argument("--beam", type=int, default=s.beam, help="programs kept per size")
    ap.add_argument(
        "--candidates", type=int, default=s.candidates, help="candidate literals per latent"
    )
    ap.add_argument(
        "--fires-above",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="a diagnostic: 'fires' = activation above this fraction of the latent's largest "
        "on the choosing half (default 0: above zero)",
    )
    ap.add_argument("--no-neurons", action="store_true", help="skip the neuron baseline")
    ap.add_argument(
        "--random-net",
        choices=("each", "first", "site", "none"),
        default=d.random_net,
        help="random-net baseline for each dictionary, only the first, the first at each site, "
        "or none",
    )
    ap.add_argument("--random-net-steps", type=int, default=d.random_net_cfg.steps)
    ap.add_argument("--effect-positions", type=int, default=d.effect_positions)
    ap.add_argument("--json", metavar="-", help="'-': print the reports as JSON to stdout")
    ap.add_argument(
        "--summary", type=cli.out_file, metavar="PATH", help="also write the table as JSON here"
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--device", type=cli.device, default="cpu", help="torch device (default cpu)")
    ap.add_argument(
        "--no-reports",
        action="store_true",
        help="do not write explanations.json beside the dictionaries (the table only)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def config_from_args(ap, args) -> ReportConfig:
    if args.positions < 100:
        ap.error("--positions must be at least 100")
    if args.solver_positions < 0 or args.effect_positions < 1 or args.random_net_steps < 1:
        ap.error("--solver-positions >= 0, --effect-positions >= 1, --random-net-steps >= 1")
    if args.min_support < 1 or args.resamples < 10 or args.max_literals < 1 or args.beam < 1:
        ap.error("--min-support >= 1, --resamples >= 10, --max-literals >= 1, --beam >= 1")
    if min(args.max_terms, args.max_term_literals, args.candidates) < 1:
        ap.error("--max-terms, --max-term-literals and --candidates must be >= 1")
    if not 0 <= args.fires_above < 1:
        ap.error("--fires-above must be in [0, 1)")
    if not 0 < args.threshold <= 1:
        ap.error("--threshold must be in (0, 1]")
    if args.json not in (None, "-"):
        ap.error("--json takes '-' (stdout); reports go beside each dictionary")
    search = SearchConfig(
        max_literals=args.max_literals,
        max_terms=args.max_terms,
        max_term_literals=args.max_term_literals,
        beam=args.beam,
        candidates=args.candidates,
    )
    stats = StatsConfig(args.min_support, args.threshold, args.resamples, args.seed)
    return ReportConfig(
        positions=args.positions,
        solver_positions=args.solver_positions,
        explain=ExplainConfig(search, stats, args.fires_above),
        neurons=not args.no_neurons,
        random_net=args.random_net,
        random_net_cfg=RandomNetConfig(steps=args.random_net_steps, seed=args.seed),
        effect_positions=args.effect_positions,
        seed=args.seed,
        progress=not args.quiet,
    )


@cli.command
def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    cfg = config_from_args(ap, args)
    for path in [] if args.no_reports else args.dictionaries:  # reports go beside them
        cli.check_out_file(bundle_paths(path)[1].parent / "explanations.json", "the report")
    reports = []
    try:
        _, config = load_dictionary(args.dictionaries[0])
        store_path = args.store or (config.get("data") or {}).get("store")
        if not store_path:
            ap.error(f"{args.dictionaries[0]} records no activation store: pass --store")
        store = ActivationStore(store_path)
        net, agent = load_net(store, args.checkpoint)
        run = Run(store, net.to(args.device), agent, cfg)
        for path in tqdm(args.dictionaries, desc="dictionaries", disable=not cfg.progress):
            report = run.report(path)
            if not args.no_reports:
                atomic_write_json(bundle_paths(path)[1].parent / "explanations.json", report)
            reports.append(report)
    except (CheckpointError, StoreError, ReportError, UnknownConcept) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    table = [{"dictionary": r["dictionary"]["path"], **r["summary"]} for r in reports]
    if args.summary:
        atomic_write_json(
            args.summary,
            {
                "dictionaries": table,
                "reports": [
                    {
                        k: r[k]
                        for k in (
                            "dictionary",
                            "positions",
                            "rule",
                            "summary",
                            "endgame_summary",
                            "baselines",
                        )
                    }  # fmt: skip
                    for r in reports
                ],
            },
        )
    if args.json == "-":
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=1))
    else:
        print(format_table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
