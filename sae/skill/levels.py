"""The skill axis and what each level plays: exact scores, externalisation, transition points.

A level is a checkpoint (pretrained/levels/* and the final agent) searched with a budget of
MCTS simulations (0 = the raw policy's argmax). Every level plays the same solved positions
(<= 14 empties, more than one legal move; `alphazero.evaluate.SolvedPosition` holds every
legal move's exact final disc difference). Per level:

    outcome_accuracy, discs_lost, exact_accuracy   `alphazero.evaluate.move_accuracy`
    externalisation  on the threat positions (some solver-optimal move resolves a threat,
                     `sae.steering.threats`, and not every legal move is such a move), the share
                     where the level plays an optimal resolving move (Wilson 95% interval)

The skill order sorts the levels by their exact-best move rate on these positions (ties:
fewer discs lost, then budget, then checkpoint). The transition point of a position is the
lowest rank in that order from which every higher level plays an optimal move (exact best
value): rank 0 when every level does, "never" when the top level does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alphazero.agent import AlphaZeroPlayer
from alphazero.evaluate import SolvedPosition, move_accuracy
from othello.elo import wilson_interval
from othello.game import Position
from sae.steering.threats import resolving_moves

NEVER = -1
CHUNK = 250  # positions searched at once (bounds the tree arrays at 256 simulations)


@dataclass(frozen=True)
class Level:
    checkpoint: str
    sims: int

    @property
    def name(self) -> str:
        return f"{Path(self.checkpoint).name}/{self.sims}"


def checkpoints(levels_dir="pretrained/levels", final="pretrained/agent") -> list[str]:
    """The earlier checkpoints (sorted by name = iteration) and the final agent, as stems."""
    found = sorted(str(p.with_suffix("")) for p in Path(levels_dir).glob("*.json"))
    return found + ([final] if Path(f"{final}.json").exists() else [])


def optimal_actions(solved: list[SolvedPosition], n: int) -> np.ndarray:
    """bool [P, n*n+1]: the exact-best actions."""
    out = np.zeros((len(solved), n * n + 1), bool)
    for i, s in enumerate(solved):
        for a, v in s.values.items():
            out[i, a] = v == s.best
    return out


def threat_targets(solved: list[SolvedPosition], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(threat position bool [P], optimal resolving actions bool [P, n*n+1])."""
    me = np.array([s.position.me for s in solved], np.uint64)
    opp = np.array([s.position.opp for s in solved], np.uint64)
    targets = resolving_moves(me, opp, n) & optimal_actions(solved, n)
    legal = np.zeros_like(targets)
    for i, s in enumerate(solved):
        legal[i, list(s.values)] = True
    return targets.any(1) & (legal & ~targets).any(1), targets


def play_level(net, positions: list[Position], sims: int, evaluator=None) -> np.ndarray:
    """Actions [P] of the net at `sims` simulations (float32; a given evaluator, e.g. a
    steered one, replaces the plain copy)."""
    out = []
    for s in range(0, len(positions), CHUNK):
        part = positions[s : s + CHUNK]
        player = AlphaZeroPlayer(net, sims, dtype="float32", evaluator=evaluator, seed=0)
        out += player.choose(part, list(range(len(part))))
    return np.array(out, np.int64)


def score_level(solved, actions, threat, targets) -> dict:
    """Exact scores of one level's actions (module docstring)."""
    scores = move_accuracy(solved, actions.tolist())
    hit = targets[np.arange(len(actions)), actions][threat]
    k = int(threat.sum())
    rate = float(hit.mean()) if k else float("nan")
    scores["externalisation"] = rate
    scores["externalisation_95"] = list(wilson_interval(rate, k)) if k else [None, None]
    scores["threat_positions"] = k
    return scores


def skill_order(levels: list[Level], scores: dict[str, dict]) -> list[Level]:
    """Levels from weakest to strongest by exact-best move rate (ties: fewer discs lost,
    then budget, then checkpoint order)."""
    rank = {lv.checkpoint: i for i, lv in enumerate(levels)}

    def key(lv: Level):
        s = scores[lv.name]
        return s["exact_accuracy"], -s["discs_lost"], lv.sims, rank[lv.checkpoint]

    return sorted(levels, key=key)


def transition_points(correct: np.ndarray) -> np.ndarray:
    """correct bool [L, P] in skill order -> per position the lowest rank from which every
    level is correct (NEVER when the top level is wrong)."""
    wrong_at = np.where(~correct, np.arange(len(correct))[:, None], -1)
    last_wrong = wrong_at.max(0)
    out = last_wrong + 1
    return np.where(out == len(correct), NEVER, out)


def distribution(points: np.ndarray, order: list[Level]) -> dict[str, int]:
    """{level name or "never": positions whose transition point it is}."""
    out = {lv.name: int((points == r).sum()) for r, lv in enumerate(order)}
    out["never"] = int((points == NEVER).sum())
    return out
