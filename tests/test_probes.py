"""Linear probes: a planted linear concept is recovered (in the units of x), shuffled labels
stay at chance, rare concepts get balanced weights, solver concepts are scored on solved
positions only, identical sites share a fit, and the CLI end to end on a tiny store with its
one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import sae.activations.collect as acts_mod
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from sae.concepts.labels import labels_for_positions
from sae.probes.fit import FitConfig, fit_probe
from sae.probes.report import INPUT, family_scores, main, probe_sites, split_positions
from tests.engine_helpers import as_arrays, random_positions
from tests.test_labels import make_store


def planted(seed=0, rows=3000, d=16):
    """Features with wildly different scales and offsets, and three linear concepts: common,
    rare (5%) and very rare (2%)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, d))
    scale, offset = 10.0 ** rng.uniform(-2, 2, d), rng.normal(0, 5, d)
    x = (z * scale + offset).astype(np.float32)
    w = rng.normal(size=(d, 3))
    score = z @ w
    y = score > np.quantile(score, [0.5, 0.95, 0.98], axis=0).diagonal()
    return x, y, w / scale[:, None]  # the planted directions in the units of x


def test_planted_linear_concepts_are_recovered():
    x, y, w_true = planted()
    r = fit_probe(x[:2000], y[:2000], x[2000:], y[2000:])
    assert r.fitted.all() and (r.balanced_accuracy > 0.95).all() and r.f1[0] > 0.95
    assert r.balanced.tolist() == [False, True, True]  # the rare ones are class-balanced
    # unweighted, the rare concepts trade recall for accuracy (the soft L2 margin leans
    # towards the majority class): balanced weights are what keeps them found
    plain = fit_probe(x[:2000], y[:2000], x[2000:], y[2000:], FitConfig(balance_below=0))
    assert not plain.balanced.any()
    assert (plain.accuracy[1:] >= r.accuracy[1:]).all()
    assert (plain.balanced_accuracy[1:] < r.balanced_accuracy[1:]).all()
    cos = (r.weights * w_true).sum(0) / np.linalg.norm(r.weights, axis=0)
    assert (cos / np.linalg.norm(w_true, axis=0) > 0.95).all()
    # the weights are in the units of x: applying them reproduces the reported scores
    pred = x[2000:] @ r.weights + r.bias > 0
    assert np.allclose((pred == y[2000:]).mean(0), r.accuracy)
    assert np.allclose(r.base_rate, y[2000:].mean(0))


def test_shuffled_labels_score_near_chance():
    x, _, _ = planted(seed=1)
    rng = np.random.default_rng(1)
    y = rng.random((len(x), 8)) < 0.3  # independent of x
    r = fit_probe(x[:2000], y[:2000], x[2000:], y[2000:])
    assert r.fitted.all()
    assert abs(r.balanced_accuracy.mean() - 0.5) < 0.03
    assert (np.abs(r.balanced_accuracy - 0.5) < 0.08).all()


def test_concepts_with_too_few_examples_are_not_fitted():
    x, y, _ = planted(seed=2, rows=1000)
    y = np.concatenate([y, np.zeros((1000, 1), bool), np.arange(1000)[:, None] < 3], 1)
    r = fit_probe(x[:600], y[:600], x[600:], y[600:], FitConfig(min_positives=10))
    least = np.minimum.reduce(
        [y[:600].sum(0), (~y[:600]).sum(0), y[600:].sum(0), (~y[600:]).sum(0)]
    )
    assert r.fitted.tolist() == (least >= 10).tolist()
    assert r.fitted[:2].all() and not r.fitted[3:].any()
    assert np.isnan(r.f1[~r.fitted]).all() and (r.weights[:, ~r.fitted] == 0).all()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval()
    me, opp = as_arrays(random_positions(6, 500, seed=3))
    labels = labels_for_positions(me, opp, 6, solver=True).select(
        ["mine", "legal_mine", "parity_odd", "solved_outcome"]
    )
    return net, me, opp, labels


def test_probe_sites_input_solver_rows_and_shared_fits(tiny):
    net, me, opp, labels = tiny
    sites = [INPUT, "blocks.0.resid_post", "blocks.1.resid_pre", "blocks.1.mlp_hidden"]
    test = split_positions(len(me), 1 / 3, seed=0)
    memo: dict = {}
    res = probe_sites(net, me, opp, labels, sites, test, memo=memo)
    assert set(res) == set(sites)
    assert res["blocks.0.resid_post"] is res["blocks.1.resid_pre"]  # the same tensor: one fit
    assert res[INPUT].weights.shape[0] == net.cfg.in_features
    assert res["blocks.1.mlp_hidden"].weights.shape[0] == net.cfg.d_mlp
    scores = family_scores(res[INPUT], labels.names)
    assert scores["mine"]["balanced_accuracy"] == 1.0  # an input plane: exactly linear
    mine = [i for i, n in enumerate(labels.names) if n.startswith("mine@")]
    assert scores["mine"]["f1"] == pytest.approx(np.nanmean(res[INPUT].f1[mine]))
    assert scores["mine"]["fitted"] == res[INPUT].fitted[mine].sum() > 0
    # solver concepts are scored on solved test positions only
    win = labels.index("solved_outcome=win")
    solved_test = labels.solved & test
    assert 0 < solved_test.sum() < test.sum()
    assert res[INPUT].base_rate[win] == pytest.approx(labels.matrix[solved_test, win].mean())
    # a second call with the memo reuses every fit
    again = probe_sites(net, me, opp, labels, sites[:2], test, memo=memo)
    assert again[INPUT] is res[INPUT]


def test_split_by_groups_keeps_groups_whole():
    groups = np.repeat(np.arange(30), 7)
    test = split_positions(len(groups), 0.25, seed=5, groups=groups)
    for g in range(30):
        assert len(set(test[groups == g])) == 1
    assert len(np.unique(groups[test])) == 8


# -- the command line ------------------------------------------------------------------------
FAST = ["--positions", "300", "--solver-positions", "60", "--max-iter", "10", "--quiet"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    return root, make_store(root, positions=1500)


def run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code, capsys.readouterr()


def test_cli_end_to_end(store, tmp_path, capsys):
    root, st = store
    out = tmp_path / "probes"
    args = ["--store", str(st.root), "--checkpoint", "random", "--checkpoint", str(root / "agent")]
    main([*args, "--families", "mine,threat_defensive,solved_outcome", "--out", str(out), *FAST])
    printed = capsys.readouterr().out
    report = json.loads((out / "probes.json").read_text())
    assert report["kind"] == "probes" and report["store"]["hash"] == st.hash
    assert [c["name"] for c in report["checkpoints"]] == ["random", "agent"]
    assert report["checkpoints"][0]["architecture_of"] == str(root / "agent")
    assert report["family_names"] == ["mine", "threat_defensive", "solved_outcome"]
    net_sites = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).sites
    assert report["sites"] == [INPUT, *net_sites]
    assert set(report["summary"]) == {"mine", "threat_defensive", "solved_outcome"}
    p = report["positions"]
    assert p["sampled"] == 300 and p["train"] + p["test"] == 300 and p["solved_test"] > 0
    mine = report["summary"]["mine"]
    assert mine["agent"][INPUT]["balanced_accuracy"] == 1.0
    per = report["per_concept"]["agent"]["blocks.1.resid_post"]["f1"]
    assert len(per) == len(report["concept_names"]) == 36 + 36 + 3
    for fam in ("mine", "threat_defensive", "solved_outcome", "threat"):
        assert (out / f"{fam}.png").stat().st_size > 1000
    assert (out / "overview.png").exists() and "NaN" not in (out / "probes.json").read_text()
    assert "threat_defensive" in printed and "blocks." in printed


def test_cli_errors_are_one_line(store, tmp_path, capsys):
    root, st = store
    base = ["--store", str(st.root), "--out", str(tmp_path / "x"), *FAST]
    code, io = run([*base, "--checkpoint", str(tmp_path / "nope")], capsys)
    assert "not found" in str(code) and str(code).count("\n") == 0
    code, io = run([*base, "--checkpoint", str(root / "agent"), "--families", "threats"], capsys)
    assert "unknown concept or family 'threats'" in str(code)
    code, io = run([*base, "--checkpoint", "random", "--sites", "blocks.9.mlp_in"], capsys)
    assert "unknown site" in str(code)
    code, io = run([*base, "--positions", "1"], capsys)
    assert code == 2 and "--positions" in io.err
    # a store of another board size
    torch.manual_seed(0)
    small = tmp_path / "small_agent"
    save_agent(AlphaZeroNet(NetConfig(board_size=4, d_model=16, n_blocks=1)).eval(), small)
    acts_mod.collect(
        f"{small}.json", ["blocks.0.mlp_in"], 200, tmp_path / "small_store",
        dtype="float32", games_per_chunk=8, progress=False, heldout_fraction=0.3,
    )  # fmt: skip
    code, io = run(
        [*base[:1], str(tmp_path / "small_store"), *base[2:], "--checkpoint", str(root / "agent")],
        capsys,
    )
    assert "plays 6x6" in str(code) and "4x4" in str(code)
    assert not (tmp_path / "x").exists()  # nothing written on an error
