"""Concept labels: stable names, columns equal to the concept arrays they name, the cache
beside a store (only missing rows computed, extended, rebuilt when stale) and the solver
families on store rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sae.activations.collect as acts_mod
import sae.concepts.labels as labels_mod
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from othello.concepts import board_concepts, solver_concepts
from othello.game import parse_square
from sae.concepts.labels import (
    UnknownConcept,
    board_names,
    family_of,
    labels_for_positions,
    load_labels,
    solver_names,
)
from tests.engine_helpers import as_arrays, random_positions

SITE = "blocks.1.resid_post"


def make_store(path, positions=600, seed=0):
    """A small store of real games played by a tiny random agent (shared with the concepts
    report tests)."""
    torch.manual_seed(seed)
    agent = path / "agent"
    save_agent(AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval(), agent)
    return acts_mod.collect(
        f"{agent}.json",
        [SITE, "blocks.1.mlp_in"],
        positions,
        path / "store",
        dtype="float32",
        games_per_chunk=8,
        progress=False,
        heldout_fraction=0.3,
        seed=seed,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("labels"))


def test_names_are_stable_and_families_parse():
    names = board_names(6)
    assert len(names) == len(set(names))
    assert names[:2] == ("mine@a1", "mine@b1") and "threat_defensive@c3" in names
    assert {"mobility_mine>=5", "empties>=16", "corners_mine>=1", "parity_odd"} <= set(names)
    assert "solved_outcome=draw" in solver_names(6) and "best_reply@f6" in solver_names(6)
    assert family_of("legal_mine@a1") == "legal_mine"
    assert family_of("mobility_mine>=6") == "mobility_mine"
    assert family_of("solved_outcome=win") == "solved_outcome"
    assert family_of("parity_odd") == "parity_odd"


def test_columns_equal_the_concepts_they_name():
    positions = random_positions(6, 60, seed=1)
    me, opp = as_arrays(positions)
    labels = labels_for_positions(me, opp, 6)
    c = board_concepts(me, opp, 6)
    for family in ("mine", "legal_theirs", "threat_offensive", "stable_mine"):
        for sq in ("a1", "c3", "e2"):
            assert np.array_equal(
                labels.column(f"{family}@{sq}"), c[family][:, parse_square(sq, 6)]
            )
    assert np.array_equal(labels.column("mobility_mine>=5"), c["mobility_mine"] >= 5)
    assert np.array_equal(labels.column("c_squares_theirs>=2"), c["c_squares_theirs"] >= 2)
    assert np.array_equal(labels.column("parity_odd"), c["parity_odd"])
    assert not labels.solved.any() and labels.matrix.dtype == bool
    # select keeps the order asked, by family or by name
    sub = labels.select(["parity_odd", "legal_mine"])
    assert sub.names[0] == "parity_odd" and sub.names[1:] == [
        f"legal_mine@{s}" for s in (labels.names[i].split("@")[1] for i in range(36))
    ]
    assert np.array_equal(sub.matrix[:, 1:], c["legal_mine"])
    with pytest.raises(UnknownConcept, match="did you mean legal_mine"):
        labels.select("legal_mines")
    with pytest.raises(UnknownConcept, match="optimal_move@c3"):
        labels.column("optimal_move@c3")  # solver families only where asked for


def test_solver_columns_on_positions():
    rng = np.random.default_rng(0)
    positions = random_positions(6, 80, seed=2)
    me, opp = as_arrays(positions)
    moves = np.array(
        [rng.choice(p.legal_actions()) if p.legal_actions() else 36 for p in positions]
    )
    moves = np.where([bool(p.legal_actions()) for p in positions], moves, 0)
    ok = np.array([bool(p.legal_actions()) for p in positions])
    labels = labels_for_positions(me[ok], opp[ok], 6, moves[ok], solver=True)
    c = solver_concepts(me[ok], opp[ok], 6, moves[ok])
    assert labels.solved.any() and not labels.solved.all()
    assert np.array_equal(labels.solved, c["solved"])
    win = labels.column("solved_outcome=win")
    assert np.array_equal(win, c["solved"] & (c["solved_outcome"] == 1))
    rows = labels.select("solved_outcome").matrix
    assert np.array_equal(rows.sum(1), c["solved"].astype(int))  # exactly one outcome if solved
    assert np.array_equal(labels.column("best_reply@b2"), c["best_reply"][:, parse_square("b2", 6)])
    assert np.array_equal(labels.valid("keeps_outcome@a1"), c["solved"])
    assert labels.valid("mine@a1").all()


def test_cache_computes_only_missing_rows_and_extends(store, monkeypatch):
    held = store.rows("heldout")
    rows = np.r_[held[79:19:-1], held[:3]]  # any order, overlapping the first call's rows
    direct = labels_for_positions(store.read("me", rows), store.read("opp", rows), 6)
    seen = []
    real = labels_mod.board_matrix
    monkeypatch.setattr(
        labels_mod, "board_matrix", lambda me, o, n: seen.append(len(me)) or real(me, o, n)
    )
    first = load_labels(store, held[:50], progress=False)
    assert seen == [50] and (store.root / "labels" / "board.npz").exists()
    assert first.names == direct.names
    assert np.array_equal(first.matrix[20:50], direct.matrix[59:29:-1])  # held[j] is rows[79 - j]
    again = load_labels(store, rows, progress=False)
    assert seen == [50, 30]  # only held[50:80] were new
    assert np.array_equal(again.matrix, direct.matrix)
    assert np.array_equal(again.rows, rows)
    load_labels(store, rows, progress=False)
    assert seen == [50, 30]  # all cached now


def test_stale_cache_is_rebuilt_and_solver_labels_cached(store, monkeypatch):
    rows = store.rows("heldout")[:40]
    path = store.root / "labels" / "board.npz"
    load_labels(store, rows, progress=False)
    monkeypatch.setattr(labels_mod, "VERSION", labels_mod.VERSION + 1)  # as if names changed
    calls = []
    real = labels_mod.board_matrix
    monkeypatch.setattr(
        labels_mod, "board_matrix", lambda me, o, n: calls.append(1) or real(me, o, n)
    )
    load_labels(store, rows, progress=False)
    assert calls and path.exists()
    rows = store.rows("all")
    labels = load_labels(store, rows, solver=True, progress=False)
    me, opp = store.read("me", rows), store.read("opp", rows)
    moves = np.argmax(store.read("policy", rows), 1)
    direct = labels_for_positions(me, opp, 6, moves, solver=True)
    assert labels.names == direct.names
    assert np.array_equal(labels.matrix, direct.matrix) and np.array_equal(
        labels.solved, direct.solved
    )
    assert labels.solved.any() and labels.select("best_reply").matrix.any()
    monkeypatch.setattr(labels_mod, "solver_matrix", None)  # a second call must not solve
    assert np.array_equal(
        load_labels(store, rows[::7], solver=True, progress=False).matrix, direct.matrix[::7]
    )
    with pytest.raises(IndexError, match="rows must be in"):
        load_labels(store, [store.count], progress=False)
