"""Match statistics: score rate -> Elo difference, with a 95% interval.

Elo difference for a score rate s (wins + draws/2 per game): D = 400 * log10(s / (1 - s)),
the logistic Elo model's inverse.

Interval: the Wilson score interval for the expected score at 95% (z = 1.96), each end
mapped through the same formula. Wilson treats every game as a win/loss trial; draws only
reduce the variance, so with draws the interval is slightly conservative. Unlike the plain
normal interval it stays sensible at the edges: at 100% the lower end is finite (200 straight
wins: at least +687) and only the upper end is unbounded (+inf); symmetrically at 0%.
The point estimate at 0% / 100% is infinite too; `elo_clamped` gives a finite stand-in for
tables, the Elo of the score with half a game moved the other way.
"""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def elo_from_score(s: float) -> float:
    """Elo difference for score rate s in [0, 1]; -inf / +inf at the ends."""
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"a score rate is in [0, 1], got {s}")
    if s == 0.0:
        return -math.inf
    if s == 1.0:
        return math.inf
    return 400.0 * math.log10(s / (1.0 - s))


def score_from_elo(d: float) -> float:
    return 1.0 / (1.0 + 10.0 ** (-d / 400.0))


def wilson_interval(s: float, games: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion s observed over `games` trials."""
    if games <= 0:
        raise ValueError("no games played")
    z2n = z * z / games
    centre = (s + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(s * (1 - s) / games + z2n / (4 * games))
    # Exact ends where the algebra gives them, so rounding cannot make +inf finite.
    low = 0.0 if s == 0.0 else max(0.0, centre - half)
    high = 1.0 if s == 1.0 else min(1.0, centre + half)
    return low, high


def elo_interval(s: float, games: int) -> tuple[float, float]:
    """95% interval on the Elo difference (see the module docstring)."""
    low, high = wilson_interval(s, games)
    return elo_from_score(low), elo_from_score(high)


def elo_clamped(s: float, games: int) -> float:
    """Finite Elo for tables: a 0% or 100% score counts as half a game short of it."""
    half = 0.5 / games
    return elo_from_score(min(max(s, half), 1.0 - half))
