"""Shared test fixtures: seeded random positions from random games."""

from __future__ import annotations

import random

import numpy as np

from othello.game import Position


def random_game(n: int, rng: random.Random, stop_at_empties: int = 0) -> list[Position]:
    """Every position of one uniformly random game (passes included) from the start, ending
    at the terminal position or at the first position with `stop_at_empties` empties."""
    p = Position.start(n)
    seen = [p]
    while not p.is_terminal() and p.empties() > stop_at_empties:
        p = p.play(rng.choice(p.legal_actions()))
        seen.append(p)
    return seen


def random_positions(n: int, count: int, seed: int) -> list[Position]:
    """`count` positions drawn at random plies of random games (terminal ones included)."""
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        game = random_game(n, rng)
        out.extend(rng.sample(game, min(3, len(game), count - len(out))))
    return out


def as_arrays(positions: list[Position]) -> tuple[np.ndarray, np.ndarray]:
    me = np.array([p.me for p in positions], dtype=np.uint64)
    opp = np.array([p.opp for p in positions], dtype=np.uint64)
    return me, opp
