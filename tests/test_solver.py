"""The exact solver against an independent oracle: plain negamax over the whole tree (no
pruning, no table, no ordering) on the reference integer engine."""

from __future__ import annotations

import numpy as np
import pytest

from othello import bitboard as bb
from othello import kernels, solver
from othello.game import Position
from othello.solve import main as solve_main
from othello.solver import random_endgame


def brute_force(me: int, opp: int, n: int) -> int:
    moves = bb.legal_moves(me, opp, n)
    if not moves:
        if not bb.legal_moves(opp, me, n):
            return bb.popcount(me) - bb.popcount(opp)
        return -brute_force(opp, me, n)
    return max(-brute_force(*bb.play(me, opp, a, n), n) for a in bb.bits(moves))


def brute(p: Position) -> int:
    return brute_force(p.me, p.opp, p.n)


def scattered(n: int, empties: int, rng: np.random.Generator) -> Position:
    """A random board (not necessarily reachable): odd shapes, many passes and early ends."""
    cells = rng.permutation(n * n)
    black = white = 0
    for sq in cells[empties:]:
        if rng.random() < 0.5:
            black |= 1 << int(sq)
        else:
            white |= 1 << int(sq)
    return Position.from_colors(black, white, bool(rng.random() < 0.5), n)


@pytest.mark.parametrize("n", [4, 6, 8])
def test_kernels_match_reference_engine(n):
    rng = np.random.default_rng(n)
    g = kernels.geometry(n)
    for _ in range(200):
        p = scattered(n, int(rng.integers(1, n * n)), rng)
        moves = bb.legal_moves(p.me, p.opp, n)
        assert int(kernels.legal_moves(np.uint64(p.me), np.uint64(p.opp), g)) == moves
        for sq in bb.bits(moves):
            got = kernels.flips(np.uint64(p.me), np.uint64(p.opp), np.uint64(1 << sq), g)
            assert int(got) == bb.flips(p.me, p.opp, 1 << sq, n)
        assert kernels.popcount(np.uint64(p.me)) == bb.popcount(p.me)


@pytest.mark.parametrize(
    "n, max_empties, count", [(4, 9, 40), (6, 8, 40), (8, 7, 20)], ids=["4x4", "6x6", "8x8"]
)
def test_solve_matches_brute_force(n, max_empties, count):
    rng = np.random.default_rng(100 + n)
    s = solver.Solver(n)
    for i in range(count):
        empties = int(rng.integers(1, max_empties + 1))
        p = random_endgame(n, empties, rng) if i % 2 else scattered(n, empties, rng)
        expected = brute(p)
        assert s.solve(p) == expected, p.to_text()
        assert s.solve_wdl(p) == (expected > 0) - (expected < 0), p.to_text()


@pytest.mark.parametrize("n", [4, 6, 8])
def test_forced_passes_match_brute_force(n):
    rng = np.random.default_rng(200 + n)
    found = 0
    while found < 10:
        p = scattered(n, int(rng.integers(2, 8)), rng)
        if p.legal_actions() != [p.pass_action]:
            continue
        found += 1
        assert solver.solve(p) == brute(p), p.to_text()
        assert solver.solve_moves(p) == {p.pass_action: -brute(p.play(p.pass_action))}


def test_four_by_four_from_the_start():
    # 4x4 Othello is a white win, 3-11, under perfect play.
    start = Position.start(4)
    assert solver.Solver(4).solve(start) == brute(start) == -8


def test_tiny_table_with_collisions_gives_the_same_values():
    rng = np.random.default_rng(7)
    positions = [random_endgame(6, 11, rng) for _ in range(6)]
    big, tiny = solver.Solver(6), solver.Solver(6, table_bits=8)
    cold = [big.solve(p) for p in positions]
    assert [tiny.solve(p) for p in positions] == cold
    assert [big.solve(p) for p in positions] == cold  # a warm table changes nothing
    assert [big.solve_wdl(p) for p in positions] == [(v > 0) - (v < 0) for v in cold]


def test_solve_moves_consistent_with_solve():
    rng = np.random.default_rng(11)
    for _ in range(15):
        p = random_endgame(6, int(rng.integers(4, 11)), rng)
        values = solver.solve_moves(p)
        assert set(values) == set(p.legal_actions())
        for a, v in values.items():
            assert v == -solver.solve(p.play(a))
        best, moves = solver.best_moves(p)
        assert best == max(values.values()) == solver.solve(p)
        assert moves == sorted(a for a, v in values.items() if v == best)


def test_forced_pass_by_hand():
    p = Position.from_text("XXX-/XXOX/-O-X/OOO- O")  # O cannot move; X then has c3 only
    assert p.legal_actions() == [p.pass_action]
    assert p.play(p.pass_action).legal_actions() == [10]
    assert solver.solve(p) == brute(p)
    assert solver.solve_moves(p) == {p.pass_action: solver.solve(p)}


def test_finished_game_with_empties_left_is_plain_disc_difference():
    p = Position.from_text("XXXX/XXXX/XXXX/XX-- O")  # white has no discs: over, 2 squares empty
    assert p.is_terminal()
    assert solver.solve(p) == -14  # the empty squares are awarded to nobody
    assert solver.solve_moves(p) == {}
    assert solver.best_moves(p) == (-14, [])
    draw = Position.from_text("XXOO/XXOO/XXOO/XXOO X")
    assert solver.solve(draw) == 0 and solver.solve_wdl(draw) == 0


def test_wrong_board_size_is_refused():
    with pytest.raises(ValueError, match="6x6"):
        solver.Solver(6).solve(Position.start(4))


def test_cli_prints_every_move(capsys):
    p = Position.from_text("XXXX/XXXX/XOOX/-OO- X")
    assert solve_main([p.to_text()]) == 0
    out = capsys.readouterr().out
    assert p.legal_actions() == [12, 15]  # a4, d4
    for name, a in (("a4", 12), ("d4", 15)):
        v = -brute(p.play(a))
        assert v > 0
        assert f"{name}    {v:+5d}  W" in out


def test_cli_rejects_bad_input(capsys):
    with pytest.raises(SystemExit) as e:
        solve_main(["XXQX/XXXX/XOXX/XXX- X"])
    assert e.value.code == 2
    assert "square c1 holds 'Q'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        solve_main([Position.start(6).to_text()])
    assert "too many" in capsys.readouterr().err
