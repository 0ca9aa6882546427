"""Compiled (numba) bitboard kernels on uint64 scalars: legal moves, flips, popcount.

The one fast implementation of the rules, shared by the batched engine (`othello.batch`),
the exact solver and the alpha-beta player; `othello.bitboard` is the readable reference
they are tested against. Scalars must stay np.uint64: numba promotes uint64 mixed with
int64 to float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from othello import bitboard as bb

U64 = np.uint64
ZERO, ONE = U64(0), U64(1)
_M1, _M2, _M4, _H01 = (
    U64(0x5555555555555555),
    U64(0x3333333333333333),
    U64(0x0F0F0F0F0F0F0F0F),
    U64(0x0101010101010101),
)


def geometry(n: int) -> np.ndarray:
    """uint64[4]: [all squares, squares off the first and last column, n, the corners].
    Horizontal and diagonal runs may only cross the inner columns, so no shift wraps around
    an edge."""
    g = bb.geometry(n)
    edge_cols = 0
    for r in range(n):
        edge_cols |= 1 << (r * n) | 1 << (r * n + n - 1)
    corners = 1 | 1 << (n - 1) | 1 << (n * n - n) | 1 << (n * n - 1)
    return np.array([g.full, g.full & ~edge_cols, n, corners], dtype=U64)


@njit(cache=True)
def popcount(x):
    x = x - ((x >> ONE) & _M1)
    x = (x & _M2) + ((x >> U64(2)) & _M2)
    x = (x + (x >> U64(4))) & _M4
    return np.int64((x * _H01) >> U64(56))


@njit(cache=True)
def _dir_moves(me, run_mask, empty, s, reps):
    """Empty squares reached by a run of opponent discs starting next to mine, both senses."""
    x = (me << s) & run_mask
    y = (me >> s) & run_mask
    for _ in range(reps):
        x |= (x << s) & run_mask
        y |= (y >> s) & run_mask
    return ((x << s) | (y >> s)) & empty


@njit(cache=True)
def legal_moves(me, opp, g):
    """Bitmask of the squares where `me` may play."""
    n = g[2]
    reps = np.int64(n) - 3
    empty = ~(me | opp) & g[0]
    inner = opp & g[1]
    return (
        _dir_moves(me, inner, empty, ONE, reps)
        | _dir_moves(me, opp, empty, n, reps)
        | _dir_moves(me, inner, empty, n - ONE, reps)
        | _dir_moves(me, inner, empty, n + ONE, reps)
    )


@njit(cache=True)
def _dir_flips(me, run_mask, move, s, reps):
    x = (move << s) & run_mask
    y = (move >> s) & run_mask
    for _ in range(reps):
        x |= (x << s) & run_mask
        y |= (y >> s) & run_mask
    f = ZERO
    if (x << s) & me:
        f |= x
    if (y >> s) & me:
        f |= y
    return f


@njit(cache=True)
def flips(me, opp, move, g):
    """Discs of `opp` flipped when `me` plays the single-bit mask `move` on an empty square."""
    n = g[2]
    reps = np.int64(n) - 3
    inner = opp & g[1]
    return (
        _dir_flips(me, inner, move, ONE, reps)
        | _dir_flips(me, opp, move, n, reps)
        | _dir_flips(me, inner, move, n - ONE, reps)
        | _dir_flips(me, inner, move, n + ONE, reps)
    )
