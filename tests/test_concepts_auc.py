"""Exact AUC from ranks and best-threshold F1 against brute-force definitions (pairs of
positives and negatives, every threshold tried), on ties, negative values, empty columns and
both the sparse and the dense product paths; Karvonen et al.'s metrics against a direct
loop over thresholds, latents and concepts."""

from __future__ import annotations

import numpy as np
import pytest

from sae.concepts.auc import SortedColumns, auc_matrix, best_f1
from sae.concepts.board_metrics import MIN_FIRINGS, MIN_PRECISION, THRESHOLDS, karvonen_metrics


def brute_auc(a: np.ndarray, y: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + half the ties."""
    p, n = a[y], a[~y]
    if not len(p) or not len(n):
        return np.nan
    return ((p[:, None] > n).sum() + 0.5 * (p[:, None] == n).sum()) / (len(p) * len(n))


def brute_f1(a: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    best = (np.nan, np.nan)
    for v in np.unique(a[a > 0]):
        pred = a >= v
        f1 = 2 * (pred & y).sum() / (pred.sum() + y.sum())
        if not f1 <= best[0]:
            best = (f1, v)
    return best


def matrix(rng, rows, cols, fill):
    """Small integer activations (many ties), some negative, some all-zero columns."""
    a = rng.integers(-2, 5, (rows, cols)).astype(np.float32) * (rng.random((rows, cols)) < fill)
    a[:, 1] = 0.0  # never fires
    a[:, 2] = np.abs(a[:, 2])
    return a


@pytest.mark.parametrize("fill", [0.02, 0.6])  # the sparse and the dense product paths
def test_auc_matches_pairwise_definition(fill):
    rng = np.random.default_rng(int(fill * 100))
    a = matrix(rng, 400, 9, fill)
    y = rng.random((400, 6)) < [0.3, 0.05, 0.5, 0.9, 0.0, 1.0]
    y[:, 0] |= a[:, 2] > 2  # a concept that one column does predict
    sc = SortedColumns.from_dense(a)
    assert sc.is_dense == (fill > 0.5)
    got = auc_matrix(sc, y)
    want = np.array([[brute_auc(a[:, j], y[:, c]) for c in range(6)] for j in range(9)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.isnan(got[:, 4:]).all()  # no positives / no negatives
    np.testing.assert_array_equal(auc_matrix(a, y), got)  # a plain array works too


def test_sparse_and_dense_builds_agree_and_views():
    rng = np.random.default_rng(1)
    a = matrix(rng, 200, 7, 0.1)
    r, c = np.nonzero(a)
    coo = SortedColumns.from_coo(r, c, a[r, c], 200, 7)
    dense = SortedColumns.from_dense(a)
    for name in ("colptr", "vals"):
        np.testing.assert_array_equal(getattr(coo, name), getattr(dense, name))
    np.testing.assert_array_equal(coo.columns(np.arange(7)), a)
    np.testing.assert_array_equal(coo.columns([5, 0]), a[:, [5, 0]])
    mask = rng.random(200) < 0.4
    np.testing.assert_array_equal(coo.subset(mask).columns(np.arange(7)), a[mask])
    np.testing.assert_array_equal(coo.column_max(), np.maximum(a.max(0), 0))
    np.testing.assert_array_equal(coo.positive().columns(np.arange(7)), np.maximum(a, 0))


def test_best_f1_matches_every_threshold_tried():
    rng = np.random.default_rng(2)
    a = matrix(rng, 300, 8, 0.3)
    y = rng.random((300, 4)) < [0.2, 0.4, 0.1, 0.0]
    y[:, 1] |= a[:, 0] >= 3
    concept = np.array([1, 0, 2, 3, 1, 0, 2, 1])
    got = best_f1(SortedColumns.from_dense(a), y, concept)
    for j in range(8):
        f1, v = brute_f1(a[:, j], y[:, concept[j]])
        if np.isnan(f1) or not y[:, concept[j]].any():
            assert np.isnan(got["f1"][j])  # never fires, or a concept without positives
            continue
        assert got["f1"][j] == pytest.approx(f1) and got["threshold"][j] == v
        pred = a[:, j] >= v
        assert got["precision"][j] == pytest.approx((pred & y[:, concept[j]]).sum() / pred.sum())
        assert got["recall"][j] == pytest.approx(
            (pred & y[:, concept[j]]).mean() / y[:, concept[j]].mean()
        )
    assert np.isfinite(got["f1"]).sum() >= 5  # the comparison is not vacuous


def brute_karvonen(a_a, y_a, a_b, y_b, cols):
    """Coverage (over the occurring concepts, and over all with F1 0 for a never-true one, as
    SAE_BoardGameEval averages) and reconstruction straight from their definitions."""
    top = a_a.max(0)
    cover, cover_all, recon = [], [], []
    for t in THRESHOLDS:
        cut = np.where(top > 0, t * top, np.inf)
        fa, fb = a_a > cut, a_b > cut
        f1s = []
        for c in cols:
            if not y_b[:, c].any():
                continue
            f1s.append(max(2 * (fb[:, j] & y_b[:, c]).sum() / (fb[:, j].sum() + y_b[:, c].sum())
                           for j in range(a_a.shape[1])))  # fmt: skip
        cover.append(np.mean(f1s))
        cover_all.append(np.sum(f1s) / len(cols))
        pred = np.zeros((len(a_b), len(cols)), bool)
        for i, c in enumerate(cols):
            for j in range(a_a.shape[1]):
                n = fa[:, j].sum()
                if n >= MIN_FIRINGS and (fa[:, j] & y_a[:, c]).sum() >= MIN_PRECISION * n:
                    pred[:, i] |= fb[:, j]
        truth = y_b[:, cols]
        recon.append(2 * (pred & truth).sum() / (pred.sum() + truth.sum()))
    return max(cover), max(cover_all), max(recon)


@pytest.mark.parametrize("fill", [0.03, 0.5])
def test_karvonen_metrics_match_definition(fill):
    rng = np.random.default_rng(3)
    y = rng.random((600, 6)) < [0.3, 0.2, 0.5, 0.1, 0.0, 0.4]
    a = rng.random((600, 10)).astype(np.float32) * (rng.random((600, 10)) < fill)
    a[:, 0] = y[:, 0] * (1 + rng.random(600))  # an exact detector of concept 0
    a[:, 3] = (y[:, 2] & (rng.random(600) < 0.5)) * rng.random(600)  # precise, half recall
    a[:, 5] = -a[:, 5]  # negative activations never fire
    b = rng.random(600) < 0.5
    families = {"x": np.array([0, 1, 2, 4]), "y": np.array([3, 5])}
    sa, sb = SortedColumns.from_dense(a[~b]), SortedColumns.from_dense(a[b])
    got = karvonen_metrics(sa, y[~b], sb, y[b], families)
    for fam, cols in families.items():
        cover, cover_all, recon = brute_karvonen(a[~b], y[~b], a[b], y[b], cols)
        assert got["coverage"][fam]["score"] == pytest.approx(cover)
        assert got["coverage_all"][fam]["score"] == pytest.approx(cover_all)
        assert got["reconstruction"][fam]["score"] == pytest.approx(recon)
    assert got["coverage"]["x"]["score"] > 0.5 and got["reconstruction"]["x"]["score"] > 0.3
    # concept 4 never occurs: the all-concepts average counts it as 0 (3/4 of the other)
    assert got["coverage_all"]["x"]["score"] < 0.8 * got["coverage"]["x"]["score"]
