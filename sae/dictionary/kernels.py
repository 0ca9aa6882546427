"""Compiled CPU kernels for sparse codes (numba, parallel over rows or latents).

A batch of codes is stored CSR-style: row b owns entries indptr[b]:indptr[b+1] of `idx`
(latent ids) and of a value vector. TopK is the case indptr = k * arange(B + 1). The three
products a sparse dictionary needs, each touching only the active entries:

    gather_sum:    out[b]   = sum_e w[e] * M[idx[e]]            (decode; encoder input grad)
    sampled_dot:   out[e]   = v[row(e)] . M[idx[e]]              (grad of the code values)
    scatter_outer: out[l]   = sum_{e: idx[e]=l} w[e] * v[row(e)] (weight grads)

scatter_outer runs over latents in parallel after a counting sort of the entries by latent
(`by_latent`), so no two threads write the same row. Selection kernels fill the codes from a
block of pre-activations while it is still in cache (`topk_block`, `count_above`,
`collect_above`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_JIT = dict(parallel=True, cache=True, fastmath=True, nogil=True)


@nb.njit(inline="always")
def _sift_down(hv, hi, k):
    p = 0
    while True:
        c = 2 * p + 1
        if c >= k:
            return
        if c + 1 < k and hv[c + 1] < hv[c]:
            c += 1
        if hv[c] >= hv[p]:
            return
        hv[c], hv[p] = hv[p], hv[c]
        hi[c], hi[p] = hi[p], hi[c]
        p = c


@nb.njit(**_JIT)
def topk_block(pre, k, vals, idx, row0):
    """Top-k of each row of `pre` (unsorted) into vals/idx[row0 + r]; a size-k min-heap per row
    whose root is the bar a new value must clear, so most entries cost one comparison."""
    rows, n = pre.shape
    for r in nb.prange(rows):
        row = pre[r]
        hv = vals[row0 + r]
        hi = idx[row0 + r]
        for j in range(k):
            hv[j] = -np.inf
            hi[j] = 0
        bar = -np.inf
        for j in range(n):
            v = row[j]
            if v > bar:
                hv[0] = v
                hi[0] = j
                _sift_down(hv, hi, k)
                bar = hv[0]


@nb.njit(**_JIT)
def count_above(pre, threshold, counts, row0):
    rows, n = pre.shape
    for r in nb.prange(rows):
        c = 0
        for j in range(n):
            if pre[r, j] > threshold:
                c += 1
        counts[row0 + r] = c


@nb.njit(**_JIT)
def collect_above(pre, threshold, indptr, idx, vals, row0):
    rows, n = pre.shape
    for r in nb.prange(rows):
        e = indptr[row0 + r]
        for j in range(n):
            v = pre[r, j]
            if v > threshold:
                idx[e] = j
                vals[e] = v
                e += 1


@nb.njit(**_JIT)
def gather_sum(indptr, idx, w, M, out):
    rows = indptr.shape[0] - 1
    d = M.shape[1]
    for b in nb.prange(rows):
        acc = out[b]
        for c in range(d):
            acc[c] = 0.0
        for e in range(indptr[b], indptr[b + 1]):
            we = w[e]
            m = M[idx[e]]
            for c in range(d):
                acc[c] += we * m[c]


@nb.njit(**_JIT)
def sampled_dot(indptr, idx, v, M, out):
    rows = indptr.shape[0] - 1
    d = M.shape[1]
    for b in nb.prange(rows):
        vb = v[b]
        for e in range(indptr[b], indptr[b + 1]):
            m = M[idx[e]]
            s = 0.0
            for c in range(d):
                s += vb[c] * m[c]
            out[e] = s


@nb.njit(cache=True)
def by_latent(indptr, idx, n_latents):
    """Counting sort of the entries by latent: (order, latent_ptr, row of each entry)."""
    nnz = idx.shape[0]
    rows = np.empty(nnz, np.int64)
    for b in range(indptr.shape[0] - 1):
        for e in range(indptr[b], indptr[b + 1]):
            rows[e] = b
    latent_ptr = np.zeros(n_latents + 1, np.int64)
    for e in range(nnz):
        latent_ptr[idx[e] + 1] += 1
    for i in range(n_latents):
        latent_ptr[i + 1] += latent_ptr[i]
    fill = latent_ptr[:-1].copy()
    order = np.empty(nnz, np.int64)
    for e in range(nnz):
        order[fill[idx[e]]] = e
        fill[idx[e]] += 1
    return order, latent_ptr, rows


@nb.njit(**_JIT)
def scatter_outer(order, latent_ptr, rows, w, v, out, out_sum):
    """out[l] = sum w[e] v[rows[e]] and out_sum[l] = sum w[e] over the entries of latent l."""
    n, d = out.shape
    for lat in nb.prange(n):
        acc = out[lat]
        for c in range(d):
            acc[c] = 0.0
        s = 0.0
        for t in range(latent_ptr[lat], latent_ptr[lat + 1]):
            e = order[t]
            we = w[e]
            vb = v[rows[e]]
            s += we
            for c in range(d):
                acc[c] += we * vb[c]
        out_sum[lat] = s
