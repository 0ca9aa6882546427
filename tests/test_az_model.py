"""The agent's network: hook API, masking, checkpoint round trip and validation."""

import json

import numpy as np
import pytest
import torch

from alphazero.model import AlphaZeroNet, NetConfig, encode, load_agent, save_agent
from common.io import CheckpointError
from othello import batch
from tests.engine_helpers import as_arrays, random_positions


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval()


@pytest.fixture(scope="module")
def inputs(net):
    positions = [p for p in random_positions(6, 40, seed=1) if not p.is_terminal()]
    return net.encode(*as_arrays(positions))


def test_encoding_planes_match_the_board():
    positions = random_positions(6, 10, seed=2)
    me, opp = as_arrays(positions)
    x, legal = encode(me, opp, 6)
    x = x.numpy().reshape(len(positions), 4, 36)
    for i, p in enumerate(positions):
        for sq in range(36):
            assert x[i, 0, sq] == (p.me >> sq & 1)
            assert x[i, 1, sq] == (p.opp >> sq & 1)
            assert x[i, 2, sq] == (not (p.me | p.opp) >> sq & 1)
            assert x[i, 3, sq] == (p.legal_moves() >> sq & 1)
        assert legal[i].sum() >= 1  # never an all-masked row


def test_illegal_moves_are_masked_and_probabilities_sum_to_one(net, inputs):
    x, legal = inputs
    out = net(x, legal)
    assert torch.isinf(out.policy_logits[~legal]).all()
    assert torch.isfinite(out.policy_logits[legal]).all()
    probs = torch.softmax(out.policy_logits, -1)
    assert torch.allclose(probs.sum(-1), torch.ones(len(x)))
    assert (out.value.abs() < 1).all()


def test_cache_returns_every_requested_site(net, inputs):
    x, legal = inputs
    out, cache = net.run_with_cache(x, legal, net.sites)
    assert set(cache) == set(net.sites)
    for site, act in cache.items():
        assert act.shape == (len(x), net.site_dim(site))
    # resid_post of a block is the next block's resid_pre; mlp_out is their difference.
    assert torch.equal(cache["blocks.0.resid_post"], cache["blocks.1.resid_pre"])
    diff = cache["blocks.1.resid_post"] - cache["blocks.1.resid_pre"]
    assert torch.allclose(diff, cache["blocks.1.mlp_out"], atol=1e-6)
    clean = net(x, legal)
    assert torch.equal(out.policy_logits, clean.policy_logits)


def test_hooks_replace_activations_downstream(net, inputs):
    x, legal = inputs
    clean = net(x, legal)
    same = net.run_with_hooks(x, legal, {"blocks.1.mlp_in": lambda t: None})
    assert torch.equal(same.value, clean.value)
    zeroed = net.run_with_hooks(x, legal, {"blocks.0.mlp_out": torch.zeros_like})
    assert not torch.allclose(zeroed.value, clean.value)
    # Zeroing an MLP's output is the same as running without that MLP's contribution.
    _, cache = net.run_with_cache(x, legal, ["blocks.0.resid_pre"])
    out = net.run_with_hooks(
        x, legal, {"blocks.0.resid_post": lambda t: cache["blocks.0.resid_pre"]}
    )
    assert torch.allclose(out.value, zeroed.value, atol=1e-6)
    assert not net._hooks  # hooks are removed afterwards


def test_unknown_site_is_a_clear_error(net, inputs):
    with pytest.raises(ValueError, match="unknown hook site"):
        net.run_with_cache(*inputs, ["blocks.9.resid_post"])


def test_checkpoint_round_trip(net, inputs, tmp_path):
    save_agent(net, tmp_path / "agent", iteration=3)
    loaded, config = load_agent(tmp_path / "agent")
    assert config["iteration"] == 3 and config["board_size"] == 6
    assert config["net"]["d_model"] == 32
    a, b = net(*inputs), loaded(*inputs)
    assert torch.equal(a.policy_logits, b.policy_logits)


def test_loading_validates_shapes_and_kind(net, tmp_path):
    save_agent(net, tmp_path / "agent")
    cfg_path = tmp_path / "agent.json"
    config = json.loads(cfg_path.read_text())
    config["net"]["d_model"] = 64
    cfg_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not match"):
        load_agent(tmp_path / "agent")
    config["kind"] = "sae"
    cfg_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="expected 'alphazero'"):
        load_agent(tmp_path / "agent")
    with pytest.raises(CheckpointError, match="not found"):
        load_agent(tmp_path / "missing")
    cfg_path.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_agent(tmp_path / "agent")


def test_predict_matches_forward(net):
    me, opp = batch.start(3, 6)
    probs, values = net.predict(me, opp)
    assert probs.shape == (3, 37) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert set(np.flatnonzero(probs[0] > 0)) == {8, 13, 22, 27}  # the 4 opening moves


def test_float16_storage_loads_as_a_float32_net(net, tmp_path):
    save_agent(net, tmp_path / "half", dtype=torch.float16)
    loaded, config = load_agent(tmp_path / "half")
    assert config["weights_dtype"] == "float16"
    for a, b in zip(net.parameters(), loaded.parameters(), strict=True):
        assert b.dtype == torch.float32
        assert torch.equal(b, a.detach().half().float())
    assert (tmp_path / "half.safetensors").stat().st_size < 0.6 * _size(net, tmp_path)


def _size(net, tmp_path):
    save_agent(net, tmp_path / "full")
    return (tmp_path / "full.safetensors").stat().st_size
