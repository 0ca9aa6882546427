"""Why does the agent play this move? An exact attribution graph on its transcoder replacement.

    python -m transcoder.attribute runs/transcoders "------/------/--OX--/--XO--/------/------ X"
    python -m transcoder.attribute runs/transcoders "<position>" --target c4 --no-prune --json -
    python -m transcoder.attribute runs/transcoders --store data/acts/agent --positions 1000

With a position (text: n*n squares of X / O / - row by row, then the side to move): builds the
graph (transcoder/attribution.py) for the target (default: the agent's raw-policy move;
`--target MOVE` another legal move; `--target value` the value head), prunes it as
circuit-tracer does unless `--no-prune`, prints a summary (the exact split of the logit into
inputs, biases and errors; the top latents; the top paths from input squares through latents
to the target, each path's exact share of the logit) and writes the JSON (circuit-tracer's
schema, docs/attribution_graph.md; `--json -` to stdout). Latent labels come from concepts
reports (`python -m sae.concepts`) at `<dictionary folder>/concepts.json`, or at
`DIR/blocks.{i}/concepts.json` with `--concepts DIR`.

With `--store` instead: replacement and completeness of the unpruned graphs of `--positions`
held-out positions of that store (batched), summarised, and written as JSON with `--json`.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from alphazero.model import load_agent
from common import cli
from common.io import CheckpointError, atomic_write_json, bundle_paths, resolve_recorded
from othello.game import Position, parse_square, square_name
from sae.activations.collect import file_hash
from sae.activations.store import ActivationStore
from transcoder.attribution import (
    BIAS,
    ERROR,
    INPUT,
    LATENT,
    VALUE,
    AttributionError,
    AttributionGraph,
    build_graph,
)
from transcoder.fidelity import heldout_positions
from transcoder.graph_json import concept_labels, exactness, to_json
from transcoder.prune import batch_scores, prune_graph
from transcoder.set import layer_name, load_transcoder_set

DEFAULT_OUT = Path("runs/attribution")


def open_set(folder, checkpoint=None, device: str = "cpu"):
    """(transcoder set, agent net): the agent the set records unless `checkpoint` is given;
    a given one must be that agent (the weights' SHA-256 the set records)."""
    tset = load_transcoder_set(folder, device)
    recorded = tset.agent_path
    if checkpoint is None and recorded is None:
        raise CheckpointError(f"{folder} records no agent: pass --checkpoint")
    path = checkpoint or resolve_recorded(recorded, tset.folder)
    trained = (tset.config.get("agent") or {}).get("sha256")
    weights = bundle_paths(path)[0]
    if trained and weights.is_file() and file_hash(weights) != trained:
        raise CheckpointError(
            f"{weights} is not the agent {tset.folder} was trained on ({recorded}, sha256 "
            f"{trained}): its transcoders replace that agent's MLPs only"
        )
    net, _ = load_agent(path, device)
    tset.check_net(net)
    for d in tset.layers:
        d.requires_grad_(False)
    return tset, net


def parse_position(text: str, n: int) -> Position:
    try:
        position = Position.from_text(text)
    except ValueError as e:
        raise AttributionError(f"bad position {text!r}: {e}") from None
    if position.n != n:
        raise AttributionError(
            f"the position is {position.n}x{position.n}; the agent plays {n}x{n}"
        )
    return position


def parse_target(text: str | None, position: Position) -> int | str | None:
    if text is None or text.lower() == VALUE:
        return None if text is None else VALUE
    legal = position.legal_actions()
    names = ", ".join(square_name(a, position.n) for a in legal) or "none: the game is over"
    try:
        action = parse_square(text, position.n)
    except ValueError as e:
        raise AttributionError(f"--target {text}: {e} (or 'value')") from None
    if action not in legal:
        raise AttributionError(f"{text} is not a legal move in this position (legal: {names})")
    return action


# -- the printed summary --------------------------------------------------------------------
def top_paths(
    graph: AttributionGraph, count: int = 10, via_latent: bool = False
) -> list[tuple[float, list[int]]]:
    """The `count` paths from inputs to the target with the largest |share| of the target:
    a path's share is its first edge times, at each latent it passes, the next edge per unit
    of that latent's activation; all paths from all leaf sources sum to the target. Kept by
    a top-`count` search backwards from the target (exact: |share| is a product).
    `via_latent`: only paths through at least one latent (not the direct residual path)."""
    A = graph.adjacency.double().cpu().numpy()
    act = graph.activation.double().cpu().numpy()
    t = graph.target_index

    def through(u: int, path: list[int]) -> list[int]:
        return path if u == t else [u] + path

    best: dict[int, list[tuple[float, list[int]]]] = {t: [(1.0, [])]}
    latents = np.flatnonzero(graph.kind == LATENT)
    for v in sorted(latents, key=lambda i: -graph.layer[i]):  # readers above come first
        cands = [
            (A[u, v] / act[v] * f, through(u, path))
            for u in np.flatnonzero(A[:, v])
            for f, path in best.get(int(u), [])
        ]
        best[int(v)] = heapq.nlargest(count, cands, key=lambda c: abs(c[0]))
    paths = [
        (A[u, s] * f, [int(s)] + through(int(u), path))
        for s in np.flatnonzero(graph.kind == INPUT)
        for u in np.flatnonzero(A[:, s])
        if not (via_latent and u == t)
        for f, path in best.get(int(u), [])
    ]
    return heapq.nlargest(count, paths, key=lambda c: abs(c[0]))


def _name(graph: AttributionGraph, i: int, labels) -> str:
    name = graph.node_name(i)
    if graph.kind[i] == LATENT:
        label = labels[graph.layer[i]].get(int(graph.feature[i])) if labels else None
        return f"{name} [{label}]" if label else name
    return name


def summary(graph: AttributionGraph, pruned, labels, graph_json, top=10, position=None) -> str:
    """The printed summary (`position`: the position as given, for its colours)."""
    position = position or Position(graph.me, graph.opp, True, graph.board_size)
    side = "X" if position.black_to_move else "O"
    counts = {k: int((graph.kind == k).sum()) for k in (INPUT, LATENT, ERROR, BIAS)}
    per_block = [
        int(((graph.kind == LATENT) & (graph.layer == b)).sum()) for b in range(graph.n_blocks)
    ]
    edges = int((graph.adjacency != 0).sum())
    t = graph.target_index
    logit = float(graph.activation[t])
    what = "value pre-activation" if graph.target == VALUE else f"logit of {graph.target_name}"
    lines = [
        f"Position ({side} to move: its discs are 'mine'; '*' = its legal moves):",
        position.render(marks=position.legal_moves()),
        f"Target: {what} = {logit:+.4f} (policy p = {graph.prob:.3f}; value {graph.value:+.3f})",
        f"Graph: {counts[INPUT]} inputs, {counts[LATENT]} latents (per block "
        f"{'/'.join(map(str, per_block))}), {counts[ERROR]} errors, {counts[BIAS]} biases, "
        f"{edges} edges",
    ]
    contrib = graph.contributions().double().cpu()
    exact = _exactness(graph)
    lines.append(
        f"Exactness: max |sum of incoming edges - activation| = {exact:.2e} over the latents "
        "and the target"
    )
    if pruned is not None:
        k = pruned.node_mask.cpu().numpy()
        lines.append(
            f"Pruned (nodes {pruned.node_threshold}, edges {pruned.edge_threshold}): "
            f"{int((k & (graph.kind == LATENT)).sum())} latents, "
            f"{int((k & (graph.kind == ERROR)).sum())} errors, "
            f"{int((k & (graph.kind == BIAS)).sum())} biases, {int(pruned.edge_mask.sum())} edges"
        )
    s = graph_json["scores"]
    lines.append(
        f"Scores: replacement {s['replacement']:.3f}, completeness {s['completeness']:.3f} "
        f"(without bias nodes: {s['replacement_no_bias']:.3f} / {s['completeness_no_bias']:.3f})"
    )
    parts = {
        name: float(contrib[graph.kind == k].sum())
        for k, name in ((INPUT, "inputs"), (BIAS, "biases"), (ERROR, "errors"))
    }
    lines.append(
        "\nThe target over all paths, by leaf source: "
        + "  ".join(f"{k} {v:+.4f}" for k, v in parts.items())
        + f"  = {sum(parts.values()):+.4f}"
    )
    lat = np.flatnonzero(graph.kind == LATENT)
    order = lat[np.argsort(-contrib[lat].abs().numpy())][:top]
    lines.append(f"\nTop {len(order)} latents by total contribution (activation x effect):")
    for i in order:
        lines.append(
            f"  {float(contrib[i]):+8.4f}  act {float(graph.activation[i]):7.3f}  "
            f"{_name(graph, int(i), labels)}"
        )
    for via, what in ((False, "all paths"), (True, "through at least one latent")):
        lines.append(f"\nTop {top} paths from the board to the target, {what} (exact shares):")
        for share, path in top_paths(graph, top, via_latent=via):
            chain = " -> ".join(_name(graph, i, labels) for i in path)
            lines.append(f"  {share:+8.4f}  {chain} -> {graph.target_name}")
    return "\n".join(lines)


def _exactness(graph: AttributionGraph) -> float:
    rows = np.flatnonzero(graph.kind <= 1)  # latents and the target
    diff = graph.adjacency.sum(1) - graph.activation
    return float(diff[torch.as_tensor(rows, device=diff.device)].abs().max())


# -- command line ---------------------------------------------------------------------------
def _graph_mode(args, tset, net) -> dict:
    position = parse_position(args.position, net.cfg.board_size)
    target = parse_target(args.target, position)
    if target is None and not position.legal_actions():
        raise AttributionError(
            "the game is over in this position: no move to attribute (use --target value)"
        )
    t0 = time.perf_counter()
    graph = build_graph(net, tset.layers, position.me, position.opp, target)
    pruned = None if args.no_prune else prune_graph(graph, args.node_threshold, args.edge_threshold)
    seconds = time.perf_counter() - t0
    folders = [
        Path(args.concepts) / layer_name(i) if args.concepts else (tset.folder / stem).parent
        for i, stem in enumerate(tset.config["layers"])
    ]
    labels = concept_labels(folders)
    # the board with "_" for empty squares: a file name that neither hides nor looks like a flag
    slug = "".join(position.to_text().split()).replace("-", "_") + f"-{graph.target_name}"
    data = to_json(
        pruned or graph,
        labels,
        slug=slug,
        prompt=position.to_text(),
        transcoders=[str(tset.folder / s) for s in tset.config["layers"]],
    )
    data["metadata"]["seconds"] = round(seconds, 4)
    data["metadata"]["exactness"] = exactness(data) if args.no_prune else None
    text = summary(graph, pruned, labels, data, args.top, position)
    if args.json == "-":
        print(text, file=sys.stderr)
        json.dump(data, sys.stdout)
        print()
        return data
    out = Path(args.json or DEFAULT_OUT / f"{slug}.json")
    atomic_write_json(out, data)
    print(text)
    done = "built" if args.no_prune else "built and pruned"
    print(f"\n{done} in {seconds:.3f} s (warm-up included); wrote {out}")
    return data


def _scores_mode(args, tset, net) -> dict:
    store = ActivationStore(args.store)
    if store.board_size != net.cfg.board_size:
        raise AttributionError(f"{args.store} holds {store.board_size}x{store.board_size} boards")
    me, opp = heldout_positions(store, args.positions, args.seed)
    t0 = time.perf_counter()
    s = batch_scores(net, tset.layers, me, opp, progress=True)
    seconds = time.perf_counter() - t0
    report = {
        "kind": "attribution_scores",
        "set": str(tset.folder),
        "store": {"path": str(store.root), "hash": store.hash},
        "positions": len(me),
        "seconds": round(seconds, 2),
        "scores": {
            name: {
                "mean": float(v.mean()),
                "std": float(v.std()),
                "quantiles": {
                    str(q): float(np.quantile(v, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)
                },
            }
            for name, v in s.items()
        },
    }
    print(
        f"{len(me)} held-out positions of {store.root}, unpruned graphs of the agent's move "
        f"({seconds:.1f} s)"
    )
    print(f"{'score':<24}{'mean':>8}{'std':>8}{'p10':>8}{'median':>8}{'p90':>8}")
    for name, r in report["scores"].items():
        q = r["quantiles"]
        print(
            f"{name:<24}{r['mean']:>8.3f}{r['std']:>8.3f}{q['0.1']:>8.3f}{q['0.5']:>8.3f}"
            f"{q['0.9']:>8.3f}"
        )
    if args.json:
        if args.json == "-":
            json.dump(report, sys.stdout)
        else:
            atomic_write_json(args.json, report)
            print(f"wrote {args.json}")
    return report


def set_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The arguments of every command over a transcoder set: TRANSCODERS, --seed (held-out
    positions drawn), --checkpoint, --device (checked by `parse`)."""
    ap = cli.parser(prog=prog, description=doc)
    ap.add_argument("transcoders", help="transcoder set folder (train_transcoder.py --all-layers)")
    ap.add_argument("--seed", type=cli.seed, default=0, help="seed of the held-out positions drawn")
    ap.add_argument(
        "--checkpoint",
        help="agent checkpoint (default: the one the set records; another is refused)",
    )
    ap.add_argument(
        "--device", type=cli.device, default="cpu", help="torch device (cpu, cuda, ...)"
    )
    return ap


def parse(ap: argparse.ArgumentParser, argv) -> argparse.Namespace:
    # intermixed: an optional POSITION may come after options (`SET --concepts DIR "POS"`)
    return ap.parse_intermixed_args(argv)


@cli.command
def main(argv: list[str] | None = None) -> dict:
    ap = set_parser("python -m transcoder.attribute", __doc__)
    ap.add_argument(
        "position",
        nargs="?",
        help='position text, e.g. "------/------/--OX--/--XO--/------/------ X"',
    )
    ap.add_argument(
        "--target", help="a legal move (e.g. c4) or 'value' (default: the agent's raw-policy move)"
    )
    ap.add_argument("--no-prune", action="store_true", help="keep every node and edge (exact)")
    ap.add_argument(
        "--json",
        type=cli.out_file,
        help=f"write the graph here ('-': stdout; default {DEFAULT_OUT}/<slug>.json)",
    )
    ap.add_argument(
        "--concepts", help="folder with blocks.{i}/concepts.json (default: beside each dictionary)"
    )
    ap.add_argument("--top", type=int, default=10, help="latents and paths to print")
    ap.add_argument("--node-threshold", type=float, default=0.8)
    ap.add_argument("--edge-threshold", type=float, default=0.98)
    ap.add_argument(
        "--store", help="score held-out positions of this store instead of one position"
    )
    ap.add_argument("--positions", type=int, default=1000, help="held-out positions with --store")
    args = parse(ap, argv)
    if (args.position is None) == (args.store is None):
        ap.error("give either a POSITION or --store (to score held-out positions), not both")
    if args.position is not None and not args.position.strip():
        ap.error("POSITION is empty: give the squares row by row, then the side to move")
    if args.concepts is not None:
        found = list(Path(args.concepts).glob("blocks.*/concepts.json"))
        if not Path(args.concepts).is_dir() or not found:
            ap.error(
                f"--concepts {args.concepts}: no blocks.I/concepts.json there (python -m "
                f"sae.concepts writes one beside each transcoder)"
            )
    if args.position is not None and args.json is None:
        cli.check_out_dir(DEFAULT_OUT, "the graph's default folder")
    for name in ("node_threshold", "edge_threshold"):
        if not 0 <= getattr(args, name) <= 1:
            ap.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.positions < 1 or args.top < 1:
        ap.error("--positions and --top must be positive")
    try:
        tset, net = open_set(args.transcoders, args.checkpoint, args.device)
        with torch.inference_mode():
            return (_graph_mode if args.position is not None else _scores_mode)(args, tset, net)
    except (ValueError, FileNotFoundError) as e:  # CheckpointError, StoreError, AttributionError
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
