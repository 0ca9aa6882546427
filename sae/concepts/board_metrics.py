"""Board-game metrics of Karvonen et al. (2024): coverage and board reconstruction.

A latent (or neuron) at threshold t, t in 0, 0.1, .., 1.0 of its largest activation on a
fitting set A, is the classifier "activation > t * max". Two disjoint position sets A and B
(split by game):

  coverage        on B: for each concept (a square x class, e.g. mine@c3), the best F1 of
                  any latent; the mean over the concepts that occur on B (a never-true one,
                  e.g. empty@c3 at the centre, is left out); the best over t.
  coverage_all    the same with the mean over ALL the family's concepts, a never-true one
                  counting F1 0: the original SAE_BoardGameEval average (over 108 board / 36
                  legal concepts on 6x6, so 104/108 and 32/36 of `coverage` at most).
  reconstruction  on A a latent predicts concept c when, at t, its precision for c is
                  >= 0.95 with >= 10 firings; on B each concept is predicted wherever one of
                  its predicting latents fires; the score is F1 over every (position,
                  concept) cell of B; the best over t.

All thresholds are counted in one sparse product: each nonzero entry goes to a bucket, the
number of thresholds its activation exceeds, and the counts for threshold j are the sums over
the buckets above j. Predictions on B touch only the latents that predict something.
"""

from __future__ import annotations

import numpy as np
import torch

from sae.concepts.auc import SortedColumns, csr

THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(11))
MIN_PRECISION, MIN_FIRINGS = 0.95, 10
ROW_CHUNK = 8192


def cut(top: np.ndarray, t: float) -> np.ndarray:
    """Per latent threshold t * max; a latent that never fired on the fitting set stays off."""
    return np.where(top > 0, t * top, np.inf).astype(np.float32)


def _buckets(sc: SortedColumns, top: np.ndarray) -> np.ndarray:
    """Per entry, how many of the thresholds t * top[col] its activation exceeds."""
    b = np.zeros(sc.nnz, np.int64)
    top_of = top[sc.col]
    alive = top_of > 0
    for t in THRESHOLDS:
        b += alive & (sc.vals > t * top_of)
    return b


def firing_counts(sc: SortedColumns, top: np.ndarray, labels: np.ndarray):
    """(true positives [T, L, C], firings [T, L]) of "activation > t * top" for every t."""
    n_t = len(THRESHOLDS)
    slot = sc.col * (n_t + 1) + _buckets(sc, top)  # non-decreasing: columns sorted ascending
    counts = np.bincount(slot, minlength=sc.n_cols * (n_t + 1))
    m = csr(np.r_[0, np.cumsum(counts)], sc.rows, torch.ones(sc.nnz), (len(counts), sc.n_rows))
    per_bucket = (m @ torch.from_numpy(labels.astype(np.float32))).numpy()
    per_bucket = per_bucket.reshape(sc.n_cols, n_t + 1, -1)
    # threshold j fires for the buckets j+1 .. n_t: a reversed cumulative sum
    tp = np.flip(np.cumsum(np.flip(per_bucket, 1), 1), 1)[:, 1:].transpose(1, 0, 2)
    fires = np.flip(np.cumsum(np.flip(counts.reshape(sc.n_cols, n_t + 1), 1), 1), 1)[:, 1:].T
    return tp, fires


def predict_any(sc: SortedColumns, cut: np.ndarray, predicting: np.ndarray) -> np.ndarray:
    """bool [R, C]: some latent l with predicting[l, c] fires (activation > cut[l])."""
    used = np.flatnonzero(predicting.any(1))
    out = np.zeros((sc.n_rows, predicting.shape[1]), bool)
    if not used.size:
        return out
    p = torch.from_numpy(predicting[used].astype(np.float32))
    acts = sc.columns(used)
    for start in range(0, sc.n_rows, ROW_CHUNK):
        fires = torch.from_numpy((acts[start : start + ROW_CHUNK] > cut[used]).astype(np.float32))
        out[start : start + len(fires)] = (fires @ p).numpy() > 0
    return out


def karvonen_metrics(
    sc_a: SortedColumns,
    labels_a: np.ndarray,
    sc_b: SortedColumns,
    labels_b: np.ndarray,
    families: dict[str, np.ndarray],
) -> dict[str, dict[str, dict]]:
    """{"coverage", "coverage_all", "reconstruction": {family: {...}}} for the concept columns
    of each family (indices into the label matrices)."""
    top = sc_a.column_max()
    pos_b = labels_b.sum(0)
    tp_b, fires_b = firing_counts(sc_b, top, labels_b)
    tp_a, fires_a = firing_counts(sc_a, top, labels_a)
    cover = {f: [] for f in families}
    cover_all = {f: [] for f in families}
    recon = {f: [] for f in families}
    for j, t in enumerate(THRESHOLDS):
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * tp_b[j] / (fires_b[j][:, None] + pos_b[None, :]))
        n = fires_a[j][:, None]
        predicting = (n >= MIN_FIRINGS) & (tp_a[j] >= MIN_PRECISION * n)
        pred = predict_any(sc_b, cut(top, t), predicting)
        for family, cols in families.items():
            occurs = cols[pos_b[cols] > 0]
            cover[family].append(float(f1[:, occurs].max(0).mean()) if occurs.size else np.nan)
            cover_all[family].append(float(f1[:, cols].max(0).mean()) if cols.size else np.nan)
            p, y = pred[:, cols], labels_b[:, cols]
            total = p.sum() + y.sum()
            recon[family].append(float(2 * (p & y).sum() / total) if total else np.nan)
    return {
        "coverage": {f: _best(v) for f, v in cover.items()},
        "coverage_all": {f: _best(v) for f, v in cover_all.items()},
        "reconstruction": {f: _best(v) for f, v in recon.items()},
    }


def _best(scores: list[float]) -> dict:
    arr = np.nan_to_num(np.array(scores), nan=-1.0)
    i = int(arr.argmax())
    return {
        "score": scores[i],
        "threshold": THRESHOLDS[i],
        "by_threshold": dict(zip([str(t) for t in THRESHOLDS], scores, strict=True)),
    }
