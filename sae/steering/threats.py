"""Threats after a move: the exact meaning of "protect" and "resolve" in the steering and
skill measurements.

A disc of the side to move is *threatened* when the opponent has a legal move that flips it
(`othello.concepts` threat_defensive). A move never flips its own side's discs, so after
move a the disc is still the mover's; a *protects* it when, in the position after a, no
legal move of the opponent flips it (the opponent's threat_offensive there is False; a
forced pass or a finished game protects everything). A move *resolves a threat* when it
protects at least one disc that was threatened before it, and *captures* a disc when it
flips it (threat_offensive squares taken). All arrays are over squares, [B, n*n], with
B positions given as uint64 boards from the side to move; actions [B] include the pass n*n.
"""

from __future__ import annotations

import numpy as np

from othello import batch
from othello.concepts import board_concepts


def threatened(me, opp, n: int) -> np.ndarray:
    """bool [B, n*n]: my discs that the opponent could flip with one move."""
    return board_concepts(me, opp, n)["threat_defensive"]


def protected(me, opp, actions, n: int) -> np.ndarray:
    """bool [B, n*n]: discs threatened before `actions` that are no longer flippable after."""
    after_me, after_opp = batch.play(me, opp, np.asarray(actions, np.int64), n)
    # After the move the opponent is to move: its threat_offensive squares are my discs
    # that it can flip.
    return threatened(me, opp, n) & ~board_concepts(after_me, after_opp, n)["threat_offensive"]


def resolving_moves(me, opp, n: int, squares: np.ndarray | None = None) -> np.ndarray:
    """bool [B, n*n+1]: legal actions that protect at least one threatened disc (only discs
    on `squares`, bool [n*n] or [B, n*n], when given)."""
    me, opp = batch.as_bitboards(me), batch.as_bitboards(opp)
    legal = batch.legal_action_mask(me, opp, n)
    out = np.zeros_like(legal)
    mask = np.ones(n * n, bool) if squares is None else np.asarray(squares, bool)
    for action in np.flatnonzero(legal.any(0)):
        rows = np.flatnonzero(legal[:, action])
        saved = protected(me[rows], opp[rows], np.full(len(rows), action), n)
        sub = mask if mask.ndim == 1 else mask[rows]
        out[rows, action] = (saved & sub).any(1)
    return out


def capturing_moves(me, opp, n: int, squares: np.ndarray) -> np.ndarray:
    """bool [B, n*n+1]: legal actions that flip an opponent disc on `squares` ([n*n] or
    [B, n*n])."""
    me, opp = batch.as_bitboards(me), batch.as_bitboards(opp)
    legal = batch.legal_action_mask(me, opp, n)
    out = np.zeros_like(legal)
    mask = np.asarray(squares, bool)
    for action in np.flatnonzero(legal[:, : n * n].any(0)):
        rows = np.flatnonzero(legal[:, action])
        bit = np.full(len(rows), np.uint64(1) << np.uint64(action))
        flipped = batch.unpack(batch.flips(me[rows], opp[rows], bit, n), n)
        sub = mask if mask.ndim == 1 else mask[rows]
        out[rows, action] = (flipped & sub).any(1)
    return out
