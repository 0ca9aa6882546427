"""The one interface every player implements: baselines, the solver and the AlphaZero agent.

Players choose for many games at once, so a network-backed player can batch its work across
games (an arena of 200 games evaluates one network call per search step, not 200).
"""

from __future__ import annotations

from collections.abc import Sequence

from othello.game import Position


class Player:
    name = "player"

    def new_match(self, seed: int | None = None) -> None:
        """Forget all per-game state (search trees) and reseed before a series of games."""

    def choose(self, positions: Sequence[Position], game_ids: Sequence[int]) -> list[int]:
        """One legal action per position (pass = n*n when forced). `game_ids` name the games
        across calls within a match, so a player may keep per-game state; ids are unique
        within a match. Positions are never terminal."""
        raise NotImplementedError

    def game_over(self, game_id: int) -> None:
        """Called when a game ends; free its per-game state."""

    def choose_one(self, position: Position) -> int:
        return self.choose([position], [0])[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
