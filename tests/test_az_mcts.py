"""Batched MCTS: correct values at the end of the game, forced moves, subtree reuse, and
search that finds solver-optimal moves near the end of the game."""

import random

import numpy as np
import pytest

from alphazero.mcts import BatchedMCTS, SearchConfig, halving_schedule
from othello import batch
from othello.game import Position
from othello.solver import solve_moves
from tests.engine_helpers import as_arrays, random_game

N = 6


def uniform(me, opp):
    """Uniform priors over legal moves and a value of 0 everywhere: the search alone must
    find the result from exact end-of-game values."""
    legal = batch.legal_action_mask(me, opp, N)
    return legal / legal.sum(1, keepdims=True), np.zeros(len(me), np.float32)


def endgame_positions(count, empties, seed):
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        game = random_game(N, rng, stop_at_empties=empties)
        p = game[-1]
        if not p.is_terminal() and p.empties() == empties and len(p.legal_actions()) > 1:
            out.append(p)
    return out


def outcome_class(v):
    return (v > 0) - (v < 0)


@pytest.mark.parametrize("rule", ["puct", "gumbel"])
def test_search_keeps_the_best_outcome_near_the_end(rule):
    positions = endgame_positions(12, empties=5, seed=3)
    cfg = SearchConfig(simulations=300, root_rule=rule, gumbel_scale=0.0)
    tree = BatchedMCTS(uniform, N, len(positions), cfg, seed=0)
    slots = np.arange(len(positions))
    tree.reset(slots, *as_arrays(positions))
    result = tree.search(slots)
    for i, p in enumerate(positions):
        values = solve_moves(p)
        best = max(outcome_class(v) for v in values.values())
        assert outcome_class(values[int(result.best[i])]) == best, p.to_text()
        assert np.isfinite(result.policy[i]).all()
        assert abs(result.policy[i].sum() - 1) < 1e-5


def test_a_drawn_game_is_worth_zero():
    # White (to move) has one move, a1, which flips only b1 (a2 and b2 are already white):
    # 19 X / 16 O before it, 18 / 18 after, board full: a draw.
    text = "-XOOOOOOXXXXXXXXXXXXXXXXXXOOOOOOOOOO O"
    p = Position.from_text(text)
    assert p.legal_actions() == [0]
    end = p.play(0)
    assert end.is_terminal() and end.disc_diff() == 0
    tree = BatchedMCTS(uniform, N, 1, SearchConfig(simulations=8))
    tree.reset([0], [p.me], [p.opp])
    r = tree.search([0])
    assert r.visits[0, 0] == 8 and r.q[0, 0] == 0.0 and r.value[0] == 0.0


def test_forced_pass_root_and_no_nan():
    q = None
    rng = random.Random(0)
    while q is None:  # find a real forced pass from random play
        for pos in random_game(4, rng):
            if pos.legal_actions() == [16]:
                q = pos
                break

    def uniform4(me, opp):
        legal = batch.legal_action_mask(me, opp, 4)
        return legal / legal.sum(1, keepdims=True), np.zeros(len(me), np.float32)

    for rule in ("puct", "gumbel"):
        tree = BatchedMCTS(uniform4, 4, 1, SearchConfig(simulations=16, root_rule=rule))
        tree.reset([0], [q.me], [q.opp])
        r = tree.search([0])
        assert r.best[0] == 16 and r.visits[0, 16] == 16
        assert np.isfinite(r.policy).all() and np.isfinite(r.value).all()


def test_subtree_reuse_keeps_the_statistics_of_the_move_played():
    p = Position.start(N)
    tree = BatchedMCTS(uniform, N, 2, SearchConfig(simulations=40), seed=1)
    tree.reset([0, 1], *as_arrays([p, p]))
    r = tree.search([0, 1])
    a = int(r.best[0])
    child_visits = r.visits[0, a]
    child = tree.children[0, 0, a]
    child_edges = tree.N[0, child].copy()
    tree.advance([0, 1], [a, a])
    assert tree.N[0, 0].sum() == child_visits - 1  # the child's own visit was its expansion
    assert np.array_equal(tree.N[0, 0], child_edges)
    after = p.play(a)
    assert tree.me[0, 0] == after.me and tree.opp[0, 0] == after.opp
    r2 = tree.search([0])
    assert r2.visits[0].sum() == child_visits - 1 + 40


def test_many_games_in_lockstep_equal_one_at_a_time():
    """Batching must not change the search: each tree evolves as if searched alone."""
    positions = endgame_positions(6, empties=8, seed=5)
    together = BatchedMCTS(uniform, N, 6, SearchConfig(simulations=30))
    together.reset(np.arange(6), *as_arrays(positions))
    r_all = together.search(np.arange(6))
    for i, p in enumerate(positions):
        alone = BatchedMCTS(uniform, N, 1, SearchConfig(simulations=30))
        alone.reset([0], [p.me], [p.opp])
        r = alone.search([0])
        assert np.array_equal(r.visits[0], r_all.visits[i])


@pytest.mark.parametrize("considered,sims", [(16, 32), (8, 64), (4, 10), (2, 5), (1, 7)])
def test_halving_schedule_gives_each_survivor_equal_visits(considered, sims):
    seq = halving_schedule(considered, sims)
    assert len(seq) == sims
    # Simulate: at step j the chosen action is one whose count equals seq[j].
    counts = [0] * considered
    for want in seq:
        i = counts.index(want)  # must exist: the schedule only asks for reachable counts
        counts[i] += 1
    assert sum(counts) == sims
    assert min(counts) >= min(1, sims // considered)


def test_root_noise_changes_priors_only_at_the_root_and_keeps_a_distribution():
    p = Position.start(N)
    cfg = SearchConfig(simulations=4, root_noise=True, noise_fraction=0.5)
    tree = BatchedMCTS(uniform, N, 1, cfg, seed=0)
    tree.reset([0], [p.me], [p.opp])
    prior = tree.P[0, 0]
    assert abs(prior.sum() - 1) < 1e-5
    assert (prior[~tree.legal[0, 0]] == 0).all()
    assert not np.allclose(prior[tree.legal[0, 0]], 0.25)
