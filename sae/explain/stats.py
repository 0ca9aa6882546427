"""Held-out scores of the chosen programs, with support, intervals and a size fit.

The rule, stated once:

- Scoring rows: the half of the positions whose games took no part in choosing the program
  (within the program's scope: all positions, or the solved endgames for programs that may
  use the exact solver's predicates).
- Support: a latent is judged only if, on those rows, it fires on at least `min_support`
  positions and is silent on at least `min_support`, and its program holds on at least
  `min_support` and fails on at least `min_support`. Otherwise it is "not judged" (too rare,
  too dense, or a program that is (almost) constant there), never "explained".
- Intervals: 95% percentile intervals of precision, recall and F1 from `resamples`
  bootstrap replicates that resample the scoring half's games with replacement (positions
  of one game are not independent, so games are the unit).
- Explained: judged, and the F1 interval's lower bound reaches `f1_threshold`.
- Size (R^2): the program as a predictor of the activation's value, not just of firing:
  each latent's mean activation where its program holds and where it fails, taken on the
  fitting half, predicts the scoring half; R^2 = 1 - SSE / SST there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sae.explain import bits


@dataclass
class StatsConfig:
    min_support: int = 25
    f1_threshold: float = 0.7
    resamples: int = 1000
    seed: int = 0


def game_starts(games: np.ndarray) -> np.ndarray:
    """int64 [G + 1]: row offsets of each run of equal game ids (rows are in game order)."""
    change = np.flatnonzero(np.diff(games) != 0) + 1
    return np.r_[0, change, len(games)].astype(np.int64)


def heldout_scores(pred, fires, starts, cfg: StatsConfig) -> dict[str, np.ndarray]:
    """Point estimates and bootstrap intervals of precision, recall, F1 per latent.
    pred, fires: uint64 [L, W] bitsets over the scoring rows (zero outside the scope)."""
    by_game = bits.confusion_by_group(pred, fires, starts).astype(np.float32)  # [L, G, 3]
    tp, fp, fn = (by_game[:, :, i].sum(1) for i in range(3))
    rng = np.random.default_rng(cfg.seed)
    n_games = len(starts) - 1
    weights = rng.multinomial(n_games, np.full(n_games, 1 / n_games), cfg.resamples)
    weights = weights.astype(np.float32)  # [B, G]
    boot = np.einsum("bg,lgi->ilb", weights, by_game, optimize=True)  # [3, L, B]

    def ratios(t, p, n):
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(t + p > 0, t / (t + p), np.nan)
            recall = np.where(t + n > 0, t / (t + n), np.nan)
            f1 = np.where(2 * t + p + n > 0, 2 * t / (2 * t + p + n), np.nan)
        return {"precision": precision, "recall": recall, "f1": f1}

    point = ratios(tp, fp, fn)
    draws = ratios(*boot)
    out = {k: v.astype(np.float64) for k, v in point.items()}
    for k, v in draws.items():
        with warnings.catch_warnings():  # a feature that never fires has no ratio: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(v, [2.5, 97.5], axis=1)
        out[f"{k}_low"], out[f"{k}_high"] = lo.astype(np.float64), hi.astype(np.float64)
    out["tp"], out["fp"], out["fn"] = tp, fp, fn
    return out


def supported(fires_n, silent_n, true_n, false_n, cfg: StatsConfig) -> np.ndarray:
    m = cfg.min_support
    return (fires_n >= m) & (silent_n >= m) & (true_n >= m) & (false_n >= m)


def size_r2(pred_fit, fit_cols, pred_score, score_cols, n_fit, n_score) -> np.ndarray:
    """R^2 on the scoring rows of "activation = mean where the program holds / fails" (means
    from the fitting rows). *_cols: (colptr, rows, vals) of each latent's positive entries;
    n_*: int [L] rows in scope on each half (rows outside the scope carry no bits)."""
    true_fit = bits.counts(pred_fit).astype(np.float64)
    s_fit = bits.sums_where(pred_fit, *fit_cols)
    total_fit = _column_sums(fit_cols)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_true = np.where(true_fit > 0, s_fit[:, 0] / true_fit, 0.0)
        mean_false = np.where(
            n_fit - true_fit > 0, (total_fit[:, 0] - s_fit[:, 0]) / (n_fit - true_fit), 0.0
        )
    true_n = bits.counts(pred_score).astype(np.float64)
    false_n = n_score - true_n
    s = bits.sums_where(pred_score, *score_cols)
    total = _column_sums(score_cols)
    s1_t, s2_t = s[:, 0], s[:, 1]
    s1_f, s2_f = total[:, 0] - s1_t, total[:, 1] - s2_t
    sse = (s2_t - 2 * mean_true * s1_t + true_n * mean_true**2) + (
        s2_f - 2 * mean_false * s1_f + false_n * mean_false**2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        sst = total[:, 1] - total[:, 0] ** 2 / np.maximum(n_score, 1)
        return np.where(sst > 0, 1 - sse / sst, np.nan)


def _column_sums(cols) -> np.ndarray:
    colptr, _, vals = cols
    v = vals.astype(np.float64)
    s1 = np.add.reduceat(np.r_[v, 0.0], colptr[:-1]) * (np.diff(colptr) > 0)
    s2 = np.add.reduceat(np.r_[v * v, 0.0], colptr[:-1]) * (np.diff(colptr) > 0)
    return np.stack([s1, s2], 1)
