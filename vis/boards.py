"""The positions a viewer export shows: one seeded sample of store rows, deduplicated.

Every dictionary of an export is read on the same sample (held-out games when the store has
them), so a position that several latents or dictionaries show is one entry of one shared
table. The store keeps every occurrence of a position (openings recur thousands of times):
statistics (density, histograms, co-firing) count rows, as played; examples are distinct
positions (`Sample.pos` maps a row to its position).

`BoardTable` numbers the positions that examples reference, in order of first reference, and
writes each as `[board, agent_move, solved_value]`:

    board         n*n characters, a1..f6 row by row, then a space and the side to move (X =
                  black, O = white): X / O discs, '-' empty, '+' a legal move of the side to
                  move, '*' a legal move the exact solver finds optimal
    agent_move    the agent's move: argmax of the raw policy the store recorded (n*n = pass)
    solved_value  final disc difference for the side to move under perfect play
                  (`othello.solver`), for positions with <= max_empties empty squares; else null
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from othello import batch
from othello.game import Position
from othello.solver import solver_for
from sae.activations.store import ActivationStore

MAX_EMPTIES = 14


@dataclass
class Sample:
    rows: np.ndarray  # [R] sorted store rows
    pos: np.ndarray  # [R] index of each row's distinct position
    me: np.ndarray  # [U] uint64 per distinct position (side to move's discs)
    opp: np.ndarray  # [U]
    black: np.ndarray  # [U] bool, black to move
    agent: np.ndarray  # [U] int, argmax of the stored raw policy
    n: int
    split: str

    def __len__(self) -> int:
        return len(self.rows)


def sample_positions(store: ActivationStore, count: int, seed: int = 0) -> Sample:
    """A seeded sample of up to `count` held-out rows (all rows if nothing is held out)."""
    split = "heldout" if (store.manifest.get("split") or {}).get("heldout_rows") else "all"
    pool = store.rows(split)
    rows = np.sort(np.random.default_rng(seed).permutation(pool)[:count])
    me, opp = store.read("me", rows), store.read("opp", rows)
    black = store.read("black_to_move", rows).astype(bool)
    key = np.stack([me, opp, black.astype(np.uint64)], 1)
    _, first, pos = np.unique(key, axis=0, return_index=True, return_inverse=True)
    policy = store.read("policy", rows[first]).astype(np.float32)
    legal = store.read("legal", rows[first])
    agent = np.where(legal, policy, -np.inf).argmax(1)
    return Sample(
        rows, pos.reshape(-1), me[first], opp[first], black[first], agent, store.board_size, split
    )


class BoardTable:
    """The distinct positions examples reference, numbered in order of first reference."""

    def __init__(self, sample: Sample):
        self.sample = sample
        self.ids: dict[int, int] = {}

    def ref(self, positions) -> list[int]:
        """Board ids of distinct-position indices (new ones get the next ids)."""
        return [self.ids.setdefault(int(p), len(self.ids)) for p in positions]

    def __len__(self) -> int:
        return len(self.ids)

    def entries(self, max_empties: int = MAX_EMPTIES, progress: bool = True) -> list[list]:
        s, n = self.sample, self.sample.n
        order = np.fromiter(self.ids, np.int64, len(self.ids))  # dicts keep insertion order
        me, opp, black = s.me[order], s.opp[order], s.black[order]
        moves = batch.legal_moves(me, opp, n)
        mine, theirs = batch.unpack(me, n), batch.unpack(opp, n)
        legal = batch.unpack(moves, n)
        mover, other = np.where(black, "X", "O")[:, None], np.where(black, "O", "X")[:, None]
        cells = np.where(mine, mover, np.where(theirs, other, np.where(legal, "+", "-")))
        empties = n * n - batch.popcount(me | opp)
        values: list[int | None] = [None] * len(order)
        solver = solver_for(n)
        endgames = np.flatnonzero(empties <= max_empties)
        for i in tqdm(endgames, desc="solve endgames", disable=not progress, leave=False):
            value, best = solver.best_moves(Position(int(me[i]), int(opp[i]), True, n))
            values[i] = int(value)
            cells[i, [a for a in best if a < n * n]] = "*"
        sides = np.where(black, " X", " O")
        return [
            ["".join(cells[i]) + sides[i], int(s.agent[order[i]]), values[i]]
            for i in range(len(order))
        ]
