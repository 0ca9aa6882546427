"""Concept labels: each family on hand-drawn positions (expected answers worked out by hand in
the comments), the batch against the single-position wrapper and the naive oracle on random
positions, and the soundness of the stable-disc approximation by exhaustive search."""

from __future__ import annotations

import random

import numpy as np
import pytest

from othello import batch, naive
from othello import bitboard as bb
from othello.concepts import (
    SCALAR_CONCEPTS,
    SQUARE_CONCEPTS,
    SQUARE_COUNT_CONCEPTS,
    board_concepts,
    position_concepts,
    region_masks,
)
from othello.game import Position, parse_square
from tests.engine_helpers import as_arrays, random_game, random_positions


def on(names: str, n: int) -> np.ndarray:
    """bool[n*n] with the named squares set, e.g. on("c3 d4", 6)."""
    out = np.zeros(n * n, dtype=bool)
    for name in names.split():
        out[parse_square(name, n)] = True
    return out


def assert_squares(concepts, name: str, expected: str, n: int) -> None:
    got = {i for i in np.flatnonzero(concepts[name])}
    want = set(np.flatnonzero(on(expected, n)))
    assert got == want, f"{name}: got {sorted(got)}, want {sorted(want)} ({expected})"


# The standard 6x6 start, X to move: X holds d3 c4, O holds c3 d4. Each side has the four
# textbook replies, each flipping one disc, and every disc can be flipped by the other side.
START = Position.from_text("------/------/--OX--/--XO--/------/------ X")

# X to move. X's only legal square is c3, which flips b3 (anchor a3), c2 (anchor c1) and
# c4 c5 (anchor c6) = 4 discs; the O run d3 e3 f3 to its right hits the edge (no anchor) and
# d4 down-right hits the empty e5, so those do not count. Every other empty square was
# checked by hand: no line from it through O discs ends on X.
MULTI = Position.from_text("--X---/--O---/XO-OOO/--OO--/--O---/--X--- X")

# X to move. O (b2) can play e2 and flip c2 d2 (anchor b2): both are defensive threats.
# X's d3 is not: every line through d3 ends on an empty square or X, never on O.
# X can play a2 and flip b2 (anchor c2): an offensive threat.
THREATS = Position.from_text("------/-OXX--/---X--/------/------/------ X")

# X to move, 4x4, one empty square d4. Stable X: every X disc (all edges, chained from the
# corners a1 d1 a4). Stable O: c2 and b3, whose four lines are all full; not b2 and c3, whose
# diagonal a1-d4 has the empty d4 (X playing d4 does flip them). X's move d4 flips b2 c3.
ONE_EMPTY = Position.from_text("XXXX/XOOX/XOOX/XXX- X")

# 6x6 corner chain: a1 (corner) then b1 c1 a2 along the edges, then b2 (each of its four lines
# touches a stable X: a2, b1, a1, c1) are stable. O's d1 is not (X at c1, e1 empty: X plays e1)
# nor O's a3 (X at a2, a4 empty).
CORNER = Position.from_text("XXXO--/XX----/O-----/------/------/------ O")


def test_occupancy_legal_flips_on_start():
    c = position_concepts(START)
    assert_squares(c, "mine", "d3 c4", 6)
    assert_squares(c, "theirs", "c3 d4", 6)
    assert c["empty"].sum() == 32 and not (c["empty"] & (c["mine"] | c["theirs"])).any()
    assert_squares(c, "legal_mine", "c2 b3 e4 d5", 6)
    assert_squares(c, "legal_theirs", "d2 e3 b4 c5", 6)
    assert np.array_equal(c["flips_if_played"], on("c2 b3 e4 d5", 6).astype(np.int8))
    assert_squares(c, "threat_defensive", "d3 c4", 6)
    assert_squares(c, "threat_offensive", "c3 d4", 6)
    assert (c["mobility_mine"], c["mobility_theirs"]) == (4, 4)
    assert (c["empties"], c["parity_odd"]) == (32, False)
    assert not c["stable_mine"].any() and not c["stable_theirs"].any()
    assert_squares(c, "frontier_mine", "d3 c4", 6)  # every disc touches an empty square


def test_flips_counts_every_direction_and_only_bracketed_runs():
    c = position_concepts(MULTI)
    expected = np.zeros(36, dtype=np.int8)
    expected[parse_square("c3", 6)] = 4
    assert np.array_equal(c["flips_if_played"], expected)
    assert_squares(c, "legal_mine", "c3", 6)
    assert c["mobility_mine"] == 1
    # The discs c3 would flip; the unbracketed d3 e3 f3 and d4 are safe.
    assert_squares(c, "threat_offensive", "b3 c2 c4 c5", 6)
    # X's discs c1 a3 c6 sit on edges with no O on the far side: O threatens nothing.
    assert not c["threat_defensive"].any()


def test_defensive_and_offensive_threats():
    c = position_concepts(THREATS)
    assert_squares(c, "threat_defensive", "c2 d2", 6)
    assert_squares(c, "threat_offensive", "b2", 6)
    assert_squares(c, "legal_theirs", "e2", 6)  # O's one move, as if it were O's turn
    assert c["mobility_theirs"] == 1
    assert c["flips_if_played"][parse_square("a2", 6)] == 1
    # Seen from O (after X passes), the threats swap roles.
    o_view = position_concepts(Position(THREATS.opp, THREATS.me, False, 6))
    assert np.array_equal(o_view["threat_offensive"], c["threat_defensive"])
    assert np.array_equal(o_view["legal_mine"], c["legal_theirs"])


def test_stable_discs_full_lines_and_edges():
    c = position_concepts(ONE_EMPTY)
    assert np.array_equal(c["stable_mine"], c["mine"])
    assert_squares(c, "stable_theirs", "c2 b3", 4)
    assert_squares(c, "threat_offensive", "b2 c3", 4)  # the unstable O discs really flip
    # A full board: every disc is stable.
    full = position_concepts(Position.from_text("XXXX/XOOX/XOOX/XXXX O"))
    assert full["stable_mine"].sum() + full["stable_theirs"].sum() == 16


def test_stable_discs_chain_from_a_corner():
    c = position_concepts(CORNER)  # O to move: X is "theirs"
    assert_squares(c, "stable_theirs", "a1 b1 c1 a2 b2", 6)
    assert not c["stable_mine"].any()


def test_frontier_parity_and_regions():
    c = position_concepts(ONE_EMPTY)
    # Only the neighbours of d4 touch an empty square: c4 d3 (X) and c3 (O).
    assert_squares(c, "frontier_mine", "c4 d3", 4)
    assert_squares(c, "frontier_theirs", "c3", 4)
    assert (c["empties"], c["parity_odd"]) == (1, True)
    # 4x4: corners a1 d1 a4 are X, d4 is empty; the X-squares are the centre four (all O);
    # the C-squares are the eight non-corner edge squares (all X).
    assert (c["corners_mine"], c["corners_theirs"]) == (3, 0)
    assert (c["x_squares_mine"], c["x_squares_theirs"]) == (0, 4)
    assert (c["c_squares_mine"], c["c_squares_theirs"]) == (8, 0)
    # 6x6, X to move: corner a1 is X and f6 is O; X-squares b2 e5 are X and e2 is O;
    # C-squares a5 is X and b1 is O; nothing else sits on a special square.
    regions = position_concepts(Position.from_text("XO----/-X--O-/------/------/X---X-/-----O X"))
    assert (regions["corners_mine"], regions["corners_theirs"]) == (1, 1)
    assert (regions["x_squares_mine"], regions["x_squares_theirs"]) == (2, 1)
    assert (regions["c_squares_mine"], regions["c_squares_theirs"]) == (1, 1)


def test_region_masks_by_name():
    def mask(names, n):
        return sum(1 << parse_square(s, n) for s in names.split())

    m = region_masks(6)
    assert m["corners"] == mask("a1 f1 a6 f6", 6)
    assert m["x_squares"] == mask("b2 e2 b5 e5", 6)
    assert m["c_squares"] == mask("b1 a2 e1 f2 a5 b6 f5 e6", 6)
    assert region_masks(8)["x_squares"] == mask("b2 g2 b7 g7", 8)


def test_names_shapes_and_dtypes():
    positions = random_positions(6, 10, seed=5)
    c = board_concepts(*as_arrays(positions), 6)
    assert set(c) == set(SQUARE_CONCEPTS) | set(SQUARE_COUNT_CONCEPTS) | set(SCALAR_CONCEPTS)
    for name in SQUARE_CONCEPTS:
        assert c[name].shape == (10, 36) and c[name].dtype == bool
    assert c["flips_if_played"].shape == (10, 36)
    for name in SCALAR_CONCEPTS:
        assert c[name].shape == (10,)
    with pytest.raises(ValueError, match="one shape"):
        board_concepts(np.zeros(3, np.uint64), np.zeros(2, np.uint64), 6)


@pytest.mark.parametrize("n", (4, 6, 8))
def test_batch_equals_single_position_wrapper(n):
    positions = random_positions(n, 30, seed=100 + n)
    batched = board_concepts(*as_arrays(positions), n)
    for i, p in enumerate(positions):
        single = position_concepts(p)
        for name, values in single.items():
            assert np.array_equal(batched[name][i], values), (name, p.to_text())


@pytest.mark.parametrize("n", (4, 6, 8))
def test_move_concepts_match_naive_oracle(n):
    # Legal squares, flip counts and both threat maps recomputed square by square with the
    # independent per-square engine.
    positions = random_positions(n, 20, seed=200 + n)
    c = board_concepts(*as_arrays(positions), n)
    for i, p in enumerate(positions):
        board = naive.from_bitboards(p.me, p.opp, n, naive.BLACK)  # "me" drawn as BLACK
        flips_me = np.zeros(n * n, dtype=np.int8)
        offensive = np.zeros(n * n, dtype=bool)
        defensive = np.zeros(n * n, dtype=bool)
        for r in range(n):
            for col in range(n):
                for sq in naive.flips(board, naive.BLACK, (r, col)):
                    offensive[sq[0] * n + sq[1]] = True
                flips_me[r * n + col] = len(naive.flips(board, naive.BLACK, (r, col)))
                for sq in naive.flips(board, naive.WHITE, (r, col)):
                    defensive[sq[0] * n + sq[1]] = True
        assert np.array_equal(c["flips_if_played"][i], flips_me)
        assert np.array_equal(c["legal_mine"][i], flips_me > 0)
        assert c["mobility_theirs"][i] == len(naive.legal_moves(board, naive.WHITE))
        assert np.array_equal(c["threat_offensive"][i], offensive)
        assert np.array_equal(c["threat_defensive"][i], defensive)


def ever_flipped(p: Position) -> int:
    """Squares whose disc changes colour in at least one continuation of the game from `p`
    (exhaustive search over the whole remaining tree, transpositions visited once)."""
    n, root_black, root_white = p.n, p.black, p.white
    changed, seen, stack = 0, set(), [(p.black, p.white, p.black_to_move)]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        black, white, black_to_move = node
        changed |= (root_black & ~black) | (root_white & ~white)
        me, opp = (black, white) if black_to_move else (white, black)
        moves = bb.legal_moves(me, opp, n)
        if not moves and bb.legal_moves(opp, me, n):
            stack.append((black, white, not black_to_move))  # forced pass
        for square in bb.bits(moves):
            new_me, new_opp = bb.play(me, opp, square, n)  # new_me: the side to move next
            stack.append((new_opp, new_me, False) if black_to_move else (new_me, new_opp, True))
    return changed


@pytest.mark.parametrize("n,empties", [(4, 8), (6, 8), (8, 7)])
def test_stable_discs_are_never_flipped(n, empties):
    rng = random.Random(300 + n)
    marked_total = flipped_total = 0
    for _ in range(20):
        p = random_game(n, rng, stop_at_empties=empties)[-1]
        c = position_concepts(p)
        stable = int(batch.pack(c["stable_mine"] | c["stable_theirs"]))
        flipped = ever_flipped(p)
        assert stable & flipped == 0, f"a disc marked stable gets flipped in {p.to_text()}"
        marked_total += bb.popcount(stable)
        flipped_total += bb.popcount(flipped)
    # The check is not vacuous: stable discs were marked and other discs did get flipped.
    assert marked_total > 0 and flipped_total > 0


def test_exhaustive_search_finds_flips():
    # The checker itself: on ONE_EMPTY, X's only move d4 flips b2 c3, and nothing else ever
    # changes (the game then ends).
    assert ever_flipped(ONE_EMPTY) == sum(1 << parse_square(s, 4) for s in ("b2", "c3"))
