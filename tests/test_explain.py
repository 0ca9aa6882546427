"""The explainer: planted latents on synthetic predicates (a latent that is a concept or a
small program is explained with that program; a random latent, or one that covers a rare
concept's few positives, is not), the compiled counts against numpy, the held-out scores
and intervals against direct computation, R^2, and `python -m sae.explain` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sae.concepts.auc import SortedColumns
from sae.explain import bits, search
from sae.explain.explainer import ExplainConfig, Halves, explain, summary
from sae.explain.stats import StatsConfig, game_starts, heldout_scores, size_r2
from sae.explain.vocabulary import Vocabulary

ROWS, GAME_LEN = 8000, 20


def synthetic(seed=0, n_preds=60):
    rng = np.random.default_rng(seed)
    matrix = rng.random((ROWS, n_preds)) < rng.uniform(0.1, 0.5, n_preds)
    rare = np.zeros(ROWS, bool)
    rare[1234] = True  # one positive in the whole sample
    few = np.zeros(ROWS, bool)
    few[rng.choice(ROWS, 20, replace=False)] = True  # ~10 positives per half
    solved = rng.random(ROWS) < 0.3
    solver_pred = solved & (rng.random(ROWS) < 0.4)
    matrix = np.concatenate([matrix, rare[:, None], few[:, None], solver_pred[:, None]], 1)
    names = [f"p{i}" for i in range(n_preds)] + ["rare", "few", "solver_x@a1"]
    is_solver = np.zeros(len(names), bool)
    is_solver[-1] = True
    vocab = Vocabulary(names, matrix, is_solver, solved)
    games = np.arange(ROWS) // GAME_LEN
    set_b = games % 2 == 1
    return vocab, games, set_b, rng


def planted(vocab, rng):
    m = vocab.matrix
    c = {n: m[:, i] for i, n in enumerate(vocab.names)}
    fires = [
        c["p3"],  # 0: a concept
        c["p1"] & ~c["p2"],  # 1: a conjunction with a negation
        (c["p4"] & c["p5"]) | c["p6"],  # 2: a DNF
        rng.random(ROWS) < 0.1,  # 3: random
        c["rare"],  # 4: the one positive of a rare concept
        c["rare"] | (rng.random(ROWS) < 0.15),  # 5: covers the rare positive, and noise
        c["few"],  # 6: a concept with too few positives to judge
        np.where(vocab.solved, c["solver_x@a1"], rng.random(ROWS) < 0.2),  # 7: endgame only
    ]
    acts = np.stack(fires, 1) * rng.uniform(0.5, 2.0, (ROWS, len(fires)))
    return SortedColumns.from_dense(acts.astype(np.float32))


@pytest.fixture(scope="module")
def result():
    vocab, games, set_b, rng = synthetic()
    halves = Halves.build(vocab, set_b, games)
    return vocab, explain(planted(vocab, rng), halves, ExplainConfig())


def programs(vocab, res, scope="all"):
    p = res[scope]["programs"]
    return [search.to_text(p.literals[i], p.terms[i], p.size[i], vocab.names) for i in range(8)]


def test_planted_programs_are_found_and_explained(result):
    vocab, res = result
    text = programs(vocab, res)
    assert text[0] == "p3"
    assert text[1] in ("p1 & !p2", "!p2 & p1")
    assert set(text[2].replace("(", "").replace(")", "").split(" | ")) in (
        {"p4 & p5", "p6"},
        {"p5 & p4", "p6"},
    )
    explained = res["all"]["explained"]
    assert explained[:3].all()
    for i in range(3):
        assert res["all"]["f1"][i] == 1.0 and res["all"]["f1_low"][i] == 1.0


def test_random_and_rare_latents_are_not_explained(result):
    _, res = result
    main = res["all"]
    assert main["judged"][3] and not main["explained"][3]  # random: judged, F1 low
    assert not main["judged"][4] and not main["explained"][4]  # one positive: not judged
    assert main["judged"][5] and not main["explained"][5]  # the rare hit does not help
    assert not main["judged"][6]  # ~10 positives on the scoring half < 25
    assert main["support"]["fires"][6] < 25


def test_solver_predicates_explain_only_within_their_scope(result):
    vocab, res = result
    assert not res["all"]["explained"][7]
    assert res["endgame"]["explained"][7]
    assert programs(vocab, res, "endgame")[7] == "solver_x@a1"
    assert "solver_x@a1" not in " ".join(programs(vocab, res))  # unusable on all rows
    s = summary(res, 0.7)
    assert s["live"] == 8 and s["explained"] == 3 and s["endgame_only"] == 1
    assert s["explained_fraction"] == pytest.approx(3 / 8)
    assert sum(b["live"] for b in s["by_rate"]) == 8
    u = s["unexplained"]  # every live, unexplained latent has exactly one reason
    reasons = u["too_rare"] + u["too_dense"] + u["no_splitting_program"] + u["below_threshold"]
    assert reasons == s["live"] - s["explained"] and u["too_rare"] >= 2  # latents 4 and 6


def test_pair_counts_and_spans_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.random((300, 7)) < 0.3, rng.random((300, 5)) < 0.6
    pa, pb = bits.pack(a), bits.pack(b)
    assert np.array_equal(bits.pair_counts(pa, pb), a.T.astype(int) @ b.astype(int))
    assert np.array_equal(bits.counts(pa), a.sum(0))
    assert np.array_equal(bits.unpack(pa, 300), a.T)
    for s, e in [(0, 300), (63, 64), (64, 128), (5, 6), (100, 290), (7, 7)]:
        assert bits.count_span(pa[2], s, e) == a[s:e, 2].sum()


def test_heldout_scores_and_intervals():
    rng = np.random.default_rng(2)
    fires = rng.random((400, 3)) < 0.3
    pred = fires.copy()
    pred[:, 1] = rng.random(400) < 0.3  # unrelated
    pred[:, 2] = fires[:, 2] & (rng.random(400) < 0.5)  # half the firings
    games = np.arange(400) // 10
    out = heldout_scores(bits.pack(pred), bits.pack(fires), game_starts(games), StatsConfig())
    for i in range(3):
        tp = (pred[:, i] & fires[:, i]).sum()
        f1 = 2 * tp / (pred[:, i].sum() + fires[:, i].sum())
        assert out["f1"][i] == pytest.approx(f1)
        assert out["precision"][i] == pytest.approx(tp / pred[:, i].sum())
        assert out["f1_low"][i] <= out["f1"][i] <= out["f1_high"][i]
    assert out["f1_low"][0] == out["f1_high"][0] == 1.0
    assert out["precision_low"][2] == 1.0 and out["recall_high"][2] < 0.75
    assert out["f1_high"][1] - out["f1_low"][1] > 0.05  # noise has a real interval


def test_size_r2_of_a_constant_per_program_activation():
    rng = np.random.default_rng(3)
    prog = rng.random(500) < 0.4
    act = np.where(prog, 2.0, 0.0) + np.where(prog, rng.normal(0, 0.01, 500), 0)
    act = act[:, None].astype(np.float32)
    fit, score = slice(0, 250), slice(250, 500)

    def cols(a):
        sc = SortedColumns.from_dense(a).positive()
        return sc.colptr, sc.rows, sc.vals

    pf, ps = bits.pack(prog[fit, None]), bits.pack(prog[score, None])
    r2 = size_r2(pf, cols(act[fit]), ps, cols(act[score]), 250, 250)
    assert r2[0] > 0.99
    r2_wrong = size_r2(ps * 0, cols(act[fit]), ps * 0, cols(act[score]), 250, 250)
    assert abs(r2_wrong[0]) < 0.05  # the mean alone explains nothing


def test_simplicity_prefers_fewer_literals_within_the_margin():
    # sizes 1..3 reach F1 0.80, 0.81, 0.90: margin 0.02 keeps 3, margin 0.2 keeps 1
    lits = np.full((1, 4, 3), -1, np.int32)
    terms = np.zeros((1, 4, 3), np.int8)
    for s in range(1, 4):
        lits[0, s, :s] = np.arange(s)
    fires = np.array([100])
    pp = np.array([[0, 150, 148, 100]])
    tp = np.array([[0, 100, 100, 90]])  # F1: 0.8, 0.806, 0.9
    assert search.choose(lits, terms, tp, pp, fires, 0.02).size[0] == 3
    assert search.choose(lits, terms, tp, pp, fires, 0.2).size[0] == 1
    assert search.negate("agent_value>=0.5") == "agent_value<0.5"
    assert search.negate("mine@a1") == "!mine@a1"


# -- the command line, end to end on a tiny store ------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from sae.activations.batches import Pairs
    from sae.dictionary.model import DictConfig
    from sae.dictionary.train import RunSpec, TrainConfig, train
    from tests.test_labels import SITE, make_store

    root = tmp_path_factory.mktemp("explain")
    store = make_store(root, positions=1500)
    specs = [RunSpec("sae", DictConfig("topk", d_in=32, n_latents=64, k=4, in_site=SITE))]
    cfg = TrainConfig(batch_size=256, steps=40, warmup_steps=5, progress=False)
    train(specs, Pairs.from_store(store, SITE), cfg, out_dir=root / "runs")
    return root, store, root / "runs" / "sae" / "dictionary.json"


FAST = [
    "--positions", "600", "--solver-positions", "60", "--random-net-steps", "5",
    "--resamples", "50", "--min-support", "5", "--effect-positions", "4", "--quiet",
]  # fmt: skip


def test_cli_writes_a_report_beside_the_dictionary(tiny, capsys, tmp_path):
    from sae.explain.report import main

    root, store, dict_path = tiny
    summary_path = tmp_path / "table.json"
    assert main([str(dict_path), *FAST, "--summary", str(summary_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((dict_path.parent / "explanations.json").read_text())
    assert report["kind"] == "explanations" and report["store"]["hash"] == store.hash
    pos = report["positions"]
    assert pos["fit"] + pos["score"] == pos["rows"] < pos["drawn"]  # the start position repeats
    assert report["rule"]["min_support"] == 5
    assert {"board", "consequences", "lines", "agent", "solver"} == set(
        report["vocabulary"]["groups"]
    )
    s = report["summary"]
    assert s["live"] == len(report["latents"]) and 0 <= s["explained_fraction"] <= 1
    assert {"neurons", "random_net"} == set(report["baselines"])
    assert report["baselines"]["neurons"]["features"] == 128
    for entry in report["latents"].values():
        lo_f1 = entry["f1"][1]
        assert entry["explained"] == (entry["judged"] and lo_f1 is not None and lo_f1 >= 0.7)
        assert entry["scope"] in ("all", "endgame") and "does" in entry
        assert set(entry["scopes"]) == {"all", "endgame"}
    assert "random net" in printed and "neurons blocks.1.mlp_hidden" in printed
    assert json.loads(summary_path.read_text())["dictionaries"][0]["live"] == s["live"]
    assert "NaN" not in (dict_path.parent / "explanations.json").read_text()


def test_repeated_boards_count_once_in_the_half_where_they_first_occur():
    from sae.explain.report import first_occurrences

    me = np.array([1, 2, 1, 3, 2, 1], np.uint64)  # board (1, 9) opens three games
    opp = np.array([9, 8, 9, 7, 8, 5], np.uint64)
    keep = first_occurrences(me, opp)
    assert keep.tolist() == [0, 1, 3, 5]  # the first of each distinct (me, opp) pair


def test_fires_above_keeps_the_strong_entries_by_the_choosing_half():
    from sae.explain.explainer import strong_entries

    acts = np.array([[0.1, 2.0], [0.5, 0.0], [1.0, 0.4], [3.0, 1.0]], np.float32)
    fit = np.array([True, True, True, False])  # row 3 is judged, its 3.0 not a reference
    kept = strong_entries(SortedColumns.from_dense(acts), fit, 0.4)
    assert (kept.columns([0, 1]) > 0).tolist() == [[False, True], [True, False], [True, False],
                                                    [True, True]]  # fmt: skip
