"""Training pairs (x, y) for a dictionary, read in shuffled batches with bounded memory.

An SAE reads one site (y is x); a transcoder reads an input site and a target site of the
same rows. Shuffling is two-level so reads stay sequential: each epoch visits blocks of
consecutive training rows in a seeded random order, loads a window of blocks (a few tens of
MiB), and shuffles rows within the window. Everything is a function of (seed, batch index),
so a resumed run continues with exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from sae.store import ActivationStore

BLOCK_ROWS = 4096


class Pairs:
    """Rows 0..n-1 of (x, y), given functions that read sorted row indices."""

    def __init__(
        self,
        n_rows: int,
        read_x: Callable[[np.ndarray], np.ndarray],
        read_y: Callable[[np.ndarray], np.ndarray] | None = None,
        info: dict | None = None,
        window_rows: int = 1 << 17,
    ):
        if n_rows < 1:
            raise ValueError("no training rows")
        self.n_rows, self.read_x, self.read_y = n_rows, read_x, read_y
        self.info = info or {}
        self.window_blocks = max(1, window_rows // BLOCK_ROWS)

    @classmethod
    def from_arrays(cls, x, y=None, **kw) -> Pairs:
        x = np.asarray(x)
        y = None if y is None else np.asarray(y)
        return cls(len(x), lambda r: x[r], None if y is None else (lambda r: y[r]), **kw)

    @classmethod
    def from_store(
        cls,
        store: ActivationStore,
        in_site: str,
        out_site: str | None = None,
        split: str = "train",
        **kw,
    ) -> Pairs:
        out_site = out_site or in_site
        for site in (in_site, out_site):
            if site not in store.sites:
                raise ValueError(
                    f"{store.root} has no activations for {site!r}; it holds "
                    f"{', '.join(store.sites)} (collect them with python -m sae.activations)"
                )
        rows = store.rows(split)
        info = {
            "store": str(store.root),
            "store_hash": store.hash,
            "split": split,
            "checkpoint": store.manifest.get("checkpoint"),
        }
        read_y = None if out_site == in_site else (lambda r: store.read(out_site, rows[r]))
        return cls(len(rows), lambda r: store.read(in_site, rows[r]), read_y, info=info, **kw)

    @property
    def dims(self) -> tuple[int, int]:
        x = self.read_x(np.array([0]))
        y = x if self.read_y is None else self.read_y(np.array([0]))
        return x.shape[1], y.shape[1]

    def read(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.asarray(self.read_x(rows), np.float32))
        if self.read_y is None:
            return x, x
        y = torch.from_numpy(np.asarray(self.read_y(rows), np.float32))
        return x, y

    def chunks(self, chunk_rows: int = 65536) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, self.n_rows, chunk_rows):
            yield self.read(np.arange(start, min(self.n_rows, start + chunk_rows)))

    def mean_norms(self) -> tuple[float, float]:
        """Mean ||x|| and ||y|| over every row (streamed; float64 sums)."""
        sx = sy = 0.0
        for x, y in self.chunks():
            sx += float(x.norm(dim=1).double().sum())
            sy += float(y.norm(dim=1).double().sum()) if y is not x else 0.0
        return sx / self.n_rows, (sy if self.read_y is not None else sx) / self.n_rows

    def sample(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.sort(np.random.default_rng(seed).permutation(self.n_rows)[: min(n, self.n_rows)])
        return self.read(rows)

    # -- shuffled batches ------------------------------------------------------------------
    def _windows(self, seed: int, epoch: int, per_window: int) -> list[np.ndarray]:
        """Block ids of each window of an epoch, in visiting order."""
        n_blocks = -(-self.n_rows // BLOCK_ROWS)
        order = np.random.default_rng([seed, epoch]).permutation(n_blocks)
        return [order[i : i + per_window] for i in range(0, n_blocks, per_window)]

    def _window_rows(self, blocks: np.ndarray) -> int:
        return int(sum(min(BLOCK_ROWS, self.n_rows - b * BLOCK_ROWS) for b in blocks))

    def batches(
        self, batch_size: int, seed: int = 0, start: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless shuffled batches; batch number `start` first. A window's leftover rows
        (fewer than a batch) are skipped."""
        if batch_size > self.n_rows:
            raise ValueError(f"batch_size {batch_size} exceeds the {self.n_rows} training rows")
        per_window = max(self.window_blocks, -(-batch_size // BLOCK_ROWS))
        index, epoch = 0, 0
        while True:
            for w, blocks in enumerate(self._windows(seed, epoch, per_window)):
                size = self._window_rows(blocks)
                n_batches = size // batch_size
                if index + n_batches <= start:  # skip without reading
                    index += n_batches
                    continue
                rows = np.concatenate(
                    [
                        np.arange(b * BLOCK_ROWS, min(self.n_rows, (b + 1) * BLOCK_ROWS))
                        for b in np.sort(blocks)
                    ]
                )
                x = np.asarray(self.read_x(rows))
                y = None if self.read_y is None else np.asarray(self.read_y(rows))
                perm = np.random.default_rng([seed, epoch, w]).permutation(size)
                for i in range(n_batches):
                    if index >= start:
                        sel = np.sort(perm[i * batch_size : (i + 1) * batch_size])
                        bx = torch.from_numpy(x[sel].astype(np.float32))
                        by = bx if y is None else torch.from_numpy(y[sel].astype(np.float32))
                        yield bx, by
                    index += 1
            epoch += 1
