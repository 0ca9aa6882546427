"""Transcoder training: the engine feeds each run its own sites from one pass, --all-layers
equals training each block alone, the skip term learns a linear map, the set folder loads
(and rejects a dictionary in the wrong slot), and the command line's errors are one line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import sae.activations.collect as acts_mod
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from common.io import CheckpointError
from sae.activations.batches import Columns, Pairs
from sae.dictionary.model import DictConfig, save_dictionary
from sae.dictionary.train import RunSpec, TrainConfig, train
from transcoder.set import load_transcoder_set, write_set_config
from transcoder.train_cli import main as train_main

SITES = [f"blocks.{i}.{k}" for i in range(2) for k in ("mlp_in", "mlp_out")]


def make_store(root, positions=600, seed=0, **agent_metadata):
    """A tiny agent (2 blocks, d_model 16) and a store of its MLP inputs and outputs."""
    torch.manual_seed(seed)
    net = AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval()
    save_agent(net, root / "agent", **agent_metadata)
    return acts_mod.collect(
        f"{root / 'agent'}.json",
        SITES,
        positions,
        root / "store",
        games_per_chunk=8,
        progress=False,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("tc"))


def linear_columns(n=3000, d=8, seed=0):
    """Two (x, y) column pairs with different linear maps y = x A_i."""
    rng = np.random.default_rng(seed)
    cols, maps = {}, []
    for i in range(2):
        x = rng.standard_normal((n, d)).astype(np.float32)
        A = rng.standard_normal((d, d)).astype(np.float32)
        cols[f"in{i}"], cols[f"out{i}"] = x, x @ A
        maps.append(A)
    return cols, maps


def fvu(d, x, y):
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        return float((d(x) - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum())


def spec(i, d=8, skip=True, n=16, k=2):
    sites = {"in_site": f"in{i}", "out_site": f"out{i}"}
    cfg = DictConfig("topk", d_in=d, n_latents=n, k=k, skip=skip, **sites)
    return RunSpec(f"r{i}", cfg, lr=1e-2)


def test_one_pass_feeds_each_run_its_own_pair_and_skip_learns_the_linear_map(tmp_path):
    cols, _ = linear_columns()
    data = Columns(3000, {name: (lambda r, a=a: a[r]) for name, a in cols.items()})
    cfg = TrainConfig(batch_size=256, steps=300, progress=False, warmup_steps=10)
    out = train([spec(0), spec(1)], data, cfg, tmp_path)
    for i in range(2):
        own = fvu(out[f"r{i}"], cols[f"in{i}"], cols[f"out{i}"])
        other = fvu(out[f"r{i}"], cols[f"in{1 - i}"], cols[f"out{1 - i}"])
        assert own < 0.02 and other > 0.5, (i, own, other)
    # without the skip term, 2 of 16 latents cannot express a dense linear map as well
    plain = train([spec(0, skip=False)], data, cfg, tmp_path / "plain")["r0"]
    assert fvu(plain, cols["in0"], cols["out0"]) > 5 * fvu(out["r0"], cols["in0"], cols["out0"])


def test_columns_batches_are_the_pairs_batches_and_a_missing_site_is_named():
    cols, _ = linear_columns(n=5000)
    data = Columns(5000, {n: (lambda r, a=a: a[r]) for n, a in cols.items()}, window_rows=4096)
    pairs = Pairs.from_arrays(cols["in1"], cols["out1"], window_rows=4096)
    got, want = data.batches(300, seed=4, start=3), pairs.batches(300, seed=4, start=3)
    for _ in range(6):  # crosses a window: same rows, same order
        x, y = data.pick(next(got), spec(1).dictionary)
        wx, wy = next(want)
        torch.testing.assert_close(x, wx)
        torch.testing.assert_close(y, wy)
    bad = DictConfig("topk", d_in=8, n_latents=16, k=2, in_site="in0", out_site="nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        data.pick(next(data.batches(300)), bad)


def _weights(folder, block):
    tset = load_transcoder_set(folder, partial=True)
    return tset.layers[block].state_dict()


def test_all_layers_equals_each_layer_alone_and_the_set_loads(store, tmp_path):
    common = ["--latents", "32", "--k", "4", "--steps", "12", "--batch-size", "64", "--skip"]
    common += ["--store", str(store.root)]
    train_main([*common, "--all-layers", "--out", str(tmp_path / "all")])
    train_main([*common, "--layer", "1", "--out", str(tmp_path / "one")])
    for key, value in _weights(tmp_path / "one", 1).items():
        torch.testing.assert_close(_weights(tmp_path / "all", 1)[key], value, msg=key)

    tset = load_transcoder_set(tmp_path / "all")
    assert tset.blocks == [0, 1] and tset.config["n_blocks"] == 2
    for i, d in enumerate(tset.layers):
        assert (d.cfg.in_site, d.cfg.out_site) == (f"blocks.{i}.mlp_in", f"blocks.{i}.mlp_out")
        assert d.cfg.skip and d.cfg.n_latents == 32
    assert tset.config["agent"] == store.manifest["checkpoint"]
    assert tset.config["store"]["hash"] == store.hash
    with pytest.raises(CheckpointError, match=r"no transcoder for block\(s\) \[0\]"):
        load_transcoder_set(tmp_path / "one")
    assert load_transcoder_set(tmp_path / "one", partial=True).blocks == [1]


def test_a_dictionary_in_the_wrong_slot_is_rejected(store, tmp_path):
    d = load_transcoder_set(_trained(store, tmp_path)).layers[1]
    save_dictionary(d, tmp_path / "bad" / "blocks.0" / "dictionary")
    save_dictionary(d, tmp_path / "bad" / "blocks.1" / "dictionary")
    write_set_config(tmp_path / "bad", 2, None, None)
    with pytest.raises(CheckpointError, match="layer 0 of a transcoder set must map"):
        load_transcoder_set(tmp_path / "bad")
    with pytest.raises(CheckpointError, match="not a transcoder set"):
        load_transcoder_set(tmp_path)


def _trained(store, tmp_path):
    out = tmp_path / "set"
    args = ["--all-layers", "--latents", "16", "--k", "2", "--steps", "3", "--batch-size", "32"]
    train_main([*args, "--store", str(store.root), "--out", str(out)])
    return out


def test_command_line_errors_are_one_line(store, tmp_path):
    with pytest.raises(SystemExit) as usage:
        train_main(["--store", str(store.root), "--layer", "5"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as usage:
        train_main(["--store", str(tmp_path / "none"), "--all-layers"])
    assert usage.value.code == 2
    # a store with only some of the sites: say which command collects them
    partial = tmp_path / "partial"
    (partial / "acts").mkdir(parents=True)
    (partial / "meta").symlink_to(store.root / "meta")
    manifest = json.loads((store.root / "manifest.json").read_text())
    manifest["sites"] = {"blocks.0.mlp_in": 16}
    (partial / "manifest.json").write_text(json.dumps(manifest))
    (partial / "acts" / "blocks.0.mlp_in.npy").symlink_to(store.root / "acts/blocks.0.mlp_in.npy")
    missing = subprocess.run(
        [sys.executable, "train_transcoder.py", "--store", str(partial), "--all-layers"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("error: ")
    assert "python -m sae.activations" in missing.stderr
    assert "--sites blocks.0.mlp_in,blocks.0.mlp_out,blocks.1.mlp_in" in missing.stderr
