"""The batched rules engine: the same bitboard algorithm as `othello.bitboard`, run over
numpy uint64 arrays holding B games at once, with no Python loop over the games.

Every function takes `me`, `opp` (uint64 arrays of the same shape, the board from each
game's side to move) and the board size n. Self-play, activation collection and the
concept labels all go through here.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from othello import bitboard as bb

U64 = np.uint64


@cache
def _geometry(n: int):
    g = bb.geometry(n)
    dirs = tuple((U64(abs(step)), step > 0, U64(src)) for step, src in g.dirs)
    return U64(g.full), dirs


def _shift(x: np.ndarray, amount: np.uint64, left: bool) -> np.ndarray:
    return np.left_shift(x, amount) if left else np.right_shift(x, amount)


def as_bitboards(x) -> np.ndarray:
    return np.asarray(x, dtype=U64)


def legal_moves(me: np.ndarray, opp: np.ndarray, n: int) -> np.ndarray:
    """uint64 mask of legal squares per game."""
    full, dirs = _geometry(n)
    empty = ~(me | opp) & full
    moves = np.zeros_like(me)
    for amount, left, src in dirs:
        run = _shift(me & src, amount, left) & opp
        for _ in range(n - 3):
            run |= _shift(run & src, amount, left) & opp
        moves |= _shift(run & src, amount, left) & empty
    return moves


def flips(me: np.ndarray, opp: np.ndarray, move: np.ndarray, n: int) -> np.ndarray:
    """Discs flipped by playing the single-bit masks `move` (0 = pass -> no flips)."""
    _, dirs = _geometry(n)
    flipped = np.zeros_like(me)
    zero = U64(0)
    for amount, left, src in dirs:
        run = _shift(move & src, amount, left) & opp
        for _ in range(n - 3):
            run |= _shift(run & src, amount, left) & opp
        closed = (_shift(run & src, amount, left) & me) != zero
        flipped |= np.where(closed, run, zero)
    return flipped


def action_bits(actions: np.ndarray, n: int) -> np.ndarray:
    """Action indices -> single-bit masks; the pass action n*n -> 0."""
    actions = np.asarray(actions, dtype=np.int64)
    is_pass = actions == n * n
    return np.where(is_pass, U64(0), U64(1) << np.where(is_pass, 0, actions).astype(U64))


def play(me: np.ndarray, opp: np.ndarray, actions: np.ndarray, n: int):
    """Apply one action per game (assumed legal) and return the boards from the new side to
    move: (new_me, new_opp). A pass just swaps sides."""
    move = action_bits(actions, n)
    f = flips(me, opp, move, n)
    return opp & ~f, me | f | move


def unpack(x: np.ndarray, n: int) -> np.ndarray:
    """uint64[...] -> bool[..., n*n] per-square bits."""
    idx = np.arange(n * n, dtype=U64)
    return ((x[..., None] >> idx) & U64(1)).astype(bool)


def pack(planes: np.ndarray) -> np.ndarray:
    """bool[..., n*n] -> uint64[...]."""
    idx = np.arange(planes.shape[-1], dtype=U64)
    return np.bitwise_or.reduce(planes.astype(U64) << idx, axis=-1)


def legal_action_mask(me: np.ndarray, opp: np.ndarray, n: int, moves=None) -> np.ndarray:
    """bool[B, n*n+1]: legal squares, plus pass exactly when no square is legal (also at the
    end of the game, so a mask never has zero legal entries)."""
    if moves is None:
        moves = legal_moves(me, opp, n)
    mask = np.empty(me.shape + (n * n + 1,), dtype=bool)
    mask[..., : n * n] = unpack(moves, n)
    mask[..., n * n] = moves == 0
    return mask


def is_terminal(me: np.ndarray, opp: np.ndarray, n: int, moves=None) -> np.ndarray:
    if moves is None:
        moves = legal_moves(me, opp, n)
    return (moves == 0) & (legal_moves(opp, me, n) == 0)


def popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int64)


def disc_diff(me: np.ndarray, opp: np.ndarray) -> np.ndarray:
    return popcount(me) - popcount(opp)


def start(batch: int, n: int = 6):
    """B copies of the standard start (black to move)."""
    from othello.game import Position

    p = Position.start(n)
    return np.full(batch, p.me, dtype=U64), np.full(batch, p.opp, dtype=U64)


def sample_actions(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random legal action per row of a bool action mask."""
    scores = rng.random(mask.shape)
    scores[~mask] = -1.0
    return scores.argmax(axis=-1)
