"""Exact solver concepts against an independent brute-force minimax (tests/test_solver.py),
on random 4x4 and 6x6 endgames, forced passes and hand-checked positions."""

from __future__ import annotations

import numpy as np
import pytest

from othello.concepts import solver_concepts
from othello.game import Position, parse_square
from othello.solver import random_endgame
from tests.engine_helpers import as_arrays
from tests.test_solver import brute


def brute_labels(p: Position, agent_move: int):
    """Outcome, optimal squares, outcome-keeping squares, optimal replies to agent_move."""
    sq = p.n * p.n
    values = {a: -brute(p.play(a)) for a in p.legal_actions()}
    best = max(values.values()) if values else p.disc_diff()
    optimal = {a for a, v in values.items() if v == best and a < sq}
    keeps = {a for a, v in values.items() if np.sign(v) == np.sign(best) and a < sq}
    child = p.play(agent_move)
    replies = {a: -brute(child.play(a)) for a in child.legal_actions()}
    top = max(replies.values()) if replies else None
    best_reply = {a for a, v in replies.items() if v == top and a < sq}
    return int(np.sign(best)), optimal, keeps, best_reply


@pytest.mark.parametrize("n,empties,count", [(4, 9, 25), (6, 8, 12)])
def test_solver_concepts_match_brute_force(n, empties, count):
    rng = np.random.default_rng(7 + n)
    positions = [random_endgame(n, int(rng.integers(3, empties + 1)), rng) for _ in range(count)]
    moves = [p.legal_actions()[rng.integers(len(p.legal_actions()))] for p in positions]
    c = solver_concepts(*as_arrays(positions), n, np.array(moves), max_empties=empties)
    assert c["solved"].all()
    for b, (p, move) in enumerate(zip(positions, moves, strict=True)):
        outcome, optimal, keeps, replies = brute_labels(p, move)
        assert c["solved_outcome"][b] == outcome, p.to_text()
        assert set(np.flatnonzero(c["optimal_move"][b])) == optimal, p.to_text()
        assert set(np.flatnonzero(c["keeps_outcome"][b])) == keeps, p.to_text()
        assert set(np.flatnonzero(c["best_reply"][b])) == replies, p.to_text()
        assert optimal <= keeps  # an optimal move keeps the outcome
        assert optimal or p.legal_actions() == [p.pass_action]


def test_positions_above_the_limit_stay_unsolved_and_blank():
    rng = np.random.default_rng(3)
    positions = [random_endgame(6, e, rng) for e in (6, 16, 10)]
    c = solver_concepts(*as_arrays(positions), 6, max_empties=12)
    assert c["solved"].tolist() == [True, False, True]
    for name in ("optimal_move", "keeps_outcome", "best_reply"):
        assert not c[name][1].any()
    assert c["solved_outcome"][1] == 0
    assert not c["best_reply"].any()  # no agent moves given: nothing two plies ahead


def test_forced_pass_and_by_hand():
    # 4x4, X to move with one empty square d4: X plays d4 (flips b2 c3) and fills the board:
    # 13 X against 3 O, a win. The only optimal (and only) move is d4; no reply exists.
    p = Position.from_text("XXXX/XOOX/XOOX/XXX- X")
    c = solver_concepts([p.me], [p.opp], 4, [parse_square("d4", 4)])
    assert c["solved_outcome"][0] == 1
    assert np.flatnonzero(c["optimal_move"][0]).tolist() == [parse_square("d4", 4)]
    assert not c["best_reply"][0].any()
    # O to move cannot play (the pass action is not a square): nothing is marked, but the
    # outcome is solved.
    q = Position(p.opp, p.me, False, 4)
    c = solver_concepts([q.me], [q.opp], 4, [16])
    assert c["solved"][0] and c["solved_outcome"][0] == -1 and not c["optimal_move"].any()
    # after O's pass X's best reply is d4
    assert np.flatnonzero(c["best_reply"][0]).tolist() == [parse_square("d4", 4)]


def test_illegal_agent_move_is_refused():
    p = Position.from_text("XXXX/XOOX/XOOX/XXX- X")
    with pytest.raises(ValueError, match="not legal"):
        solver_concepts([p.me], [p.opp], 4, [0])
    with pytest.raises(ValueError, match="one action per position"):
        solver_concepts([p.me], [p.opp], 4, [0, 1])
