"""The engine is correct: three independent implementations agree (the naive per-square
oracle, the scalar bitboards and the batched numpy bitboards), perft matches published
counts, and the Position, text format and symmetry layers behave as documented."""

from __future__ import annotations

import random

import numpy as np
import pytest

from othello import batch, naive
from othello import bitboard as bb
from othello import symmetry as sym
from othello.game import Position, parse_square, square_name
from othello.perft import perft_batched, perft_scalar
from tests.engine_helpers import random_positions

U64 = np.uint64
SIZES = (4, 6, 8)


def naive_of(p: Position) -> tuple[naive.Board, int]:
    player = naive.BLACK if p.black_to_move else naive.WHITE
    return naive.from_bitboards(p.me, p.opp, p.n, player), player


def naive_move(action: int, n: int):
    return None if action == n * n else divmod(action, n)


# -- perft ---------------------------------------------------------------------------------
def batched_counts(n: int, depth: int) -> list[int]:
    s = Position.start(n)
    return [count for _, count in perft_batched(s.me, s.opp, depth, n)]


def test_perft_8x8_published_counts():
    # Published 8x8 Othello perft from the standard start (external fact), depths 1..8.
    published = [4, 12, 56, 244, 1396, 8200, 55092, 390216]
    assert batched_counts(8, 8) == published
    s = Position.start(8)
    assert [perft_scalar(s.me, s.opp, d, 8) for d in range(1, 7)] == published[:6]


@pytest.mark.parametrize("n,depth", [(4, 9), (6, 7), (8, 6)])
def test_perft_scalar_equals_batched(n, depth):
    s = Position.start(n)
    assert [perft_scalar(s.me, s.opp, d, n) for d in range(1, depth + 1)] == batched_counts(
        n, depth
    )


def test_perft_4x4_whole_tree_scalar_equals_batched():
    # Deep enough that every 4x4 game has ended (a finished game stays one leaf), so this
    # covers passes and game ends at every depth, not just the opening.
    counts = batched_counts(4, 20)
    assert counts[-1] == counts[-2] == counts[-5]  # the tree has stopped growing
    s = Position.start(4)
    assert perft_scalar(s.me, s.opp, 20, 4) == counts[-1]


@pytest.mark.parametrize("n,depth", [(4, 8), (6, 5), (8, 4)])
def test_perft_naive_equals_batched(n, depth):
    board = naive.start_board(n)
    assert [naive.perft(board, naive.BLACK, d) for d in range(1, depth + 1)] == batched_counts(
        n, depth
    )


# -- random playouts: all three engines, every ply -----------------------------------------
@pytest.mark.parametrize("n,games,seed", [(4, 24, 1), (6, 12, 2), (8, 8, 3)])
def test_random_playouts_three_engines_agree(n, games, seed):
    rng = np.random.default_rng(seed)
    positions = [Position.start(n)] * games
    boards = [naive_of(p) for p in positions]
    me, opp = batch.start(games, n)
    active = np.ones(games, dtype=bool)
    played = np.zeros(n * n + 1, dtype=np.int64)  # how often each action was exercised
    flipped_any = 0
    while active.any():
        moves = batch.legal_moves(me, opp, n)
        mask = batch.legal_action_mask(me, opp, n, moves)
        over = batch.is_terminal(me, opp, n, moves)
        diff = batch.disc_diff(me, opp)
        for i in np.flatnonzero(active):
            p, (board, player) = positions[i], boards[i]
            assert (p.me, p.opp) == naive.to_bitboards(board, player) == (int(me[i]), int(opp[i]))
            naive_moves = naive.squares_to_mask(naive.legal_moves(board, player), n)
            assert p.legal_moves() == naive_moves == int(moves[i])
            assert bool(mask[i, n * n]) == (naive_moves == 0)  # pass exactly when no square
            assert p.is_terminal() == naive.is_terminal(board) == bool(over[i])
            assert p.disc_diff() == naive.score(board, player) == diff[i]
            if over[i]:
                assert p.legal_actions() == []
                with pytest.raises(ValueError):
                    p.play(p.pass_action)
                with pytest.raises(ValueError):
                    naive.play(board, player, None)
                active[i] = False
        # Flips of every legal move of every live game, not only the one that gets played.
        rows, squares = np.nonzero(mask[:, : n * n] & active[:, None])
        batched_flips = batch.flips(me[rows], opp[rows], U64(1) << squares.astype(U64), n)
        for i, sq, f in zip(rows, squares, batched_flips, strict=True):
            p, (board, player) = positions[i], boards[i]
            naive_f = naive.squares_to_mask(naive.flips(board, player, divmod(int(sq), n)), n)
            assert p.flips(int(sq)) == naive_f == int(f) != 0
            flipped_any |= naive_f
        actions = batch.sample_actions(mask, rng)
        me, opp = batch.play(me, opp, actions, n)
        for i in np.flatnonzero(active):
            a = int(actions[i])
            played[a] += 1
            positions[i] = positions[i].play(a)
            boards[i] = naive.play(*boards[i], naive_move(a, n))
    # The playouts really exercised passes (small boards) and the top bit (8x8: square 63).
    if n == 4:
        assert played[n * n] > 0
    if n == 8:
        assert played[63] > 0 and flipped_any >> 62 & 1


def test_bit_63_move_and_anchor_8x8():
    # X plays h8 (bit 63): it flips the row b8..g8 (anchor a8), the column h2..h7
    # (anchor h1) and g7 on the diagonal (anchor f6): 6 + 6 + 1 = 13 discs.
    into_corner = Position.from_text(
        "-------X/-------O/-------O/-------O/-------O/-----X-O/------OO/XOOOOOO- X"
    )
    # X plays a1 (bit 0): the diagonal b2..g7 is closed by X on h8 (bit 63).
    from_corner = Position.from_text(
        "--------/-O------/--O-----/---O----/----O---/-----O--/------O-/-------X X"
    )
    sq = lambda name: 1 << parse_square(name, 8)  # noqa: E731
    expect_h8 = sum(sq(c + "8") for c in "bcdefg") + sum(sq("h" + r) for r in "234567") + sq("g7")
    expect_a1 = sum(sq(c + r) for c, r in zip("bcdefg", "234567", strict=True))
    me, opp = (
        batch.as_bitboards([into_corner.me, from_corner.me]),
        batch.as_bitboards([into_corner.opp, from_corner.opp]),
    )
    assert [int(m) for m in batch.legal_moves(me, opp, 8)] == [
        into_corner.legal_moves(),
        from_corner.legal_moves(),
    ]
    assert from_corner.legal_moves() == sq("a1")
    assert into_corner.legal_moves() >> 63 & 1
    moves = batch.as_bitboards([sq("h8"), sq("a1")])
    assert [int(f) for f in batch.flips(me, opp, moves, 8)] == [expect_h8, expect_a1]
    assert into_corner.flips(63) == expect_h8 and from_corner.flips(0) == expect_a1
    board, player = naive_of(into_corner)
    assert naive.squares_to_mask(naive.flips(board, player, (7, 7)), 8) == expect_h8
    after = into_corner.play(63)
    new_me, new_opp = batch.play(me[:1], opp[:1], np.array([63]), 8)
    assert (after.me, after.opp) == (int(new_me[0]), int(new_opp[0]))
    assert after.opp >> 63 & 1  # the mover (now "opp") owns h8


# -- Position ------------------------------------------------------------------------------
def test_pass_only_when_forced():
    start = Position.start(6)
    with pytest.raises(ValueError, match="pass"):
        start.play(start.pass_action)  # black has 4 moves at the start
    # X's only disc b1 sits next to the only empty a1: X cannot flip anything (a1 sees X on
    # its right, O lines to the edge elsewhere), but O plays a1 and flips b1 (O on c1).
    forced = Position.from_text("-XOO/OOOO/OOOO/OOOO X")
    assert forced.legal_moves() == 0 and not forced.is_terminal()
    assert forced.legal_actions() == [forced.pass_action]
    after = forced.play(forced.pass_action)
    assert (after.me, after.opp, after.black_to_move) == (forced.opp, forced.me, False)
    assert after.legal_actions() == [parse_square("a1", 4)]
    with pytest.raises(ValueError, match="pass"):
        after.play(after.pass_action)  # O has a move, so O may not pass
    board, player = naive_of(forced)
    assert naive.legal_moves(board, player) == [] and naive.legal_moves(board, -player) == [(0, 0)]
    end = after.play(parse_square("a1", 4))
    assert end.is_terminal() and end.disc_diff() == -16 and end.legal_actions() == []


def test_illegal_moves_raise():
    p = Position.start(6)
    # c3 holds a white disc; b2 touches white c3 but the diagonal c3, d4 ends at an empty e5,
    # so it flips nothing; a1 touches nothing; the rest are not actions at all.
    for action in (parse_square("c3", 6), parse_square("b2", 6), 0, -1, 37, 100):
        with pytest.raises(ValueError, match="not a legal move"):
            p.play(action)
    assert p.play(parse_square("c2", 6)).n == 6  # c2 flips c3 (anchor c4): legal


def test_draw_is_a_draw_and_disc_diff():
    # Full 4x4 board, 8 discs each: the game is over and nobody won.
    draw = Position.from_text("XXXX/XXXX/OOOO/OOOO O")
    assert draw.is_terminal() and draw.disc_diff() == 0 and draw.result() == 0
    # 9 X vs 7 O: +2 for X, -2 for O, whoever is to move.
    won = Position.from_text("XXXX/XXXX/XOOO/OOOO X")
    assert won.is_terminal() and won.disc_diff() == 2 and won.result() == 1
    lost = Position.from_text("XXXX/XXXX/XOOO/OOOO O")
    assert lost.disc_diff() == -2 and lost.result() == -1
    # Not over: discs still count from the side to move's view (start: 2 each).
    assert Position.start(6).disc_diff() == 0 and not Position.start(6).is_terminal()


@pytest.mark.parametrize("n", SIZES)
def test_text_round_trip(n):
    for p in random_positions(n, 40, seed=n):
        text = p.to_text()
        assert len(text) == n * n + 2 and text[-1] in "XO"
        assert Position.from_text(text) == p
        # Rows separated by '/' or newlines, '.' for empty, lower case: the same position.
        rows = "\n".join(text[r * n : (r + 1) * n] for r in range(n))
        loose = rows.replace("-", ".").lower() + "\n" + text[-1].lower()
        assert Position.from_text(loose) == p


@pytest.mark.parametrize(
    "text,reason",
    [
        ("X" * 35 + " X", "35 squares given"),  # wrong length
        ("-" * 25 + " O", "25 squares given"),  # a 5x5 board: odd size
        ("-" * 100 + " X", "100 squares given"),  # 10x10: too large
        ("-" * 4 + " X", "4 squares given"),  # 2x2: too small
        ("-" * 35 + "Z X", "square f6 holds 'Z'"),  # bad character
        ("-" * 36, "side to move"),  # missing side to move
        ("-" * 36 + " ?", "side to move"),
        ("", "empty position"),
        ("X", "empty position"),
    ],
)
def test_parser_rejects_malformed(text, reason):
    with pytest.raises(ValueError, match=reason.replace("?", r"\?")):
        Position.from_text(text)


def test_parser_rejects_overlap_and_non_text():
    with pytest.raises(ValueError, match="must be text"):
        Position.from_text(None)
    with pytest.raises(ValueError, match="both colours"):
        Position.from_colors(1, 1, True, 4)


@pytest.mark.parametrize("n", SIZES)
def test_square_names_round_trip(n):
    names = [square_name(i, n) for i in range(n * n + 1)]
    assert len(set(names)) == n * n + 1 and names[-1] == "pass"
    assert [parse_square(name, n) for name in names] == list(range(n * n + 1))
    assert parse_square(" C4 ", n) == 3 * n + 2 and square_name(0, n) == "a1"


@pytest.mark.parametrize("bad", ["", "c", "4c", "cc", "c-1", "j3", "pas"])
def test_parse_square_rejects_garbage(bad):
    with pytest.raises(ValueError, match="is not a square"):
        parse_square(bad, 6)


@pytest.mark.parametrize("bad,n", [("a0", 6), ("a7", 6), ("c5", 4), ("g1", 6)])
def test_parse_square_rejects_off_board(bad, n):
    with pytest.raises(ValueError, match="off the board|is not a square"):
        parse_square(bad, n)


# -- symmetries ----------------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
def test_symmetries_form_the_dihedral_group(n):
    perms = [sym.permutation(k, n) for k in range(sym.N_SYMMETRIES)]
    as_tuples = {tuple(p.tolist()) for p in perms}
    assert len(as_tuples) == 8  # distinct
    assert all(sorted(p.tolist()) == list(range(n * n)) for p in perms)  # permutations
    assert np.array_equal(perms[0], np.arange(n * n))  # k = 0 is the identity
    for a in perms:
        for b in perms:
            assert tuple(a[b].tolist()) in as_tuples  # closed under composition
    for k, p in enumerate(perms):
        inv = sym.inverse_permutation(k, n)
        assert np.array_equal(p[inv], np.arange(n * n)) and np.array_equal(inv[p], p[inv])
        assert tuple(inv.tolist()) in as_tuples  # the inverse is one of the 8
    # Corners go to corners (these are board symmetries, not arbitrary permutations).
    corners = {0, n - 1, n * (n - 1), n * n - 1}
    assert all({int(p[c]) for c in corners} == corners for p in perms)


@pytest.mark.parametrize("n", SIZES)
def test_legal_moves_and_flips_commute_with_symmetries(n):
    for p in random_positions(n, 15, seed=10 + n):
        legal = p.legal_moves()
        for k in range(sym.N_SYMMETRIES):
            t_me, t_opp = sym.transform_bits(k, p.me, n), sym.transform_bits(k, p.opp, n)
            assert bb.legal_moves(t_me, t_opp, n) == sym.transform_bits(k, legal, n)
            for s in bb.bits(legal):
                t_s = sym.transform_square(k, s, n)
                assert bb.flips(t_me, t_opp, 1 << t_s, n) == sym.transform_bits(k, p.flips(s), n)


@pytest.mark.parametrize("n", SIZES)
def test_transform_policy_matches_bitboards_and_keeps_pass(n):
    rng = np.random.default_rng(n)
    positions = random_positions(n, 20, seed=20 + n)
    me = batch.as_bitboards([p.me for p in positions])
    opp = batch.as_bitboards([p.opp for p in positions])
    moves = batch.legal_moves(me, opp, n)
    policy = batch.legal_action_mask(me, opp, n, moves) * rng.random((len(positions), n * n + 1))
    for k in range(sym.N_SYMMETRIES):
        t_policy = sym.transform_policy(k, policy, n)
        assert np.array_equal(t_policy[:, n * n], policy[:, n * n])
        # Where the policy is nonzero is where the transformed board's legal moves are.
        t_moves = batch.legal_moves(
            sym.transform_bitboards(k, me, n), sym.transform_bitboards(k, opp, n), n
        )
        assert np.array_equal(t_policy[:, : n * n] > 0, batch.unpack(t_moves, n))
        # Each probability went to the image of its square.
        for s in range(n * n):
            assert np.array_equal(t_policy[:, sym.transform_square(k, s, n)], policy[:, s])
        assert sym.transform_square(k, n * n, n) == n * n


@pytest.mark.parametrize("n", SIZES)
def test_batched_transform_equals_scalar(n):
    rng = random.Random(n)
    full = (1 << (n * n)) - 1
    values = [rng.getrandbits(n * n) for _ in range(30)] + [full, 1 << (n * n - 1), 1]
    arr = batch.as_bitboards(values)
    for k in range(sym.N_SYMMETRIES):
        got = sym.transform_bitboards(k, arr, n)
        assert [int(g) for g in got] == [sym.transform_bits(k, v, n) for v in values]
