"""Perft: count the leaves of the move tree from the start position, depth by depth.

A forced pass is a ply; a finished game is a leaf (counted at every later depth too, since
it has no children). Two independent counters, which the tests cross-check:
`perft_scalar` walks the tree with the single-position engine; `perft_batched` expands the
whole frontier at once with the numpy engine.

    python -m othello.perft --size 6 --depth 9
"""

from __future__ import annotations

import time

import numpy as np

from common import cli
from othello import batch
from othello import bitboard as bb
from othello.game import Position


def perft_scalar(me: int, opp: int, depth: int, n: int) -> int:
    if depth == 0:
        return 1
    moves = bb.legal_moves(me, opp, n)
    if not moves:
        if not bb.legal_moves(opp, me, n):
            return 1  # game over: a leaf
        return perft_scalar(opp, me, depth - 1, n)
    total = 0
    for sq in bb.bits(moves):
        m = 1 << sq
        f = bb.flips(me, opp, m, n)
        total += perft_scalar(opp & ~f, me | f | m, depth - 1, n)
    return total


def _children(me: np.ndarray, opp: np.ndarray, n: int):
    """Expand a frontier: every legal child of every node (a pass child for forced passes).
    Returns the children and how many frontier nodes were finished games."""
    moves = batch.legal_moves(me, opp, n)
    mask = batch.legal_action_mask(me, opp, n, moves)
    over = batch.is_terminal(me, opp, n, moves)
    mask[over] = False
    rows, actions = np.nonzero(mask)
    child_me, child_opp = batch.play(me[rows], opp[rows], actions, n)
    return child_me, child_opp, int(over.sum())


def perft_batched(me: int, opp: int, max_depth: int, n: int, chunk: int = 1 << 18):
    """Yield (depth, leaf count) for depth 1..max_depth. The frontier is processed in chunks
    and only the last level is never materialised, so memory stays bounded by the
    second-to-last level."""
    frontier = [(np.array([me], dtype=np.uint64), np.array([opp], dtype=np.uint64))]
    finished = 0  # games that ended above the current depth stay leaves
    for depth in range(1, max_depth + 1):
        nxt, count = [], finished
        for fm, fo in frontier:
            for s in range(0, len(fm), chunk):
                cm, co, over = _children(fm[s : s + chunk], fo[s : s + chunk], n)
                finished += over
                count += over + len(cm)
                if depth < max_depth:
                    nxt.append((cm, co))
        frontier = nxt
        yield depth, count


@cli.command
def main(argv=None) -> None:
    ap = cli.parser(prog="python -m othello.perft", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=6, help="board size (even, 4..8)")
    ap.add_argument("--depth", type=int, default=6, help="deepest ply to count")
    ap.add_argument("--engine", choices=["batched", "scalar"], default="batched")
    ap.add_argument("--time", action="store_true", help="also print seconds per depth")
    args = ap.parse_args(argv)
    try:
        bb.check_size(args.size)
    except ValueError as e:
        ap.error(str(e))
    if args.depth < 1:
        ap.error("--depth must be at least 1")
    start = Position.start(args.size)
    t0 = time.perf_counter()
    if args.engine == "batched":
        results = perft_batched(start.me, start.opp, args.depth, args.size)
    else:
        results = (
            (d, perft_scalar(start.me, start.opp, d, args.size)) for d in range(1, args.depth + 1)
        )
    for depth, count in results:
        t1 = time.perf_counter()
        print(f"{depth} {count}" + (f" {t1 - t0:.3f}s" if args.time else ""), flush=True)
        t0 = t1


if __name__ == "__main__":
    main()
