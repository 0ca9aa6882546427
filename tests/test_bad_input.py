"""Bad input ends in one clear line, never a traceback: exit code 2 for usage errors (argparse),
1 for a file that exists but is wrong. Also: paths recorded in stores and dictionaries
resolve from any working directory. The command lines run in forked children of the fork
server (tests/test_crash_forkserver.py), exactly as their `main(argv)`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import sae.activations.collect as acts_mod
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from sae.activations.batches import Pairs
from sae.dictionary.model import DictConfig
from sae.dictionary.train import RunSpec, TrainConfig, train
from tests.test_crash_forkserver import server

SITE = "blocks.1.resid_post"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tiny agent, a store of it and a small SAE trained on the store."""
    root = tmp_path_factory.mktemp("bad")
    torch.manual_seed(0)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval(), root / "agent")
    store = acts_mod.collect(
        root / "agent.json", [SITE], 200, root / "store", games_per_chunk=4, progress=False
    )
    spec = RunSpec("sae", DictConfig("topk", d_in=16, n_latents=32, k=4, in_site=SITE))
    cfg = TrainConfig(batch_size=32, steps=5, progress=False)
    train([spec], Pairs.from_store(store, SITE), cfg, root / "dicts")
    return root


def one_line_error(r, code: int, *needles: str) -> str:
    """The run failed with `code` and one line saying what is wrong (argparse's usage line
    may precede a usage error); returns that line."""
    assert "Traceback" not in r.output, r.output
    lines = [x for x in r.lines if not x.startswith(("usage:", " "))]  # (usage wraps indented)
    assert r.rc == code and len(lines) == 1, (r.rc, r.output)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def edited_agent(made, tmp_path, edit) -> str:
    """A copy of the agent whose JSON config `edit` changed (the weights untouched)."""
    shutil.copy(made / "agent.safetensors", tmp_path / "agent.safetensors")
    config = json.loads((made / "agent.json").read_text())
    edit(config)
    (tmp_path / "agent.json").write_text(json.dumps(config))
    return str(tmp_path / "agent.json")


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda c: c["net"].update(board_size=7), "board size must be an even integer"),
        (lambda c: c.update(board_size=7), "board_size disagrees with the net config"),
        (lambda c: c["net"].update(d_model=0), "d_model must be a positive integer, got 0"),
        (lambda c: c["net"].update(d_model="wide"), "got 'wide'"),
    ],
)
def test_evaluate_with_a_bad_agent_config(made, tmp_path, edit, needle):
    ckpt = edited_agent(made, tmp_path, edit)
    r = server().run(
        "sae.dictionary.evaluate",
        made / "dicts/sae/dictionary.json",
        "--checkpoint",
        ckpt,
        "--games",
        "0",
    )
    one_line_error(r, 1, "error:", "agent.json", needle)


def test_train_sae_on_a_store_with_a_corrupt_manifest(made, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(made / "store", store)
    text = (store / "manifest.json").read_text()
    (store / "manifest.json").write_text(text[: len(text) // 2])
    r = server().run("train_sae.py", "--store", store, "--out", tmp_path / "out")
    one_line_error(r, 1, "error:", "manifest.json is not valid JSON")


def test_train_sae_on_a_store_with_missing_npy_files(made, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(made / "store", store)
    (store / "acts" / f"{SITE}.npy").unlink()
    (store / "meta" / "policy.npy").unlink()
    r = server().run("train_sae.py", "--store", store, "--site", SITE, "--out", tmp_path / "o")
    one_line_error(r, 1, "error:", "2 data file(s) missing", f"{SITE}.npy")


def test_a_checkpoint_with_nan_weights_is_refused_by_name(made, tmp_path):
    # weights overwritten in place: the file no longer matches the hash its config records
    shutil.copy(made / "agent.json", tmp_path / "agent.json")
    data = bytearray((made / "agent.safetensors").read_bytes())
    data[-64:] = np.full(16, np.nan, np.float32).tobytes()
    (tmp_path / "agent.safetensors").write_bytes(data)
    args = ["--games", "2", "--p2", "random", "--p1"]
    r = server().run("play.py", *args, f"az:{tmp_path / 'agent'}")
    one_line_error(r, 2, "agent.safetensors does not match the SHA-256 recorded")
    # NaN weights saved with a matching hash: the finiteness check names the tensor
    net = AlphaZeroNet(NetConfig(d_model=16, n_blocks=2))
    with torch.no_grad():
        net.policy_head.weight.fill_(float("nan"))
    save_agent(net, tmp_path / "nan")
    r = server().run("play.py", *args, f"az:{tmp_path / 'nan'}")
    one_line_error(r, 2, "nan.safetensors", "'policy_head.weight' holds NaN")


def test_solve_reads_a_position_starting_with_a_dash(tmp_path):
    full = "-XXXXX/OOOOOO/XXXXXX/OOOOOO/XXXXXX/OOOOO-X"  # no spaces: argparse saw an option
    r = server().run("othello.solve", full)
    assert r.rc == 0 and "value +0 (D)" in r.output, r.output
    r = server().run("othello.solve", "--max-empties", "2", full)
    assert r.rc == 0, r.output
    r = server().run("othello.solve", full.replace("O-X", "Q-X"))
    one_line_error(r, 2, "bad position: square e6 holds 'Q'")


def test_recorded_paths_resolve_from_another_folder(made, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dictionary = made / "dicts/sae/dictionary.json"
    config = json.loads(dictionary.read_text())
    assert config["data"]["store"] == str(made / "store")  # recorded absolute
    args = ["--games", "0", "--positions", "64"]
    r = server().run("sae.dictionary.evaluate", dictionary, *args, cwd=elsewhere)
    assert r.rc == 0 and "0.0" in r.output, r.output
    # a dictionary that records its store relative to its own folder (written by hand, or
    # moved together with the store) resolves it there, not from the working directory
    moved = tmp_path / "moved"
    shutil.copytree(made / "dicts/sae", moved / "dicts/sae")
    shutil.copytree(made / "store", moved / "store")
    config["data"]["store"] = "../../store"
    (moved / "dicts/sae/dictionary.json").write_text(json.dumps(config))
    r = server().run(
        "sae.dictionary.evaluate", moved / "dicts/sae/dictionary.json", *args, cwd=elsewhere
    )
    assert r.rc == 0, r.output
