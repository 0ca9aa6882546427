"""Replay buffer: a fixed-size ring of self-play examples, sampled with a random board symmetry.

Each position is stored once; every draw applies one of the 8 symmetries of the square to
the board, the policy target and the ownership target together, so the net sees all 8
orientations without the buffer holding 8 copies. Its contents go into the training state
(`state` / `from_state`), so a killed run resumes with exactly the buffer it had.
"""

from __future__ import annotations

import numpy as np
import torch

from alphazero.selfplay import Examples
from othello import symmetry

_FIELDS = ("me", "opp", "policy", "outcome", "ownership", "margin")


class ReplayBuffer:
    def __init__(self, capacity: int, n: int):
        self.capacity, self.n = capacity, n
        A = n * n + 1
        self.data = Examples(
            me=np.zeros(capacity, np.uint64),
            opp=np.zeros(capacity, np.uint64),
            policy=np.zeros((capacity, A), np.float32),
            outcome=np.zeros(capacity, np.float32),
            ownership=np.zeros((capacity, n * n), np.int8),
            margin=np.zeros(capacity, np.float32),
        )
        self.size = 0
        self.next = 0  # ring position of the next write
        self.added = 0  # total examples ever added

    def __len__(self) -> int:
        return self.size

    def add(self, ex: Examples) -> None:
        k = total = len(ex)
        if k > self.capacity:  # keep only the newest
            ex = Examples(*(getattr(ex, f)[-self.capacity :] for f in _FIELDS))
            k = self.capacity
        idx = (self.next + np.arange(k)) % self.capacity
        for f in _FIELDS:
            getattr(self.data, f)[idx] = getattr(ex, f)
        self.next = (self.next + k) % self.capacity
        self.size = min(self.size + k, self.capacity)
        self.added += total

    def sample(self, batch_size: int, rng: np.random.Generator) -> Examples:
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        idx = rng.integers(0, self.size, batch_size)
        out = Examples(*(getattr(self.data, f)[idx].copy() for f in _FIELDS))
        sym = rng.integers(0, symmetry.N_SYMMETRIES, batch_size)
        n = self.n
        for k in range(1, symmetry.N_SYMMETRIES):
            rows = np.flatnonzero(sym == k)
            if rows.size:
                out.me[rows] = symmetry.transform_bitboards(k, out.me[rows], n)
                out.opp[rows] = symmetry.transform_bitboards(k, out.opp[rows], n)
                out.policy[rows] = symmetry.transform_policy(k, out.policy[rows], n)
                out.ownership[rows] = symmetry.transform_planes(k, out.ownership[rows], n)
        return out

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, JSON-able counters) for a training checkpoint; bitboards as int64
        (same bits), since safetensors readers do not all know uint64."""
        tensors = {}
        for f in _FIELDS:
            a = getattr(self.data, f)[: self.size]
            tensors[f] = torch.from_numpy(a.view(np.int64) if a.dtype == np.uint64 else a)
        return tensors, dict(
            capacity=self.capacity, n=self.n, size=self.size, next=self.next, added=self.added
        )

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict) -> ReplayBuffer:
        buf = cls(int(meta["capacity"]), int(meta["n"]))
        size = int(meta["size"])
        for f in _FIELDS:
            dest = getattr(buf.data, f)
            dest[:size] = tensors[f].numpy().view(dest.dtype)
        buf.size, buf.next, buf.added = size, int(meta["next"]), int(meta["added"])
        return buf
