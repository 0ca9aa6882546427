"""The turning-points audit: solved outcomes along each game, and who gave them away."""

import json

import pytest

from othello.arena import play_match
from othello.players import make_player
from othello.solver import Solver
from othello.turning_points import summarize, trace_game
from play import main

N = 6


def traces(p1: str, p2: str, games: int, opening_plies: int):
    match = play_match(
        make_player(p1, N, seed=0),
        make_player(p2, N, seed=1),
        games,
        N,
        opening_plies,
        seed=3,
        progress=False,
        record=True,
    )
    solver = Solver(N, table_bits=16)
    return match, [trace_game(r, solver, from_empties=18) for r in match.records]


def test_values_change_exactly_at_the_errors():
    match, ts = traces("greedy", "random", 16, 8)
    for t, r in zip(ts, match.records, strict=True):
        after_opening = r.positions[r.movers.count("opening") :]
        assert len(t.values) == sum(p.empties() <= 18 for p in after_opening)
        assert t.values[0] == t.start and t.values[-1] == t.result == r.result
        changed = [k for k in range(len(t.values) - 1) if t.values[k + 1] != t.values[k]]
        assert changed == sorted(t.errors["p1"] + t.errors["p2"])
    s = summarize(ts)
    assert sum(sum(v) for v in s.by_start.values()) == 16
    assert s.errors["p1"] > 0 and s.errors["p2"] > 0  # both baselines blunder endgames


def test_a_perfect_player_never_errs_and_keeps_its_solved_wins():
    # 16 random plies leave 16 empties: within the solver player's reach from the start.
    _, ts = traces("solver:16", "random", 12, 16)
    s = summarize(ts)
    assert s.errors["p1"] == 0
    assert s.by_start["win"][1:] == [0, 0] and s.by_start["draw"][2] == 0
    assert s.by_start["loss"][0] + s.by_start["loss"][1] <= s.errors["p2"]


def test_cli_prints_a_table_and_json(capsys):
    argv = ["--p1", "greedy", "--p2", "random", "--games", "4", "--opening-plies", "16"]
    argv += ["--turning-points"]
    assert main(argv) == 0
    assert "p1 solved (first pos.)" in capsys.readouterr().out
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["games"] == 4 and len(out["traces"]) == 4
    with pytest.raises(SystemExit) as e:
        main(["--games", "2", "--p1", "nobody", "--p2", "random", "--turning-points"])
    assert e.value.code == 2
