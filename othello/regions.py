"""Lines and regions of the board, from the side to move's view, batched.

`region_concepts(me, opp, n)` takes B positions (uint64 arrays) and returns bool arrays:

  row_full        [B, n]  row r (1..n, top to bottom) has no empty square.
  col_full        [B, n]  column c (a..) has no empty square.
  diag_full       [B, 2]  the main diagonal a1-f6 (index 0) / the anti-diagonal a6-f1 (1) is
                          full.
  edge_mine       [B, 4]  the edge (top, bottom, left, right) holds at least one of my discs
                          and none of the opponent's ("owned").
  edge_theirs     [B, 4]  the same for the opponent.
  quadrant_odd    [B, 4]  the quadrant (top-left, top-right, bottom-left, bottom-right:
                          the n/2 x n/2 corner blocks) has an odd number of empty squares,
                          Othello's parity regions: whoever moves there last gets the
                          region's final move.
  quadrant_mine   [B, 4]  I hold more discs than the opponent in the quadrant.
  quadrant_theirs [B, 4]  the opponent holds more than I do there.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from othello import batch
from othello import bitboard as bb

U64 = np.uint64
EDGES = ("top", "bottom", "left", "right")
QUADRANTS = ("tl", "tr", "bl", "br")
DIAGONALS = ("a1-f6", "a6-f1")  # names for 6x6; other sizes use the same two diagonals


@cache
def line_masks(n: int) -> dict[str, list[int]]:
    """Bitmasks: rows, cols, diagonals, edges, quadrants (lists in the orders above)."""
    bb.check_size(n)

    def mask(cells) -> int:
        return sum(1 << (r * n + c) for r, c in cells)

    h = n // 2
    return {
        "rows": [mask((r, c) for c in range(n)) for r in range(n)],
        "cols": [mask((r, c) for r in range(n)) for c in range(n)],
        "diags": [mask((i, i) for i in range(n)), mask((n - 1 - i, i) for i in range(n))],
        "edges": [
            mask((0, c) for c in range(n)),
            mask((n - 1, c) for c in range(n)),
            mask((r, 0) for r in range(n)),
            mask((r, n - 1) for r in range(n)),
        ],
        "quadrants": [
            mask((r, c) for r in rows for c in cols)
            for rows in (range(h), range(h, n))
            for cols in (range(h), range(h, n))
        ],
    }


def region_concepts(me, opp, n: int) -> dict[str, np.ndarray]:
    me, opp = batch.as_bitboards(me).reshape(-1), batch.as_bitboards(opp).reshape(-1)
    if me.shape != opp.shape:
        raise ValueError(f"me and opp must have one shape, got {me.shape}, {opp.shape}")
    m = line_masks(n)
    occupied = me | opp

    def full(masks):
        return np.stack([(occupied & U64(x)) == U64(x) for x in masks], 1)

    def count(x, masks):
        return np.stack([batch.popcount(x & U64(k)) for k in masks], 1)

    mine_e, theirs_e = count(me, m["edges"]), count(opp, m["edges"])
    mine_q, theirs_q = count(me, m["quadrants"]), count(opp, m["quadrants"])
    empty_q = count(~occupied, m["quadrants"])
    return {
        "row_full": full(m["rows"]),
        "col_full": full(m["cols"]),
        "diag_full": full(m["diags"]),
        "edge_mine": (mine_e > 0) & (theirs_e == 0),
        "edge_theirs": (theirs_e > 0) & (mine_e == 0),
        "quadrant_odd": empty_q % 2 == 1,
        "quadrant_mine": mine_q > theirs_q,
        "quadrant_theirs": theirs_q > mine_q,
    }
