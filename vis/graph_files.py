"""A transcoder set's attribution graphs as circuit-tracer's front end serves them.

Its local server (`circuit_tracer.frontend.local_server.serve(data_dir=...)`) answers
`/data/graph-metadata.json` ({"graphs": [metadata, ...]}) and `/graph_data/<slug>.json` from
one folder, so each set's folder DATA/graphs/<set>/ holds exactly that: one file per graph named
by its slug, and graph-metadata.json listing their metadata. Slugs are made file names here
(unique within the set; a graph file given with another slug gets the new one written in).
"""

from __future__ import annotations

from pathlib import Path

from vis.layout import safe_id

METADATA_NAME = "graph-metadata.json"


def named_graphs(graphs: list[dict], transcoders: list[str | None]) -> list[tuple[str, dict]]:
    """[(slug, graph)] with each graph's metadata carrying that slug and, where it names none,
    `transcoder_list` = the set's dictionary ids block by block."""
    out, taken = [], {Path(METADATA_NAME).stem}
    for i, graph in enumerate(graphs):
        meta = dict(graph.get("metadata") or {})
        base = safe_id(str(meta.get("slug") or f"graph-{i}"))
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        meta["slug"] = slug
        if not meta.get("transcoder_list"):
            meta["transcoder_list"] = [t or "" for t in transcoders]
        out.append((slug, {**graph, "metadata": meta}))
    return out


def graph_metadata(named: list[tuple[str, dict]]) -> dict:
    return {"graphs": [graph["metadata"] for _, graph in named]}
