"""Self-play on Ray actors (`train_alphazero.py --ray`): the learner stays in the driver.

Each iteration the driver publishes the net once (`ray.put` of its config and float32
weights: one copy in each node's object store) and hands out the phase's blocks
(`alphazero.selfplay.blocks`) to the free workers; a worker loads the weights when their
version changes and plays its block with the existing batched self-play (`play_block`). The
driver joins the blocks in block order, so the replay buffer is the one a local run, or a
run with any other number of workers, fills. A worker that dies mid-block (`ray.kill`,
kill -9, a lost node) is replaced and the block played again from its seeds
(`common.cluster.Workers`).

Only imported with --ray (it imports Ray).
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import ray
import torch
from tqdm import tqdm

from alphazero.inference import NetEvaluator, pick_dtype
from alphazero.model import AlphaZeroNet, NetConfig
from alphazero.selfplay import Examples, SelfPlayConfig, SelfPlayStats, blocks, join, play_block
from common.cluster import Workers, gpus_per_worker

_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def net_payload(net: AlphaZeroNet) -> dict:
    """What a worker needs to rebuild the net: its settings and float32 weights as arrays."""
    weights = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}
    return {"config": asdict(net.cfg), "weights": weights}


def net_from_payload(payload: dict) -> AlphaZeroNet:
    net = AlphaZeroNet(NetConfig.from_dict(payload["config"]))
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in payload["weights"].items()})
    return net.eval()


@ray.remote
class SelfPlayWorker:
    """One self-play process: a frozen net copy in the dtype the driver chose."""

    def __init__(self, dtype: str, device: str):
        self.dtype, self.device = dtype, device
        self.evaluator: NetEvaluator | None = None
        self.version = -1

    def pid(self) -> int:
        return os.getpid()

    def play(
        self, payload: dict, version: int, n: int, cfg: dict, seed: int, first: int, count: int
    ) -> tuple[Examples, SelfPlayStats]:
        if version != self.version:
            net = net_from_payload(payload)
            if self.evaluator is None:
                self.evaluator = NetEvaluator(net, self.dtype, self.device)
            else:
                self.evaluator.load(net)
            self.version = version
        return play_block(self.evaluator, n, first, count, SelfPlayConfig(**cfg), seed)


class SelfPlayPool:
    """`play(net, n, games, cfg, seed, progress)` for `alphazero.train.train`, on `workers`
    actors (one CPU each; one GPU each with a CUDA device)."""

    def __init__(self, workers: int, dtype: str = "auto", device: str = "cpu"):
        # the driver resolves "auto": every worker runs the same dtype, whatever its CPU
        name = _DTYPES[pick_dtype(dtype, torch.device(device))]
        gpus = gpus_per_worker(device)

        def make():
            return SelfPlayWorker.options(num_cpus=1, num_gpus=gpus).remote(name, device)

        self.workers = Workers(make, workers)
        self.version = 0

    def __call__(
        self,
        net: AlphaZeroNet,
        n: int,
        num_games: int,
        cfg: SelfPlayConfig,
        seed: int,
        progress: bool = True,
    ) -> tuple[Examples, SelfPlayStats]:
        self.version += 1
        payload = ray.put(net_payload(net))  # published once; every block names it
        calls = blocks(num_games, cfg.parallel_games)
        bar = tqdm(total=num_games, desc="self-play", unit="game", disable=not progress)
        played = self.workers.map(
            "play",
            calls,
            shared=(payload, self.version, n, asdict(cfg), seed),
            done=lambda i, result: bar.update(calls[i][1]),
        )
        bar.close()
        return join(played, n)

    def close(self) -> None:
        self.workers.close()
