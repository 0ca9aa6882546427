"""Activation collection on Ray (`python -m sae.activations --ray`): chunks played anywhere,
committed here.

A chunk (`games_per_chunk` games, seeded by its number: `collect.play_chunk`, passed in) is one Ray
task: the workers play its games and run the net over its positions; the driver appends the
chunks in chunk order through the store's own commit protocol (rows, then the manifest), so
the store is the one a local collection writes, byte for byte, whatever the number of
workers. The net travels through the object store (no shared filesystem needed for this
command); `workers` chunks run at a time, one CPU each, and the driver stops handing out
chunks once the store is full (what still runs is cancelled). Ray runs a chunk again if its
worker dies.

Only imported with --ray (it imports Ray).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import ray

from alphazero.model import AlphaZeroNet
from alphazero.selfplay_actors import net_from_payload, net_payload
from common.cluster import in_order


@ray.remote(num_cpus=1)
def _chunk(play: Callable, payload: dict, plan, chunk: int):
    return play(net_from_payload(payload), plan, chunk)


def chunks_on_ray(workers: int, play: Callable) -> Callable[[AlphaZeroNet, object, int], Iterator]:
    """`collect(..., chunks=chunks_on_ray(n, play_chunk))`: `play(net, plan, chunk)` run as Ray
    tasks, `workers` at a time, the results in chunk order."""

    def chunks(net: AlphaZeroNet, plan, first: int) -> Iterator:
        payload = ray.put(net_payload(net))
        yield from in_order(
            lambda i: _chunk.remote(play, payload, plan, first + i), None, workers, "a chunk"
        )

    return chunks
