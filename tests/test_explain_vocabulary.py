"""The explainer's new predicate families against brute force on single positions: move
consequences and lines / regions through the readable `Position` rules, the agent group from
the recorded policy and value, and the vocabulary's names and columns."""

from __future__ import annotations

import numpy as np
import pytest

from othello.consequences import move_consequences
from othello.game import Position, parse_square, square_name
from othello.regions import line_masks, region_concepts
from sae.concepts.labels import labels_for_positions
from sae.explain.vocabulary import agent_predicates, build, game_predicates
from tests.engine_helpers import as_arrays, random_positions


def brute_consequences(p: Position) -> dict[str, np.ndarray]:
    """Play every legal move with the readable rules and look at the result."""
    squares = p.n * p.n
    flips = np.zeros((squares, squares), bool)
    gives_corner = np.zeros(squares, bool)
    no_reply = np.zeros(squares, bool)
    corners = {0, p.n - 1, squares - p.n, squares - 1}
    for m in p.legal_actions():
        if m == p.pass_action:
            continue
        after = p.play(m)  # the opponent's view: its discs are `me`
        for d in range(squares):
            flips[m, d] = bool(p.opp >> d & 1) and bool(after.me >> d & 1) is False
        replies = [a for a in after.legal_actions() if a != after.pass_action]
        gives_corner[m] = any(a in corners for a in replies)
        no_reply[m] = not replies
    return {"flips": flips, "gives_corner": gives_corner, "no_reply": no_reply}


def square_owner(p: Position, r: int, c: int) -> int:
    s = r * p.n + c
    return 1 if p.me >> s & 1 else -1 if p.opp >> s & 1 else 0


def brute_regions(p: Position) -> dict[str, np.ndarray]:
    n, h = p.n, p.n // 2
    grid = np.array([[square_owner(p, r, c) for c in range(n)] for r in range(n)])
    edges = [grid[0], grid[-1], grid[:, 0], grid[:, -1]]
    quads = [grid[:h, :h], grid[:h, h:], grid[h:, :h], grid[h:, h:]]
    return {
        "row_full": np.array([(grid[r] != 0).all() for r in range(n)]),
        "col_full": np.array([(grid[:, c] != 0).all() for c in range(n)]),
        "diag_full": np.array(
            [(np.diag(grid) != 0).all(), (np.diag(grid[::-1]) != 0).all()]  # a1-f6, a6-f1
        ),
        "edge_mine": np.array([(e == 1).any() and not (e == -1).any() for e in edges]),
        "edge_theirs": np.array([(e == -1).any() and not (e == 1).any() for e in edges]),
        "quadrant_odd": np.array([(q == 0).sum() % 2 == 1 for q in quads]),
        "quadrant_mine": np.array([(q == 1).sum() > (q == -1).sum() for q in quads]),
        "quadrant_theirs": np.array([(q == -1).sum() > (q == 1).sum() for q in quads]),
    }


@pytest.mark.parametrize("n", [4, 6, 8])
def test_move_consequences_match_brute_force(n):
    positions = random_positions(n, 120, seed=n)
    got = move_consequences(*as_arrays(positions), n)
    for b, p in enumerate(positions):
        want = brute_consequences(p)
        for name, value in want.items():
            assert np.array_equal(got[name][b], value), (name, p.to_text())
    assert got["flips"].any() and got["gives_corner"].any() and got["no_reply"].any()


@pytest.mark.parametrize("n", [4, 6, 8])
def test_region_concepts_match_brute_force(n):
    positions = random_positions(n, 150, seed=10 + n)
    got = region_concepts(*as_arrays(positions), n)
    for b, p in enumerate(positions):
        for name, value in brute_regions(p).items():
            assert np.array_equal(got[name][b], value), (name, p.to_text())
    for name, value in got.items():  # every family takes both values somewhere
        assert value.any() and not value.all(), name


def test_consequences_on_a_hand_drawn_position():
    # X to move: X at a2 and b1 ... c3 flips b2 (anchor a1 diagonal).
    p = Position.from_text("X-----/-O----/------/------/------/------ X")
    c3 = parse_square("c3", 6)
    got = move_consequences(*as_arrays([p]), 6)
    assert got["flips"][0, c3, parse_square("b2", 6)]
    assert got["flips"][0, c3].sum() == 1
    # after c3 O has no disc left: no reply at all
    assert got["no_reply"][0, c3] and not got["gives_corner"][0, c3]
    assert line_masks(6)["diags"][0] >> 0 & 1 and line_masks(6)["diags"][1] >> 30 & 1


def test_agent_predicates_from_policy_and_value():
    n = 4
    policy = np.zeros((3, n * n + 1), np.float32)
    policy[0, 5], policy[0, 6] = 0.6, 0.4  # top move b2 (square 5)
    policy[1, n * n] = 1.0  # a forced pass
    policy[2, 0], policy[2, 15] = 0.05, 0.95
    value = np.array([0.7, -0.2, -0.9], np.float32)
    names, m = agent_predicates(policy, value, n)
    col = {name: m[:, i] for i, name in enumerate(names)}
    assert col[f"agent_move@{square_name(5, n)}"].tolist() == [True, False, False]
    assert col["agent_move@pass"].tolist() == [False, True, False]
    assert col[f"agent_policy@{square_name(6, n)}>=0.1"].tolist() == [True, False, False]
    assert col[f"agent_policy@{square_name(6, n)}>=0.5"].tolist() == [False, False, False]
    assert col[f"agent_policy@{square_name(0, n)}>=0.1"].tolist() == [False, False, False]
    assert col["agent_value>=0.5"].tolist() == [True, False, False]
    assert col["agent_value>=-0.5"].tolist() == [True, True, False]
    assert len(set(names)) == len(names)


def test_vocabulary_columns_are_the_families_they_name():
    n = 6
    positions = random_positions(n, 200, seed=3)
    me, opp = as_arrays(positions)
    labels = labels_for_positions(me, opp, n)
    policy = np.random.default_rng(0).dirichlet(np.ones(n * n + 1), len(me)).astype(np.float32)
    value = np.random.default_rng(1).uniform(-1, 1, len(me)).astype(np.float32)
    vocab = build(labels, me, opp, policy, value, n)
    assert len(vocab.names) == len(set(vocab.names)) == vocab.matrix.shape[1]
    assert vocab.matrix.shape[0] == len(me) and not vocab.solver.any()
    game_names, game = game_predicates(me, opp, n)
    cons = move_consequences(me, opp, n)
    i = vocab.names.index("flips@c3>d3") if "flips@c3>d3" in vocab.names else None
    if i is not None:
        assert np.array_equal(
            vocab.matrix[:, i], cons["flips"][:, parse_square("c3", n), parse_square("d3", n)]
        )
    j = vocab.names.index("quadrant_odd@br")
    assert np.array_equal(vocab.matrix[:, j], region_concepts(me, opp, n)["quadrant_odd"][:, 3])
    # flips@ pairs: every kept column occurs, every possible pair that occurs is kept
    flips = cons["flips"].reshape(len(me), -1)
    assert sum(x.startswith("flips@") for x in game_names) == int(flips.any(0).sum())
    assert vocab.group_of("flips@c3>d3") == "consequences"
    assert vocab.group_of("agent_value>=0") == "agent" and vocab.group_of("mine@a1") == "board"
    assert vocab.group_of("quadrant_odd@tl") == "lines"
