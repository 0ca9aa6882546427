"""The 8 symmetries of the square board on square indices, bitboards and policy vectors.

Symmetry k maps square (r, c) to `_map(k, r, c)`; k = 0 is the identity. The pass action
(index n*n) is invariant. Policies transform like boards, so a training example
(board, policy) stays consistent under any k.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from othello.bitboard import check_size

N_SYMMETRIES = 8


def _map(k: int, r: int, c: int, n: int) -> tuple[int, int]:
    m = n - 1
    if k >= 4:  # reflect in the main diagonal first
        r, c = c, r
    for _ in range(k % 4):  # then rotate 90 degrees clockwise
        r, c = c, m - r
    return r, c


@cache
def permutation(k: int, n: int) -> np.ndarray:
    """perm[i] = the square that square i is sent to by symmetry k."""
    check_size(n)
    perm = np.empty(n * n, dtype=np.int64)
    for r in range(n):
        for c in range(n):
            r2, c2 = _map(k, r, c, n)
            perm[r * n + c] = r2 * n + c2
    perm.setflags(write=False)
    return perm


@cache
def inverse_permutation(k: int, n: int) -> np.ndarray:
    inv = np.empty(n * n, dtype=np.int64)
    inv[permutation(k, n)] = np.arange(n * n)
    inv.setflags(write=False)
    return inv


def transform_square(k: int, square: int, n: int) -> int:
    """Image of an action index; the pass action maps to itself."""
    return square if square == n * n else int(permutation(k, n)[square])


def transform_bits(k: int, x: int, n: int) -> int:
    perm = permutation(k, n)
    out = 0
    for i in range(n * n):
        if x >> i & 1:
            out |= 1 << int(perm[i])
    return out


def transform_planes(k: int, planes: np.ndarray, n: int) -> np.ndarray:
    """planes[..., n*n] (per-square values) -> same values at the transformed squares."""
    out = np.empty_like(planes)
    out[..., permutation(k, n)] = planes
    return out


def transform_policy(k: int, policy: np.ndarray, n: int) -> np.ndarray:
    """policy[..., n*n + 1]: squares move with the board, pass stays last."""
    out = np.empty_like(policy)
    out[..., permutation(k, n)] = policy[..., : n * n]
    out[..., n * n] = policy[..., n * n]
    return out


def transform_bitboards(k: int, x: np.ndarray, n: int) -> np.ndarray:
    """Batched uint64 bitboards under symmetry k."""
    x = np.asarray(x, dtype=np.uint64)
    idx = np.arange(n * n, dtype=np.uint64)
    planes = (x[..., None] >> idx) & np.uint64(1)
    moved = transform_planes(k, planes, n)
    return np.bitwise_or.reduce(moved << idx, axis=-1)
