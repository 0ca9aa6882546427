"""Peak memory while training a TopK SAE from a large on-disk activation store.

Builds (once, reused after) a synthetic store of --rows x 256 float16 activations under
data/bench_store (3M rows = 1.5 GiB of activations), then trains in a fresh process and
prints that process's peak resident memory (ru_maxrss) next to the store's size. Training
streams the store: scales over the whole training split in chunks, then shuffled windows.

    python bench/bench_sae_memory.py [--rows 3000000] [--steps 60]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


def build(path: Path, rows: int, d: int, seed: int) -> None:
    import numpy as np
    from tqdm import tqdm

    from sae.activations.store import StoreWriter, meta_fields

    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((1024, d)).astype(np.float32)
    writer = StoreWriter.create(
        path, {"blocks.2.resid_post": d}, rows, "float16", info={"synthetic": True}
    )
    chunk = 100_000
    for start in tqdm(range(0, rows, chunk), desc="building store"):
        n = min(chunk, rows - start)
        idx = rng.integers(0, 1024, (n, 8))
        x = (atoms[idx] * rng.random((n, 8, 1), dtype=np.float32)).sum(1)
        meta = {
            name: np.zeros((n, *shape), dt)
            for name, (dt, shape) in meta_fields(6, "float16").items()
        }
        meta["game"] = (start + np.arange(n)) // 30  # 30 positions per game
        writer.append({"blocks.2.resid_post": x.astype(np.float16)}, meta, games=0)
    writer.finalize(0.1, seed)


def train(path: Path, steps: int) -> None:
    import tempfile

    from sae.activations.batches import Pairs
    from sae.activations.store import ActivationStore
    from sae.dictionary.model import DictConfig
    from sae.dictionary.train import RunSpec, TrainConfig
    from sae.dictionary.train import train as run_training

    store = ActivationStore(path)
    pairs = Pairs.from_store(store, "blocks.2.resid_post")
    spec = RunSpec("mem", DictConfig("topk", d_in=256, n_latents=4096, k=32))
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_training([spec], pairs, TrainConfig(steps=steps, checkpoint_every=10**9), tmp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"TRAIN rows={pairs.n_rows} steps={steps} seconds={time.perf_counter() - t:.1f} "
        f"peak_rss_bytes={peak}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--steps", type=int, default=60, help="training steps (batch 4096)")
    ap.add_argument("--store", default="data/bench_store")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--role", choices=["main", "build", "train"], default="main", help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.rows < 10_000 or args.steps < 1:
        ap.error("--rows must be >= 10000 and --steps positive")
    path = Path(args.store)
    if args.role == "build":
        return build(path, args.rows, 256, args.seed)
    if args.role == "train":
        return train(path, args.steps)
    manifest = path / "manifest.json"
    if manifest.exists() and f'"capacity": {args.rows}' not in manifest.read_text():
        ap.error(f"{path} holds a store of another size: delete it or pass --store")
    me = [
        sys.executable,
        __file__,
        "--rows",
        str(args.rows),
        "--steps",
        str(args.steps),
        "--store",
        str(path),
        "--role",
    ]
    if not manifest.exists() or '"complete": true' not in manifest.read_text():
        subprocess.run(me + ["build"], check=True)
    out = subprocess.run(me + ["train"], check=True, capture_output=True, text=True).stdout
    line = next(s for s in out.splitlines() if s.startswith("TRAIN"))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    store_bytes = sum(f.stat().st_size for f in (path / "acts").glob("*.npy"))
    all_bytes = sum(f.stat().st_size for f in path.rglob("*.npy"))
    peak = int(fields["peak_rss_bytes"])
    gib = 2**30
    print(
        f"store: {args.rows} rows x 256 float16 = {store_bytes / gib:.2f} GiB of activations "
        f"({all_bytes / gib:.2f} GiB with metadata), {fields['rows']} training rows"
    )
    print(
        f"training {fields['steps']} steps of 4096 (TopK, 4096 latents, k=32) "
        f"in {fields['seconds']} s, scales computed over the whole training split"
    )
    print(
        f"peak RSS of the training process: {peak / gib:.3f} GiB = "
        f"{peak / store_bytes:.2f} x the activation file"
    )


if __name__ == "__main__":
    main()
