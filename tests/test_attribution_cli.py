"""The attribution command lines on a tiny transcoder set on disk: the printed summary and the
JSON (exact when unpruned), held-out scores, the clamp check and the virtual-weight error,
and one-line errors for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_attribution import random_transcoders
from test_transcoder_train import make_store

from alphazero.model import load_agent
from othello.game import Position
from sae.dictionary.model import save_dictionary
from transcoder.attribute import main as attribute_main
from transcoder.graph_json import exactness
from transcoder.interventions import main as clamp_main
from transcoder.set import write_set_config
from transcoder.virtual_weights import main as vw_main

START = "------/------/--OX--/--XO--/------/------ X"


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("attr")
    store = make_store(root, positions=200)
    net, _ = load_agent(root / "agent")
    folder = root / "set"
    for i, t in enumerate(random_transcoders(net, skip=True, seed=20, dtype=torch.float32)):
        save_dictionary(t, folder / f"blocks.{i}" / "dictionary")
    write_set_config(folder, 2, {"path": str(root / "agent")}, {"path": str(store.root)})
    return folder, store, net


def test_graph_summary_and_json(tiny_set, tmp_path, capsys):
    folder, _, net = tiny_set
    out = tmp_path / "g.json"
    data = attribute_main([str(folder), START, "--json", str(out), "--top", "3"])
    text = capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads(json.dumps(data))
    p = Position.from_text(START)
    x, legal = net.encode(np.array([p.me], np.uint64), np.array([p.opp], np.uint64))
    move = int(net(x, legal).policy_logits.argmax())
    assert data["metadata"]["target"] == "abcdef"[move % 6] + str(move // 6 + 1)
    assert data["metadata"]["pruned"] and data["metadata"]["prompt"] == p.to_text()
    for needle in ("Exactness", "Scores: replacement", "by leaf source", "Top 3 paths", "wrote"):
        assert needle in text

    full = attribute_main([str(folder), START, "--no-prune", "--target", "value", "--json", "-"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["metadata"]["target"] == "value" and not printed["metadata"]["pruned"]
    assert exactness(printed) < 1e-5 and full["metadata"]["exactness"] == exactness(printed)
    assert len(printed["links"]) > len(data["links"])


def test_scores_clamps_and_virtual_weights_over_held_out_positions(tiny_set, tmp_path, capsys):
    folder, store, _ = tiny_set
    report = attribute_main([str(folder), "--store", str(store.root), "--positions", "30"])
    for name in ("replacement", "completeness", "replacement_no_bias"):
        assert 0 < report["scores"][name]["mean"] <= 1
    assert report["positions"] == 30
    frozen = clamp_main(
        [str(folder), "--store", str(store.root), "--positions", "6", "--freeze", "both"]
    )
    assert frozen["all"]["pearson"] > 0.999999 and frozen["all"]["slope"] == pytest.approx(1)
    vw = vw_main(
        [
            str(folder),
            "--store",
            str(store.root),
            "--positions",
            "5",
            "--json",
            str(tmp_path / "vw.json"),
        ]
    )
    saved = json.loads((tmp_path / "vw.json").read_text())
    assert saved["top_connections"]["1"]["0"]["upstream"][0][0] == 0
    assert len(vw["approximations"]) == 2
    capsys.readouterr()


@pytest.mark.parametrize(
    "args,message",
    [
        (["XO-X"], "bad position"),
        (["------/------/--OX--/--XO--/------/----- X"], "bad position"),
        (
            [START, "--target", "a1"],
            "a1 is not a legal move in this position (legal: c2, b3, e4, d5)",
        ),
        ([START, "--target", "z9"], "is not a square"),
        (["XXXXXX/XXXXXX/XXXXXX/XXXXXX/XXXXXX/XXXXXO X"], "the game is over"),
        (["--------/--------/--------/---OX---/---XO---/--------/--------/-------- X"], "8x8"),
    ],
)
def test_bad_input_is_one_line(tiny_set, capsys, args, message):
    folder, _, _ = tiny_set
    with pytest.raises(SystemExit) as e:
        attribute_main([str(folder), *args])
    assert message in str(e.value) and str(e.value).startswith("error: ")
    assert "\n" not in str(e.value)


def test_usage_errors_and_a_folder_that_is_not_a_set(tiny_set, tmp_path):
    folder, store, _ = tiny_set
    run = [sys.executable, "-m", "transcoder.attribute"]
    r = subprocess.run(run + [str(tmp_path), START], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"error: {tmp_path} is not a transcoder set (no transcoders.json); train one with "
        f"python train_transcoder.py --all-layers --out {tmp_path}"
    ]
    for extra in ([], [START, "--store", str(store.root)], [START, "--node-threshold", "2"]):
        with pytest.raises(SystemExit) as e:
            attribute_main([str(folder), *extra])
        assert e.value.code == 2
