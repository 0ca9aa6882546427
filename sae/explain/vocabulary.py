"""The predicates an explanation may use: exact, named, one boolean column each.

Families (definitions in docs/explanations.md; every one is exact, computed from the
position or from the agent's recorded output):

  board       `sae.concepts.labels`: mine / theirs / empty / legal / threats / stable /
              frontier per square, thresholded counts, parity (the concepts report's 428)
  consequences `othello.consequences`, per legal move m of the side to move:
              flips@<m>><d> (playing m flips d), gives_corner@<m>, no_reply@<m>
  lines       `othello.regions`: row_full@<r>, col_full@<c>, diag_full@<diagonal>,
              edge_mine@<edge>, edge_theirs@<edge>, quadrant_odd@<q> (odd empties: a parity
              region), quadrant_mine@<q>, quadrant_theirs@<q> (more discs in it)
  agent       the agent's own output on the position, as the store recorded it:
              agent_move@<sq> (its raw policy's top move), agent_policy@<sq>>=<p> (policy
              mass), agent_value>=<v> (value head, the side to move's view)
  solver      `sae.concepts.labels`' exact solver families (solved_outcome=, optimal_move@,
              keeps_outcome@, best_reply@), defined only on the solved endgame rows: the
              explainer uses them only in its endgame scope

flips@ pairs that never occur in the sample are left out (no program could use them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from othello.consequences import move_consequences
from othello.game import square_name
from othello.regions import DIAGONALS, EDGES, QUADRANTS, region_concepts
from sae.concepts.labels import Labels, family_of

POLICY_MASS = (0.1, 0.5)
VALUE_BINS = (-0.5, 0.0, 0.5)
GROUPS = {
    "board": None,  # every family of the board labels
    "consequences": ("flips", "gives_corner", "no_reply"),
    "lines": (
        "row_full",
        "col_full",
        "diag_full",
        "edge_mine",
        "edge_theirs",
        "quadrant_odd",
        "quadrant_mine",
        "quadrant_theirs",
    ),
    "agent": ("agent_move", "agent_policy", "agent_value"),
    "solver": ("solved_outcome", "optimal_move", "keeps_outcome", "best_reply"),
}


@dataclass
class Vocabulary:
    names: list[str]
    matrix: np.ndarray  # bool [R, C]
    solver: np.ndarray  # bool [C]: defined on solved rows only
    solved: np.ndarray  # bool [R]

    def group_of(self, name: str) -> str:
        family = family_of(name)
        for group, families in GROUPS.items():
            if families and family in families:
                return group
        return "board"

    def families(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name in self.names:
            out[family_of(name)] = out.get(family_of(name), 0) + 1
        return out


def game_predicates(me, opp, n: int) -> tuple[list[str], np.ndarray]:
    """The consequences and lines groups: (names, bool [R, C])."""
    sq = [square_name(s, n) for s in range(n * n)]
    cons = move_consequences(me, opp, n)
    flips = cons["flips"].reshape(len(me), -1)
    pairs = np.flatnonzero(flips.any(0))
    names = [f"flips@{sq[p // (n * n)]}>{sq[p % (n * n)]}" for p in pairs]
    cols = [flips[:, pairs]]
    for family in ("gives_corner", "no_reply"):
        names += [f"{family}@{s}" for s in sq]
        cols.append(cons[family])
    lines = region_concepts(me, opp, n)
    labels = {
        "row_full": [str(r + 1) for r in range(n)],
        "col_full": [chr(ord("a") + c) for c in range(n)],
        "diag_full": list(DIAGONALS),
        "edge_mine": list(EDGES),
        "edge_theirs": list(EDGES),
        "quadrant_odd": list(QUADRANTS),
        "quadrant_mine": list(QUADRANTS),
        "quadrant_theirs": list(QUADRANTS),
    }
    for family, parts in labels.items():
        names += [f"{family}@{p}" for p in parts]
        cols.append(lines[family])
    return names, np.concatenate(cols, 1)


def agent_predicates(policy: np.ndarray, value: np.ndarray, n: int) -> tuple[list[str], np.ndarray]:
    """The agent group from the recorded policy [R, n*n + 1] and value [R]."""
    sq = [square_name(s, n) for s in range(n * n)] + ["pass"]
    policy = np.asarray(policy, np.float32)
    top = np.argmax(policy, 1)
    names = [f"agent_move@{s}" for s in sq]
    cols = [top[:, None] == np.arange(len(sq))[None, :]]
    for p in POLICY_MASS:
        names += [f"agent_policy@{s}>={p}" for s in sq[:-1]]
        cols.append(policy[:, :-1] >= p)
    names += [f"agent_value>={v}" for v in VALUE_BINS]
    cols.append(np.asarray(value, np.float32)[:, None] >= np.array(VALUE_BINS)[None, :])
    return names, np.concatenate(cols, 1)


def build(labels: Labels, me, opp, policy, value, n: int) -> Vocabulary:
    """Every predicate on the rows of `labels` (board + solver labels of those positions)."""
    game_names, game = game_predicates(me, opp, n)
    agent_names, agent = agent_predicates(policy, value, n)
    names = labels.names + game_names + agent_names
    matrix = np.concatenate([labels.matrix, game, agent], 1)
    solver = np.array(
        [labels.is_solver(x) for x in labels.names] + [False] * (len(names) - len(labels.names))
    )
    return Vocabulary(names, matrix, solver, labels.solved.copy())
