"""Attribution graphs on a transcoder replacement: exactness on random nets and random
transcoders (with and without skip), the graph's predictions against reruns of the frozen local
model (exact) and of the real net, and what a graph holds."""

import numpy as np
import pytest
import torch
from engine_helpers import as_arrays, random_positions

from alphazero.model import AlphaZeroNet, NetConfig
from othello.game import Position
from sae.dictionary.model import DictConfig, Dictionary
from transcoder.attribution import (
    BIAS,
    ERROR,
    INPUT,
    LATENT,
    TARGET,
    AttributionError,
    batch_graphs,
    build_graph,
    unit_scale,
)
from transcoder.interventions import ClampConfig, agreement, clamp_check

D, LATENTS, K = 16, 48, 5
FORCED_PASS = Position.from_text("OOXXXX/-OXXXX/-OOXOX/XOOXXX/-OOOOX/XXXXXX O")  # O must pass


def random_net(seed=0, n_blocks=2, dtype=torch.float64) -> AlphaZeroNet:
    """A tiny net with every LayerNorm's gain and bias random too (not 1 and 0)."""
    torch.manual_seed(seed)
    net = AlphaZeroNet(NetConfig(d_model=D, n_blocks=n_blocks))
    with torch.no_grad():
        for ln in [b.ln for b in net.blocks] + [net.ln_final]:
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.normal_(0, 0.3)
    return net.to(dtype).eval()


def random_transcoders(net, skip, seed=0, dtype=torch.float64) -> list[Dictionary]:
    """Random TopK transcoders with random biases, skip term and non-trivial scales."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i in range(net.cfg.n_blocks):
        sites = {"in_site": f"blocks.{i}.mlp_in", "out_site": f"blocks.{i}.mlp_out"}
        t = Dictionary(DictConfig("topk", d_in=D, n_latents=LATENTS, k=K, skip=skip, **sites))
        t.reset_parameters(g)
        with torch.no_grad():
            t.b_enc.normal_(0, 0.5, generator=g)
            t.b_dec.normal_(0, 0.5, generator=g)
            if skip:
                t.W_skip.normal_(0, 0.3, generator=g)
            t.in_scale.fill_(1.7 + 0.2 * i)
            t.out_scale.fill_(0.6)
        layers.append(t.to(dtype).eval())
    return layers


@pytest.fixture(scope="module")
def positions():
    live = [p for p in random_positions(6, 60, seed=3) if not p.is_terminal()]
    return as_arrays(live + [FORCED_PASS])


def _exactness(gb):
    """Largest |sum of incoming edges - activation| over latents and targets, relative to
    the largest incoming |edge| sum."""
    rows = gb.present & torch.as_tensor(np.isin(gb.kind, [LATENT, TARGET]))
    diff = (gb.adjacency.sum(-1) - gb.activation)[rows].abs().max()
    return float(diff / gb.adjacency.abs().sum(-1)[rows].max())


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_incoming_edges_sum_to_each_preactivation_and_the_logit(positions, skip, dtype, tol):
    net = random_net(1, dtype=dtype)
    layers = random_transcoders(net, skip, seed=2, dtype=dtype)
    for target in (None, "value"):
        gb = batch_graphs(net, layers, *positions, target=target)
        assert _exactness(gb) < tol
        # every latent fired, the logit is the net's own, the value's pre-activation its tanh
        assert (gb.activation[gb.present & torch.as_tensor(gb.kind == LATENT)] > 0).all()
        t = int(np.flatnonzero(gb.kind == TARGET)[0])
        x, legal = net.encode(*positions)
        out = net(x.to(dtype), legal)
        if target is None:
            want = out.policy_logits.gather(1, torch.as_tensor(gb.targets)[:, None])[:, 0]
        else:
            want = torch.atanh(out.value)
        torch.testing.assert_close(gb.activation[:, t], want.detach(), rtol=tol * 100, atol=1e-5)


@pytest.mark.parametrize("skip", [False, True])
def test_leaf_sources_account_for_the_whole_target(positions, skip):
    net = random_net(4)
    gb = batch_graphs(net, random_transcoders(net, skip, seed=5), *positions)
    contrib = gb.total_effects() * unit_scale(gb)
    leaves = torch.as_tensor(np.isin(gb.kind, [INPUT, ERROR, BIAS]))
    t = int(np.flatnonzero(gb.kind == TARGET)[0])
    torch.testing.assert_close((contrib * leaves).sum(1), gb.activation[:, t])


@pytest.mark.parametrize("skip", [False, True])
def test_clamping_a_latent_in_the_frozen_local_model_is_what_the_graph_predicts(positions, skip):
    """Every active latent clamped (ablated, then doubled) and the local model rerun
    through the net's hooks: the graph's predicted change of the target is exact."""
    net = random_net(6)
    layers = random_transcoders(net, skip, seed=7)
    me, opp = positions
    for scale, target in ((0.0, None), (2.0, "value")):
        cfg = ClampConfig(scale=scale, freeze="both", positions_per_chunk=16, rows_per_rerun=100)
        r = clamp_check(net, layers, me[:30], opp[:30], target, cfg)
        assert len(r["predicted"]) > 30 * K  # every active latent of every position
        scale_of = np.abs(r["predicted"]).max()
        assert np.abs(r["real"] - r["predicted"]).max() < 1e-9 * scale_of
    # the real net responds nonlinearly (LN scales, TopK), but a no-op clamp changes nothing:
    # the transcoders plus the clean run's errors reproduce the clean net
    r = clamp_check(net, layers, me[:20], opp[:20], cfg=ClampConfig(scale=1.0))
    assert np.abs(r["real"]).max() < 1e-9 and np.abs(r["predicted"]).max() == 0
    for freeze in ("ln", "active"):  # each freezing alone is not the local model
        r = clamp_check(net, layers, me[:20], opp[:20], cfg=ClampConfig(freeze=freeze))
        assert not np.allclose(r["real"], r["predicted"])
    r = clamp_check(net, layers, me[:20], opp[:20], cfg=ClampConfig(scale=0.0))
    stats = agreement(r, top=3)
    assert stats["all"]["n"] == len(r["real"]) and stats["top3"]["n"] == 3 * 20
    assert np.isfinite(r["real"]).all() and not np.allclose(r["real"], r["predicted"])


def test_a_graph_holds_the_nodes_that_are_on(positions):
    net = random_net(8)
    layers = random_transcoders(net, True, seed=9)
    me, opp = positions
    p = Position(int(me[0]), int(opp[0]))
    g = build_graph(net, layers, me[0], opp[0])
    inputs = g.kind == INPUT
    # one of mine / theirs / empty per square, plus the legal plane's squares
    assert inputs.sum() == 36 + len([a for a in p.legal_actions() if a < 36])
    assert {g.node_name(i) for i in np.flatnonzero(inputs)} >= {
        f"legal@{name}" for name in ("abcdef"[a % 6] + str(a // 6 + 1) for a in p.legal_actions())
    }
    for b in range(2):
        assert 1 <= ((g.kind == LATENT) & (g.layer == b)).sum() <= K
    assert (g.kind == ERROR).sum() == 2 and (g.kind == BIAS).sum() == 4
    # default target: the raw policy's move; another legal move or the value on request
    x, legal = net.encode(me[:1], opp[:1])
    assert g.target == int(net(x.double(), legal).policy_logits.argmax())
    other = [a for a in p.legal_actions() if a != g.target]
    if other:
        assert build_graph(net, layers, me[0], opp[0], target=other[0]).target == other[0]
    assert build_graph(net, layers, me[0], opp[0], target="value").target_name == "value"
    # a forced pass is attributed to the pass logit
    assert build_graph(net, layers, FORCED_PASS.me, FORCED_PASS.opp).target_name == "pass"


def test_bad_targets_and_layers_fail_with_one_line(positions):
    net = random_net(10)
    layers = random_transcoders(net, False, seed=11)
    me, opp = positions
    p = Position(int(me[0]), int(opp[0]))
    illegal = next(a for a in range(36) if a not in p.legal_actions())
    with pytest.raises(AttributionError, match="not legal"):
        build_graph(net, layers, me[0], opp[0], target=illegal)
    over = Position.from_text("XXXXXX/XXXXXX/XXXXXX/XXXXXX/XXXXXX/XXXXXO X")
    with pytest.raises(AttributionError, match="no move to attribute"):
        build_graph(net, layers, over.me, over.opp)
    assert build_graph(net, layers, over.me, over.opp, target="value").n_nodes > 0
    with pytest.raises(AttributionError, match="2 blocks"):
        build_graph(net, layers[:1], me[0], opp[0])
    with pytest.raises(AttributionError, match="block 0 needs blocks.0.mlp_in"):
        build_graph(net, layers[::-1], me[0], opp[0])
    with pytest.raises(AttributionError, match="one position"):
        build_graph(net, layers, me[:2], opp[:2])
