"""Explain a set of features (dictionary latents, neurons) by exact programs, held out.

`Halves.build(vocabulary, set_b, games)` packs every predicate as bitsets over the fitting
half (set A: chooses the programs) and the scoring half (set B: judges them), per scope:

  all       every position; the solver families are not usable (undefined on most rows)
  endgame   only the solved endgame positions (<= 14 empties); every family is usable

`explain(columns, halves, cfg)` then, per scope: counts every (feature, predicate) pair,
picks candidate literals, searches programs (`sae.explain.search`), evaluates the chosen
ones on set B and scores them with the support rule and game-bootstrap intervals
(`sae.explain.stats`), plus the program's R^2 for the activation's size. "Fires" means an
activation above zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sae.concepts.auc import SortedColumns
from sae.explain import bits
from sae.explain.search import SearchConfig, beam_search, candidate_literals, choose, evaluate
from sae.explain.stats import StatsConfig, game_starts, heldout_scores, size_r2, supported
from sae.explain.vocabulary import Vocabulary

SCOPES = ("all", "endgame")
SCOPE_TEXT = {"all": "all positions", "endgame": "solved endgames"}
RATE_BINS = (0.0, 0.01, 0.05, 0.2, 0.5, 1.0)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class ExplainConfig:
    search: SearchConfig = field(default_factory=SearchConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    # "fires" = activation above this fraction of the feature's largest activation on the
    # fitting half (0: above zero, the default; a diagnostic of whether only strong firing
    # is explainable)
    fires_above: float = 0.0


def strong_entries(pos: SortedColumns, fit: np.ndarray, fraction: float) -> SortedColumns:
    """The entries above `fraction` of each column's largest value on the fitting rows."""
    on_fit = fit[pos.rows]
    top = np.zeros(pos.n_cols, np.float32)
    np.maximum.at(top, pos.col[on_fit], pos.vals[on_fit])
    keep = pos.vals > fraction * top[pos.col]
    return SortedColumns.from_coo(
        pos.rows[keep], pos.col[keep], pos.vals[keep], pos.n_rows, pos.n_cols
    )


@dataclass
class Halves:
    names: list[str]
    solver: np.ndarray  # bool [C]
    fit: np.ndarray  # bool [R]: set A
    preds: dict  # half -> uint64 [C, W]
    valid: dict  # (half, scope) -> uint64 [W]
    rows: dict  # (half, scope) -> bool [R] (rows of the sample in that half and scope)
    pred_counts: dict  # scope -> int64 [C] on the fitting half
    starts: np.ndarray  # game starts within the scoring half

    @classmethod
    def build(cls, vocab: Vocabulary, set_b: np.ndarray, games: np.ndarray) -> Halves:
        fit = ~np.asarray(set_b, bool)
        preds, valid, rows, pred_counts = {}, {}, {}, {}
        for half, mask in (("fit", fit), ("score", ~fit)):
            preds[half] = bits.pack(vocab.matrix[mask])
            for scope in SCOPES:
                keep = np.ones(int(mask.sum()), bool) if scope == "all" else vocab.solved[mask]
                valid[half, scope] = bits.row_mask(int(mask.sum()), keep)
                in_scope = mask.copy()
                in_scope[mask] = keep
                rows[half, scope] = in_scope
        for scope in SCOPES:
            pred_counts[scope] = bits.counts(preds["fit"] & valid["fit", scope][None, :])
        starts = game_starts(np.asarray(games)[~fit])
        return cls(vocab.names, vocab.solver, fit, preds, valid, rows, pred_counts, starts)


def _scope_columns(pos: SortedColumns, half_mask: np.ndarray, scope_rows: np.ndarray):
    """The positive entries on the rows of one half, renumbered within the half, and only
    those in scope: (colptr, rows, vals)."""
    sub = pos.subset(half_mask)
    keep = scope_rows[half_mask][sub.rows]
    counts = np.bincount(sub.col[keep], minlength=sub.n_cols)
    return np.r_[0, np.cumsum(counts)].astype(np.int64), sub.rows[keep], sub.vals[keep]


def explain(columns: SortedColumns, halves: Halves, cfg: ExplainConfig) -> dict:
    """Per scope, per feature: the chosen program and its held-out scores (arrays [L])."""
    pos = columns.positive()
    fit, score = halves.fit, ~halves.fit
    if cfg.fires_above > 0:
        pos = strong_entries(pos, fit, cfg.fires_above)
    out = {"rate": np.diff(pos.colptr) / max(columns.n_rows, 1)}
    sc, st = cfg.search, cfg.stats
    for scope in SCOPES:
        cols_fit = _scope_columns(pos, fit, halves.rows["fit", scope])
        cols_score = _scope_columns(pos, score, halves.rows["score", scope])
        fires_fit = bits.from_columns(cols_fit[0], cols_fit[1], int(fit.sum()))
        fires_score = bits.from_columns(cols_score[0], cols_score[1], int(score.sum()))
        n_fit = int(halves.rows["fit", scope].sum())
        n_score = int(halves.rows["score", scope].sum())
        usable = ~halves.solver if scope == "all" else np.ones(len(halves.names), bool)
        fires_n = bits.counts(fires_fit)
        pair = bits.pair_counts(fires_fit, halves.preds["fit"] & halves.valid["fit", scope])
        cand = candidate_literals(
            pair, halves.pred_counts[scope], fires_n, n_fit, sc.candidates, usable
        )
        lits, terms, tp, pp = beam_search(
            halves.preds["fit"], halves.valid["fit", scope], fires_fit, cand,
            sc.beam, sc.max_literals, sc.max_terms, sc.max_term_literals,
        )  # fmt: skip
        programs = choose(lits, terms, tp, pp, fires_n, sc.margin)
        args = (programs.literals, programs.terms, programs.size)
        pred_fit = evaluate(halves.preds["fit"], halves.valid["fit", scope], *args)
        pred_score = evaluate(halves.preds["score"], halves.valid["score", scope], *args)
        scores = heldout_scores(pred_score, fires_score, halves.starts, st)
        fires_s = bits.counts(fires_score)
        holds_s = bits.counts(pred_score)
        judged = supported(fires_s, n_score - fires_s, holds_s, n_score - holds_s, st)
        judged &= programs.size > 0
        out[scope] = {
            "min_support": st.min_support,
            "programs": programs,
            "judged": judged,
            "explained": judged & (np.nan_to_num(scores["f1_low"]) >= st.f1_threshold),
            "support": {
                "fires": fires_s,
                "silent": n_score - fires_s,
                "holds": holds_s,
                "fails": n_score - holds_s,
                "rows": n_score,
            },
            "r2": size_r2(pred_fit, cols_fit, pred_score, cols_score, n_fit, n_score),
            **scores,
        }
    return out


def reasons(scope: dict, live: np.ndarray, threshold: float) -> dict:
    """Why live features are not explained, first reason that applies: too rare (fires on
    fewer than min_support scoring positions), too dense (silent on fewer), no program that
    splits the positions (holds or fails on fewer), or judged with the F1 interval's lower
    bound below the threshold (then by held-out F1: near, >= threshold - 0.1, or far)."""
    sup, m = scope["support"], scope.get("min_support", 25)
    rare = live & (sup["fires"] < m)
    dense = live & ~rare & (sup["silent"] < m)
    flat = live & ~rare & ~dense & ~scope["judged"]
    below = live & scope["judged"] & ~scope["explained"]
    near = below & (np.nan_to_num(scope["f1"]) >= threshold - 0.1)
    fit_gap = (scope["programs"].fit_f1 - np.nan_to_num(scope["f1"]))[scope["judged"] & live]
    return {
        "too_rare": int(rare.sum()),
        "too_dense": int(dense.sum()),
        "no_splitting_program": int(flat.sum()),
        "below_threshold": int(below.sum()),
        "below_threshold_near": int(near.sum()),
        "mean_fit_minus_heldout_f1": float(fit_gap.mean()) if fit_gap.size else None,
    }


def summary(result: dict, threshold: float) -> dict:
    """Explained fractions of the live features (firing at least once in the sample)."""
    rate = result["rate"]
    live = rate > 0
    n_live = int(live.sum())
    main, end = result["all"], result["endgame"]
    lower = np.nan_to_num(main["f1_low"], nan=-1.0)

    def frac(mask) -> float:
        return float(mask.sum() / n_live) if n_live else 0.0

    by_rate = []
    for lo, hi in zip(RATE_BINS[:-1], RATE_BINS[1:], strict=True):
        in_bin = live & (rate > lo) & (rate <= hi)
        by_rate.append(
            {
                "bin": f"{100 * lo:g}-{100 * hi:g}%",
                "live": int(in_bin.sum()),
                "judged": int((in_bin & main["judged"]).sum()),
                "explained": int((in_bin & main["explained"]).sum()),
            }
        )
    judged_f1 = main["f1"][live & main["judged"]]
    return {
        "unexplained": reasons(main, live, threshold),
        "features": len(rate),
        "live": n_live,
        "judged": int((live & main["judged"]).sum()),
        "explained": int((live & main["explained"]).sum()),
        "explained_fraction": frac(live & main["explained"]),
        "explained_of_judged": float(
            (live & main["explained"]).sum() / max((live & main["judged"]).sum(), 1)
        ),
        "endgame_only": int((live & end["explained"] & ~main["explained"]).sum()),
        "median_heldout_f1": float(np.median(judged_f1)) if judged_f1.size else None,
        "curve": {f"{t:g}": frac(live & main["judged"] & (lower >= t)) for t in THRESHOLDS},
        "by_rate": by_rate,
        "threshold": threshold,
    }
