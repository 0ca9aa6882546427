"""Exact ROC AUC and best-threshold F1 of every latent for every binary concept, from ranks.

Activations [R, L] (R positions, L latents or neurons) are held column by column as their
nonzero entries in ascending order (`SortedColumns`); the zeros, most of a sparse latent's
entries, stay implicit. AUC is the Mann-Whitney statistic with tied activations given their
average rank:

    AUC[l, c] = (S[l, c] - P_c (P_c + 1) / 2) / (P_c N_c),  S[l, c] = sum of the ranks of
                                                             concept c's positives in column l

Within column l, a tie group of nonzero entries at sorted positions i..j (0-based) has rank
(i + j) / 2 + 1, plus Z_l (the number of zeros) when its value is positive; the Z_l zeros tie
with each other at rank neg_l + (Z_l + 1) / 2 (neg_l negative entries below them). With
z_l that zero rank and M[r, l] = rank - z_l (nonzero only where the activation is),

    S = z P^T + M^T Y

one sparse [L, R] x dense [R, C] product for all latents and concepts at once (float64, so
the rank sums are exact). Columns or concepts without both classes give NaN.

`best_f1` scores each latent as the classifier "activation >= v" for one concept per latent,
at the v (one of the column's positive values) with the best F1: suffix sums over the sorted
column, vectorised over all latents.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

DENSE_CHUNK = 256  # columns sorted at a time when building from a dense matrix
CONCEPT_CHUNK = 128  # concepts per sparse product (bounds the dense float64 block)
DENSE_FILL = 0.05


class SortedColumns:
    """The nonzero entries of an [n_rows, n_cols] matrix, column-major, ascending values."""

    def __init__(self, n_rows: int, n_cols: int, colptr, rows, vals):
        self.n_rows, self.n_cols = int(n_rows), int(n_cols)
        self.colptr = np.asarray(colptr, np.int64)
        self.rows = np.asarray(rows, np.int64)
        self.vals = np.asarray(vals, np.float32)
        self.col = np.repeat(np.arange(self.n_cols), np.diff(self.colptr))

    @classmethod
    def from_coo(cls, rows, cols, vals, n_rows: int, n_cols: int) -> SortedColumns:
        rows, cols, vals = (np.asarray(a) for a in (rows, cols, vals))
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((vals, cols))
        counts = np.bincount(cols, minlength=n_cols)
        return cls(n_rows, n_cols, np.r_[0, np.cumsum(counts)], rows[order], vals[order])

    @classmethod
    def from_dense(cls, acts) -> SortedColumns:
        acts = acts.numpy() if isinstance(acts, torch.Tensor) else np.asarray(acts)
        n_rows, n_cols = acts.shape
        rows, vals, counts = [], [], []
        for start in range(0, n_cols, DENSE_CHUNK):
            block = np.ascontiguousarray(acts[:, start : start + DENSE_CHUNK].T, np.float32)
            order = np.argsort(block, axis=1)  # order within ties does not matter
            sorted_vals = np.take_along_axis(block, order, 1)
            keep = sorted_vals != 0
            rows.append(order[keep])
            vals.append(sorted_vals[keep])
            counts.append(keep.sum(1))
        counts = np.concatenate(counts)
        return cls(
            n_rows, n_cols, np.r_[0, np.cumsum(counts)], np.concatenate(rows), np.concatenate(vals)
        )

    @property
    def nnz(self) -> int:
        return len(self.vals)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(nonzero entries, negative entries) per column."""
        return np.diff(self.colptr), np.bincount(self.col[self.vals < 0], minlength=self.n_cols)

    def column_max(self) -> np.ndarray:
        """Largest activation per column (0 where a column has no positive entry)."""
        last = np.maximum(self.colptr[1:] - 1, 0)
        top = self.vals[last] if self.nnz else np.zeros(self.n_cols, np.float32)
        return np.where(np.diff(self.colptr) > 0, np.maximum(top, 0), 0).astype(np.float32)

    def subset(self, row_mask: np.ndarray) -> SortedColumns:
        """The same columns on the rows where `row_mask` holds (renumbered in order)."""
        keep = row_mask[self.rows]
        new_index = np.cumsum(row_mask) - 1
        counts = np.bincount(self.col[keep], minlength=self.n_cols)
        return SortedColumns(
            int(row_mask.sum()), self.n_cols, np.r_[0, np.cumsum(counts)],
            new_index[self.rows[keep]], self.vals[keep],
        )  # fmt: skip

    def columns(self, cols, values: np.ndarray | None = None, dtype=np.float32) -> np.ndarray:
        """Dense [n_rows, len(cols)] of the given columns (of `values` per entry if given)."""
        cols = np.asarray(cols, np.int64)
        lens = self.colptr[cols + 1] - self.colptr[cols]
        starts = np.repeat(self.colptr[cols] - np.r_[0, np.cumsum(lens)[:-1]], lens)
        entries = starts + np.arange(lens.sum())
        out = np.zeros((self.n_rows, len(cols)), dtype)
        v = self.vals if values is None else values
        out[self.rows[entries], np.repeat(np.arange(len(cols)), lens)] = v[entries]
        return out

    def positive(self) -> SortedColumns:
        """The same matrix with only its positive entries (kept; self if all are)."""
        if (self.vals > 0).all():
            return self
        if getattr(self, "_positive", None) is None:
            keep = self.vals > 0
            counts = np.bincount(self.col[keep], minlength=self.n_cols)
            self._positive = SortedColumns(
                self.n_rows, self.n_cols, np.r_[0, np.cumsum(counts)],
                self.rows[keep], self.vals[keep],
            )  # fmt: skip
        return self._positive

    @property
    def is_dense(self) -> bool:
        """Filled enough that dense products beat sparse ones (raw neurons)."""
        return self.nnz > DENSE_FILL * self.n_rows * self.n_cols

    def tie_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Global index of the first and last entry of each entry's tie group (kept)."""
        if getattr(self, "_ties", None) is None:
            self._ties = self._tie_groups()
        return self._ties

    def _tie_groups(self) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(self.nnz)
        new = np.ones(self.nnz, bool)
        new[1:] = (self.col[1:] != self.col[:-1]) | (self.vals[1:] != self.vals[:-1])
        first = np.maximum.accumulate(np.where(new, idx, 0))
        end = np.ones(self.nnz, bool)
        end[:-1] = new[1:]
        last = np.minimum.accumulate(np.where(end, idx, self.nnz)[::-1])[::-1]
        return first, last

    def matrix(self, values: np.ndarray | None = None, dtype=torch.float64) -> torch.Tensor:
        """Sparse CSR [n_cols, n_rows] with the given per-entry values (default: the values)."""
        v = self.vals if values is None else values
        return csr(
            self.colptr, self.rows, torch.as_tensor(v, dtype=dtype), (self.n_cols, self.n_rows)
        )


def csr(rowptr: np.ndarray, cols: np.ndarray, values: torch.Tensor, shape) -> torch.Tensor:
    """A sparse CSR tensor (torch calls its CSR support beta: the warning is silenced)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.asarray(rowptr, np.int64)),
            torch.from_numpy(np.asarray(cols, np.int64)),
            values,
            shape,
            check_invariants=False,
        )


def _as_sorted(acts) -> SortedColumns:
    return acts if isinstance(acts, SortedColumns) else SortedColumns.from_dense(acts)


def rank_sums(acts, labels: np.ndarray) -> np.ndarray:
    """S [L, C]: for each latent and concept, the sum of the ranks of the positives."""
    sc = _as_sorted(acts)
    labels = np.asarray(labels, bool)
    nonzero, negative = sc.counts()
    zeros = sc.n_rows - nonzero
    first, last = sc.tie_groups()
    within = (first + last) / 2 - sc.colptr[sc.col] + 1.0  # among the column's nonzero entries
    rank = within + np.where(sc.vals > 0, zeros[sc.col], 0)
    zero_rank = negative + (zeros + 1) / 2
    centred = rank - zero_rank[sc.col]
    positives = labels.sum(0).astype(np.float64)
    out = np.empty((sc.n_cols, labels.shape[1]))
    if sc.is_dense:  # dense float64 products over column blocks
        y = torch.from_numpy(labels.astype(np.float64))
        for start in range(0, sc.n_cols, DENSE_CHUNK):
            stop = min(sc.n_cols, start + DENSE_CHUNK)
            e0, e1 = sc.colptr[start], sc.colptr[stop]  # the block's entries are contiguous
            block = np.zeros((sc.n_rows, stop - start))
            block[sc.rows[e0:e1], sc.col[e0:e1] - start] = centred[e0:e1]
            out[start:stop] = (torch.from_numpy(block).T @ y).numpy()
    else:
        m = sc.matrix(centred)
        for start in range(0, labels.shape[1], CONCEPT_CHUNK):
            y = torch.from_numpy(labels[:, start : start + CONCEPT_CHUNK].astype(np.float64))
            out[:, start : start + CONCEPT_CHUNK] = (m @ y).numpy()
    return out + zero_rank[:, None] * positives[None, :]


def auc_matrix(acts, labels: np.ndarray) -> np.ndarray:
    """Exact ROC AUC [L, C] of each column of `acts` ([R, L] array or SortedColumns) as a
    score for each boolean label column [R, C]; NaN where a concept lacks either class."""
    labels = np.asarray(labels, bool)
    pos = labels.sum(0).astype(np.float64)
    neg = labels.shape[0] - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sums(acts, labels) - pos * (pos + 1) / 2) / (pos * neg)
    auc[:, (pos == 0) | (neg == 0)] = np.nan
    return auc


def best_f1(sc: SortedColumns, labels: np.ndarray, concept: np.ndarray) -> dict[str, np.ndarray]:
    """Per latent l, the classifier "activation >= v" for concept[l] at the threshold v > 0
    (one of the column's positive values: the latent fires) with the best F1: f1,
    precision, recall, threshold [L] (NaN for a column that never fires or a concept
    without positives)."""
    sc = sc.positive()
    concept = np.asarray(concept, np.int64)
    pos = labels.sum(0)[concept].astype(np.float64)
    y = labels[sc.rows, concept[sc.col]].astype(np.float64)
    prefix = np.r_[0.0, np.cumsum(y)]
    first, _ = sc.tie_groups()
    end = sc.colptr[sc.col + 1]
    count = (end - first).astype(np.float64)  # entries >= this value
    tp = prefix[end] - prefix[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * tp / (count + pos[sc.col]), nan=-1.0)
    out = {k: np.full(sc.n_cols, np.nan) for k in ("f1", "precision", "recall", "threshold")}
    nonzero = np.diff(sc.colptr)
    live = np.flatnonzero(nonzero > 0)
    if not live.size:
        return out
    seg_max = np.maximum.reduceat(f1, sc.colptr[live])
    at_max = np.flatnonzero(f1 == np.repeat(seg_max, nonzero[live]))
    cols, first_hit = np.unique(sc.col[at_max], return_index=True)
    best = at_max[first_hit]
    ok = pos[cols] > 0
    cols, best = cols[ok], best[ok]
    out["f1"][cols] = f1[best]
    out["precision"][cols] = tp[best] / count[best]
    out["recall"][cols] = tp[best] / pos[cols]
    out["threshold"][cols] = sc.vals[best]
    return out
