"""Board-state concepts, from the side to move's point of view, for labelling features.

`board_concepts(me, opp, n)` takes uint64 arrays of B positions (the batched engine's
canonical form) and returns a dict of named arrays; `position_concepts(position)` is the
same for one `Position`. No Python loop runs over the games (only over squares and
directions), so millions of positions can be labelled in chunks.

Per-square concepts, bool [B, n*n] unless noted ("my" = the side to move):
  mine, theirs, empty       who holds the square.
  legal_mine                squares where I may play now.
  legal_theirs              squares where the opponent could play if it were their turn.
  flips_if_played           int8: discs my move on that square flips (0 where illegal).
  threat_defensive          my discs that the opponent could flip with one move.
  threat_offensive          opponent discs that I can flip with one move.
  stable_mine, stable_theirs
                            discs that can never be flipped again. A SOUND UNDER-
                            APPROXIMATION (every marked disc is truly stable; some truly
                            stable discs may be missed): a disc is stable when, on each of
                            its 4 lines (row, column, two diagonals), the whole line is full,
                            or a neighbour on that line is off the board, or a neighbour on
                            that line is a stable disc of the same colour; iterated from the
                            empty set to a fixed point. Why it is sound: a flip along a line
                            needs an empty square on it (no full line) and an enemy disc on
                            each side; a same-colour neighbour inside the bracket would flip in
                            the same move, so the first marked disc ever flipped would need an
                            earlier-marked neighbour flipped with it, a contradiction.
  frontier_mine, frontier_theirs
                            discs next to (8-neighbourhood) an empty square.

Per-position concepts, [B]:
  mobility_mine, mobility_theirs     number of legal squares for each side (int16).
  empties (int16), parity_odd (bool) number of empty squares and whether it is odd (with no
                                     passes, odd means I get the last move).
  corners_mine/theirs, x_squares_mine/theirs, c_squares_mine/theirs   discs held (int16) on
      the corners; on the X-squares (diagonal neighbours of the corners); on the C-squares
      (edge squares next to a corner). See `region_masks`.

Exact concepts from the endgame solver, `solver_concepts(me, opp, n, agent_moves,
max_empties)`, for positions with at most `max_empties` empty squares (the others are left
unsolved: `solved` False, every other array zero there):
  solved           bool [B]         the position was solved.
  solved_outcome   int8 [B]         +1 win / 0 draw / -1 loss for the side to move.
  optimal_move     bool [B, n*n]    squares whose exact value equals the position's.
  keeps_outcome    bool [B, n*n]    squares that keep the solved win / draw / loss.
  best_reply       bool [B, n*n]    after the agent plays agent_moves[b] (an action index),
                                    every optimal reply of the opponent (two plies ahead);
                                    all False without agent moves, or when the opponent must
                                    pass or the game is over.
Every legal move is solved exactly (`Solver.solve_moves`), a few ms per position at 14
empties with the table warm; the pass action is not a square, so it marks nothing.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from othello import batch
from othello import bitboard as bb
from othello.game import Position
from othello.solver import solver_for

U64 = np.uint64

# The per-square binary concepts that feature analysis iterates over.
SQUARE_CONCEPTS = (
    "mine",
    "theirs",
    "empty",
    "legal_mine",
    "legal_theirs",
    "threat_defensive",
    "threat_offensive",
    "stable_mine",
    "stable_theirs",
    "frontier_mine",
    "frontier_theirs",
)
SQUARE_COUNT_CONCEPTS = ("flips_if_played",)
SCALAR_CONCEPTS = (
    "mobility_mine",
    "mobility_theirs",
    "empties",
    "parity_odd",
    "corners_mine",
    "corners_theirs",
    "x_squares_mine",
    "x_squares_theirs",
    "c_squares_mine",
    "c_squares_theirs",
)


@cache
def region_masks(n: int) -> dict[str, int]:
    """Bitmasks of the corners, X-squares and C-squares of an n x n board."""
    bb.check_size(n)
    m = n - 1
    corners = x_squares = c_squares = 0
    for r, c in ((0, 0), (0, m), (m, 0), (m, m)):
        dr, dc = (1 if r == 0 else -1), (1 if c == 0 else -1)  # towards the centre
        corners |= 1 << (r * n + c)
        x_squares |= 1 << ((r + dr) * n + c + dc)
        c_squares |= 1 << ((r + dr) * n + c) | 1 << (r * n + c + dc)
    return {"corners": corners, "x_squares": x_squares, "c_squares": c_squares}


def _step(x: np.ndarray, step: int) -> np.ndarray:
    """Move every bit by `step` squares (callers mask with the direction's source mask)."""
    return np.left_shift(x, U64(step)) if step > 0 else np.right_shift(x, U64(-step))


def _axes(n: int):
    """The 4 lines through a square as pairs of opposite (step, source mask) directions:
    `bitboard.DIRECTIONS` lists opposites at i and 7 - i."""
    dirs = bb.geometry(n).dirs
    return [(dirs[i], dirs[7 - i]) for i in range(4)]


def stable_discs(own: np.ndarray, other: np.ndarray, n: int) -> np.ndarray:
    """Discs of `own` that can never be flipped (the sound under-approximation in the module
    docstring), as uint64 masks."""
    full = U64(bb.geometry(n).full)
    empty = ~(own | other) & full
    always_ok = []  # per axis: squares whose line is full or that touch the edge on it
    for (step_a, src_a), (step_b, src_b) in _axes(n):
        on_empty_line = empty
        for _ in range(n - 1):
            on_empty_line = (
                on_empty_line
                | _step(on_empty_line & U64(src_a), step_a)
                | _step(on_empty_line & U64(src_b), step_b)
            )
        at_edge = U64(~(src_a & src_b) & bb.geometry(n).full)
        always_ok.append((~on_empty_line & full) | at_edge)
    stable = np.zeros_like(own)
    while True:
        grown = own.copy()
        for ((step_a, src_a), (step_b, src_b)), ok in zip(_axes(n), always_ok, strict=True):
            # A square whose neighbour at +step is stable is that neighbour shifted by -step.
            next_to_stable = (_step(stable, -step_a) & U64(src_a)) | (
                _step(stable, -step_b) & U64(src_b)
            )
            grown &= ok | next_to_stable
        if np.array_equal(grown, stable):
            return stable
        stable = grown


def _near_empty(empty: np.ndarray, n: int) -> np.ndarray:
    """Squares with at least one empty neighbour."""
    near = np.zeros_like(empty)
    for step, src in bb.geometry(n).dirs:
        near |= _step(empty & U64(src), step)
    return near


def board_concepts(me, opp, n: int) -> dict[str, np.ndarray]:
    """All concepts for B positions given as uint64 arrays (see the module docstring)."""
    me, opp = batch.as_bitboards(me), batch.as_bitboards(opp)
    if me.shape != opp.shape or me.ndim != 1:
        raise ValueError(f"me and opp must be 1-D arrays of one shape, got {me.shape}, {opp.shape}")
    full = U64(bb.geometry(n).full)
    empty = ~(me | opp) & full
    legal_mine = batch.legal_moves(me, opp, n)
    legal_theirs = batch.legal_moves(opp, me, n)
    zero = U64(0)
    flips_if_played = np.zeros(me.shape + (n * n,), dtype=np.int8)
    offensive = np.zeros_like(me)
    defensive = np.zeros_like(me)
    for square in range(n * n):
        bit = U64(1 << square)
        # `batch.flips` also finds runs from occupied squares, so keep legal squares only.
        mine_here = np.where((legal_mine & bit) != zero, batch.flips(me, opp, bit, n), zero)
        theirs_here = np.where((legal_theirs & bit) != zero, batch.flips(opp, me, bit, n), zero)
        flips_if_played[:, square] = batch.popcount(mine_here)
        offensive |= mine_here
        defensive |= theirs_here
    near_empty = _near_empty(empty, n)
    out = {
        "mine": me,
        "theirs": opp,
        "empty": empty,
        "legal_mine": legal_mine,
        "legal_theirs": legal_theirs,
        "threat_defensive": defensive,
        "threat_offensive": offensive,
        "stable_mine": stable_discs(me, opp, n),
        "stable_theirs": stable_discs(opp, me, n),
        "frontier_mine": me & near_empty,
        "frontier_theirs": opp & near_empty,
    }
    out = {name: batch.unpack(mask, n) for name, mask in out.items()}
    out["flips_if_played"] = flips_if_played
    count = lambda x: batch.popcount(x).astype(np.int16)  # noqa: E731
    out["mobility_mine"] = count(legal_mine)
    out["mobility_theirs"] = count(legal_theirs)
    out["empties"] = count(empty)
    out["parity_odd"] = out["empties"] % 2 == 1
    for region, mask in region_masks(n).items():
        out[f"{region}_mine"] = count(me & U64(mask))
        out[f"{region}_theirs"] = count(opp & U64(mask))
    return out


def position_concepts(position: Position) -> dict[str, np.ndarray]:
    """`board_concepts` for one position: per-square arrays [n*n], numpy scalars."""
    batched = board_concepts([position.me], [position.opp], position.n)
    return {name: values[0] for name, values in batched.items()}


def solver_concepts(me, opp, n: int, agent_moves=None, max_empties: int = 14) -> dict:
    """Exact solver labels of B positions (see the module docstring); a Python loop over the
    positions with at most `max_empties` empties, one exact solve per legal move."""
    me, opp = batch.as_bitboards(me).reshape(-1), batch.as_bitboards(opp).reshape(-1)
    if me.shape != opp.shape:
        raise ValueError(f"me and opp must have one shape, got {me.shape}, {opp.shape}")
    if agent_moves is not None:
        agent_moves = np.asarray(agent_moves).reshape(-1)
        if agent_moves.shape != me.shape:
            raise ValueError(
                f"agent_moves must hold one action per position, got {agent_moves.shape}"
            )
    squares = n * n
    empties = batch.popcount(~(me | opp) & U64(bb.geometry(n).full))
    out = {
        "solved": empties <= max_empties,
        "solved_outcome": np.zeros(me.shape, np.int8),
        "optimal_move": np.zeros(me.shape + (squares,), bool),
        "keeps_outcome": np.zeros(me.shape + (squares,), bool),
        "best_reply": np.zeros(me.shape + (squares,), bool),
    }
    solver = solver_for(n)
    for b in np.flatnonzero(out["solved"]):
        position = Position(int(me[b]), int(opp[b]), True, n)
        values = solver.solve_moves(position)
        best = max(values.values()) if values else position.disc_diff()
        out["solved_outcome"][b] = np.sign(best)
        for action, value in values.items():
            if action < squares:
                out["optimal_move"][b, action] = value == best
                out["keeps_outcome"][b, action] = np.sign(value) == np.sign(best)
        if agent_moves is None or not values:
            continue
        move = int(agent_moves[b])
        if move not in values:
            raise ValueError(
                f"agent move {move} is not legal in position {b} ({position.to_text()})"
            )
        _, replies = solver.best_moves(position.play(move))
        out["best_reply"][b, [r for r in replies if r < squares]] = True
    return out
