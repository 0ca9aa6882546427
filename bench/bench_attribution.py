"""Attribution graph speed: one full graph with pruning, and many positions' scores batched.

On the shipped agent's transcoder set (4 blocks, 4,096 latents each, k = 32) when it exists,
else on a random net and random transcoders of that shape. Timed after a warm-up call, mean
over the positions, measured in one run:

    one graph        build_graph (forward pass, local model, every edge) + prune_graph,
                     then to_json, per position one at a time
    one at a time    replacement and completeness of each position's unpruned graph
    batched          the same scores from `batch_scores` (graphs of 64 positions at once);
                     the ratio to one at a time is the batching's gain
    virtual weights  `top_connections` (k = 10) of every latent of every block

    python bench/bench_attribution.py [--set runs/transcoders] [--store data/acts/agent]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from alphazero.model import AlphaZeroNet, NetConfig  # noqa: E402
from bench.bench_transcoder import cpu_features  # noqa: E402
from sae.activations.store import ActivationStore  # noqa: E402
from sae.dictionary.model import DictConfig, Dictionary  # noqa: E402
from transcoder.attribute import open_set  # noqa: E402
from transcoder.attribution import build_graph  # noqa: E402
from transcoder.fidelity import heldout_positions  # noqa: E402
from transcoder.graph_json import to_json  # noqa: E402
from transcoder.prune import batch_scores, graph_scores, prune_graph  # noqa: E402
from transcoder.virtual_weights import random_play_positions, top_connections  # noqa: E402


def random_set(d: int = 256, latents: int = 4096, k: int = 32):
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=d)).eval()
    layers = []
    for i in range(net.cfg.n_blocks):
        sites = {"in_site": f"blocks.{i}.mlp_in", "out_site": f"blocks.{i}.mlp_out"}
        layers.append(Dictionary(DictConfig("topk", d, latents, k, skip=True, **sites)).eval())
    return net, layers


def timed(fn, items) -> float:
    """Mean seconds per item of fn(item), after one warm-up call."""
    fn(items[0])
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - t0) / len(items)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--set", default="runs/transcoders", help="transcoder set (random if absent)")
    ap.add_argument("--store", default="data/acts/agent", help="positions (random play if absent)")
    ap.add_argument("--graphs", type=int, default=50, help="positions timed one at a time")
    ap.add_argument("--positions", type=int, default=1000, help="positions scored batched")
    args = ap.parse_args()
    if Path(args.set, "transcoders.json").exists():
        tset, net = open_set(args.set)
        layers, what = tset.layers, f"{args.set}"
    else:
        net, layers = random_set()
        what = "random net and transcoders (no set at --set)"
    if Path(args.store, "manifest.json").exists():
        me, opp = heldout_positions(ActivationStore(args.store), args.positions, seed=0)
        where = f"held-out positions of {args.store}"
    else:
        me, opp = random_play_positions(net.cfg.board_size, args.positions)
        where = "random-play positions"
    t = layers[0].cfg
    print(f"{what}: {len(layers)} blocks x {t.n_latents} latents, k = {t.k}, skip {t.skip}")
    print(f"{where}; CPU: {cpu_features()}; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    items = list(range(min(args.graphs, len(me))))
    sizes = []

    def one_graph(b):
        g = build_graph(net, layers, me[b], opp[b])
        p = prune_graph(g)
        sizes.append(
            (
                g.n_nodes,
                int((g.adjacency != 0).sum()),
                int(p.node_mask.sum()),
                int(p.edge_mask.sum()),
            )
        )
        return p

    with torch.inference_mode():
        build_prune = timed(one_graph, items)
        build = timed(lambda b: build_graph(net, layers, me[b], opp[b]), items)
        pruned = [one_graph(b) for b in items]
        as_json = timed(lambda p: to_json(p), pruned)
        single = timed(lambda b: graph_scores(build_graph(net, layers, me[b], opp[b])), items)
        batch_scores(net, layers, me[:64], opp[:64])  # warm-up
        t0 = time.perf_counter()
        s = batch_scores(net, layers, me, opp)
        batched = (time.perf_counter() - t0) / len(me)
        t0 = time.perf_counter()
        top_connections(net, layers, k=10)
        virtual = time.perf_counter() - t0
    n = len(pruned)
    sizes = [
        (p.graph.n_nodes, (p.graph.adjacency != 0).sum(), p.node_mask.sum(), p.edge_mask.sum())
        for p in pruned
    ]
    mean = [float(sum(x[i] for x in sizes)) / n for i in range(4)]
    print(f"graph size (mean of {n}): {mean[0]:.0f} nodes, {mean[1]:.0f} edges; pruned "
          f"{mean[2]:.0f} nodes, {mean[3]:.0f} edges")  # fmt: skip
    print(f"one graph, built:               {build * 1e3:8.1f} ms")
    print(f"one graph, built and pruned:    {build_prune * 1e3:8.1f} ms")
    print(f"graph JSON of a pruned graph:   {as_json * 1e3:8.1f} ms")
    print(f"scores, one at a time:          {single * 1e3:8.2f} ms per position")
    print(
        f"scores, batched:                {batched * 1e3:8.2f} ms per position ({len(me)} "
        f"positions in {batched * len(me):.2f} s): {single / batched:.1f}x faster"
    )
    print(f"top_connections, every latent:  {virtual:8.2f} s")
    print(f"mean replacement {s['replacement'].mean():.4f}, completeness "
          f"{s['completeness'].mean():.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
