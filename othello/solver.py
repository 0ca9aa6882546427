"""Exact endgame solver: the final disc difference under perfect play by both sides.

Negamax with fail-soft alpha-beta and a null-window re-search (PVS), fastest-first move
ordering (fewest replies for the opponent first), and a transposition table of value bounds;
the last few empties go through a lean search without table or ordering, and the last one is
scored directly.
Everything runs in numba on uint64 bitboards, for boards of size 4..8.

Value = my discs minus the opponent's when the game ends, from the side to move; empty
squares left at the end go to nobody ("disc count decides"), and a draw is 0.

The bitboard kernels (`legal_moves`, `flips`, `popcount`) come from `othello.kernels`,
shared with the batched engine and the alpha-beta player. Scalars must stay np.uint64: numba
promotes uint64 mixed with int64 to float64.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np
from numba import njit

from othello import bitboard as bb
from othello.game import Position
from othello.kernels import ONE, ZERO, flips, geometry, legal_moves, popcount

U64 = np.uint64
INF = 127  # above any disc difference (|value| <= 64)
# Below this many empties a node is searched without the table or ordering: the
# bookkeeping would cost more than the few nodes left underneath.
_SHALLOW = 7
_HASH_ME, _HASH_OPP = U64(0x9E3779B97F4A7C15), U64(0xC2B2AE3D27D4EB4F)


@njit(cache=True)
def _last_empty(me, opp, sq, g):
    """Exact value with exactly one empty square `sq`: whoever can play there does."""
    diff = popcount(me) - popcount(opp)
    f = flips(me, opp, sq, g)
    if f:
        return diff + 2 * popcount(f) + 1
    f = flips(opp, me, sq, g)
    if f:
        return diff - 2 * popcount(f) - 1
    return diff


@njit(cache=True)
def _shallow(me, opp, alpha, beta, empty, n_empty, g, stats):
    """Plain fail-soft alpha-beta for the last few empties. Moves come from trying each empty
    square (a square is legal iff it flips something), cheaper than a full move generation
    when only a handful of squares are empty."""
    stats[0] += 1
    best = -INF
    rest = empty
    while rest:
        m = rest & (~rest + ONE)
        rest ^= m
        f = flips(me, opp, m, g)
        if f:
            cme, copp = opp & ~f, me | f | m
            if n_empty == 2:
                v = -_last_empty(cme, copp, empty ^ m, g)
            else:
                v = -_shallow(cme, copp, -beta, -alpha, empty ^ m, n_empty - 1, g, stats)
            if v > best:
                best = v
                if v > alpha:
                    alpha = v
                    if alpha >= beta:
                        return best
    if best > -INF:
        return best
    rest = empty  # no move: pass if the opponent has one, else the game is over
    while rest:
        m = rest & (~rest + ONE)
        rest ^= m
        if flips(opp, me, m, g):
            return -_shallow(opp, me, -beta, -alpha, empty, n_empty, g, stats)
    return popcount(me) - popcount(opp)


@njit(cache=True)
def _search(me, opp, alpha, beta, g, tt_me, tt_opp, tt_lo, tt_hi, tt_move, buf, stats):
    """Fail-soft negamax. Returns v with: v <= alpha -> value <= v; v >= beta -> value >= v;
    otherwise v is the exact value."""
    stats[0] += 1
    empty = ~(me | opp) & g[0]
    n_empty = popcount(empty)
    if n_empty == 0:
        return popcount(me) - popcount(opp)
    if n_empty == 1:
        return _last_empty(me, opp, empty, g)
    moves = legal_moves(me, opp, g)
    if moves == 0:
        if legal_moves(opp, me, g) == 0:
            return popcount(me) - popcount(opp)
        return -_search(opp, me, -beta, -alpha, g, tt_me, tt_opp, tt_lo, tt_hi, tt_move, buf, stats)

    if n_empty < _SHALLOW:
        return _shallow(me, opp, alpha, beta, empty, n_empty, g, stats)
    moves = legal_moves(me, opp, g)
    if moves == 0:
        if legal_moves(opp, me, g) == 0:
            return popcount(me) - popcount(opp)
        return -_search(opp, me, -beta, -alpha, g, tt_me, tt_opp, tt_lo, tt_hi, tt_move, buf, stats)

    # Transposition table: bounds on the exact value, valid for any window.
    h = np.int64(((me * _HASH_ME) ^ (opp * _HASH_OPP)) >> U64(64 - stats[1]))
    hit = tt_me[h] == me and tt_opp[h] == opp
    lo, hi, hint = -INF, INF, ZERO
    if hit:
        lo, hi = np.int64(tt_lo[h]), np.int64(tt_hi[h])
        if lo >= beta:
            return lo
        if hi <= alpha or lo == hi:
            return hi
        alpha = max(alpha, lo)
        beta = min(beta, hi)
        if tt_move[h] >= 0:
            hint = ONE << U64(tt_move[h])

    # Fastest first: moves that leave the opponent the fewest replies (a corner reply counts
    # three times: ~8% fewer nodes at 14-16 empties), the table's move first.
    ms = buf[n_empty, 0]
    fs = buf[n_empty, 1]
    keys = buf[n_empty, 2]
    count = 0
    while moves:
        m = moves & (~moves + ONE)
        moves ^= m
        f = flips(me, opp, m, g)
        ms[count] = m
        fs[count] = f
        if m == hint:
            keys[count] = 0
        else:
            reply = legal_moves(opp & ~f, me | f | m, g)
            keys[count] = U64(1 + 4 * popcount(reply) + 8 * popcount(reply & g[3]))
        count += 1
    for i in range(count):  # selection sort: a dozen moves or so
        j_min = i
        for j in range(i + 1, count):
            if keys[j] < keys[j_min]:
                j_min = j
        ms[i], ms[j_min] = ms[j_min], ms[i]
        fs[i], fs[j_min] = fs[j_min], fs[i]
        keys[i], keys[j_min] = keys[j_min], keys[i]

    alpha0 = alpha
    best, best_m = -INF, ms[0]
    for i in range(count):
        m, f = ms[i], fs[i]
        cme, copp = opp & ~f, me | f | m
        if i == 0:
            v = -_search(
                cme, copp, -beta, -alpha, g, tt_me, tt_opp, tt_lo, tt_hi, tt_move, buf, stats
            )
        else:
            v = -_search(
                cme, copp, -alpha - 1, -alpha, g, tt_me, tt_opp, tt_lo, tt_hi, tt_move, buf, stats
            )
            if alpha < v < beta:
                v = -_search(
                    cme, copp, -beta, -v, g, tt_me, tt_opp, tt_lo, tt_hi, tt_move, buf, stats
                )
        if v > best:
            best, best_m = v, m
            if v > alpha:
                alpha = v
                if alpha >= beta:
                    break

    if best <= alpha0:
        hi = min(hi, best)
    elif best >= beta:
        lo = max(lo, best)
    else:
        lo = hi = best
    if not hit:  # a new entry replaces whatever held the slot
        tt_me[h], tt_opp[h] = me, opp
    tt_lo[h], tt_hi[h] = lo, hi
    tt_move[h] = popcount(best_m - ONE)
    return best


class Solver:
    """Exact solver for one board size, holding its transposition table between calls (the
    stored bounds stay true for every later position and window, so reuse only helps)."""

    def __init__(self, n: int = 6, table_bits: int = 20):
        bb.check_size(n)
        if not 8 <= table_bits <= 28:
            raise ValueError(f"table_bits must be in 8..28, got {table_bits}")
        self.n = n
        self._g = geometry(n)
        size = 1 << table_bits
        self._tt_me = np.zeros(size, dtype=U64)
        self._tt_opp = np.zeros(size, dtype=U64)
        self._tt_lo = np.zeros(size, dtype=np.int8)
        self._tt_hi = np.zeros(size, dtype=np.int8)
        self._tt_move = np.zeros(size, dtype=np.int8)
        self._buf = np.zeros((n * n + 1, 3, n * n), dtype=U64)  # move lists, by empties
        # stats[0]: nodes searched so far; stats[1]: table index bits (read by the kernel).
        self._stats = np.array([0, table_bits], dtype=np.int64)
        self.clear()

    @property
    def nodes(self) -> int:
        """Nodes searched since this solver was made (read before and after a call)."""
        return int(self._stats[0])

    def clear(self) -> None:
        """Empty the table, e.g. to time positions independently. The all-zero key of an empty
        slot never matches a probed node: those have legal moves, so discs of both colours."""
        self._tt_me[:] = 0
        self._tt_opp[:] = 0

    def _check(self, position: Position) -> None:
        if position.n != self.n:
            raise ValueError(
                f"this solver is for {self.n}x{self.n}, got a {position.n}x{position.n}"
            )

    def _run(self, me: int, opp: int, alpha: int, beta: int) -> int:
        return int(
            _search(
                U64(me), U64(opp), np.int64(alpha), np.int64(beta), self._g,
                self._tt_me, self._tt_opp, self._tt_lo, self._tt_hi, self._tt_move,
                self._buf, self._stats,
            )
        )  # fmt: skip

    def solve(self, position: Position) -> int:
        """Exact final disc difference for the side to move under perfect play."""
        self._check(position)
        return self._run(position.me, position.opp, -INF, INF)

    def solve_wdl(self, position: Position) -> int:
        """+1 win, 0 draw, -1 loss for the side to move: a (-1, 1) window, much cheaper."""
        self._check(position)
        v = self._run(position.me, position.opp, -1, 1)
        return (v > 0) - (v < 0)

    def solve_moves(self, position: Position) -> dict[int, int]:
        """Exact value (from the side to move at `position`) of every legal action; the forced
        pass is the single action n*n; a finished game has none."""
        self._check(position)
        return {a: -self.solve(position.play(a)) for a in position.legal_actions()}

    def best_moves(self, position: Position) -> tuple[int, list[int]]:
        """(exact value, every action that achieves it), ascending."""
        values = self.solve_moves(position)
        if not values:
            return position.disc_diff(), []
        best = max(values.values())
        return best, sorted(a for a, v in values.items() if v == best)


def random_endgame(n: int, empties: int, rng: np.random.Generator) -> Position:
    """A position with `empties` empty squares reached by uniformly random play, game not over
    (tests and benchmarks draw their endgames this way)."""
    while True:
        p = Position.start(n)
        while p.empties() > empties and not p.is_terminal():
            actions = p.legal_actions()
            p = p.play(actions[rng.integers(len(actions))])
        if p.empties() == empties and not p.is_terminal():
            return p


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernels; returns the seconds it took. Call it
    before timing anything."""
    t0 = time.perf_counter()
    Solver(4, table_bits=8).solve(Position.start(4))  # 12 empties: every code path
    return time.perf_counter() - t0


@cache
def solver_for(n: int) -> Solver:
    """One shared solver (and table) per board size for the module-level helpers."""
    return Solver(n)


def solve(position: Position) -> int:
    return solver_for(position.n).solve(position)


def solve_wdl(position: Position) -> int:
    return solver_for(position.n).solve_wdl(position)


def solve_moves(position: Position) -> dict[int, int]:
    return solver_for(position.n).solve_moves(position)


def best_moves(position: Position) -> tuple[int, list[int]]:
    return solver_for(position.n).best_moves(position)
