"""Replay buffer: a fixed-size ring of self-play examples, sampled with a random board symmetry.

Each position is stored once; every draw applies one of the 8 symmetries of the square to
the board, the policy target and the ownership target together, so the net sees all 8
orientations without the buffer holding 8 copies. Saved as a plain .npz (no pickle) so a
killed run resumes with its buffer.
"""

from __future__ import annotations

import numpy as np

from alphazero.selfplay import Examples
from common.io import atomic_write
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

    def save(self, path) -> None:
        arrays = {f: getattr(self.data, f)[: self.size] for f in _FIELDS}
        meta = np.array([self.capacity, self.n, self.size, self.next, self.added], np.int64)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=meta, **arrays)

        atomic_write(path, write)

    @classmethod
    def load(cls, path) -> ReplayBuffer:
        with np.load(path, allow_pickle=False) as z:
            capacity, n, size, nxt, added = (int(v) for v in z["meta"])
            buf = cls(capacity, n)
            for f in _FIELDS:
                getattr(buf.data, f)[:size] = z[f]
        buf.size, buf.next, buf.added = size, nxt, added
        return buf
