"""The viewer data folder's layout and how its files are written (format: vis/README.md).

    DATA/index.json                     schema version, store, agent, every dictionary, sweep
                                        and transcoder set (written last)
    DATA/boards.json                    the shared, deduplicated position table
    DATA/dicts/<id>/summary.json        per-latent columns for the list view
    DATA/dicts/<id>/latents/<s>.json    latents [s * shard_size, (s + 1) * shard_size)
X
    DATA/plots/<sweep>/<name>.png       scaling plots copied from the sweep folder

Numbers are rounded to `DIGITS` significant digits and the JSON is compact. The whole folder
is built aside and swapped into place (`common.io.atomic_dir`), so files inside it are
written plainly; a killed export leaves the previous folder as it was.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
DIGITS = 4
MAX_FILE_BYTES = 2_000_000  # the export warns about any file above this


def rounded(obj, digits: int = DIGITS):
    """Floats to `digits` significant digits (non-finite -> None), numpy scalars and arrays
    to plain JSON values, recursively."""
    if isinstance(obj, dict):
        return {str(k): rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [rounded(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return rounded(obj.tolist(), digits)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return float(f"{obj:.{digits}g}")
    return obj


def write_json(path: Path, obj) -> int:
    """Compact, rounded JSON; returns the file's size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(rounded(obj), separators=(",", ":"), allow_nan=False).encode()
    path.write_bytes(data)
    return len(data)


def safe_id(text: str) -> str:
    """A dictionary id usable as a folder name and in a URL fragment."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "dictionary"


def dict_folder(dict_id: str) -> str:
    return f"dicts/{dict_id}"


def shard_file(dict_id: str, shard: int) -> str:
    return f"{dict_folder(dict_id)}/latents/{shard}.json"


REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_path(path: str | Path | None) -> str | None:
    """`path` relative to the repository, or None outside it: the index records no machine's
    absolute paths (they mean nothing to whoever opens the export)."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return None
