"""Binary concept labels with stable names, cached beside an activation store.

Every concept is one boolean column. Names (squares as `othello.game.square_name`):

    <family>@<square>     per-square families of `othello.concepts.SQUARE_CONCEPTS`
                          (mine@a1, legal_mine@c2, threat_defensive@c3, stable_theirs@f6, ..)
    <scalar>>=<v>         thresholded counts (mobility_mine>=5, empties>=16, corners_mine>=1):
                          the thresholds are THRESHOLDS below
    parity_odd            an odd number of empty squares
    solved_outcome=win|draw|loss, optimal_move@<sq>, keeps_outcome@<sq>, best_reply@<sq>
                          exact solver families (`othello.concepts.solver_concepts`), valid
                          only on rows with `Labels.solved` (<= max_empties empties); False
                          elsewhere. best_reply answers the agent's move = the argmax of the
                          policy the store recorded.

flips_if_played has no column: "flips >= 1" is legal_mine. `family_of(name)` is the part
before '@', '>=' or '='.

Cache: STORE/labels/board.npz and STORE/labels/solver.npz, each holding the sorted row
indices labelled so far and their bit-packed label matrix (plus `solved` for the solver),
with the names, the store's hash and the settings that produced them; a file that does not
match (another store, names or max_empties) is ignored and rebuilt. `load_labels` labels
only the rows the cache lacks, then merges them in under a file lock and rewrites the file
atomically (`common.io`), so concurrent readers extend one cache and never see half a file.
The solver cache is committed every SOLVER_CHUNK rows, so an interrupted long solve keeps
what it did.
"""

from __future__ import annotations

import difflib
import fcntl
import io
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.cli import InputError
from common.io import atomic_write_bytes
from othello.concepts import SQUARE_CONCEPTS, board_concepts, solver_concepts
from othello.game import square_name

VERSION = 1
THRESHOLDS = {
    "mobility_mine": (1, 3, 5, 7, 9),  # >= 1: not forced to pass
    "mobility_theirs": (1, 3, 5, 7, 9),
    "empties": (4, 8, 12, 16, 20, 24, 28),  # game phase
    "corners_mine": (1, 2),
    "corners_theirs": (1, 2),
    "x_squares_mine": (1, 2),
    "x_squares_theirs": (1, 2),
    "c_squares_mine": (1, 2, 4),
    "c_squares_theirs": (1, 2, 4),
}
OUTCOMES = {"win": 1, "draw": 0, "loss": -1}
SOLVER_SQUARE_FAMILIES = ("optimal_move", "keeps_outcome", "best_reply")
SOLVER_FAMILIES = ("solved_outcome", *SOLVER_SQUARE_FAMILIES)
MAX_EMPTIES = 14
BOARD_CHUNK = 65536
SOLVER_CHUNK = 4096


class UnknownConcept(InputError):
    """A concept or family name that the labels do not hold."""


def family_of(name: str) -> str:
    for sep in ("@", ">=", "="):
        if sep in name:
            return name.split(sep, 1)[0]
    return name


@cache
def board_names(n: int) -> tuple[str, ...]:
    squares = [square_name(s, n) for s in range(n * n)]
    names = [f"{family}@{sq}" for family in SQUARE_CONCEPTS for sq in squares]
    names += [f"{scalar}>={v}" for scalar, values in THRESHOLDS.items() for v in values]
    return (*names, "parity_odd")


@cache
def solver_names(n: int) -> tuple[str, ...]:
    squares = [square_name(s, n) for s in range(n * n)]
    names = [f"solved_outcome={o}" for o in OUTCOMES]
    return (*names, *(f"{f}@{sq}" for f in SOLVER_SQUARE_FAMILIES for sq in squares))


def board_matrix(me, opp, n: int) -> np.ndarray:
    """bool [B, len(board_names(n))]."""
    c = board_concepts(me, opp, n)
    cols = [c[family] for family in SQUARE_CONCEPTS]
    cols += [np.stack([c[s] >= v for v in values], 1) for s, values in THRESHOLDS.items()]
    cols.append(c["parity_odd"][:, None])
    return np.concatenate(cols, 1)


def solver_matrix(me, opp, n: int, agent_moves=None, max_empties: int = MAX_EMPTIES):
    """(bool [B, len(solver_names(n))], solved bool [B])."""
    c = solver_concepts(me, opp, n, agent_moves, max_empties)
    outcome = c["solved_outcome"]
    cols = [np.stack([c["solved"] & (outcome == v) for v in OUTCOMES.values()], 1)]
    cols += [c[family] for family in SOLVER_SQUARE_FAMILIES]
    return np.concatenate(cols, 1), c["solved"]


@dataclass
class Labels:
    names: list[str]
    matrix: np.ndarray  # bool [len(rows), len(names)]
    rows: np.ndarray  # int64: store rows (or position indices)
    solved: np.ndarray  # bool [len(rows)]: rows whose solver labels are valid

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(family_of(n) for n in self.names))

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownConcept(_unknown(name, self.names + self.families)) from None

    def column(self, name: str) -> np.ndarray:
        return self.matrix[:, self.index(name)]

    def is_solver(self, name: str) -> bool:
        return family_of(name) in SOLVER_FAMILIES

    def valid(self, name: str) -> np.ndarray:
        """Rows on which the concept's label is defined."""
        return self.solved if self.is_solver(name) else np.ones(len(self.rows), bool)

    def select(self, which: str | Iterable[str]) -> Labels:
        """The columns of families and / or concept names, in the order asked."""
        wanted = [which] if isinstance(which, str) else list(which)
        families = [family_of(n) for n in self.names]
        cols: list[int] = []
        for w in wanted:
            hits = [i for i, f in enumerate(families) if f == w] or [self.index(w)]
            cols += [i for i in hits if i not in cols]
        return Labels([self.names[i] for i in cols], self.matrix[:, cols], self.rows, self.solved)

    def take(self, index) -> Labels:
        """A subset of the rows (positions into this Labels, not store rows)."""
        return Labels(self.names, self.matrix[index], self.rows[index], self.solved[index])


def _unknown(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown concept or family {name!r}{hint}"


def labels_for_positions(me, opp, n: int, agent_moves=None, solver: bool = False) -> Labels:
    """Labels of positions that are not in a store (no cache)."""
    me, opp = np.asarray(me, np.uint64).reshape(-1), np.asarray(opp, np.uint64).reshape(-1)
    names, matrix = list(board_names(n)), board_matrix(me, opp, n)
    solved = np.zeros(len(me), bool)
    if solver:
        extra, solved = solver_matrix(me, opp, n, agent_moves)
        names, matrix = names + list(solver_names(n)), np.concatenate([matrix, extra], 1)
    return Labels(names, matrix, np.arange(len(me), dtype=np.int64), solved)


# -- the cache beside a store -----------------------------------------------------------
@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Cache:
    """One cache file: sorted rows, packed bits, optional `solved`, checked by its key."""

    def __init__(self, path: Path, names: tuple[str, ...], key: dict):
        self.path, self.names, self.key = path, names, {"version": VERSION, **key}
        self.rows = np.zeros(0, np.int64)
        self.bits = np.zeros((0, (len(names) + 7) // 8), np.uint8)
        self.solved = np.zeros(0, bool)
        self._read()

    def _read(self) -> None:
        if not self.path.exists():
            return
        with np.load(self.path, allow_pickle=False) as f:
            key = {k: f[f"key_{k}"].item() for k in self.key if f"key_{k}" in f}
            if key != self.key or tuple(f["names"].tolist()) != self.names:
                return  # made by other settings or an older version: rebuilt on write
            self.rows, self.bits, self.solved = f["rows"], f["bits"], f["solved"]

    def missing(self, rows: np.ndarray) -> np.ndarray:
        return np.setdiff1d(rows, self.rows)

    def add(self, rows: np.ndarray, matrix: np.ndarray, solved: np.ndarray) -> None:
        """Merge new rows with what is on disk now (another process may have added some),
        then commit the file."""
        with _locked(self.path.parent):
            self._read()
            keep = ~np.isin(rows, self.rows)
            all_rows = np.concatenate([self.rows, rows[keep]])
            order = np.argsort(all_rows, kind="stable")
            self.rows = all_rows[order]
            self.bits = np.concatenate([self.bits, np.packbits(matrix[keep], 1)])[order]
            self.solved = np.concatenate([self.solved, solved[keep]])[order]
            buf = io.BytesIO()
            np.savez(
                buf,
                rows=self.rows,
                bits=self.bits,
                solved=self.solved,
                names=np.array(self.names),
                **{f"key_{k}": np.array(v) for k, v in self.key.items()},
            )
            atomic_write_bytes(self.path, buf.getvalue())

    def get(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.searchsorted(self.rows, rows)
        bits = np.unpackbits(self.bits[at], 1, count=len(self.names)).astype(bool)
        return bits, self.solved[at]


def _fill(cache: _Cache, store, wanted, chunk_rows: int, label, desc: str, progress: bool):
    """Label the rows of `wanted` that `cache` lacks, a chunk at a time, committing each:
    label(me, opp, rows) -> (matrix, solved)."""
    todo = cache.missing(wanted)
    bar = tqdm(total=len(todo), desc=desc, unit="pos", disable=not progress or not len(todo))
    for start in range(0, len(todo), chunk_rows):
        chunk = todo[start : start + chunk_rows]
        cache.add(chunk, *label(store.read("me", chunk), store.read("opp", chunk), chunk))
        bar.update(len(chunk))
    bar.close()


def load_labels(
    store, rows, solver: bool = False, progress: bool = True, max_empties: int = MAX_EMPTIES
) -> Labels:
    """Labels of store rows (any order, repeats allowed); labels the rows the cache lacks."""
    rows = np.asarray(rows, np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= store.count):
        raise IndexError(f"rows must be in 0..{store.count - 1} for {store.root}")
    n, folder = store.board_size, store.root / "labels"
    wanted = np.unique(rows)
    board = _Cache(folder / "board.npz", board_names(n), {"store": store.hash})

    def board_label(me, opp, chunk):
        return board_matrix(me, opp, n), np.zeros(len(chunk), bool)

    _fill(board, store, wanted, BOARD_CHUNK, board_label, "board labels", progress)
    names, (matrix, _) = list(board.names), board.get(rows)
    solved = np.zeros(len(rows), bool)
    if solver:
        key = {"store": store.hash, "max_empties": max_empties}
        cached = _Cache(folder / "solver.npz", solver_names(n), key)

        def solver_label(me, opp, chunk):
            moves = np.argmax(store.read("policy", chunk), axis=1)  # the agent's raw move
            return solver_matrix(me, opp, n, moves, max_empties)

        _fill(cached, store, wanted, SOLVER_CHUNK, solver_label, "solver labels", progress)
        extra, solved = cached.get(rows)
        names, matrix = names + list(cached.names), np.concatenate([matrix, extra], 1)
    return Labels(names, matrix, rows, solved)
