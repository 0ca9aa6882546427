"""Baseline players (random, greedy, alpha-beta, exact solver) and `make_player(spec)`.

Player specs, as taken by `play.py` and the arena:
    random                  uniform over legal moves (seeded)
    greedy                  most discs flipped, seeded random tie-break
    alphabeta[:D]           alpha-beta to depth D plies (default 4) on the evaluation below
    solver[:MAX_EMPTIES]    exact solver with at most MAX_EMPTIES empty squares (default 14),
                            else alpha-beta depth 4

Layers above the game add their own kinds with `register_player_kind` when they are
imported, so the game never imports them: `alphazero.agent` registers
`az:CHECKPOINT[:SIMS]`, and `sae.steering` its `+steer:` suffix on top of it. A command
line that takes specs imports the layers whose players it offers (`play.py` imports both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
from numba import njit

from common.cli import InputError
from othello import batch, kernels, solver
from othello import bitboard as bb
from othello.game import Position
from othello.kernels import legal_moves, popcount
from othello.player import Player

GAME_SPEC_FORMS = ("random", "greedy", "alphabeta[:D]", "solver[:MAX_EMPTIES]")
DEFAULT_DEPTH = 4
DEFAULT_SOLVER_EMPTIES = 14  # ~10 ms per move to solve exactly on 6x6 (bench/bench_solver.py)

# Alpha-beta evaluation from the side to move (the textbook trio). Per legal move more than
# the opponent, per corner more, per disc more (a mere tie-break before the end).
MOBILITY_WEIGHT = 10
CORNER_WEIGHT = 25
DISC_WEIGHT = 1
# A finished game scores its exact final disc difference times this: larger than any
# heuristic score (|mobility| <= ~35, 4 corners, <= 64 discs), so a win by one disc beats every
# unfinished line and a draw scores 0.
TERMINAL_WEIGHT = 1000
_INF = 1 << 30


class PlayerSpecError(InputError):
    """A player spec that cannot be turned into a player."""


class SeededPlayer(Player):
    """A player whose only state is a random generator, reseeded by `new_match`."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def new_match(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)


def _boards(positions: Sequence[Position]) -> tuple[np.ndarray, np.ndarray, int]:
    n = positions[0].n
    if any(p.n != n for p in positions):
        raise ValueError("all positions in one call must have the same board size")
    me = np.array([p.me for p in positions], dtype=np.uint64)
    opp = np.array([p.opp for p in positions], dtype=np.uint64)
    return me, opp, n


class RandomPlayer(SeededPlayer):
    name = "random"

    def choose(self, positions, game_ids):
        if not positions:
            return []
        me, opp, n = _boards(positions)
        mask = batch.legal_action_mask(me, opp, n)  # pass is the only entry when forced
        return batch.sample_actions(mask, self.rng).tolist()


class GreedyPlayer(SeededPlayer):
    """Plays a move flipping the most discs; ties broken uniformly at random."""

    name = "greedy"

    def choose(self, positions, game_ids):
        if not positions:
            return []
        me, opp, n = _boards(positions)
        counts = np.stack(
            [
                batch.popcount(batch.flips(me, opp, np.full_like(me, 1 << sq), n))
                for sq in range(n * n)
            ],
            axis=-1,
        ).astype(float)
        # A flip count is > 0 exactly on legal squares (empty ones; occupied ones masked).
        counts[batch.unpack(me | opp, n)] = 0
        score = counts + 0.5 * self.rng.random(counts.shape)  # < 1: only breaks ties
        score[counts == 0] = -1.0
        best = score.argmax(axis=-1)
        return np.where(counts.max(axis=-1) > 0, best, n * n).tolist()


@njit(cache=True)
def _evaluate(me, opp, g, corners):
    mine = popcount(legal_moves(me, opp, g))
    theirs = popcount(legal_moves(opp, me, g))
    discs = popcount(me) - popcount(opp)
    if mine == 0 and theirs == 0:
        return TERMINAL_WEIGHT * discs
    return (
        MOBILITY_WEIGHT * (mine - theirs)
        + CORNER_WEIGHT * (popcount(me & corners) - popcount(opp & corners))
        + DISC_WEIGHT * discs
    )


@njit(cache=True)
def _alphabeta(me, opp, depth, alpha, beta, g, corners):
    """Fail-soft negamax to `depth` plies (a forced pass is a ply)."""
    if depth == 0:
        return _evaluate(me, opp, g, corners)
    moves = legal_moves(me, opp, g)
    if moves == 0:
        if legal_moves(opp, me, g) == 0:
            return TERMINAL_WEIGHT * (popcount(me) - popcount(opp))
        return -_alphabeta(opp, me, depth - 1, -beta, -alpha, g, corners)
    best = -_INF
    one = np.uint64(1)
    while moves:
        m = moves & (~moves + one)
        moves ^= m
        f = kernels.flips(me, opp, m, g)
        v = -_alphabeta(opp & ~f, me | f | m, depth - 1, -beta, -alpha, g, corners)
        if v > best:
            best = v
            if v > alpha:
                alpha = v
                if alpha >= beta:
                    break
    return best


@njit(cache=True)
def _first_best(me, opp, squares, depth, g, corners):
    """Index in `squares` of the first move whose value is the maximum (root of the search)."""
    best, best_i = -_INF, 0
    one = np.uint64(1)
    for i in range(squares.shape[0]):
        m = one << np.uint64(squares[i])
        f = kernels.flips(me, opp, m, g)
        # Window (best, inf): a later move must be strictly better to be taken.
        v = -_alphabeta(opp & ~f, me | f | m, depth - 1, -_INF, -best, g, corners)
        if v > best:
            best, best_i = v, i
    return best_i


@cache
def _search_tables(n: int) -> tuple[np.ndarray, np.uint64]:
    corners = sum(1 << sq for sq in (0, n - 1, n * (n - 1), n * n - 1))
    return kernels.geometry(n), np.uint64(corners)


class AlphaBetaPlayer(SeededPlayer):
    """Alpha-beta to a fixed depth on mobility + corners + discs (weights above); exact final
    disc difference at finished games. Root moves are shuffled, so ties go to a random one."""

    def __init__(self, depth: int = DEFAULT_DEPTH, seed: int = 0):
        if depth < 1:
            raise ValueError(f"alpha-beta depth must be at least 1, got {depth}")
        super().__init__(seed)
        self.depth = depth
        self.name = f"alphabeta:{depth}"

    def choose_position(self, p: Position) -> int:
        moves = list(bb.bits(p.legal_moves()))
        if not moves:
            return p.pass_action
        if len(moves) == 1:
            return moves[0]
        squares = self.rng.permutation(np.array(moves, dtype=np.int64))
        g, corners = _search_tables(p.n)
        i = _first_best(np.uint64(p.me), np.uint64(p.opp), squares, self.depth, g, corners)
        return int(squares[i])

    def choose(self, positions, game_ids):
        return [self.choose_position(p) for p in positions]


class SolverPlayer(AlphaBetaPlayer):
    """Perfect play (a random one of the exact best moves) once at most `max_empties` squares
    are empty; alpha-beta at `depth` before that."""

    def __init__(
        self, max_empties: int = DEFAULT_SOLVER_EMPTIES, depth: int = DEFAULT_DEPTH, seed: int = 0
    ):
        super().__init__(depth, seed)
        self.max_empties = max_empties
        self.name = f"solver:{max_empties}"

    def choose_position(self, p: Position) -> int:
        if p.empties() > self.max_empties:
            return super().choose_position(p)
        _, best = solver.solver_for(p.n).best_moves(p)
        return int(best[self.rng.integers(len(best))])


def _int_arg(spec: str, arg: str, default: int, low: int, high: int) -> int:
    if not arg:
        return default
    if not arg.isdigit() or not low <= int(arg) <= high:
        raise PlayerSpecError(f"{spec!r}: expected an integer in {low}..{high} after ':'")
    return int(arg)


# kind -> (factory(arg, n, device, seed) -> Player, the forms it accepts, shown in errors)
_KINDS: dict[str, tuple[Callable[[str, int, str, int], Player], tuple[str, ...]]] = {}


def register_player_kind(
    kind: str, factory: Callable[[str, int, str, int], Player], forms: Sequence[str]
) -> None:
    """Make `kind:ARG` specs build players with `factory(ARG, n, device, seed)` (which raises
    ValueError naming what is wrong). Registering a kind again replaces it."""
    _KINDS[kind.lower()] = (factory, tuple(forms))


def spec_forms() -> str:
    """Every spec form known now (the game's own and those registered by imported layers)."""
    forms = list(GAME_SPEC_FORMS) + [f for _, kind_forms in _KINDS.values() for f in kind_forms]
    return ", ".join(forms)


def make_player(spec: str, n: int = 6, device: str = "cpu", seed: int = 0) -> Player:
    """Build a player from a spec (see the module docstring). Raises PlayerSpecError (a
    ValueError) naming the valid forms."""
    bb.check_size(n)
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in _KINDS:
        factory, forms = _KINDS[kind]
        if not arg:
            raise PlayerSpecError(f"{spec!r}: {kind} needs an argument, as in {forms[0]}")
        try:
            return factory(arg, n, device, seed)
        except PlayerSpecError:
            raise
        except ValueError as e:
            raise PlayerSpecError(str(e)) from e
    if kind in ("random", "greedy") and not arg:
        return RandomPlayer(seed) if kind == "random" else GreedyPlayer(seed)
    if kind == "alphabeta":
        return AlphaBetaPlayer(_int_arg(spec, arg, DEFAULT_DEPTH, 1, 12), seed)
    if kind == "solver":
        return SolverPlayer(_int_arg(spec, arg, DEFAULT_SOLVER_EMPTIES, 0, n * n), seed=seed)
    hint = ""
    if kind == "az":
        hint = " (az: players come with the agent: import alphazero.agent, or use play.py)"
    raise PlayerSpecError(f"unknown player spec {spec!r}; valid forms: {spec_forms()}{hint}")
