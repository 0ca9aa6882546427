"""Our attribution graphs against circuit-tracer's own code (the `circuit-tracer` package,
installed without its model dependencies: requirements-ct.txt): every node of our JSON equals
the node its writer (`circuit_tracer.frontend.graph_models.Node`) makes for the same feature,
every graph validates as its `Model`, and our pruning and scores equal its `prune_graph` and
`compute_graph_scores` run on the same matrices laid out in its node order."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from test_attribution import random_net, random_transcoders

from transcoder import attribution as at
from transcoder.graph_json import cantor, exactness, to_json
from transcoder.prune import graph_scores, prune_graph
from transcoder.virtual_weights import random_play_positions


def _circuit_tracer():
    """Its graph and front-end modules. Its package __init__ chain imports `transformers` for
    a tokenizer that graph files need only when written from a language model: a stand-in
    module takes its place, so the test needs neither transformers nor a model."""
    if "transformers" not in sys.modules:
        stub = types.ModuleType("transformers")
        stub.AutoTokenizer = None
        sys.modules["transformers"] = stub
    ct_graph = pytest.importorskip(
        "circuit_tracer.graph",
        reason="circuit-tracer is not installed (pip install --no-deps -r requirements-ct.txt)",
    )
    models = pytest.importorskip("circuit_tracer.frontend.graph_models")
    return ct_graph, models


CT_GRAPH, CT_MODELS = _circuit_tracer()


@pytest.fixture(scope="module")
def graphs():
    """Graphs of 8 positions on a random 2-block net with skip transcoders, in float32 (the
    dtype circuit-tracer's pruning works in)."""
    net = random_net(21, dtype=torch.float32)
    layers = random_transcoders(net, True, seed=22, dtype=torch.float32)
    me, opp = random_play_positions(6, 8, seed=5)
    return [at.build_graph(net, layers, me[i], opp[i]) for i in range(len(me))]


def _check_nodes_against_its_writer(data: dict, n_blocks: int) -> None:
    Node = CT_MODELS.Node
    CT_MODELS.Model(**data)  # its schema accepts the file
    ids = [n["node_id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids))
    tokens = data["metadata"]["prompt_tokens"]
    for node in data["nodes"]:
        kind, ctx = node["feature_type"], node["ctx_idx"]
        if kind == "cross layer transcoder":
            theirs = Node.feature_node(
                int(node["layer"]), ctx, node["latent"], node["influence"], node["activation"]
            )
        elif kind == "mlp reconstruction error":
            theirs = Node.error_node(int(node["layer"]), ctx, node["influence"])
        elif kind == "embedding":
            vocab = int(node["node_id"].split("_")[1])
            theirs = Node.token_node(ctx, vocab, node["influence"])
            assert tokens[ctx] == at.input_name(vocab, 6)
        elif kind == "logit":
            action = int(node["node_id"].split("_")[1])
            name = data["metadata"]["target"]
            theirs = Node.logit_node(ctx, action, name, n_blocks, True, node["token_prob"])
        else:
            assert kind == "bias" and node["activation"] is None  # ours alone
            continue
        want = theirs.model_dump()
        if kind != "logit":  # a free label there (its front end writes its own when empty)
            want.pop("clerp")
        got = {k: node.get(k) for k in want}
        if kind == "mlp reconstruction error" and node["node_id"].endswith("_error"):
            got["node_id"] = node["node_id"].removesuffix("_error")  # a latent held its id
        for k in ("influence", "activation", "token_prob"):
            assert got.pop(k) == pytest.approx(want.pop(k), abs=1e-12), (k, node)
        assert got == want


def test_every_node_is_what_circuit_tracers_writer_makes(graphs):
    for g in graphs:
        for graph in (g, prune_graph(g)):
            data = json.loads(json.dumps(to_json(graph)))
            _check_nodes_against_its_writer(data, g.n_blocks)
            # extras: the raw latent id, the target's value; exact from the file alone
            latents = [n for n in data["nodes"] if n["feature_type"] == "cross layer transcoder"]
            assert all(n["feature"] == cantor(int(n["layer"]), n["latent"]) for n in latents)
            if graph is g:
                assert exactness(data) < 1e-5


def test_an_error_id_that_a_latent_holds_stays_unique():
    """circuit-tracer names block l's error `0_l_pos`, which is also block 0's latent l at
    that position: ours keeps the latent's id and gives the error `_error` at the end."""
    kind = np.array([at.LATENT, at.TARGET, at.ERROR, at.ERROR, at.INPUT], np.int8)
    A = torch.zeros(5, 5, dtype=torch.float64)
    A[0, 4], A[1, 0], A[1, 3], A[0, 2] = 1.0, 2.0, 0.5, 0.25
    g = at.AttributionGraph(
        adjacency=A,
        kind=kind,
        layer=np.array([0, 3, 0, 1, -1]),
        feature=np.array([1, 14, -1, -1, 0]),
        activation=torch.tensor([1.25, 2.5, 0.1, 0.2, 1.0], dtype=torch.float64),
        me=1,
        opp=2,
        board_size=6,
        n_blocks=2,
        target=14,
        prob=0.5,
        value=0.0,
    )
    data = to_json(g)
    ids = {n["feature_type"] + str(n["layer"]): n["node_id"] for n in data["nodes"]}
    assert ids["cross layer transcoder0"] == "0_1_1"
    assert ids["mlp reconstruction error1"] == "0_1_1_error"
    assert ids["mlp reconstruction error0"] == "0_0_1"
    assert {link["source"] for link in data["links"]} == {"E_0_0", "0_1_1", "0_1_1_error", "0_0_1"}
    _check_nodes_against_its_writer(json.loads(json.dumps(data)), 2)


def _their_layout(g: at.AttributionGraph, biases_as_errors: bool):
    """(a circuit-tracer Graph stand-in, order): our nodes re-ordered as its adjacency expects,
    [features, errors (n_layers x n_pos slots), tokens, logits]. Our one error per block takes a
    slot; biases take other error slots (pruning treats both alike: kept only with an outgoing
    edge) or, for the scores, are left out (its graphs have none: our `include_bias=False`)."""
    kind = g.kind
    latents, inputs = np.flatnonzero(kind == at.LATENT), np.flatnonzero(kind == at.INPUT)
    errors, biases = np.flatnonzero(kind == at.ERROR), np.flatnonzero(kind == at.BIAS)
    slots = len(inputs) * g.n_blocks
    fill = list(errors) + (list(biases) if biases_as_errors else [])
    assert len(fill) <= slots
    order = list(latents) + fill + [-1] * (slots - len(fill)) + list(inputs) + [g.target_index]
    n = len(order)
    A = torch.zeros(n, n, dtype=g.adjacency.dtype)
    real = torch.tensor([i for i, o in enumerate(order) if o >= 0])
    src = torch.tensor([o for o in order if o >= 0])
    A[real[:, None], real[None, :]] = g.adjacency[src[:, None], src[None, :]]
    stand_in = types.SimpleNamespace(
        input_tokens=torch.zeros(len(inputs), dtype=torch.long),
        logit_targets=[("target", 0)],
        selected_features=torch.arange(len(latents)),
        adjacency_matrix=A,
        logit_probabilities=torch.ones(1, dtype=A.dtype),
        cfg=types.SimpleNamespace(n_layers=g.n_blocks),
    )
    return stand_in, order


def test_pruning_equals_circuit_tracers_prune_graph(graphs):
    compared = 0
    for g in graphs:
        theirs_graph, order = _their_layout(g, biases_as_errors=True)
        theirs = CT_GRAPH.prune_graph(theirs_graph, 0.8, 0.98)
        ours = prune_graph(g, 0.8, 0.98)
        for i, o in enumerate(order):
            if o < 0:
                continue
            assert bool(theirs.node_mask[i]) == bool(ours.node_mask[o]), (i, o)
            assert float(theirs.cumulative_scores[i]) == pytest.approx(
                float(ours.cumulative[o]), abs=1e-5
            )
            compared += 1
        real = torch.tensor([i for i, o in enumerate(order) if o >= 0])
        src = torch.tensor([o for o in order if o >= 0])
        their_edges = theirs.edge_mask[real[:, None], real[None, :]]
        their_edges &= theirs_graph.adjacency_matrix[real[:, None], real[None, :]] != 0
        assert torch.equal(their_edges, ours.edge_mask[src[:, None], src[None, :]])
    assert compared > 100


def test_scores_equal_circuit_tracers_compute_graph_scores(graphs):
    for g in graphs:
        theirs_graph, _ = _their_layout(g, biases_as_errors=False)
        replacement, completeness = CT_GRAPH.compute_graph_scores(theirs_graph)
        ours = graph_scores(g, include_bias=False)
        assert ours["replacement"] == pytest.approx(replacement, abs=1e-5)
        assert ours["completeness"] == pytest.approx(completeness, abs=1e-5)
        assert 0 < replacement < 1


def test_every_graph_of_an_export_opens_in_circuit_tracers_schema(tmp_path):
    """The viewer export's graphs folder holds what circuit-tracer's local server serves:
    graph-metadata.json listing every graph and `<slug>.json` per graph, each valid."""
    from tests.test_vis_export import FAST, build_inputs, run_export

    inputs = build_inputs(tmp_path)
    index = run_export(inputs, tmp_path / "data", FAST)
    folder = tmp_path / "data" / "graphs" / "tc"
    listed = json.loads((folder / "graph-metadata.json").read_text())["graphs"]
    files = sorted(p.name for p in folder.glob("*.json") if p.name != "graph-metadata.json")
    assert sorted(f"{m['slug']}.json" for m in listed) == files
    assert len(files) == len(index["transcoder_sets"][0]["graphs"]) == 1 + FAST.graphs
    for name in files:
        data = json.loads((folder / name).read_text())
        CT_MODELS.Model(**data)
        assert data["metadata"]["transcoder_list"] == ["tc-blocks.0", "tc-blocks.1"]
        if data["metadata"]["scan"] == "othello-alphazero":  # built by the export
            _check_nodes_against_its_writer(data, 2)
    assert Path(folder / files[0]).exists()
