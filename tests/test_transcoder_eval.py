"""Transcoder fidelity: splicing every block at once is the replaced network computed by hand,
exact MLPs score perfectly and mean-ablation zero, and `python -m transcoder.evaluate` writes
a consistent report, a heatmap row per skill level, and one-line errors."""

import json

import pytest
import torch
import torch.nn.functional as F
from engine_helpers import as_arrays, random_positions
from test_transcoder_train import make_store

from alphazero.model import AlphaZeroNet, NetConfig
from sae.dictionary.metrics import multi_splice_hooks, multi_spliced_metrics
from transcoder.evaluate import main as evaluate_main
from transcoder.fidelity import phase_agreement, phase_bins, splices
from transcoder.set import load_transcoder_set
from transcoder.train_cli import main as train_main


@pytest.fixture(scope="module")
def net_positions():
    torch.manual_seed(1)
    net = AlphaZeroNet(NetConfig(d_model=16, n_blocks=3)).eval()
    positions = [p for p in random_positions(6, 240, seed=0) if not p.is_terminal()]
    return net, *as_arrays(positions)  # like a store: positions before a move


def sites(i):
    return f"blocks.{i}.mlp_in", f"blocks.{i}.mlp_out"


def _constant(mu):
    return lambda h: mu.expand(len(h), -1)


def _mlp(block):
    return lambda h: block.fc_out(F.gelu(block.fc_in(h)))


def test_all_blocks_spliced_is_the_replaced_net_by_hand(net_positions):
    net, me, opp = net_positions
    g = torch.Generator().manual_seed(0)
    fake = [torch.randn(16, 16, generator=g) * 0.3 for _ in net.blocks]  # stand-in transcoders
    replace = [(*sites(i), lambda h, W=W: h @ W) for i, W in enumerate(fake)]
    x, legal = net.encode(me, opp)
    with torch.no_grad():
        got = net.run_with_hooks(x, legal, multi_splice_hooks(replace)).policy_logits
        h = net.stem(x)
        for block, W in zip(net.blocks, fake, strict=True):
            h = h + block.ln(h) @ W  # each reads the mlp_in of the already replaced stream
        want = net.policy_head(net.ln_final(h)).masked_fill(~legal, float("-inf"))
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="spliced twice"):
        multi_splice_hooks(replace + replace[:1])


def test_exact_mlps_score_one_and_mean_ablation_zero(net_positions):
    net, me, opp = net_positions
    exact = [(*sites(i), _mlp(b)) for i, b in enumerate(net.blocks)]
    m = multi_spliced_metrics(net, me, opp, exact)
    assert m["kl"] == pytest.approx(0, abs=1e-6) and m["agreement"] == 1.0
    assert m["kl_score"] == pytest.approx(1.0) and m["kl_ablated"] > 0
    x, legal = net.encode(me, opp)
    _, cache = net.run_with_cache(x, legal, [s for _, s, _ in exact])
    ablate = [(i, o, _constant(cache[o].mean(0))) for i, o, _ in exact]
    a = multi_spliced_metrics(net, me, opp, ablate)
    for key in ("kl_score", "agreement_score", "value_mse_score"):
        assert a[key] == pytest.approx(0.0, abs=1e-5)
    # the phase breakdown counts every position once and agrees with the overall agreement
    ph = phase_agreement(net, ablate, me, opp)
    assert sum(ph["positions"]) == len(me)
    assert ph["overall"] == pytest.approx(a["agreement"])
    assert phase_bins(6)[0] == (29, 32) and phase_bins(6)[-1] == (1, 4)


def test_evaluate_command_line_end_to_end(tmp_path):
    main_store = make_store(tmp_path / "final", positions=600)
    level_store = make_store(tmp_path / "level", positions=300, seed=7, iteration=3)
    small = ["--all-layers", "--latents", "32", "--k", "4", "--steps", "30", "--batch-size", "64"]
    for store, out in ((main_store, "set"), (level_store, "level_set")):
        train_main([*small, "--store", str(store.root), "--out", str(tmp_path / out)])
    sizes = ["--positions", "128", "--solver-positions", "12", "--games", "4"]
    report = evaluate_main([str(tmp_path / "set"), *sizes, "--levels", str(tmp_path / "level_set")])
    written = json.loads((tmp_path / "set" / "fidelity.json").read_text())
    assert written["layers"].keys() == {"blocks.0", "blocks.1", "all"}
    for name in ("blocks.0", "blocks.1"):
        layer = written["layers"][name]
        assert layer["rows"] == main_store.manifest["split"]["heldout_rows"]
        assert layer["l0"] <= 4 and 0 <= layer["dead_fraction"] <= 1
    solver = written["solver"]
    assert solver["original"]["positions"] == solver["replaced"]["positions"] == 12
    assert written["match"]["games"] == 4
    labels = [row["label"] for row in written["phase"]]
    assert labels == ["agent (iteration 3), 32 latents", "agent, 32 latents"]  # by iteration
    assert written["phase"][1]["overall"] == pytest.approx(written["layers"]["all"]["agreement"])
    png = (tmp_path / "set" / "fidelity_phase.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and report["heatmap"].endswith("fidelity_phase.png")

    tset = load_transcoder_set(tmp_path / "set")
    assert [s[2] for s in splices(tset)] == tset.layers
    with pytest.raises(SystemExit, match="not a transcoder set"):
        evaluate_main([str(tmp_path / "final")])
    with pytest.raises(SystemExit) as usage:
        evaluate_main([str(tmp_path / "set"), "--positions", "0"])
    assert usage.value.code == 2
