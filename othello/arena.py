"""Matches between two players: many games in lockstep, seeded random openings, colour swaps.

Each ply of the match, every game where p1 is to move goes to p1 in one `choose` call (and
likewise for p2), so a network player evaluates one batch per step rather than one per game.
Opening k (K random legal plies from the start) is played by games 2k and 2k+1 with colours
swapped: p1 is black in even games, white in odd ones. Openings are distinct where possible,
so a match of deterministic players is not N copies of one game, and colour bias cancels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from othello import elo
from othello.game import Position, square_name
from othello.player import Player

OPENING, P1, P2 = "opening", "p1", "p2"
DEFAULT_OPENING_PLIES = 6  # 7,604 move sequences on 6x6: plenty of distinct openings
_OPENING_ATTEMPTS = 20  # tries for an opening position not used yet before accepting a repeat


class IllegalActionError(ValueError):
    """A player returned something other than one legal action per position."""


@dataclass
class GameRecord:
    """One game: positions[i] is the position before actions[i], and positions[-1] the final
    one; movers[i] says who chose actions[i] ("opening", "p1" or "p2")."""

    game_id: int
    p1_black: bool
    positions: list[Position]
    actions: list[int]
    movers: list[str]
    disc_diff: int  # at the end: p1's discs minus p2's

    @property
    def result(self) -> int:
        """+1 p1 won, 0 draw, -1 p1 lost."""
        return (self.disc_diff > 0) - (self.disc_diff < 0)


@dataclass
class MatchResult:
    """Outcome from p1's point of view. The Elo difference and its 95% interval come from the
    score rate (wins + draws/2 per game): see `othello.elo` for the formula, the Wilson
    interval and how 0% / 100% are handled (`elo` is then a finite stand-in; the open end of
    the interval is infinite, written as null in `to_dict`)."""

    p1: str
    p2: str
    n: int
    opening_plies: int
    seed: int
    wins: int = 0
    draws: int = 0
    losses: int = 0
    disc_diff_total: int = 0
    score_as_black: list[float] = field(default_factory=list, repr=False)
    score_as_white: list[float] = field(default_factory=list, repr=False)
    records: list[GameRecord] = field(default_factory=list, repr=False)

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score_rate(self) -> float:
        return (self.wins + 0.5 * self.draws) / self.games

    @property
    def mean_disc_diff(self) -> float:
        return self.disc_diff_total / self.games

    @property
    def elo(self) -> float:
        return elo.elo_clamped(self.score_rate, self.games)

    @property
    def elo_interval(self) -> tuple[float, float]:
        return elo.elo_interval(self.score_rate, self.games)

    def add(self, p1_black: bool, disc_diff: int) -> None:
        score = 1.0 if disc_diff > 0 else 0.5 if disc_diff == 0 else 0.0
        self.wins += disc_diff > 0
        self.draws += disc_diff == 0
        self.losses += disc_diff < 0
        self.disc_diff_total += disc_diff
        (self.score_as_black if p1_black else self.score_as_white).append(score)

    def to_dict(self) -> dict:
        def finite(x: float) -> float | None:
            return round(x, 1) if math.isfinite(x) else None

        low, high = self.elo_interval
        return {
            "p1": self.p1,
            "p2": self.p2,
            "board_size": self.n,
            "games": self.games,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "score_rate": round(self.score_rate, 4),
            "mean_disc_diff": round(self.mean_disc_diff, 3),
            "elo": finite(self.elo),
            "elo_low": finite(low),
            "elo_high": finite(high),
            "p1_score_as_black": _mean(self.score_as_black),
            "p1_score_as_white": _mean(self.score_as_white),
            "opening_plies": self.opening_plies,
            "seed": self.seed,
        }

    def summary(self) -> str:
        low, high = self.elo_interval
        return (
            f"{self.p1} vs {self.p2}: {self.games} games on {self.n}x{self.n}\n"
            f"  p1 wins {self.wins}, draws {self.draws}, losses {self.losses} "
            f"(score {self.score_rate:.1%}; as black {_mean(self.score_as_black)}, "
            f"as white {_mean(self.score_as_white)})\n"
            f"  mean disc difference {self.mean_disc_diff:+.2f}\n"
            f"  Elo difference {self.elo:+.0f} (95% interval {low:+.0f} .. {high:+.0f})"
        )


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def random_openings(count: int, plies: int, n: int, rng: np.random.Generator) -> list[list[int]]:
    """`count` sequences of `plies` random legal actions from the start, none ending the game,
    distinct positions where the rng finds them within a few tries."""
    seen: set[Position] = set()
    openings = []
    for _ in range(count):
        for _attempt in range(_OPENING_ATTEMPTS):
            p, actions = Position.start(n), []
            while len(actions) < plies and not p.is_terminal():
                legal = p.legal_actions()
                actions.append(legal[rng.integers(len(legal))])
                p = p.play(actions[-1])
            if not p.is_terminal() and p not in seen:
                break
        if p.is_terminal():
            raise ValueError(f"{plies} random opening plies keep ending the game on {n}x{n}")
        seen.add(p)
        openings.append(actions)
    return openings


def _check_actions(player: Player, positions: Sequence[Position], actions, ids) -> list[int]:
    if len(actions) != len(positions):
        raise IllegalActionError(
            f"{player.name} returned {len(actions)} actions for {len(positions)} positions"
        )
    checked = []
    for p, a, g in zip(positions, actions, ids, strict=True):
        legal = p.legal_actions()
        if not isinstance(a, (int, np.integer)) or int(a) not in legal:
            names = ", ".join(square_name(x, p.n) for x in legal)
            raise IllegalActionError(
                f"{player.name} played {a!r} in game {g}, which is not legal in "
                f"{p.to_text()} (legal: {names})"
            )
        checked.append(int(a))
    return checked


def play_match(
    p1: Player,
    p2: Player,
    games: int,
    n: int = 6,
    opening_plies: int = DEFAULT_OPENING_PLIES,
    seed: int = 0,
    progress: bool = True,
    record: bool = False,
) -> MatchResult:
    """Play `games` games between p1 and p2 in lockstep (see the module docstring). With
    `record`, the result keeps a GameRecord per game in `records`, ordered by game id."""
    if games < 1:
        raise ValueError(f"games must be at least 1, got {games}")
    if opening_plies < 0:
        raise ValueError(f"opening_plies must be >= 0, got {opening_plies}")
    opening_seed, p1_seed, p2_seed = np.random.SeedSequence(seed).generate_state(3)
    openings = random_openings(
        (games + 1) // 2, opening_plies, n, np.random.default_rng(opening_seed)
    )
    p1.new_match(int(p1_seed))
    p2.new_match(int(p2_seed))

    p1_black = [g % 2 == 0 for g in range(games)]
    positions, histories = [], []
    for g in range(games):
        p, history = Position.start(n), []
        for a in openings[g // 2]:
            history.append((p, a, OPENING))
            p = p.play(a)
        positions.append(p)
        histories.append(history)

    result = MatchResult(p1.name, p2.name, n, opening_plies, seed)
    records: list[GameRecord | None] = [None] * games
    over = [False] * games
    active = list(range(games))
    bar = tqdm(total=games, desc=f"{p1.name} vs {p2.name}", disable=not progress, unit="game")
    while active:
        for player, mover, is_p1 in ((p1, P1, True), (p2, P2, False)):
            ids = [g for g in active if (positions[g].black_to_move == p1_black[g]) == is_p1]
            if not ids:
                continue
            batch = [positions[g] for g in ids]
            actions = _check_actions(player, batch, player.choose(batch, ids), ids)
            for g, p, a in zip(ids, batch, actions, strict=True):
                if record:
                    histories[g].append((p, a, mover))
                positions[g] = p.play(a)
            for g in ids:
                p = positions[g]
                if not p.is_terminal():
                    continue
                black_diff = p.disc_diff() if p.black_to_move else -p.disc_diff()
                diff = black_diff if p1_black[g] else -black_diff
                result.add(p1_black[g], diff)
                over[g] = True
                p1.game_over(g)
                p2.game_over(g)
                bar.update(1)
                if record:
                    h = histories[g]
                    records[g] = GameRecord(
                        g,
                        p1_black[g],
                        [x[0] for x in h] + [p],
                        [x[1] for x in h],
                        [x[2] for x in h],
                        diff,
                    )
            active = [g for g in active if not over[g]]
    bar.close()
    if record:
        result.records = [r for r in records if r is not None]
    return result
