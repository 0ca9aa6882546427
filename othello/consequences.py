"""What each legal move of the side to move would do: exact one-ply consequences, batched.

`move_consequences(me, opp, n)` takes B positions (uint64 arrays, the side to move's view)
and returns, per candidate move m (a square; False wherever m is not legal for me):

  flips         bool [B, n*n, n*n]  flips[b, m, d]: playing m flips the disc on square d.
  gives_corner  bool [B, n*n]       after m, the opponent may play on a corner (a corner is
                                    among its legal moves in the position after m).
  no_reply      bool [B, n*n]       after m, the opponent has no legal move (it must pass, or
                                    the game is over).

"Gives a corner" is about the position after the move, whatever the opponent could do
before it. Everything comes from the batched engine's rules (`othello.batch`), with no
Python loop over positions.
"""

from __future__ import annotations

import numpy as np

from othello import batch
from othello import bitboard as bb
from othello.kernels import geometry

U64 = np.uint64


def move_consequences(me, opp, n: int) -> dict[str, np.ndarray]:
    me, opp = batch.as_bitboards(me).reshape(-1), batch.as_bitboards(opp).reshape(-1)
    if me.shape != opp.shape:
        raise ValueError(f"me and opp must have one shape, got {me.shape}, {opp.shape}")
    bb.check_size(n)
    squares, zero = n * n, U64(0)
    corners = U64(geometry(n)[3])
    legal = batch.legal_moves(me, opp, n)
    flips = np.zeros((len(me), squares, squares), bool)
    gives_corner = np.zeros((len(me), squares), bool)
    no_reply = np.zeros((len(me), squares), bool)
    for m in range(squares):
        bit = U64(1 << m)
        ok = (legal & bit) != zero
        if not ok.any():
            continue
        # `batch.flips` also finds runs from occupied squares: keep legal moves only
        flipped = np.where(ok, batch.flips(me, opp, bit, n), zero)
        flips[:, m] = batch.unpack(flipped, n)
        # the position after m, from the opponent's side: its discs, then mine after the move
        their_turn_me = opp & ~flipped
        their_turn_opp = me | flipped | bit
        replies = batch.legal_moves(their_turn_me, their_turn_opp, n)
        gives_corner[:, m] = ok & ((replies & corners) != zero)
        no_reply[:, m] = ok & (replies == zero)
    return {"flips": flips, "gives_corner": gives_corner, "no_reply": no_reply}
