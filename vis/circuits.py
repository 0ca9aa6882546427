"""Circuit panels of a transcoder set: virtual weights between blocks, attribution graphs.

Both come from the transcoder modules (`transcoder.virtual_weights.top_connections`,
`transcoder.attribution.build_graph` -> `transcoder.prune.prune_graph` ->
`transcoder.graph_json.to_json`). Graph files in circuit-tracer's
schema made elsewhere can also be added (`--graph-json`); nodes whose `feature_type` names a
transcoder link to latent `feature` of block `layer` of the set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from common.cli import InputError
from transcoder.attribution import build_graph
from transcoder.graph_json import to_json
from transcoder.prune import prune_graph
from transcoder.virtual_weights import top_connections

NODE_KEYS = ("node_id", "feature_type")
LINK_KEYS = ("source", "target", "weight")


class GraphError(InputError):
    """A graph file that is not in circuit-tracer's schema."""


def connections(net, layers, ids: list[str | None], k: int) -> dict:
    """{block: {latent: {"upstream": [[dict id, latent, weight], ...], "downstream": ...}}}
    with block numbers replaced by the exported dictionary ids (`ids[block]`)."""
    with torch.no_grad():
        top = top_connections(net, layers, k=k)
    out: dict = {}
    for block, per_latent in top.items():
        for latent, sides in per_latent.items():
            out.setdefault(int(block), {})[int(latent)] = {
                side: [[ids[int(b)], int(j), float(w)] for b, j, w in sides.get(side, [])]
                for side in ("upstream", "downstream")
            }
    return out


def build_graphs(
    net, layers, positions: list[tuple[int, int]], notes: list[str], labels=None
) -> list[dict]:
    """Pruned attribution graphs (circuit-tracer JSON) of the agent's move per position;
    `labels` per block {latent: program} (`transcoder.graph_json.explanation_labels`)."""
    if any(d is None for d in layers):
        notes.append("skipped: attribution graphs need a transcoder for every block")
        return []
    graphs = []
    for me, opp in positions:
        me_a, opp_a = np.array([me], np.uint64), np.array([opp], np.uint64)
        graph = build_graph(net, layers, me_a, opp_a, target=None)
        graphs.append(to_json(prune_graph(graph), labels))
    return graphs


def read_graph(path: str | Path) -> dict:
    """A circuit-tracer graph JSON file, checked for the fields the viewer draws."""
    try:
        graph = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise GraphError(f"{path}: not a readable JSON file ({e})") from None
    check_graph(graph, str(path))
    return graph


def check_graph(graph, source: str) -> None:
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise GraphError(f"{source}: not a circuit-tracer graph (no 'nodes' list)")
    if not isinstance(graph.get("links"), list):
        raise GraphError(f"{source}: not a circuit-tracer graph (no 'links' list)")
    for node in graph["nodes"]:
        if not isinstance(node, dict) or any(k not in node for k in NODE_KEYS):
            raise GraphError(f"{source}: a node lacks one of {', '.join(NODE_KEYS)}")
    for link in graph["links"]:
        if not isinstance(link, dict) or any(k not in link for k in LINK_KEYS):
            raise GraphError(f"{source}: a link lacks one of {', '.join(LINK_KEYS)}")


def graph_entry(graph: dict, file: str, board: int | None) -> dict:
    """What the index lists for a graph: its file, position, target and scores."""
    meta = graph.get("metadata") or {}
    targets = [n for n in graph["nodes"] if n.get("is_target_logit")]
    return {
        "file": file,
        "slug": str(meta.get("slug") or Path(file).stem),
        "prompt": str(meta.get("prompt") or ""),
        "board": board,
        "target": (targets[0].get("clerp") or targets[0]["node_id"]) if targets else None,
        "nodes": len(graph["nodes"]),
        "links": len(graph["links"]),
        "scores": graph.get("scores") or {},
    }
