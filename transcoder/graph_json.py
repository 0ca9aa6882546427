"""Attribution graphs as JSON in circuit-tracer's schema (docs/attribution_graph.md).

    {"metadata": {slug, scan, prompt_tokens, prompt, node_threshold, schema_version,
                  transcoder_list, + ours: board_size, target, logit, prob, value, pruned,
                  edge_threshold, node_counts},
     "qParams": {pinnedIds, supernodes, linkType, clickedId, sg_pos},
     "nodes": [{node_id, jsNodeId, feature, layer, ctx_idx, feature_type, activation,
                influence, token_prob, is_target_logit, run_idx, reverse_ctx_idx, clerp,
                + ours: latent, logit, error_norm}, ...],
     "links": [{source, target, weight}, ...],
     "scores": {"replacement", "completeness", "replacement_no_bias", "completeness_no_bias"}}

A board is the "prompt": its tokens are the input features that are on (`mine@c3`, ...), one
context index each, and everything else sits at the last index (circuit-tracer's front end
draws nodes by layer and context index, and drops a feature id seen at more than 2/3 of the
tokens, so the tokens must be many). Everything its front end reads follows its own writer
(`circuit_tracer.frontend.graph_models.Node`): with schema_version 1 a latent's `feature` is
the Cantor pairing of (block, latent) (its front end unpairs it to show "L3/834"); ids are
`{block}_{latent}_{ctx}` (latents), `E_{feature}_{ctx}` (inputs), `0_{block}_{ctx}` (errors),
`{n_blocks + 1}_{action}_{ctx}` (the target), with jsNodeIds `{block}_{latent}-0`,
`E_{feature}-{ctx}`, `{block}_{ctx}-0`, `L_{action}-{ctx}`; inputs, errors and the target
carry a null `activation`, the target a null `influence`. Our numbers ride along as extra
fields, which its front end ignores: `latent` (the raw latent id), `logit` (the target's
value), `error_norm`. Biases (circuit-tracer has none) are `{layer}_bias_{ctx}`; an error
whose id would equal a block-0 latent's (latent id = the error's block) gets `_error` added.
`influence` is circuit-tracer's cumulative share (small = important). On an unpruned graph
anyone can check exactness from the file alone (`exactness`). Scores are those of the
unpruned graph.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from common.io import CheckpointError, read_json
from othello.game import Position
from transcoder.attribution import BIAS, ERROR, INPUT, LATENT, TARGET, VALUE, AttributionGraph
from transcoder.prune import PrunedGraph, cumulative_influence, graph_scores

SCHEMA_VERSION = 1
FEATURE_TYPES = {
    LATENT: "cross layer transcoder",  # circuit-tracer's name for any transcoder feature
    TARGET: "logit",
    ERROR: "mlp reconstruction error",
    INPUT: "embedding",
    BIAS: "bias",
}
EXPLANATIONS_FILE = "explanations.json"


# -- latent labels from held-out explanations -----------------------------------------------
def explanation_labels(folders: list[str | os.PathLike | None]) -> list[dict[int, str]]:
    """Per block {latent: program} from `<folder>/explanations.json` (`python -m sae.explain`),
    only for latents whose held-out explanation holds (`explained`); a block without a report
    gets no labels. An unexplained latent's best guess is never used as a label."""
    labels = []
    for folder in folders:
        path = Path(folder) / EXPLANATIONS_FILE if folder is not None else None
        if path is None or not path.exists():
            labels.append({})
            continue
        report = read_json(path, "explanations report")
        if not isinstance(report, dict) or not isinstance(report.get("latents"), dict):
            raise CheckpointError(f"{path} is not an explanations report (no 'latents')")
        labels.append(
            {
                int(latent): str(info["program"])
                for latent, info in report["latents"].items()
                if isinstance(info, dict) and info.get("explained") and info.get("program")
            }
        )
    return labels


concept_labels = explanation_labels  # the name transcoder.attribute imports


def cantor(layer: int, index: int) -> int:
    """circuit-tracer's `feature` of a transcoder node under schema_version 1."""
    return (layer + index) * (layer + index + 1) // 2 + index


def graph_slug(graph: AttributionGraph) -> str:
    """The board with "_" for empty squares, then the target: unique per position and target,
    and a file name (circuit-tracer's front end reads `graph_data/<slug>.json`)."""
    position = Position(graph.me, graph.opp, True, graph.board_size)
    return "".join(position.to_text().split()).replace("-", "_") + f"-{graph.target_name}"


# -- the JSON -------------------------------------------------------------------------------
def _prompt(graph: AttributionGraph) -> str:
    return Position(graph.me, graph.opp, True, graph.board_size).to_text()


def to_json(
    graph: AttributionGraph | PrunedGraph,
    labels: list[dict[int, str]] | None = None,
    slug: str | None = None,
    prompt: str | None = None,
    transcoders: list[str] | None = None,
) -> dict:
    """The graph (pruned or not) in circuit-tracer's schema plus `scores` (of the unpruned
    graph). `labels`: per block {latent: label}, e.g. from `explanation_labels`."""
    pruned = graph if isinstance(graph, PrunedGraph) else None
    g = pruned.graph if pruned else graph
    A = g.adjacency.detach().double().cpu()
    N = g.n_nodes
    if pruned:
        cumulative, nodes, edges = pruned.cumulative, pruned.node_mask, pruned.edge_mask
    else:
        cumulative = cumulative_influence(g)[1]
        nodes, edges = torch.ones(N, dtype=torch.bool), A != 0
    nodes, edges = nodes.cpu(), edges.cpu() & (A != 0)
    cumulative = cumulative.double().cpu()
    activation = g.activation.detach().double().cpu()

    inputs = [i for i in range(N) if g.kind[i] == INPUT]
    ctx_of = {i: c for c, i in enumerate(inputs)}
    last = len(inputs)  # latents, errors, biases and the target sit after the board's tokens
    tokens = [g.node_name(i) for i in inputs] + [g.target_name]
    labels = labels or []
    latent_ids = {
        f"{int(g.layer[i])}_{int(g.feature[i])}_{last}" for i in range(N) if g.kind[i] == LATENT
    }
    ids, out_nodes = {}, []
    for i in range(N):
        kind, layer, feature = int(g.kind[i]), int(g.layer[i]), int(g.feature[i])
        ctx = ctx_of.get(i, last)
        act = float(activation[i])
        extra: dict = {}
        if kind == LATENT:
            node_id, js = f"{layer}_{feature}_{ctx}", f"{layer}_{feature}-0"
            clerp = labels[layer].get(feature, "") if layer < len(labels) else ""
            extra["latent"], feature = feature, cantor(layer, feature)
        elif kind == INPUT:
            node_id, js = f"E_{feature}_{ctx}", f"E_{feature}-{ctx}"
            feature, clerp, act = ctx, g.node_name(i), float("nan")
        elif kind == ERROR:
            node_id, js = f"0_{layer}_{ctx}", f"{layer}_{ctx}-0"
            if node_id in latent_ids:  # block 0's latent number `layer` is on: keep ids unique
                node_id += "_error"
            clerp, extra["error_norm"], act = f"Err: mlp of block {layer}", act, float("nan")
        elif kind == BIAS:
            lay = "E" if layer < 0 else str(layer)
            what = "stem" if layer < 0 else "head" if layer == g.n_blocks else f"block {layer}"
            node_id, js, clerp = f"{lay}_bias_{ctx}", f"{lay}_bias-{ctx}", f"Bias: {what}"
        else:
            node_id, js = f"{layer}_{feature}_{ctx}", f"L_{feature}-{ctx}"
            what = "value" if g.target == VALUE else f'"{g.target_name}"'
            clerp, extra["logit"], act = f"Output {what} (p={g.prob:.3f})", act, float("nan")
        ids[i] = node_id
        if not bool(nodes[i]):
            continue
        out_nodes.append(
            {
                "node_id": node_id,
                "jsNodeId": js,
                "feature": feature,
                "layer": "E" if kind == INPUT or (kind == BIAS and layer < 0) else str(layer),
                "ctx_idx": ctx,
                "feature_type": FEATURE_TYPES[kind],
                "activation": None if act != act else act,  # NaN: circuit-tracer's null
                "influence": None if kind == TARGET else float(cumulative[i]),
                "token_prob": g.prob if kind == TARGET else 0.0,
                "is_target_logit": kind == TARGET,
                "run_idx": 0,
                "reverse_ctx_idx": 0,
                "clerp": clerp,
                **extra,
            }
        )
    dst, src = edges.nonzero(as_tuple=True)
    links = [
        {"source": ids[int(s)], "target": ids[int(t)], "weight": float(A[t, s])}
        for t, s in zip(dst.tolist(), src.tolist(), strict=True)
    ]
    counts = {name: int((g.kind == k).sum()) for k, name in FEATURE_TYPES.items()}
    s_bias, s_plain = graph_scores(g), graph_scores(g, include_bias=False)
    return {
        "metadata": {
            "slug": slug or graph_slug(g),
            "scan": "othello-alphazero",
            "transcoder_list": list(transcoders or []),
            "prompt_tokens": tokens,
            "prompt": prompt or _prompt(g),
            "node_threshold": pruned.node_threshold if pruned else None,
            "edge_threshold": pruned.edge_threshold if pruned else None,
            "schema_version": SCHEMA_VERSION,
            "pruned": pruned is not None,
            "board_size": g.board_size,
            "target": g.target_name,
            "logit": float(activation[g.target_index]),
            "prob": g.prob,
            "value": g.value,
            "node_counts": counts,
        },
        "qParams": {
            "pinnedIds": [],
            "supernodes": [],
            "linkType": "both",
            "clickedId": "",
            "sg_pos": "",
        },
        "nodes": out_nodes,
        "links": links,
        "scores": {
            **s_bias,
            **{f"{k}_no_bias": v for k, v in s_plain.items()},
        },
    }


def exactness(graph_json: dict) -> float:
    """From the JSON alone: the largest |sum of incoming link weights - activation| over the
    latents and the target (its `logit`), relative to the largest |incoming weight| sum. Near float
    rounding on an unpruned graph; a pruned graph drops edges, so it is not exact."""
    incoming: dict[str, float] = {}
    magnitude: dict[str, float] = {}
    for link in graph_json["links"]:
        t, w = link["target"], float(link["weight"])
        incoming[t] = incoming.get(t, 0.0) + w
        magnitude[t] = magnitude.get(t, 0.0) + abs(w)
    worst, scale = 0.0, 1e-30
    for node in graph_json["nodes"]:
        if node["feature_type"] in (FEATURE_TYPES[LATENT], FEATURE_TYPES[TARGET]):
            # the target's activation is null (circuit-tracer's convention): its value is "logit"
            value = node["activation"] if node.get("logit") is None else node["logit"]
            worst = max(worst, abs(incoming.get(node["node_id"], 0.0) - value))
            scale = max(scale, magnitude.get(node["node_id"], 0.0))
    return worst / scale
