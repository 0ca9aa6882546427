"""Training rows for dictionaries, read in shuffled batches with bounded memory.

A batch holds the same rows of every column it reads: `Columns` reads named hook sites
(one batch feeds dictionaries on different sites, e.g. a transcoder per block from one pass
over the store), `Pairs` one (x, y) pair that every dictionary trained on it uses (an SAE,
y is x, or a single transcoder). Each dictionary takes its (input, target) from a batch with
`data.pick(batch, dictionary_config)`. Shuffling is two-level so reads stay sequential: each
epoch visits blocks of consecutive training rows in a seeded random order, loads a window of
blocks (128k rows: 64 MiB per float16 column of 256), and shuffles rows within it.
Everything is a function of (seed, batch index), so a resumed run continues with exactly the
batches it would have seen, whatever the columns.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from sae.activations.collect import default_checkpoint
from sae.activations.store import ActivationStore

BLOCK_ROWS = 4096
Reader = Callable[[np.ndarray], np.ndarray]


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float32))


def store_argument(ap: argparse.ArgumentParser, store: str | None, sites: str) -> str:
    """A trainer's --store: the path given, else data/acts/<default agent>; a usage error
    naming the command that collects `sites` when no store is there."""
    if store is None:
        ckpt = default_checkpoint()
        if ckpt is None:
            ap.error("no --store given and no agent checkpoint found to name the default one")
        store = f"data/acts/{Path(ckpt).with_suffix('').name}"
    if not (Path(store) / "manifest.json").exists():
        ap.error(
            f"no activation store at {store}: collect one first with "
            f"python -m sae.activations --sites {sites} --out {store}"
        )
    return store


def store_readers(
    store: ActivationStore, sites: list[str], split: str = "train"
) -> tuple[int, dict[str, Reader], dict]:
    """(rows, {site: reader}, provenance) for `sites` of a store's split; a missing site is a
    ValueError naming the command that collects them."""
    missing = [s for s in dict.fromkeys(sites) if s not in store.sites]
    if missing:
        ckpt = (store.manifest.get("checkpoint") or {}).get("path", "CHECKPOINT")
        raise ValueError(
            f"{store.root} has no activations for {', '.join(map(repr, missing))}; it holds "
            f"{', '.join(store.sites)}. Collect them with: python -m sae.activations "
            f"--checkpoint {ckpt} --sites {','.join(dict.fromkeys(sites))} --out NEW_STORE"
        )
    rows = store.rows(split)
    info = {
        "store": str(store.root),
        "store_hash": store.hash,
        "split": split,
        "checkpoint": store.manifest.get("checkpoint"),
    }

    def reader(site):
        return lambda r: store.read(site, rows[r])

    return len(rows), {s: reader(s) for s in dict.fromkeys(sites)}, info


class Columns:
    """Rows 0..n-1 of named columns, given functions that read sorted row indices."""

    def __init__(
        self,
        n_rows: int,
        readers: dict[str, Reader],
        info: dict | None = None,
        window_rows: int = 1 << 17,
    ):
        if n_rows < 1:
            raise ValueError("no training rows")
        if not readers:
            raise ValueError("no columns to read")
        self.n_rows, self.readers = n_rows, dict(readers)
        self.info = info or {}
        self.window_blocks = max(1, window_rows // BLOCK_ROWS)
        self._norms: dict[str, float] | None = None

    @classmethod
    def from_store(cls, store: ActivationStore, sites: list[str], split="train", **kw) -> Columns:
        n, readers, info = store_readers(store, sites, split)
        return cls(n, readers, info=info, **kw)

    # -- which columns a dictionary reads ---------------------------------------------------
    def columns(self, cfg) -> tuple[str, str]:
        """(input column, target column) of a dictionary: its in_site and out_site."""
        missing = [s for s in (cfg.in_site, cfg.out_site) if s not in self.readers]
        if missing:
            raise ValueError(
                f"the data has no column(s) {missing} for a {cfg.in_site} -> {cfg.out_site} "
                f"dictionary; it reads {', '.join(self.readers)}"
            )
        return cfg.in_site, cfg.out_site

    def pick(self, batch, cfg) -> tuple[torch.Tensor, torch.Tensor]:
        """A dictionary's (x, y) from a batch of this source."""
        i, o = self.columns(cfg)
        return batch[i], batch[o]

    def _pack(self, cols: dict[str, torch.Tensor]):
        return cols

    def pair_dims(self, cfg) -> tuple[int, int]:
        dims = {name: read(np.array([0])).shape[1] for name, read in self.readers.items()}
        i, o = self.columns(cfg)
        return dims[i], dims[o]

    def pair_norms(self, cfg) -> tuple[float, float]:
        """Mean ||x|| and ||y|| of a dictionary's columns over every row (one streamed pass
        over all columns, cached)."""
        if self._norms is None:
            sums = dict.fromkeys(self.readers, 0.0)
            for start in range(0, self.n_rows, 65536):
                rows = np.arange(start, min(self.n_rows, start + 65536))
                for name, read in self.readers.items():
                    sums[name] += float(_tensor(read(rows)).norm(dim=1).double().sum())
            self._norms = {name: s / self.n_rows for name, s in sums.items()}
        i, o = self.columns(cfg)
        return self._norms[i], self._norms[o]

    # -- reads ------------------------------------------------------------------------------
    def read(self, rows: np.ndarray):
        return self._pack({name: _tensor(read(rows)) for name, read in self.readers.items()})

    def chunks(self, chunk_rows: int = 65536) -> Iterator:
        for start in range(0, self.n_rows, chunk_rows):
            yield self.read(np.arange(start, min(self.n_rows, start + chunk_rows)))

    def sample(self, n: int, seed: int):
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

    def batches(self, batch_size: int, seed: int = 0, start: int = 0) -> Iterator:
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
                window = {name: np.asarray(read(rows)) for name, read in self.readers.items()}
                perm = np.random.default_rng([seed, epoch, w]).permutation(size)
                for i in range(n_batches):
                    if index >= start:
                        sel = np.sort(perm[i * batch_size : (i + 1) * batch_size])
                        yield self._pack({name: _tensor(a[sel]) for name, a in window.items()})
                    index += 1
            epoch += 1


class Pairs(Columns):
    """One (x, y) pair of columns; batches, reads and samples are (x, y) tuples (y is x for
    an SAE), and every dictionary trained on it reads x and predicts y."""

    def __init__(
        self,
        n_rows: int,
        read_x: Reader,
        read_y: Reader | None = None,
        info: dict | None = None,
        window_rows: int = 1 << 17,
    ):
        readers = {"x": read_x} if read_y is None else {"x": read_x, "y": read_y}
        super().__init__(n_rows, readers, info, window_rows)

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
        n, readers, info = store_readers(store, [in_site, out_site], split)
        return cls(
            n,
            readers[in_site],
            readers.get(out_site) if out_site != in_site else None,
            info=info,
            **kw,
        )

    def columns(self, cfg=None) -> tuple[str, str]:
        return "x", "y" if "y" in self.readers else "x"

    def pick(self, batch, cfg=None) -> tuple[torch.Tensor, torch.Tensor]:
        return batch

    def _pack(self, cols: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = cols["x"]
        return x, cols.get("y", x)

    @property
    def dims(self) -> tuple[int, int]:
        return self.pair_dims(None)

    def mean_norms(self) -> tuple[float, float]:
        """Mean ||x|| and ||y|| over every row (streamed; float64 sums)."""
        return self.pair_norms(None)
