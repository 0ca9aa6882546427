"""Bitboard geometry and the single-position rules on Python integers.

Square (row r, column c) of an n x n board is bit r*n + c; row 0 is printed on top and
named "1", column 0 is "a" (so "a1" is the top-left corner, as in standard notation).
One integer per colour; the board is always held from the side to move: `me` and `opp`.

Moves come from shift-and-mask along the 8 directions: a shift by `step` with the source
masked so that nothing wraps around an edge. These functions are the readable reference;
`othello.batch` runs the same algorithm over numpy arrays of many games at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

MIN_SIZE, MAX_SIZE = 4, 8
DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def check_size(n: int) -> int:
    if not isinstance(n, int) or n < MIN_SIZE or n > MAX_SIZE or n % 2:
        raise ValueError(f"board size must be an even integer in {MIN_SIZE}..{MAX_SIZE}, got {n!r}")
    return n


@dataclass(frozen=True)
class Geometry:
    """Masks for one board size. `dirs` holds (step, source_mask) per direction: a disc at a
    square in source_mask moves to square + step; others would leave the board."""

    n: int
    full: int
    dirs: tuple[tuple[int, int], ...]

    @property
    def squares(self) -> int:
        return self.n * self.n

    @property
    def pass_action(self) -> int:
        return self.n * self.n


@cache
def geometry(n: int) -> Geometry:
    check_size(n)
    full = (1 << (n * n)) - 1
    dirs = []
    for dr, dc in DIRECTIONS:
        src = 0
        for r in range(n):
            for c in range(n):
                if 0 <= r + dr < n and 0 <= c + dc < n:
                    src |= 1 << (r * n + c)
        dirs.append((dr * n + dc, src))
    return Geometry(n, full, tuple(dirs))


def shift(x: int, step: int) -> int:
    return x << step if step > 0 else x >> -step


def legal_moves(me: int, opp: int, n: int) -> int:
    """Bitmask of empty squares where `me` flips at least one disc."""
    g = geometry(n)
    empty = g.full & ~(me | opp)
    moves = 0
    for step, src in g.dirs:
        run = shift(me & src, step) & opp
        for _ in range(n - 3):
            run |= shift(run & src, step) & opp
        moves |= shift(run & src, step) & empty
    return moves


def flips(me: int, opp: int, move: int, n: int) -> int:
    """Discs of `opp` flipped when `me` plays the single-bit mask `move` (0 if illegal)."""
    g = geometry(n)
    flipped = 0
    for step, src in g.dirs:
        run = 0
        sq = shift(move & src, step)
        while sq & opp:
            run |= sq
            sq = shift(sq & src, step)
        if sq & me:
            flipped |= run
    return flipped


def play(me: int, opp: int, action: int, n: int) -> tuple[int, int]:
    """Play `action` (square index, or n*n to pass) and return the board from the new side to
    move: (new me, new opp). Assumes the action is legal; see `Position.play` for checks."""
    if action == n * n:
        return opp, me
    move = 1 << action
    f = flips(me, opp, move, n)
    return opp & ~f, me | f | move


def popcount(x: int) -> int:
    return x.bit_count()


def bits(x: int):
    """Indices of the set bits of x, ascending."""
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low
