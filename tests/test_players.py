from __future__ import annotations

import numpy as np
import pytest

import alphazero.agent  # noqa: F401  (registers az:, listed among the valid forms below)
from othello import bitboard as bb
from othello import players, solver
from othello.game import Position
from othello.players import (
    TERMINAL_WEIGHT,
    AlphaBetaPlayer,
    GreedyPlayer,
    PlayerSpecError,
    RandomPlayer,
    SolverPlayer,
    _evaluate,
    _search_tables,
    make_player,
)


def random_positions(n: int, count: int, seed: int, max_plies: int = 60) -> list[Position]:
    """Non-terminal positions from random games, including forced passes where they occur."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        p = Position.start(n)
        for _ in range(int(rng.integers(0, max_plies))):
            actions = p.legal_actions()
            if not actions:
                break
            p = p.play(actions[rng.integers(len(actions))])
        if not p.is_terminal():
            out.append(p)
    return out


# O to move must pass (found by search over random boards; see test_solver).
FORCED_PASS = Position.from_text("XXX-/XXOX/-O-X/OOO- O")


@pytest.mark.parametrize("spec", ["random", "greedy", "alphabeta:1", "alphabeta:3", "solver:8"])
@pytest.mark.parametrize("n", [4, 6, 8])
def test_every_player_returns_one_legal_action_per_position(spec, n):
    positions = random_positions(n, 25, seed=n)
    if n == 4:
        positions.append(FORCED_PASS)
    player = make_player(spec, n)
    player.new_match(1)
    actions = player.choose(positions, list(range(len(positions))))
    assert len(actions) == len(positions)
    for p, a in zip(positions, actions, strict=True):
        assert a in p.legal_actions(), (spec, p.to_text(), a)
    if n == 4:
        assert actions[-1] == FORCED_PASS.pass_action
    assert player.choose([], []) == []


def test_random_player_is_seeded_and_spreads_over_moves():
    start = [Position.start(6)] * 2000
    ids = list(range(len(start)))
    a = RandomPlayer(seed=3).choose(start, ids)
    assert RandomPlayer(seed=3).choose(start, ids) == a
    assert RandomPlayer(seed=4).choose(start, ids) != a
    p = RandomPlayer(seed=99)
    p.new_match(3)  # reseeding replaces the constructor's seed
    assert p.choose(start, ids) == a
    counts = np.bincount(a, minlength=37)[start[0].legal_actions()]
    assert counts.sum() == 2000 and counts.min() > 400  # four moves, ~500 each


def test_greedy_flips_the_most_and_breaks_ties_at_random():
    positions = random_positions(6, 60, seed=5)
    actions = GreedyPlayer(seed=0).choose(positions, list(range(len(positions))))
    for p, a in zip(positions, actions, strict=True):
        moves = list(bb.bits(p.legal_moves()))
        if not moves:
            assert a == p.pass_action
            continue
        most = max(bb.popcount(p.flips(m)) for m in moves)
        assert bb.popcount(p.flips(a)) == most
    # At the start all four moves flip one disc: the tie-break must reach all of them.
    start = [Position.start(6)] * 200
    assert set(GreedyPlayer(seed=1).choose(start, list(range(200)))) == set(
        start[0].legal_actions()
    )


def test_evaluation_weights_on_a_hand_counted_position():
    # O to move: O can play a2 b1 d3 c4, X can play d2 a3 c1 b4 (4 each);
    # X holds corner a1; discs O 2, X 3. So 10*0 - 25*1 - 1 = -26.
    p = Position.from_text("X---/-XO-/-OX-/---- O")
    g, corners = _search_tables(4)
    assert bb.popcount(p.legal_moves()) == 4 == bb.popcount(bb.legal_moves(p.opp, p.me, 4))
    assert _evaluate(np.uint64(p.me), np.uint64(p.opp), g, corners) == -26
    over = Position.from_text("XXXX/XXXX/XXXX/XX-- O")
    assert _evaluate(np.uint64(over.me), np.uint64(over.opp), g, corners) == -14 * TERMINAL_WEIGHT


def test_deep_alpha_beta_plays_perfectly_in_the_endgame():
    # Deep enough to reach every game end, the search sees only exact final scores.
    rng = np.random.default_rng(8)
    checked = 0
    for n in (4, 6):
        for p in random_positions(n, 60, seed=10 + n, max_plies=n * n):
            if p.empties() > 7:
                continue
            checked += 1
            a = AlphaBetaPlayer(depth=2 * p.empties() + 2, seed=int(rng.integers(1000))).choose(
                [p], [0]
            )[0]
            assert a in solver.best_moves(p)[1], p.to_text()
    assert checked >= 30


def test_alpha_beta_tie_break_depends_on_the_seed():
    start = Position.start(6)  # the four first moves are symmetric: all tie
    chosen = {AlphaBetaPlayer(2, seed=s).choose([start], [0])[0] for s in range(40)}
    assert chosen == set(start.legal_actions())


def test_solver_player_switches_from_alpha_beta_to_exact_play():
    player = SolverPlayer(max_empties=9, depth=2, seed=0)
    positions = random_positions(6, 80, seed=21)
    exact = [p for p in positions if p.empties() <= 9]
    assert len(exact) > 5
    for p, a in zip(exact, player.choose(exact, list(range(len(exact)))), strict=True):
        assert a in solver.best_moves(p)[1]


@pytest.mark.parametrize(
    "spec, kind, name",
    [
        ("random", RandomPlayer, "random"),
        ("greedy", GreedyPlayer, "greedy"),
        ("alphabeta:3", AlphaBetaPlayer, "alphabeta:3"),
        ("alphabeta", AlphaBetaPlayer, "alphabeta:4"),
        ("solver", SolverPlayer, "solver:14"),
        ("solver:10", SolverPlayer, "solver:10"),
    ],
)
def test_make_player_specs(spec, kind, name):
    p = make_player(spec, 6)
    assert type(p) is kind and p.name == name


@pytest.mark.parametrize("spec", ["", "minimax", "random:2", "greedy:1", "stockfish"])
def test_unknown_specs_list_every_valid_form(spec):
    with pytest.raises(ValueError, match=r"valid forms: random, greedy, alphabeta.*az:CHECKPOINT"):
        make_player(spec, 6)


@pytest.mark.parametrize("spec", ["alphabeta:0", "alphabeta:x", "solver:-1", "solver:37"])
def test_bad_numbers_in_specs_say_what_is_expected(spec):
    with pytest.raises(PlayerSpecError, match=r"expected an integer in \d+\.\.\d+"):
        make_player(spec, 6)


def test_az_spec_without_the_agent_layer_says_where_it_comes_from(monkeypatch):
    # the game alone knows no az: kind; the agent layer registers it when imported
    monkeypatch.setattr(players, "_KINDS", {})
    with pytest.raises(PlayerSpecError, match="import alphazero.agent, or use play.py"):
        make_player("az:pretrained/agent", 6)


def test_layers_register_their_player_kinds(monkeypatch):
    with pytest.raises(PlayerSpecError, match=r"needs an argument, as in az:CHECKPOINT"):
        make_player("az", 6)
    with pytest.raises(PlayerSpecError, match=r"unknown suffix 'bogus'"):
        make_player("az:pretrained/agent:0+bogus:1", 6)
    monkeypatch.setattr(players, "_KINDS", dict(players._KINDS))
    players.register_player_kind(
        "fixed", lambda arg, n, d, seed: RandomPlayer(int(arg)), ["fixed:S"]
    )
    assert isinstance(make_player("fixed:3", 6), RandomPlayer)
    assert "fixed:S" in players.spec_forms()
