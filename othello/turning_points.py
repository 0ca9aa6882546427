"""Where a match is decided: the exact solver follows every game from the first position
after its random opening with at most `from_empties` empty squares, and finds each move that
gave away its side's solved outcome (win -> draw/loss, draw -> loss). That separates games
already decided when the solver takes over from games lost to later errors.

    python play.py --games 200 --p1 az:pretrained/agent:64 --p2 alphabeta:4 --turning-points

Cost on 6x6 (win/draw/loss solves, the table reused along each game): about 0.2 s a game
from 20 empties; from 26 (right after 6 random plies, `--from-empties 32`) about 30 s a game
on average, the hardest openings taking minutes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from common.moved import forward
from othello.arena import OPENING, P1, P2, GameRecord
from othello.solver import Solver

CLASSES = ("win", "draw", "loss")


@dataclass
class GameTrace:
    """One game from p1's view: `values[i]` is the solved outcome (+1/0/-1) of the position
    before the i-th move after the solver takes over (the last entry: the final position)."""

    game_id: int
    start: int  # solved outcome for p1 when the solver takes over
    result: int  # how the game ended for p1
    values: list[int]
    errors: dict[str, list[int]]  # "p1"/"p2": indices into `values` of the moves that erred


@dataclass
class Summary:
    games: int
    by_start: dict[str, list[int]]  # start class -> [p1 wins, draws, p1 losses]
    errors: dict[str, int]  # moves that gave the solved outcome away, per player
    games_with_errors: dict[str, int]
    traces: list[GameTrace] = field(default_factory=list)


def trace_game(record: GameRecord, solver: Solver, from_empties: int = 20) -> GameTrace:
    """Solve every position of one game from the first after the opening with at most
    `from_empties` empties (the final position if the game ends before)."""
    first = next(
        (
            i
            for i, (p, m) in enumerate(zip(record.positions, record.movers, strict=False))
            if m != OPENING and p.empties() <= from_empties
        ),
        len(record.actions),
    )
    values = []
    for p in record.positions[first:]:
        v = solver.solve_wdl(p)  # a finished game: the sign of its disc difference
        p1_to_move = p.black_to_move == record.p1_black
        values.append(v if p1_to_move else -v)
    errors: dict[str, list[int]] = {P1: [], P2: []}
    for k, (before, after) in enumerate(zip(values, values[1:], strict=False)):
        mover = record.movers[first + k]
        if (mover == P1 and after < before) or (mover == P2 and after > before):
            errors[mover].append(k)
    return GameTrace(record.game_id, values[0], record.result, values, errors)


def summarize(traces: list[GameTrace], keep_traces: bool = False) -> Summary:
    by_start = {c: [0, 0, 0] for c in CLASSES}
    for t in traces:
        by_start[CLASSES[1 - t.start]][1 - t.result] += 1
    errors = {p: sum(len(t.errors[p]) for t in traces) for p in (P1, P2)}
    with_errors = {p: sum(bool(t.errors[p]) for t in traces) for p in (P1, P2)}
    return Summary(len(traces), by_start, errors, with_errors, traces if keep_traces else [])


def format_summary(s: Summary, p1: str, p2: str, from_empties: int) -> str:
    lines = [
        f"{p1} (p1) vs {p2} (p2), {s.games} games, solved from {from_empties} empties",
        f"{'p1 solved (first pos.)':<22}{'games':>6}  p1 wins-draws-losses",
    ]
    for c in CLASSES:
        w, d, lo = s.by_start[c]
        lines.append(f"{c:<22}{w + d + lo:>6}  {w}-{d}-{lo}")
    for p, name in ((P1, p1), (P2, p2)):
        lines.append(
            f"{p} {name}: {s.errors[p]} moves gave away the solved outcome, "
            f"in {s.games_with_errors[p]} games"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--games" not in argv:
        argv = [*argv, "--games", "200"]  # this command's old default
    forward("python -m othello.turning_points", ["play.py"], [*argv, "--turning-points"])
