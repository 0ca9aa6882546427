"""Pruning and scores as circuit-tracer defines them (checked on a hand-made graph), the batched
scores against one graph at a time, the graph JSON (exact from the file alone, ids, labels),
and virtual weights against the exact per-position edges."""

import json

import numpy as np
import pytest
import torch
from test_attribution import random_net, random_transcoders

from transcoder import attribution as at
from transcoder.graph_json import exactness, explanation_labels, to_json
from transcoder.prune import batch_scores, graph_scores, prune_graph
from transcoder.virtual_weights import (
    ln_error,
    ln_inverse_means,
    random_play_positions,
    top_connections,
    virtual_weights,
)


def hand_graph() -> at.AttributionGraph:
    """input i -> latent l (edge 2); l -> target (3); error e -> target (1); bias b -> l (-2)."""
    kind = np.array([at.LATENT, at.TARGET, at.ERROR, at.INPUT, at.BIAS], np.int8)
    A = torch.zeros(5, 5, dtype=torch.float64)
    A[0, 3], A[0, 4], A[1, 0], A[1, 2] = 2.0, -2.0, 3.0, 1.0
    return at.AttributionGraph(
        adjacency=A,
        kind=kind,
        layer=np.array([0, 2, 0, -1, 0]),
        feature=np.array([7, 14, -1, 0, -1]),
        activation=torch.tensor([0.0, 4.0, 1.0, 1.0, float("nan")], dtype=torch.float64),
        me=1,
        opp=2,
        board_size=6,
        n_blocks=1,
        target=14,
        prob=0.5,
        value=0.0,
    )


def test_scores_follow_circuit_tracers_definitions_on_a_hand_made_graph():
    g = hand_graph()
    # normalised rows: l <- i 0.5, b 0.5; target <- l 0.75, e 0.25. Influence on the target:
    # l 0.75, e 0.25, i 0.375, b 0.375.
    s = graph_scores(g)
    assert s["replacement"] == pytest.approx((0.375 + 0.375) / (0.375 + 0.375 + 0.25))
    # non-error share: target 0.75 (weight 1), every other node 1; influence + weight
    # l 0.75, e 0.25, i 0.375, b 0.375, target 1
    assert s["completeness"] == pytest.approx((0.75 + 0.75 + 0.25 + 0.375 + 0.375) / 2.75)
    # without bias nodes: l <- i only, so i's influence is 0.75
    s = graph_scores(g, include_bias=False)
    assert s["replacement"] == pytest.approx(0.75 / (0.75 + 0.25))
    assert s["completeness"] == pytest.approx((0.75 + 0.75 + 0.25 + 0.75) / 2.75)


def test_pruning_keeps_inputs_and_target_and_leaves_no_dangling_latents():
    net = random_net(12, n_blocks=3)
    layers = random_transcoders(net, True, seed=13)
    me, opp = random_play_positions(6, 8, seed=1)
    for b in range(4):
        g = at.build_graph(net, layers, me[b], opp[b])
        full = prune_graph(g, 1.0, 1.0)
        p = prune_graph(g)
        nodes, edges = p.node_mask, p.edge_mask
        kind = torch.as_tensor(g.kind)
        assert nodes[(kind == at.INPUT) | (kind == at.TARGET)].all()
        assert nodes.sum() < full.node_mask.sum() and edges.sum() < full.edge_mask.sum()
        latent = nodes & (kind == at.LATENT)
        assert edges[latent].any(1).all() and edges[:, latent].any(0).all()
        assert not edges[~nodes].any() and not edges[:, ~nodes].any()
        # circuit-tracer's cumulative shares: 1.0 at the least influential node
        assert float(p.cumulative.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        prune_graph(g, node_threshold=1.5)


def test_batched_scores_equal_one_graph_at_a_time():
    net = random_net(14)
    layers = random_transcoders(net, True, seed=15)
    me, opp = random_play_positions(6, 24, seed=2)
    s = batch_scores(net, layers, me, opp, chunk=7)
    gb = at.batch_graphs(net, layers, me, opp)
    for b in (0, 11, 23):
        one = graph_scores(gb.graph(b))
        assert s["replacement"][b] == pytest.approx(one["replacement"], rel=1e-6)
        assert s["completeness"][b] == pytest.approx(one["completeness"], rel=1e-6)
        no_bias = graph_scores(gb.graph(b), include_bias=False)["replacement"]
        assert s["replacement_no_bias"][b] == pytest.approx(no_bias, rel=1e-6)
    assert ((s["replacement"] > 0) & (s["replacement"] <= 1)).all()


def test_graph_json_is_exact_from_the_file_alone_and_carries_labels(tmp_path):
    net = random_net(16)
    layers = random_transcoders(net, True, seed=17)
    me, opp = random_play_positions(6, 4, seed=3)
    g = at.build_graph(net, layers, me[0], opp[0])
    latent, other = (int(f) for f in g.feature[np.flatnonzero(g.kind == at.LATENT)[:2]])
    # a label only where the held-out explanation holds, never an unexplained latent's guess
    report = {
        "latents": {
            str(latent): {"explained": True, "program": "mine@c3 & !legal_theirs@b2"},
            str(other): {"explained": False, "program": "empty@a1"},
        }
    }
    (tmp_path / "blocks.0").mkdir()
    (tmp_path / "blocks.0" / "explanations.json").write_text(json.dumps(report))
    (tmp_path / "blocks.0" / "concepts.json").write_text('{"latents": {"0": {"label": "x"}}}')
    labels = explanation_labels([tmp_path / "blocks.0", tmp_path / "missing"])
    assert labels == [{latent: "mine@c3 & !legal_theirs@b2"}, {}]

    data = json.loads(json.dumps(to_json(g, labels)))  # what a file holds
    assert exactness(data) < 1e-12
    ids = [n["node_id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids)) == g.n_nodes
    assert {link["source"] for link in data["links"]} <= set(ids)
    assert len(data["links"]) == int((g.adjacency != 0).sum())
    types = {n["feature_type"] for n in data["nodes"]}
    assert types == {
        "embedding",
        "cross layer transcoder",
        "mlp reconstruction error",
        "bias",
        "logit",
    }
    node = next(
        n
        for n in data["nodes"]
        if n["node_id"] == f"0_{latent}_{len(data['metadata']['prompt_tokens']) - 1}"
    )
    assert node["clerp"] == "mine@c3 & !legal_theirs@b2" and node["layer"] == "0"
    target = [n for n in data["nodes"] if n["is_target_logit"]]
    assert len(target) == 1 and "(p=" in target[0]["clerp"]
    embedded = [n for n in data["nodes"] if n["feature_type"] == "embedding"]
    assert [n["ctx_idx"] for n in embedded] == list(range(len(embedded)))
    assert set(data) >= {"metadata", "qParams", "nodes", "links", "scores"}
    assert data["scores"]["replacement"] == pytest.approx(graph_scores(g)["replacement"])

    pruned = to_json(prune_graph(g), labels)
    assert len(pruned["links"]) < len(data["links"]) and pruned["metadata"]["pruned"]
    assert pruned["scores"] == data["scores"]  # scores are the unpruned graph's
    # a link removed from the file breaks exactness, as a checker would see
    data["links"] = data["links"][1:]
    assert exactness(data) > 1e-6


def test_virtual_weights_are_the_exact_edges_when_the_ln_scales_are_the_positions_own():
    net = random_net(18, n_blocks=3)
    layers = random_transcoders(net, True, seed=19)
    me, opp = random_play_positions(6, 12, seed=4)
    own = ln_inverse_means(net, me[:1], opp[:1])  # one position: its own 1/sigma values
    assert ln_error(net, layers, me[:1], opp[:1], own)["relative_rms_error"] < 1e-10
    # other positions have other LN scales: an approximation, but only a scale per row away
    # when there is no skip path between blocks
    plain = random_transcoders(net, False, seed=19)
    r = ln_error(net, plain, me, opp, ln_inverse_means(net, me, opp))
    assert (
        r["relative_rms_error"] > 1e-4 and r["relative_rms_error_best_row_scale"] < 1e-6
    )  # sqrt of a difference

    inv = ln_inverse_means(net, me, opp)
    top = top_connections(net, layers, k=3, inv=inv)
    V02 = virtual_weights(net, layers, 0, 2, inv)
    V12 = virtual_weights(net, layers, 1, 2, inv)
    for latent in (0, 5):
        up = top[2][latent]["upstream"]
        assert len(up) == 3 and "downstream" not in top[2][latent]
        weights = [abs(w) for _, _, w in up]
        assert weights == sorted(weights, reverse=True)
        best = max(V02[latent].abs().max(), V12[latent].abs().max())
        assert weights[0] == pytest.approx(float(best), rel=1e-6)
        for block, other, w in up:
            assert w == pytest.approx(float((V02 if block == 0 else V12)[latent, other]), rel=1e-6)
        down = top[0][latent]["downstream"]
        assert {b for b, _, _ in down} <= {1, 2} and "upstream" not in top[0][latent]
    assert set(top) == {0, 1, 2} and len(top[1]) == layers[1].cfg.n_latents
