"""The batched rules engine: numpy uint64 arrays of B games in, arrays out, with no Python
loop over the games. The per-game loop runs compiled (numba) over the same shift-and-mask
bitboard kernels as the solver; `othello.bitboard` is the readable reference that the tests
check it against.

Every function takes `me`, `opp` (uint64 arrays of the same shape, the board from each
game's side to move) and the board size n. Self-play, activation collection and the
concept labels all go through here.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

from othello import kernels as k
from othello.game import Position

U64 = np.uint64
_ZERO, _ONE = U64(0), U64(1)


@cache
def _geometry(n: int) -> np.ndarray:
    return k.geometry(n)


@njit(cache=True)
def _legal_many(me, opp, g, out):
    for i in range(me.shape[0]):
        out[i] = k.legal_moves(me[i], opp[i], g)


@njit(cache=True)
def _flips_many(me, opp, move, g, out):
    for i in range(me.shape[0]):
        out[i] = k.flips(me[i], opp[i], move[i], g) if move[i] else _ZERO


@njit(cache=True)
def _play_many(me, opp, actions, g, out_me, out_opp):
    squares = np.int64(g[2] * g[2])
    for i in range(me.shape[0]):
        a = actions[i]
        if a == squares:  # pass
            out_me[i], out_opp[i] = opp[i], me[i]
        else:
            m = _ONE << np.uint64(a)
            f = k.flips(me[i], opp[i], m, g)
            out_me[i], out_opp[i] = opp[i] & ~f, me[i] | f | m


@njit(cache=True)
def _terminal_many(me, opp, moves, g, out):
    for i in range(me.shape[0]):
        # Only a side without a move needs the other side's moves checked.
        out[i] = moves[i] == 0 and k.legal_moves(opp[i], me[i], g) == 0


def as_bitboards(x) -> np.ndarray:
    return np.asarray(x, dtype=U64)


def _flat(*arrays, dtypes=None):
    """Broadcast the inputs together (numpy rules) and flatten them for a compiled loop, which
    must never read past an array's end. Returns (shape, flat arrays...)."""
    dtypes = dtypes or (U64,) * len(arrays)
    arrays = np.broadcast_arrays(*(np.asarray(a, d) for a, d in zip(arrays, dtypes, strict=True)))
    return arrays[0].shape, *(np.ascontiguousarray(a).reshape(-1) for a in arrays)


def legal_moves(me: np.ndarray, opp: np.ndarray, n: int) -> np.ndarray:
    """uint64 mask of legal squares per game."""
    shape, me, opp = _flat(me, opp)
    out = np.empty(me.size, U64)
    _legal_many(me, opp, _geometry(n), out)
    return out.reshape(shape)


def flips(me: np.ndarray, opp: np.ndarray, move: np.ndarray, n: int) -> np.ndarray:
    """Discs flipped by playing the single-bit masks `move` (0 = pass -> no flips)."""
    shape, me, opp, move = _flat(me, opp, move)
    out = np.empty(me.size, U64)
    _flips_many(me, opp, move, _geometry(n), out)
    return out.reshape(shape)


def action_bits(actions: np.ndarray, n: int) -> np.ndarray:
    """Action indices -> single-bit masks; the pass action n*n -> 0."""
    actions = np.asarray(actions, dtype=np.int64)
    is_pass = actions == n * n
    return np.where(is_pass, U64(0), U64(1) << np.where(is_pass, 0, actions).astype(U64))


def play(me: np.ndarray, opp: np.ndarray, actions: np.ndarray, n: int):
    """Apply one action per game (assumed legal) and return the boards from the new side to
    move: (new_me, new_opp). A pass just swaps sides."""
    shape, me, opp, acts = _flat(me, opp, actions, dtypes=(U64, U64, np.int64))
    out_me, out_opp = np.empty(me.size, U64), np.empty(me.size, U64)
    _play_many(me, opp, acts, _geometry(n), out_me, out_opp)
    return out_me.reshape(shape), out_opp.reshape(shape)


@njit(cache=True)
def _unpack_many(x, out):
    for i in range(x.shape[0]):
        for s in range(out.shape[1]):
            out[i, s] = (x[i] >> np.uint64(s)) & _ONE


def unpack(x: np.ndarray, n: int) -> np.ndarray:
    """uint64[...] -> bool[..., n*n] per-square bits."""
    shape, flat = _flat(x)
    out = np.empty((flat.size, n * n), bool)
    _unpack_many(flat, out)
    return out.reshape(shape + (n * n,))


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
    shape, me, opp, moves = _flat(me, opp, moves)
    out = np.empty(me.size, bool)
    _terminal_many(me, opp, moves, _geometry(n), out)
    return out.reshape(shape)


def popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int64)


def disc_diff(me: np.ndarray, opp: np.ndarray) -> np.ndarray:
    return popcount(me) - popcount(opp)


def start(batch: int, n: int = 6):
    """B copies of the standard start (black to move)."""
    p = Position.start(n)
    return np.full(batch, p.me, dtype=U64), np.full(batch, p.opp, dtype=U64)


@njit(cache=True)
def _pick_many(mask, u, out):
    for i in range(mask.shape[0]):
        count = 0
        for a in range(mask.shape[1]):
            count += mask[i, a]
        target = min(int(u[i] * count), count - 1)
        for a in range(mask.shape[1]):
            if mask[i, a]:
                if target == 0:
                    out[i] = a
                    break
                target -= 1


def sample_actions(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random legal action per row of a bool action mask [B, A] (every row
    must have a legal entry)."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    out = np.empty(mask.shape[0], np.int64)
    _pick_many(mask, rng.random(mask.shape[0]), out)
    return out
