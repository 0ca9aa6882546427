"""The concepts report end to end on a tiny store: the contract's schema, reading it back,
`--json -`, a transcoder, and one-line errors for inputs that do not fit (nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from sae.activations.batches import Pairs
from sae.activations.store import StoreWriter
from sae.concepts.report import concept_latents, main
from sae.dictionary.model import DictConfig, Dictionary, save_dictionary
from sae.dictionary.train import RunSpec, TrainConfig, train
from tests.test_labels import SITE, make_store

FAST = ["--positions", "400", "--solver-positions", "60", "--random-net-steps", "5", "--quiet"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("concepts")
    store = make_store(root, positions=1500)
    specs = [RunSpec("sae", DictConfig("topk", d_in=32, n_latents=64, k=4, in_site=SITE))]
    cfg = TrainConfig(batch_size=256, steps=40, warmup_steps=5, progress=False)
    train(specs, Pairs.from_store(store, SITE), cfg, out_dir=root / "runs")
    return root, store, root / "runs" / "sae" / "dictionary.json"


def run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code, capsys.readouterr()


def test_report_schema_and_reading_it_back(setup, capsys):
    root, store, dict_path = setup
    main([str(dict_path), *FAST])
    printed = capsys.readouterr().out
    report = json.loads((dict_path.parent / "concepts.json").read_text())
    assert report["schema_version"] == 1 and report["kind"] == "concepts_report"
    assert report["dictionary"]["site"] == SITE and report["dictionary"]["n_latents"] == 64
    assert report["store"]["hash"] == store.hash
    assert report["positions"]["auc"] == 400 and 0 < report["positions"]["solver"] <= 60
    assert len(report["latents"]) == 64
    assert {"mine", "legal_mine", "solved_outcome", "best_reply"} <= set(report["families"])
    for fam in report["families"].values():
        assert {"best_auc", "best_latent", "best_concept", "concepts"} <= set(fam)
        assert fam["best_auc"] is None or 0 <= fam["best_auc"] <= 1
    for key in ("coverage", "reconstruction"):
        assert set(report[key]) == {"board", "legal"}
        for base in ("neurons", "random_net"):
            assert set(report["baselines"][base][key]) == {"board", "legal"}
    assert report["baselines"]["neurons"]["site"] == "blocks.1.mlp_hidden"
    assert report["baselines"]["neurons"]["features"] == 128  # 4 x d_model
    assert report["baselines"]["random_net"]["training"]["steps"] == 5
    assert 0 <= report["explained_fraction"] <= 1
    assert report["sparse_probing"]["ks"] == [1, 2, 5]
    assert "mean_absorption_fraction" in report["absorption"]
    assert report["absorption"]["child_implies_parent"] is True
    labelled = [v for v in report["latents"].values() if v["label"]]
    assert labelled and all(0 <= v["f1"] <= 1 for v in labelled)
    # the AUCs in the report agree with the table of top latents, and are read back
    name = "mine@c3"
    top = concept_latents(dict_path.parent / "concepts.json", name, 3)
    aucs = [a for _, a in report["concepts"][name]["top_latents"]]
    assert len(top) == 3 and aucs == sorted(aucs, reverse=True)
    assert "best-explained latents" in printed and "coverage board" in printed
    assert "NaN" not in (dict_path.parent / "concepts.json").read_text()


def test_json_to_stdout_restricted_concepts_and_transcoder(setup, tmp_path):
    root, store, dict_path = setup
    out = subprocess.run(
        [sys.executable, "-m", "sae.concepts", str(dict_path), "--json", "-",
         "--out", str(tmp_path / "r.json"), "--concepts", "legal_mine,parity_odd",
         "--no-baselines", *FAST],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert set(report["families"]) == {"legal_mine", "parity_odd"}
    assert report["baselines"] == {} and (tmp_path / "r.json").exists()
    # a transcoder: latents read blocks.1.mlp_in, decode to blocks.1.mlp_out
    tc = Dictionary(DictConfig("topk", 32, 48, 4, in_site="blocks.1.mlp_in",
                               out_site="blocks.1.mlp_out", skip=True))  # fmt: skip
    tc.set_scales(5.0, 1.0)
    data = {"store": str(store.root), "checkpoint": store.manifest["checkpoint"]}
    save_dictionary(tc, tmp_path / "tc" / "dictionary", data=data)
    main([str(tmp_path / "tc" / "dictionary.json"), "--positions", "300", "--quiet",
          "--solver-positions", "0", "--random-net-steps", "3"])  # fmt: skip
    report = json.loads((tmp_path / "tc" / "concepts.json").read_text())
    assert report["dictionary"]["site"] == "blocks.1.mlp_in"
    assert "skipped" in report["absorption"] and report["positions"]["solver"] == 0
    assert "solved_outcome" not in report["families"]


def test_bad_inputs_fail_in_one_line_and_write_nothing(setup, tmp_path, capsys):
    root, store, dict_path = setup
    out = tmp_path / "r.json"
    code, err = run([str(dict_path), "--out", str(out), "--concepts", "legal_mines", *FAST], capsys)
    assert code.startswith(
        "error: unknown concept or family 'legal_mines'; did you mean legal_mine"
    )
    # a dictionary on a site the store lacks
    other = Dictionary(DictConfig("topk", 32, 16, 2, in_site="blocks.0.resid_post"))
    save_dictionary(other, tmp_path / "o" / "dictionary", data={"store": str(store.root)})
    code, _ = run([str(tmp_path / "o" / "dictionary.json"), "--out", str(out), *FAST], capsys)
    assert "no activations at blocks.0.resid_post" in code and "\n" not in code
    # a store collected with another agent
    torch.manual_seed(5)
    other_root = tmp_path / "other"
    other_root.mkdir()
    other_store = make_store(other_root, positions=300, seed=5)
    code, _ = run(
        [str(dict_path), "--store", str(other_store.root), "--out", str(out), *FAST], capsys
    )
    assert "trained on activations of agent" in code and "sha256" in code
    # a store without held-out games
    info = {"checkpoint": store.manifest["checkpoint"]}
    w = StoreWriter.create(tmp_path / "noheld", {SITE: 32}, 20, "float32", 6, info)
    rows = np.arange(20)
    meta = {k: store.read(k, rows) for k in ("me", "opp", "black_to_move", "ply", "legal",
                                              "policy", "value", "game", "source")}  # fmt: skip
    w.append({SITE: store.read(SITE, rows)}, meta, games=3)
    w.finalize(heldout_fraction=0.0)
    code, _ = run(
        [str(dict_path), "--store", str(tmp_path / "noheld"), "--out", str(out), *FAST], capsys
    )
    assert "no held-out positions" in code
    assert not out.exists()
    code, err = run([str(dict_path), "--positions", "1"], capsys)
    assert code == 2 and "--positions" in err.err
