"""Metrics: FVU over the whole set, spliced fidelity against the clean net and mean-ablation,
spliced win rate, and the evaluate / train_sae command lines end to end on a tiny store."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from othello import batch
from sae.dictionary.metrics import ErrorSums, spliced_metrics, spliced_win_rate
from sae.dictionary.model import DictConfig, Dictionary


def test_fvu_sums_over_the_set_not_per_row():
    y = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    y_hat = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 0.0]])
    sums = ErrorSums(2)
    sums.add(y[:2], y_hat[:2])  # in two chunks: the sums must not care
    sums.add(y[2:], y_hat[2:])
    r = sums.result()
    # mean (2, 0); sum ||y - mean||^2 = 4 + 0 + 4 = 8; squared error 1 + 1 + 0 = 2
    assert r["fvu"] == pytest.approx(2 / 8)
    assert r["explained_variance"] == pytest.approx(0.75)
    assert r["mse"] == pytest.approx(2 / 6)
    assert r["nmse"] == pytest.approx(2 / 20)
    # cos: row 0 has y = 0 (cos 0), row 1 = 2/sqrt(5), row 2 = 1
    assert r["cosine"] == pytest.approx((0 + 2 / 5**0.5 + 1) / 3)


@pytest.fixture(scope="module")
def net_and_positions():
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval()
    rng = np.random.default_rng(0)
    me, opp = batch.start(64, 6)
    seen_me, seen_opp = [], []
    for _ in range(12):  # random playouts: a spread of real positions
        moves = batch.legal_action_mask(me, opp, 6)
        me, opp = batch.play(me, opp, batch.sample_actions(moves, rng), 6)
        keep = ~batch.is_terminal(me, opp, 6)
        seen_me.append(me[keep])
        seen_opp.append(opp[keep])
    return net, np.concatenate(seen_me), np.concatenate(seen_opp)


def test_identity_splice_is_perfect_and_mean_ablation_scores_zero(net_and_positions):
    net, me, opp = net_and_positions
    site = "blocks.1.resid_pre"
    perfect = spliced_metrics(net, me, opp, site, site, lambda t: t)
    assert perfect["kl"] == pytest.approx(0.0, abs=1e-6)
    assert perfect["agreement"] == 1.0 and perfect["value_mse"] == pytest.approx(0.0, abs=1e-10)
    assert perfect["kl_score"] == pytest.approx(1.0)
    assert perfect["agreement_score"] == pytest.approx(1.0)
    assert perfect["kl_ablated"] > 0

    x, legal = net.encode(me, opp)
    _, cache = net.run_with_cache(x, legal, [site])
    mean = cache[site].mean(0)
    ablated = spliced_metrics(net, me, opp, site, site, lambda t: mean.expand_as(t))
    for key in ("kl_score", "agreement_score", "value_mse_score"):
        assert ablated[key] == pytest.approx(0.0, abs=1e-5)
    noisy = spliced_metrics(net, me, opp, site, site, lambda t: t + 0.02 * torch.randn_like(t))
    assert 0 < noisy["kl"] < perfect["kl_ablated"]


def test_transcoder_splice_uses_the_input_site(net_and_positions):
    net, me, opp = net_and_positions
    block = net.blocks[1]

    def true_mlp(h):
        return block.fc_out(torch.nn.functional.gelu(block.fc_in(h)))

    exact = spliced_metrics(net, me, opp, "blocks.1.mlp_in", "blocks.1.mlp_out", true_mlp)
    assert exact["kl"] == pytest.approx(0.0, abs=1e-6) and exact["agreement"] == 1.0


def test_identity_spliced_agent_scores_exactly_half(net_and_positions):
    net, _, _ = net_and_positions
    # deterministic players on paired openings with colours swapped: mirror results
    result = spliced_win_rate(net, "blocks.0.mlp_out", "blocks.0.mlp_out", lambda t: t, games=8)
    assert result == {"win_rate": 0.5, "games": 8}


def test_sae_spliced_through_a_dictionary(net_and_positions):
    net, me, opp = net_and_positions
    d = Dictionary(DictConfig("topk", d_in=32, n_latents=64, k=4, in_site="blocks.1.resid_pre"))
    x, legal = net.encode(me, opp)
    _, cache = net.run_with_cache(x, legal, ["blocks.1.resid_pre"])
    norm = float(cache["blocks.1.resid_pre"].detach().norm(dim=1).mean())
    d.set_scales(norm, norm)
    with torch.no_grad():
        m = spliced_metrics(net, me, opp, "blocks.1.resid_pre", "blocks.1.resid_pre", d.eval())
    assert m["kl"] > 0 and 0 <= m["agreement"] <= 1


def test_train_and_evaluate_command_lines_end_to_end(tmp_path):
    torch.manual_seed(0)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval(), tmp_path / "agent")
    site = "blocks.1.resid_post"
    store = tmp_path / "store"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sae.activations",
            "--checkpoint",
            str(tmp_path / "agent.json"),
            "--sites",
            site,
            "--positions",
            "600",
            "--games-per-chunk",
            "8",
            "--out",
            str(store),
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [
            sys.executable,
            "train_sae.py",
            "--store",
            str(store),
            "--site",
            site,
            "--latents",
            "32",
            "--k",
            "4",
            "--steps",
            "5",
            "--batch-size",
            "64",
            "--games",
            "2",
            "--positions",
            "64",
            "--out",
            str(tmp_path / "sae"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "topk_k4_n32" in out and "FVU" in out
    dict_path = tmp_path / "sae" / "topk_k4_n32" / "dictionary.json"
    config = json.loads(dict_path.read_text())
    assert config["step"] == 5 and config["data"]["store"] == str(store)
    table = subprocess.run(
        [
            sys.executable,
            "-m",
            "sae.dictionary.evaluate",
            str(dict_path),
            "--games",
            "2",
            "--positions",
            "32",
            "--json",
            str(tmp_path / "m.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "KL score" in table and "win rate" in table
    metrics = json.loads((tmp_path / "m.json").read_text())["topk_k4_n32"]
    assert (
        metrics["l0"] <= 4
        and metrics["rows"]
        == json.loads((store / "manifest.json").read_text())["split"]["heldout_rows"]
    )
    bad = subprocess.run(
        [sys.executable, "train_sae.py", "--store", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no activation store" in bad.stderr
