"""The on-disk activation store: .npy files (one per hook site and per metadata field) + a
JSON manifest.

    STORE/manifest.json          sites and dims, dtype, counts, source checkpoint, split, ...
    STORE/acts/<site>.npy        [capacity, d] float16 or float32
    STORE/meta/<field>.npy       per-position metadata (boards, side to move, ply, legal
                                 mask, the net's policy and value, game id, source)
    STORE/meta/heldout.npy       bool per row, written when the store is finalised

Rows of one game are contiguous and in play order. The train / held-out split is by game
(a seeded shuffle of game ids), so no held-out position shares a game with a training one.

Commit protocol: the files are created at full size first, then the manifest (a manifest
means the files exist). Each chunk writes its rows in place through
`np.lib.format.open_memmap`, past the manifest's `count`: rows there are scratch, which no
reader looks at, until the manifest recording them is renamed into place (common.io), the
chunk's commit point. A collection killed at any instant resumes from the last committed
chunk and rewrites the same rows with the same bytes; finalising writes `heldout.npy`, then
the manifest marked complete. Paths the manifest records are absolute.

Reading uses positioned reads (os.preadv) of just the requested rows, never a mapping of the
whole file, so a reader's memory stays bounded by what it asks for, whatever the store's
size.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from common.cli import InputError
from common.io import (
    CheckpointError,
    atomic_write,
    atomic_write_json,
    crash_point,
    read_json,
    remove_stale_temp,
    resolve_recorded,
)

KIND = "activation_store"
VERSION = 1
DTYPES = ("float16", "float32")
SPLITS = ("train", "heldout", "all")


class StoreError(InputError):
    """A store is missing, incomplete, or does not match what the caller asks of it."""


def meta_fields(board_size: int, dtype: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Metadata arrays: name -> (dtype, per-row shape)."""
    actions = board_size * board_size + 1
    return {
        "me": ("uint64", ()),
        "opp": ("uint64", ()),
        "black_to_move": ("bool", ()),
        "ply": ("int16", ()),
        "legal": ("bool", (actions,)),
        "policy": (dtype, (actions,)),
        "value": ("float32", ()),
        "game": ("int64", ()),
        "source": ("uint8", ()),
    }


def _site_file(root: Path, site: str) -> Path:
    return root / "acts" / f"{site}.npy"


def _meta_file(root: Path, name: str) -> Path:
    return root / "meta" / f"{name}.npy"


class NpyRows:
    """Row reads from a .npy file by positioned reads: nothing is mapped or cached."""

    MERGE_GAP = 64  # read through gaps of up to this many rows rather than issue another read

    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            raise StoreError(f"{path} is missing: the store is incomplete or damaged")
        with open(path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise StoreError(f"{path}: .npy format version {version} is not supported")
            except (ValueError, SyntaxError, EOFError) as e:
                if isinstance(e, StoreError):
                    raise
                raise StoreError(f"{path} has no readable .npy header ({e})") from None
            self.offset = f.tell()
        if fortran:
            raise StoreError(f"{path}: Fortran-ordered arrays are not supported")
        if np.dtype(dtype).hasobject or not shape:
            raise StoreError(f"{path} holds {np.dtype(dtype)} {shape}, not rows of numbers")
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.row_shape = shape[1:]
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.row_shape, dtype=np.int64))

    def read_span(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        if not 0 <= start <= stop <= self.shape[0]:
            raise IndexError(f"rows {start}:{stop} outside {self.path} ({self.shape[0]} rows)")
        if out is None:
            out = np.empty((stop - start, *self.row_shape), self.dtype)
        nbytes = (stop - start) * self.row_bytes
        view = memoryview(out.reshape(-1).view(np.uint8))
        fd = os.open(self.path, os.O_RDONLY)
        try:
            done = 0
            while done < nbytes:
                got = os.preadv(fd, [view[done:]], self.offset + start * self.row_bytes + done)
                if got <= 0:
                    raise StoreError(f"{self.path}: file ends before row {stop}")
                done += got
        finally:
            os.close(fd)
        return out

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the given order; nearby rows are fetched with one read."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((rows.size, *self.row_shape), self.dtype)
        if rows.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        breaks = np.flatnonzero(np.diff(srt) > self.MERGE_GAP) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, srt.size], strict=True):
            span = self.read_span(int(srt[lo]), int(srt[hi - 1]) + 1)
            out[order[lo:hi]] = span[srt[lo:hi] - srt[lo]]
        return out


class ActivationStore:
    """Read-only view of a finalised store."""

    def __init__(self, path: str | os.PathLike, allow_incomplete: bool = False):
        self.root = Path(path).absolute()  # what dictionaries record: valid from any folder
        manifest_path = self.root / "manifest.json"
        if not manifest_path.exists():
            raise StoreError(f"{self.root} is not an activation store (no manifest.json)")
        try:
            self.manifest = read_json(manifest_path, "activation store manifest")
        except CheckpointError as e:
            raise StoreError(str(e)) from None
        if not isinstance(self.manifest, dict) or self.manifest.get("kind") != KIND:
            kind = self.manifest.get("kind") if isinstance(self.manifest, dict) else None
            raise StoreError(f"{manifest_path}: kind is {kind!r}, not {KIND}")
        if not self.manifest.get("complete") and not allow_incomplete:
            raise StoreError(
                f"{self.root} is incomplete ({self.manifest.get('count')} of "
                f"{self.manifest.get('capacity')} rows): finish the collection (it resumes)"
            )
        try:
            self.count = int(self.manifest["count"])
            self.sites: dict[str, int] = {s: int(d) for s, d in self.manifest["sites"].items()}
            self.board_size = int(self.manifest["board_size"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StoreError(f"{manifest_path} is damaged ({type(e).__name__}: {e})") from None
        missing = [str(p) for p in self._paths() if not p.exists()]
        if missing:
            more = ", ..." if len(missing) > 3 else ""
            raise StoreError(
                f"{self.root} is damaged: {len(missing)} data file(s) missing "
                f"({', '.join(missing[:3])}{more})"
            )
        self._files: dict[str, NpyRows] = {}
        names = [*self.sites, *meta_fields(self.board_size, "float32")]
        for name in names + (["heldout"] if self.manifest.get("complete") else []):
            self._file(name)  # every header read and checked against the manifest now

    def _paths(self) -> list[Path]:
        """Every data file the manifest implies."""
        names = list(meta_fields(self.board_size, "float32"))
        names += ["heldout"] if self.manifest.get("complete") else []
        return [_site_file(self.root, s) for s in self.sites] + [
            _meta_file(self.root, n) for n in names
        ]

    @property
    def checkpoint(self) -> Path | None:
        """The agent checkpoint the store was collected from (recorded absolute; older stores
        recorded it relative to the working directory)."""
        path = (self.manifest.get("checkpoint") or {}).get("path")
        return resolve_recorded(path, self.root) if path else None

    @property
    def hash(self) -> str:
        """Content hash of the manifest (names the data a dictionary was trained on)."""
        text = json.dumps(self.manifest, sort_keys=True).encode()
        return hashlib.sha256(text).hexdigest()[:16]

    def _file(self, name: str) -> NpyRows:
        if name not in self._files:
            fields = meta_fields(self.board_size, str(self.manifest.get("dtype")))
            if name in self.sites:
                path = _site_file(self.root, name)
                dtypes, row = [self.manifest.get("dtype")], (self.sites[name],)
            elif name in fields:
                path = _meta_file(self.root, name)
                # older stores kept the policy in float32 whatever their dtype
                dtypes = [fields[name][0]] + (list(DTYPES) if name == "policy" else [])
                row = fields[name][1]
            elif name == "heldout":
                path, dtypes, row = _meta_file(self.root, name), ["bool"], ()
            else:
                raise StoreError(
                    f"{self.root} has no site or field {name!r}; sites: {', '.join(self.sites)}"
                )
            rows = NpyRows(path)
            if str(rows.dtype) not in dtypes:
                raise StoreError(
                    f"{path} holds {rows.dtype} values, the manifest implies {dtypes[0]}: the "
                    f"store is damaged"
                )
            if tuple(rows.row_shape) != tuple(row) or rows.shape[0] < self.count:
                raise StoreError(
                    f"{path} has shape {tuple(rows.shape)}, the manifest implies "
                    f"({self.count}+, {', '.join(map(str, row))}): the store is damaged"
                )
            self._files[name] = rows
        return self._files[name]

    def rows(self, split: str = "train") -> np.ndarray:
        """Sorted row indices of a split ("train", "heldout" or "all")."""
        if split not in SPLITS:
            raise StoreError(f"split must be one of {SPLITS}, got {split!r}")
        if split == "all":
            return np.arange(self.count, dtype=np.int64)
        heldout = self.read_span("heldout", 0, self.count)
        return np.flatnonzero(heldout if split == "heldout" else ~heldout).astype(np.int64)

    def read(self, name: str, rows) -> np.ndarray:
        """Rows of a site's activations or of a metadata field, in the order given."""
        return self._file(name).read_rows(rows)

    def read_span(self, name: str, start: int, stop: int) -> np.ndarray:
        if stop > self.count:
            raise IndexError(f"row {stop} is past the {self.count} rows of {self.root}")
        return self._file(name).read_span(start, stop)

    def iter_chunks(self, name: str, rows: np.ndarray, chunk_rows: int = 65536):
        """Yield the given rows of `name` a chunk at a time (bounded memory)."""
        for start in range(0, len(rows), chunk_rows):
            yield self.read(name, rows[start : start + chunk_rows])


class StoreWriter:
    """Creates a store and appends chunks of rows; the manifest tracks progress."""

    def __init__(self, root: Path, manifest: dict):
        self.root, self.manifest = root, manifest

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        sites: dict[str, int],
        capacity: int,
        dtype: str = "float16",
        board_size: int = 6,
        info: dict | None = None,
    ) -> StoreWriter:
        if dtype not in DTYPES:
            raise StoreError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if capacity < 1 or not sites:
            raise StoreError("a store needs at least one site and one row")
        root = Path(path)
        _remove_temporaries(root)
        for site, dim in sites.items():
            _create_npy(_site_file(root, site), dtype, (capacity, int(dim)))
        for name, (dt, shape) in meta_fields(board_size, dtype).items():
            _create_npy(_meta_file(root, name), dt, (capacity, *shape))
        manifest = {
            "kind": KIND,
            "version": VERSION,
            "board_size": board_size,
            "dtype": dtype,
            "sites": {s: int(d) for s, d in sites.items()},
            "capacity": int(capacity),
            "count": 0,
            "games": 0,
            "complete": False,
            **(info or {}),
        }
        writer = cls(root, manifest)
        writer._save_manifest()  # written last: a manifest means the files exist
        return writer

    @classmethod
    def resume(cls, path: str | os.PathLike) -> StoreWriter:
        """Continue a store after its last committed chunk (temporaries a kill left are
        removed; rows past the committed count are rewritten)."""
        root = Path(path)
        _remove_temporaries(root)
        store = ActivationStore(root, allow_incomplete=True)
        return cls(store.root, store.manifest)

    @property
    def count(self) -> int:
        return int(self.manifest["count"])

    @property
    def capacity(self) -> int:
        return int(self.manifest["capacity"])

    @property
    def full(self) -> bool:
        return self.count >= self.capacity

    def append(self, acts: dict[str, np.ndarray], meta: dict[str, np.ndarray], games: int) -> int:
        """Write rows at the end (truncated at capacity), then record them and `games` more
        finished games in the manifest. Returns the number of rows written."""
        missing = set(self.manifest["sites"]) - set(acts)
        missing |= set(meta_fields(self.manifest["board_size"], "float32")) - set(meta)
        if missing:
            raise StoreError(f"chunk lacks {sorted(missing)}")
        start = self.count
        take = min(len(meta["game"]), self.capacity - start)
        # rows past `count` are scratch until the manifest below records them
        for site in self.manifest["sites"]:
            _write_rows(_site_file(self.root, site), start, acts[site][:take])
        crash_point("after rows acts/")
        for name in meta_fields(self.manifest["board_size"], "float32"):
            _write_rows(_meta_file(self.root, name), start, meta[name][:take])
        crash_point("after rows meta/")
        self.manifest["count"] = start + take
        self.manifest["games"] = int(self.manifest["games"]) + games
        self._save_manifest()  # the chunk's commit point
        return take

    def finalize(self, heldout_fraction: float = 0.1, seed: int = 0) -> ActivationStore:
        """Split by game with a seeded shuffle of game ids; mark the store complete."""
        if not 0.0 <= heldout_fraction < 1.0:
            raise StoreError("heldout_fraction must be in [0, 1)")
        games = NpyRows(_meta_file(self.root, "game")).read_span(0, self.count)
        ids = np.unique(games)
        n_heldout = max(1, round(heldout_fraction * ids.size)) if heldout_fraction else 0
        heldout_ids = np.random.default_rng(seed).permutation(ids)[:n_heldout]
        heldout = np.isin(games, heldout_ids)
        atomic_write(_meta_file(self.root, "heldout"), lambda tmp: _save_npy(tmp, heldout))
        self.manifest["split"] = {
            "by": "game",
            "heldout_fraction": heldout_fraction,
            "seed": seed,
            "train_games": int(ids.size - n_heldout),
            "heldout_games": int(n_heldout),
            "train_rows": int((~heldout).sum()),
            "heldout_rows": int(heldout.sum()),
        }
        self.manifest["complete"] = True
        self._save_manifest()
        return ActivationStore(self.root)

    def _save_manifest(self) -> None:
        atomic_write_json(self.root / "manifest.json", self.manifest)


def _remove_temporaries(root: Path) -> None:
    """What a writer killed mid-rename left (the manifest's and heldout.npy's temporaries)."""
    for folder in (root, root / "meta"):
        remove_stale_temp(folder)


def _save_npy(tmp: str, array: np.ndarray) -> None:
    with open(tmp, "wb") as f:
        np.lib.format.write_array(f, array)


def _create_npy(path: Path, dtype: str, shape: tuple[int, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=shape)
    del mm  # the file is created at full size (sparse on disk until written)


def _write_rows(path: Path, start: int, rows: np.ndarray) -> None:
    mm = np.lib.format.open_memmap(path, mode="r+")
    mm[start : start + len(rows)] = rows
    mm.flush()
    del mm  # unmap, so written pages do not count against this process's memory
