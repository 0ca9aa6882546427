"""Selection by meaning: the rule picks by explained fraction within fidelity, and
`python -m sae.frontier` measures a finished sweep end to end, resuming from its reports."""

from __future__ import annotations

import json

import pytest

from sae.frontier.rule import Rule, choose


def rec(fvu, explained, agreement=0.99, l0=32.0):
    return {"fvu": fvu, "explained_fraction": explained, "agreement": agreement, "l0": l0}


def test_rule_puts_meaning_first_within_fidelity():
    records = {
        "dense_best_fvu": rec(0.01, 0.10, l0=200.0),  # too dense to be eligible
        "unfaithful": rec(0.30, 0.90, agreement=0.80),  # the agent cannot play through it
        "meaningful": rec(0.06, 0.50),
        "near_but_better_fvu": rec(0.04, 0.46),  # within 10% of 0.50: lower FVU wins
        "outside_margin": rec(0.035, 0.44),  # 12% below: meaning wins over its FVU
        "plain": rec(0.03, 0.20),
    }
    got = choose(records, Rule())
    assert got["best"] == "near_but_better_fvu" and got["best_by_fvu"] == "dense_best_fvu"
    assert set(got["eligible"]) == {"meaningful", "near_but_better_fvu", "outside_margin", "plain"}
    assert not got["fallback"]
    assert choose(records, Rule(margin=0.0))["best"] == "meaningful"
    # nothing eligible: the choice says so and falls back to the most faithful sparse ones
    got = choose(records, Rule(min_agreement=0.999))
    assert got["fallback"] and got["best"] == "near_but_better_fvu"
    collapsed = {  # most latents dead: its few survivors are easy to explain
        "collapsed": rec(0.44, 0.67, agreement=0.48, l0=0.4),
        "faithful": rec(0.18, 0.04, agreement=0.66, l0=3.2),
        "close": rec(0.29, 0.10, agreement=0.62, l0=1.1),
    }
    assert choose(collapsed)["best"] == "close" and choose(collapsed)["fallback"]
    assert choose(collapsed, Rule(fallback_slack=0.01))["best"] == "faithful"
    with pytest.raises(ValueError, match="explained fraction"):
        choose({"a": {"fvu": 0.1, "explained_fraction": None}})


def test_frontier_command_measures_a_sweep_and_resumes(tmp_path, capsys):
    from sae.dictionary.cli import main as train_main
    from sae.frontier.report import main as frontier_main
    from tests.test_labels import SITE, make_store

    store = make_store(tmp_path, positions=1500)
    out = tmp_path / "sweep"
    train_main([
        "--store", str(store.root), "--site", SITE, "--sweep", "--families", "topk,matryoshka",
        "--widths", "64", "--ks", "4", "--l1-coeffs", "", "--steps", "30", "--batch-size", "256",
        "--games", "0", "--positions", "200", "--out", str(out),
    ])  # fmt: skip
    args = [str(out), "--positions", "600", "--solver-positions", "40", "--quiet"]
    frontier_main(args)
    result = json.loads((out / "frontier.json").read_text())
    assert set(result["records"]) == {"topk_k4_n64", "matryoshka_k4_n64"}
    for r in result["records"].values():
        assert r["site"] == SITE and 0 <= r["explained_fraction"] <= 1
        for fam in ("board", "legal"):  # the all-concepts average can only be lower
            assert r["coverage_all"][fam] <= r["coverage"][fam] + 1e-12
        assert r["fvu"] > 0 and r["l0"] > 0 and "agreement" in r
    assert result["choice"]["best"] in result["records"]
    assert {"neurons", "random_net"} <= set(result["baselines"][SITE])
    table = (out / "frontier.md").read_text()
    assert "**" + result["choice"]["best"] + "**" in table and "neurons" in table
    best_board = max(r["coverage_all"]["board"] for r in result["records"].values())
    assert "best over the sweep (each column's own best) | | | | | | | | " in table
    assert f"/ {best_board:.3f}" in table or f"{best_board:.3f} /" in table
    assert (out / "frontier_meaning.png").stat().st_size > 0
    reports = {p: p.stat().st_mtime_ns for p in out.glob("*/*.json") if "dictionary" not in p.name}
    assert len(reports) >= 4  # concepts.json and explanations.json beside each
    frontier_main(args)  # a rerun reuses every report
    assert {p: p.stat().st_mtime_ns for p in reports} == reports
    # a second site, both explained in one run: each its own random-net baseline (the sites
    # are compared with each other)
    for report in out.glob("*/explanations.json"):
        report.unlink()
    other = tmp_path / "other_site"
    train_main([
        "--store", str(store.root), "--site", "blocks.1.mlp_in", "--sweep", "--families", "topk",
        "--widths", "64", "--ks", "4", "--l1-coeffs", "", "--steps", "30", "--batch-size", "256",
        "--games", "0", "--positions", "200", "--out", str(other),
    ])  # fmt: skip
    heat = tmp_path / "sites.png"
    frontier_main([str(out), str(other), *args[1:], "--heatmap", str(heat)])
    assert heat.stat().st_size > 0
    for folder, site in ((out, SITE), (other, "blocks.1.mlp_in")):
        random_net = json.loads((folder / "frontier.json").read_text())["baselines"][site]
        assert random_net["random_net"]["explained_fraction"] is not None
    capsys.readouterr()


def test_ship_takes_each_frontiers_best_and_refuses_a_foreign_name(tmp_path):
    from common.io import CheckpointError
    from vis.ship import shipped_sources

    sweep, front = tmp_path / "sae_agent", tmp_path / "frontier"
    for folder, runs in ((sweep, ("l1_3_n1024", "topk_k32_n1024")), (front, ("a", "b"))):
        for name in runs:
            (folder / name).mkdir(parents=True)
            (folder / name / "dictionary.json").write_text("{}")
        scaling = {
            n: {"architecture": "relu" if n.startswith("l1") else "topk", "fvu": 0.1 + i}
            for i, n in enumerate(runs)
        }
        (folder / "scaling.json").write_text(json.dumps(scaling))
    # no frontier measured: the seed's L1 dictionaries and the TopK run with the lowest FVU
    sources, missing = shipped_sources(sweep, tmp_path / "none", [front])
    assert sources == [str(sweep / "l1_3_n1024"), str(sweep / "topk_k32_n1024")]
    (front / "frontier.json").write_text(json.dumps({"choice": {"best": "b"}}))
    sources, missing = shipped_sources(sweep, tmp_path / "none", [front])
    assert sources == [str(sweep / "l1_3_n1024"), str(front / "b")]
    assert str(sweep / "l1_4_n2048") in missing and str(tmp_path / "none") in missing
    (front / "frontier.json").write_text(json.dumps({"choice": {"best": "../elsewhere"}}))
    with pytest.raises(CheckpointError, match="names no run"):
        shipped_sources(sweep, tmp_path / "none", [front])
