"""Activation store: round trip, chunked reads, split by game, resumable collection from games."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import sae.activations.collect as acts_mod
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from othello import batch
from sae.activations.batches import Pairs
from sae.activations.store import ActivationStore, NpyRows, StoreError, StoreWriter, meta_fields

SITE = "blocks.1.resid_post"


def _chunk(rng, rows, first_game, games, dim=6, n=6):
    meta = {}
    for name, (dt, shape) in meta_fields(n, "float32").items():
        meta[name] = rng.integers(0, 100, (rows, *shape)).astype(dt)
    meta["game"] = np.sort(rng.integers(first_game, first_game + games, rows))
    return {SITE: rng.standard_normal((rows, dim)).astype(np.float32)}, meta


def test_round_trip_resume_split_and_chunked_reads(tmp_path):
    rng = np.random.default_rng(0)
    writer = StoreWriter.create(tmp_path / "s", {SITE: 6}, capacity=250, dtype="float32")
    a1, m1 = _chunk(rng, 100, 0, 20)
    assert writer.append(a1, m1, games=20) == 100
    with pytest.raises(StoreError, match="incomplete"):
        ActivationStore(tmp_path / "s")

    writer = StoreWriter.resume(tmp_path / "s")  # as after an interruption
    assert writer.count == 100
    a2, m2 = _chunk(rng, 200, 20, 40)
    assert writer.append(a2, m2, games=40) == 150  # truncated at capacity
    store = writer.finalize(heldout_fraction=0.25, seed=3)

    everything = np.concatenate([a1[SITE], a2[SITE][:150]])
    games = np.concatenate([m1["game"], m2["game"][:150]])
    np.testing.assert_array_equal(store.read(SITE, np.arange(250)), everything)
    rows = np.array([249, 3, 120, 4, 0])  # any order, with gaps
    np.testing.assert_array_equal(store.read(SITE, rows), everything[rows])
    np.testing.assert_array_equal(store.read("game", rows), games[rows])
    chunks = list(store.iter_chunks(SITE, np.arange(250), chunk_rows=64))
    assert [len(c) for c in chunks] == [64, 64, 64, 58]

    train, held = store.rows("train"), store.rows("heldout")
    assert len(train) + len(held) == 250
    assert not set(games[train]) & set(games[held])  # no game on both sides
    split = store.manifest["split"]
    assert split["heldout_games"] == round(0.25 * len(np.unique(games)))
    assert split["train_rows"] == len(train)
    # same seed, same split; the split is not "the last games"
    assert set(games[held]) != set(np.unique(games)[-split["heldout_games"] :])


def test_npy_rows_reads_without_mapping_the_file(tmp_path):
    x = np.arange(300, dtype=np.float16).reshape(100, 3)
    np.save(tmp_path / "x.npy", x)
    f = NpyRows(tmp_path / "x.npy")
    np.testing.assert_array_equal(f.read_span(10, 20), x[10:20])
    np.testing.assert_array_equal(f.read_rows(np.array([99, 0, 50])), x[[99, 0, 50]])
    with pytest.raises(IndexError):
        f.read_span(90, 101)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("agent") / "agent"
    save_agent(AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval(), path)
    return path


def test_collection_stores_real_games_with_matching_activations(agent, tmp_path):
    store = acts_mod.collect(
        f"{agent}.json",
        [SITE, "blocks.0.mlp_in"],
        500,
        tmp_path / "s",
        dtype="float32",
        games_per_chunk=8,
        progress=False,
        heldout_fraction=0.2,
    )
    assert store.count == 500 and store.sites == {SITE: 32, "blocks.0.mlp_in": 32}
    rows = np.arange(500)
    me, opp = store.read("me", rows), store.read("opp", rows)
    game, ply = store.read("game", rows), store.read("ply", rows)
    # games are contiguous and in play order; each starts at ply 0 from the opening
    starts = np.flatnonzero(np.r_[True, game[1:] != game[:-1]])
    assert np.all(ply[starts] == 0) and np.all(np.diff(game) >= 0)
    inside = np.setdiff1d(rows[1:], starts)
    assert np.all(ply[inside] == ply[inside - 1] + 1)
    discs = batch.popcount(me) + batch.popcount(opp)
    assert np.all(discs[starts] == 4)
    # activations, policy, value and legal mask are the net's on those boards
    net = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2))
    from alphazero.model import load_agent

    net, _ = load_agent(agent)
    x, legal = net.encode(me, opp)
    with torch.no_grad():
        out, cache = net.run_with_cache(x, legal, [SITE, "blocks.0.mlp_in"])
    np.testing.assert_allclose(store.read(SITE, rows), cache[SITE].numpy(), atol=1e-5)
    np.testing.assert_allclose(store.read("value", rows), out.value.numpy(), atol=1e-5)
    np.testing.assert_array_equal(store.read("legal", rows), legal.numpy())
    np.testing.assert_allclose(store.read("policy", rows).sum(1), 1.0, atol=1e-5)
    sources = set(store.read("source", rows))
    assert sources <= set(range(len(acts_mod.SOURCES)))
    # positions repeat as played (the opening is shared by games 2k, 2k+1): no dedup
    assert len(np.unique(np.stack([me, opp], 1), axis=0)) < 500
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["checkpoint"]["sha256"] and manifest["complete"]


def test_interrupted_collection_resumes_to_the_same_store(agent, tmp_path, monkeypatch):
    kw = dict(dtype="float16", games_per_chunk=4, progress=False, seed=1)
    whole = acts_mod.collect(f"{agent}.json", [SITE], 300, tmp_path / "a", **kw)

    real = acts_mod.play_match
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(acts_mod, "play_match", flaky)
    with pytest.raises(KeyboardInterrupt):
        acts_mod.collect(f"{agent}.json", [SITE], 300, tmp_path / "b", **kw)
    monkeypatch.setattr(acts_mod, "play_match", real)
    part = StoreWriter.resume(tmp_path / "b")
    assert 0 < part.count < 300 and part.manifest["chunks"] == 1
    resumed = acts_mod.collect(f"{agent}.json", [SITE], 300, tmp_path / "b", **kw)
    for name in (SITE, "me", "opp", "game", "policy", "heldout"):
        np.testing.assert_array_equal(
            whole.read(name, np.arange(300)), resumed.read(name, np.arange(300))
        )
    with pytest.raises(StoreError, match="other settings"):
        acts_mod.collect(f"{agent}.json", [SITE], 300, tmp_path / "b", **{**kw, "seed": 2})


def test_pairs_from_store_reads_only_the_train_split(agent, tmp_path):
    store = acts_mod.collect(
        f"{agent}.json",
        [SITE],
        200,
        tmp_path / "s",
        games_per_chunk=4,
        progress=False,
        heldout_fraction=0.3,
    )
    pairs = Pairs.from_store(store, SITE)
    train = store.rows("train")
    assert pairs.n_rows == len(train) and pairs.info["store_hash"] == store.hash
    x, y = next(pairs.chunks(10_000))
    assert y is x
    np.testing.assert_array_equal(x.numpy(), store.read(SITE, train).astype(np.float32))
    with pytest.raises(ValueError, match="no activations for 'blocks.0.mlp_out'"):
        Pairs.from_store(store, SITE, "blocks.0.mlp_out")


def test_cli_help_and_clear_errors(agent, tmp_path):
    run = [sys.executable, "-m", "sae.activations"]
    assert (
        "--positions"
        in subprocess.run(run + ["--help"], capture_output=True, text=True, check=True).stdout
    )
    bad = subprocess.run(
        run
        + [
            "--checkpoint",
            f"{agent}.json",
            "--sites",
            "blocks.9.oops",
            "--positions",
            "10",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "unknown hook site" in bad.stderr
    bad = subprocess.run(
        run + ["--checkpoint", f"{agent}.json", "--mix", "selfplay:1,chess:2"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown game source 'chess'" in bad.stderr
