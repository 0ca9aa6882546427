"""What the concepts report reads, checked: the dictionary against the store and the agent,
and the positions and labels it analyses.

`check_inputs` and `load_net` raise `ReportError` with one line naming what does not fit (a
site the store lacks, a store of another agent or board size, no held-out games, an agent
file that is not the store's). `sample_positions` draws a seeded sample of held-out rows
and splits it in halves by game; `position_labels` labels them (`sae.concepts.labels`): board
families on every row, the solver families on a seeded sample of the endgame rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alphazero.model import load_agent
from common.cli import InputError
from common.io import bundle_paths
from othello import batch
from othello import bitboard as bb
from sae.activations.collect import file_hash
from sae.activations.store import ActivationStore
from sae.concepts.analysis import TOP_CONCEPTS, TOP_LATENTS
from sae.concepts.baselines import RandomNetConfig
from sae.concepts.labels import MAX_EMPTIES, Labels, load_labels


class ReportError(InputError):
    """The inputs do not fit together (one line says what)."""


@dataclass
class ConceptsConfig:
    positions: int = 20000  # held-out positions analysed (50k: the bench, ~2 min)
    solver_positions: int = 2000  # of them, solved exactly (cached after the first run)
    max_empties: int = MAX_EMPTIES
    concepts: list[str] | None = None  # restrict to these families / names
    top_latents: int = TOP_LATENTS
    top_concepts: int = TOP_CONCEPTS
    baselines: bool = True
    random_net: RandomNetConfig = field(default_factory=RandomNetConfig)
    seed: int = 0
    progress: bool = True


# -- inputs ---------------------------------------------------------------------------------
def check_inputs(config: dict, store: ActivationStore, in_site: str, d_in: int) -> None:
    """One-line errors for a store that does not fit the dictionary."""
    if in_site not in store.sites:
        raise ReportError(
            f"{store.root} has no activations at {in_site}, the dictionary's input site; "
            f"it holds {', '.join(store.sites)}"
        )
    if store.sites[in_site] != d_in:
        raise ReportError(
            f"{store.root}: {in_site} has {store.sites[in_site]} dims, the dictionary reads {d_in}"
        )
    data = config.get("data") or {}
    trained = (data.get("checkpoint") or {}).get("sha256")
    here = (store.manifest.get("checkpoint") or {}).get("sha256")
    if trained and here and trained != here:
        raise ReportError(
            f"the dictionary was trained on activations of agent {data['checkpoint'].get('path')} "
            f"(sha256 {trained}), but {store.root} holds agent "
            f"{store.manifest['checkpoint'].get('path')} (sha256 {here})"
        )
    origin = Path(data.get("store") or "") / "manifest.json"
    if data.get("store") and origin.exists():
        size = json.loads(origin.read_text()).get("board_size")
        if size is not None and size != store.board_size:
            raise ReportError(
                f"the dictionary was trained on a {size}x{size} store ({data['store']}), "
                f"{store.root} is {store.board_size}x{store.board_size}"
            )
    if not store.manifest.get("split", {}).get("heldout_rows"):
        raise ReportError(f"{store.root} has no held-out positions (collected with --heldout 0)")


def load_net(store: ActivationStore, checkpoint: str | None):
    """The agent the store was collected with (its weights hash checked)."""
    recorded = store.manifest.get("checkpoint") or {}
    path = checkpoint or recorded.get("path")
    if not path:
        raise ReportError(f"{store.root} records no agent checkpoint: pass --checkpoint")
    weights, _ = bundle_paths(path)
    if not weights.exists():
        raise ReportError(f"agent checkpoint {weights} not found: pass --checkpoint")
    if recorded.get("sha256") and file_hash(weights) != recorded["sha256"]:
        raise ReportError(
            f"{weights} is not the agent {store.root} was collected with (sha256 differs)"
        )
    net, agent_config = load_agent(path)
    if net.cfg.board_size != store.board_size:
        raise ReportError(
            f"{path} plays {net.cfg.board_size}x{net.cfg.board_size}, {store.root} is "
            f"{store.board_size}x{store.board_size}"
        )
    return net, {"path": str(path), "sha256": file_hash(weights)}


def sample_positions(store: ActivationStore, cfg: ConceptsConfig) -> tuple[np.ndarray, np.ndarray]:
    """(sorted held-out rows, bool set B): a seeded sample, halves split by game."""
    held = store.rows("heldout")
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.permutation(held)[: cfg.positions])
    games = store.read("game", rows)
    ids = np.unique(games)
    set_b = np.isin(games, rng.permutation(ids)[: len(ids) // 2])
    return rows, set_b


def position_labels(store: ActivationStore, rows: np.ndarray, cfg: ConceptsConfig) -> Labels:
    """Board labels for every row; solver labels on a seeded sample of the endgame rows."""
    board = load_labels(store, rows, progress=cfg.progress)
    if cfg.solver_positions <= 0:
        return board
    me, opp = store.read("me", rows), store.read("opp", rows)
    empties = batch.popcount(~(me | opp) & np.uint64(bb.geometry(store.board_size).full))
    endgame = np.flatnonzero(empties <= cfg.max_empties)
    pick = np.sort(
        np.random.default_rng([cfg.seed, 1]).permutation(endgame)[: cfg.solver_positions]
    )
    solver = load_labels(
        store, rows[pick], solver=True, progress=cfg.progress, max_empties=cfg.max_empties
    )
    extra = solver.select([n for n in solver.names if solver.is_solver(n)])
    matrix = np.zeros((len(rows), len(extra.names)), bool)
    matrix[pick] = extra.matrix
    solved = np.zeros(len(rows), bool)
    solved[pick] = extra.solved
    return Labels(
        board.names + extra.names, np.concatenate([board.matrix, matrix], 1), rows, solved
    )
