"""Pruning an attribution graph, and its replacement and completeness scores, as circuit-tracer
defines them (safety-research/circuit-tracer, `graph.py`).

Influence: with Â the adjacency with absolute values, each row normalised to sum 1 (the share
of each source in a node's direct input), and w the target weights (1 on our one target),
a node's influence is w^T (Â + Â^2 + Â^3 + ...): its share of the target's input over paths
of every length. The graph is a DAG of depth n_blocks + 1, so the series ends exactly.

Pruning: keep the nodes with the largest influence that together hold `node_threshold` (0.8)
of it, plus every input and the target; on that subgraph score each edge by its normalised
weight times (its receiving node's influence + weight) and keep the edges holding
`edge_threshold` (0.98) of the total; then drop, until nothing changes, latents without
incoming edges and latents, errors and biases without outgoing ones.

Scores, on the unpruned graph:
    replacement   influence of the inputs / (inputs + errors): how much of the path from the
                  board to the target runs through latents rather than error nodes;
    completeness  sum over nodes of (1 - error share of its normalised input) x (its
                  influence + weight) / sum of (influence + weight).
Our graphs also have bias nodes (exactness needs them; circuit-tracer's have none). They
are sources of the replacement, not error: by default they count with the inputs in the
replacement score and stay in the normalisation; `include_bias=False` drops them first,
for a figure computed on circuit-tracer's node set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from othello import batch
from transcoder.attribution import (
    BIAS,
    ERROR,
    INPUT,
    LATENT,
    TARGET,
    AttributionGraph,
    batch_graphs,
    path_sum,
)

CHUNK = 64  # positions per batched graph: 64 x ~300 x ~300 floats = 23 MB (faster than 128)


def normalize(adjacency: torch.Tensor) -> torch.Tensor:
    """|A| with each row scaled to sum 1 (rows of zeros stay zero)."""
    a = adjacency.abs()
    return a / a.sum(-1, keepdim=True).clamp_min(1e-10)


def influence(normalized: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """w^T (Â + Â^2 + ...), batched on leading dims."""
    return path_sum(normalized, weights)


def find_threshold(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """The score above which the largest scores hold `fraction` of the total."""
    ordered = scores.sort(descending=True).values
    cumulative = ordered.cumsum(0) / ordered.sum().clamp_min(1e-30)
    bar = torch.tensor(fraction, dtype=cumulative.dtype, device=cumulative.device)
    at = int(torch.searchsorted(cumulative, bar))
    return ordered[min(at, len(ordered) - 1)]


def _without_bias(adjacency: torch.Tensor, kind: np.ndarray) -> torch.Tensor:
    keep = torch.as_tensor(kind != BIAS, device=adjacency.device).to(adjacency.dtype)
    return adjacency * keep.unsqueeze(-1) * keep


def scores(adjacency, kind: np.ndarray, weights, include_bias: bool = True) -> dict:
    """(replacement, completeness) tensors over the leading dims (one per graph)."""
    if not include_bias:
        adjacency = _without_bias(adjacency, kind)
    norm = normalize(adjacency)
    infl = influence(norm, weights)
    k = torch.as_tensor(kind, device=adjacency.device)
    errors = (k == ERROR).to(norm.dtype)
    sources = ((k == INPUT) | (k == BIAS)) if include_bias else (k == INPUT)
    good = (infl * sources.to(norm.dtype)).sum(-1)
    bad = (infl * errors).sum(-1)
    out_infl = infl + weights
    complete = 1 - (norm * errors).sum(-1)
    return {
        "replacement": good / (good + bad).clamp_min(1e-30),
        "completeness": (complete * out_infl).sum(-1) / out_infl.sum(-1),
    }


def graph_scores(graph: AttributionGraph, include_bias: bool = True) -> dict[str, float]:
    s = scores(graph.adjacency, graph.kind, graph.target_weights(), include_bias)
    return {name: float(v) for name, v in s.items()}


@dataclass
class PrunedGraph:
    graph: AttributionGraph
    node_mask: torch.Tensor  # [N] bool
    edge_mask: torch.Tensor  # [N, N] bool, rows receive
    cumulative: torch.Tensor  # [N] circuit-tracer's node "influence": the cumulative share
    # of influence held by the nodes ranked at or above this one (small = important)
    node_threshold: float
    edge_threshold: float


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def cumulative_influence(graph: AttributionGraph) -> tuple[torch.Tensor, torch.Tensor]:
    """(node influence, cumulative share at each node's rank)."""
    infl = influence(normalize(graph.adjacency), graph.target_weights())
    ordered, order = infl.sort(descending=True)
    cumulative = torch.empty_like(infl)
    cumulative[order] = ordered.cumsum(0) / ordered.sum().clamp_min(1e-30)
    return infl, cumulative


def prune_graph(
    graph: AttributionGraph, node_threshold: float = 0.8, edge_threshold: float = 0.98
) -> PrunedGraph:
    _check_fraction("node_threshold", node_threshold)
    _check_fraction("edge_threshold", edge_threshold)
    A, w = graph.adjacency, graph.target_weights()
    kind = torch.as_tensor(graph.kind, device=A.device)
    infl, cumulative = cumulative_influence(graph)
    nodes = infl >= find_threshold(infl, node_threshold)
    nodes |= (kind == INPUT) | (kind == TARGET)

    pruned = A * (nodes[:, None] & nodes[None, :]).to(A.dtype)
    norm = normalize(pruned)
    edge_scores = norm * (influence(norm, w) + w)[:, None]
    edges = edge_scores >= find_threshold(edge_scores.flatten(), edge_threshold)
    edges &= pruned != 0

    # drop, until stable, latents without inputs and latents / errors / biases without outputs
    needs_out = (kind == LATENT) | (kind == ERROR) | (kind == BIAS)
    needs_in = kind == LATENT
    while True:
        edges &= nodes[:, None] & nodes[None, :]
        keep = nodes & ~(needs_out & ~edges.any(0)) & ~(needs_in & ~edges.any(1))
        if torch.equal(keep, nodes):
            break
        nodes = keep
    return PrunedGraph(graph, nodes, edges, cumulative, node_threshold, edge_threshold)


def batch_scores(
    net, layers, me, opp, target=None, chunk: int = CHUNK, progress: bool = False
) -> dict[str, np.ndarray]:
    """Replacement and completeness (with and without bias nodes) of many positions' unpruned
    graphs, built and scored `chunk` positions at a time: [B] arrays per score."""
    me, opp = batch.as_bitboards(me).reshape(-1), batch.as_bitboards(opp).reshape(-1)
    out: dict[str, list] = {}
    starts = range(0, len(me), chunk)
    for s in tqdm(starts, desc="graphs", unit="chunk", disable=not progress):
        tgt = target if target is None or np.ndim(target) == 0 else target[s : s + chunk]
        gb = batch_graphs(net, layers, me[s : s + chunk], opp[s : s + chunk], tgt)
        w = gb.target_weights()
        for suffix, with_bias in (("", True), ("_no_bias", False)):
            for name, v in scores(gb.adjacency, gb.kind, w, with_bias).items():
                out.setdefault(name + suffix, []).append(v.float().cpu().numpy())
        nodes = gb.present & torch.as_tensor(gb.kind == LATENT, device=gb.present.device)
        out.setdefault("latents", []).append(nodes.sum(1).cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}
