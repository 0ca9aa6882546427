"""Boolean columns as bitsets over rows, and the compiled counts the explainer is built on.

A column of R booleans (a predicate, or "latent l fires") is W = ceil(R / 64) uint64 words,
row r at bit r % 64 of word r // 64; bits past R are zero. Counting agreements between a
latent and a predicate is then an AND and a population count per word (the CPU's POPCNT
instruction, reached through an LLVM intrinsic), 64 rows at a time.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_JIT = dict(cache=True, nogil=True)
_PAR = dict(parallel=True, cache=True, nogil=True)


@intrinsic
def ctpop(typingctx, x):
    """Population count of a uint64 (llvm.ctpop: one POPCNT on x86-64)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return types.uint64(types.uint64), codegen


def words(rows: int) -> int:
    return (rows + 63) // 64


def pack(matrix: np.ndarray) -> np.ndarray:
    """bool [R, C] -> uint64 [C, W]: each column as a bitset over the rows."""
    matrix = np.asarray(matrix, bool)
    rows, cols = matrix.shape
    packed = np.packbits(matrix.T, axis=1, bitorder="little")  # [C, ceil(R / 8)]
    out = np.zeros((cols, words(rows) * 8), np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view(np.uint64)


def unpack(bits: np.ndarray, rows: int) -> np.ndarray:
    """uint64 [C, W] -> bool [C, rows]."""
    raw = np.ascontiguousarray(bits).view(np.uint8)
    return np.unpackbits(raw, axis=1, count=rows, bitorder="little").astype(bool)


def row_mask(rows: int, keep: np.ndarray | None = None) -> np.ndarray:
    """uint64 [W]: the bits of the rows in use (all R rows, or those where `keep`)."""
    keep = np.ones(rows, bool) if keep is None else np.asarray(keep, bool)
    return pack(keep[:, None])[0]


@nb.njit(**_PAR)
def pair_counts(a, b):
    """int32 [len(a), len(b)]: popcount(a[i] & b[j]) for every pair of bitsets."""
    n_a, n_b, w = a.shape[0], b.shape[0], a.shape[1]
    out = np.zeros((n_a, n_b), np.int32)
    for i in nb.prange(n_a):
        ai = a[i]
        for j in range(n_b):
            bj = b[j]
            s = np.uint64(0)
            for k in range(w):
                s += ctpop(ai[k] & bj[k])
            out[i, j] = s
    return out


@nb.njit(**_PAR)
def counts(a):
    """int64 [len(a)]: popcount of each bitset."""
    out = np.zeros(a.shape[0], np.int64)
    for i in nb.prange(a.shape[0]):
        s = np.uint64(0)
        for k in range(a.shape[1]):
            s += ctpop(a[i, k])
        out[i] = s
    return out


@nb.njit(**_JIT)
def count_span(bits, start, stop):
    """Set bits of one bitset among rows start..stop-1."""
    if stop <= start:
        return 0
    w0, w1 = start // 64, (stop - 1) // 64
    s = np.uint64(0)
    for k in range(w0, w1 + 1):
        word = bits[k]
        if k == w0:
            word &= ~np.uint64(0) << np.uint64(start % 64)
        if k == w1:
            top = stop - 64 * w1
            if top < 64:
                word &= (np.uint64(1) << np.uint64(top)) - np.uint64(1)
        s += ctpop(word)
    return np.int64(s)


@nb.njit(**_PAR)
def confusion_by_group(pred, fires, starts):
    """Per bitset pair (pred[l], fires[l]) and row group g (rows starts[g]..starts[g+1]-1):
    int32 [L, G, 3] counts of true positives, false positives and false negatives."""
    n, groups = pred.shape[0], len(starts) - 1
    out = np.zeros((n, groups, 3), np.int32)
    for i in nb.prange(n):
        both = pred[i] & fires[i]
        only_pred = pred[i] & ~fires[i]
        only_fires = fires[i] & ~pred[i]
        for g in range(groups):
            s, e = starts[g], starts[g + 1]
            out[i, g, 0] = count_span(both, s, e)
            out[i, g, 1] = count_span(only_pred, s, e)
            out[i, g, 2] = count_span(only_fires, s, e)
    return out


@nb.njit(**_PAR)
def sums_where(bits, colptr, rows, vals):
    """Per column l of a sparse matrix (CSR by column: colptr, rows, vals), the sums of its
    values and squared values over the rows where bitset bits[l] is set: float64 [L, 2]."""
    n = len(colptr) - 1
    out = np.zeros((n, 2), np.float64)
    for i in nb.prange(n):
        b = bits[i]
        s1 = 0.0
        s2 = 0.0
        for e in range(colptr[i], colptr[i + 1]):
            r = rows[e]
            if (b[r >> 6] >> np.uint64(r & 63)) & np.uint64(1):
                v = np.float64(vals[e])
                s1 += v
                s2 += v * v
        out[i, 0] = s1
        out[i, 1] = s2
    return out


@nb.njit(**_PAR)
def from_columns(colptr, rows, n_rows):
    """uint64 [n_cols, W]: column l's bitset has the rows rows[colptr[l]:colptr[l+1]] set."""
    n_cols = len(colptr) - 1
    out = np.zeros((n_cols, (n_rows + 63) // 64), np.uint64)
    for i in nb.prange(n_cols):
        for e in range(colptr[i], colptr[i + 1]):
            r = rows[e]
            out[i, r >> 6] |= np.uint64(1) << np.uint64(r & 63)
    return out
