"""One Ray task per dictionary (`train_sae.py --ray`, `train_transcoder.py --ray`).

Each task trains one run with the one engine (`train([spec], ...)`: its own folder, its own
checkpoints, committed as a local run commits them), then, for an SAE sweep, evaluates it on
the held-out split and records the scaling row beside it (`<run>/summary.json`, with the
settings it belongs to and the dictionary's hash). The driver gathers the rows for
scaling.json and the plots, or writes the transcoder set's config. A run's result is the one
the local path gives: its initialisation and batches depend on the seed and the step alone,
not on which runs train beside it.

What it trades: the local path feeds every run from one pass over the store (one read per
batch for the whole grid); here every task reads the store on its own, so a grid of R runs
reads it R times, from a filesystem every node shares (bench/bench_ray.py measures both).

Finished work is skipped: a run whose summary.json matches its settings and dictionary gets
no task; a run whose training finished but has no such record gets a task that finds the
committed state finished (the engine's resume) and only evaluates. A task whose worker dies
is run again by Ray and resumes from the run's last committed checkpoint.

Resources: one CPU per task, and one GPU with `--device cuda`. Only imported with --ray.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import asdict
from pathlib import Path

import ray

from alphazero.model import load_agent
from common.cluster import RETRIES, ClusterError, gpus_per_worker, in_order
from common.io import atomic_write_json, bundle_paths, read_json
from sae.activations.batches import Columns, Pairs
from sae.activations.store import ActivationStore
from sae.dictionary.metrics import evaluate
from sae.dictionary.sweep import summary_row
from sae.dictionary.train import RunSpec, TrainConfig, train

SUMMARY = "summary.json"


def _key(spec: RunSpec, cfg: TrainConfig, evaluation: dict, store_hash: str) -> dict:
    """What a recorded summary belongs to."""
    return dict(run=asdict(spec), train=asdict(cfg), evaluation=evaluation, store=store_hash)


def _weights_sha(run_dir: Path) -> str | None:
    config = bundle_paths(run_dir / "dictionary")[1]
    return read_json(config, "dictionary").get("weights_sha256") if config.exists() else None


def recorded_row(run_dir: Path, key: dict) -> dict | None:
    """The summary row recorded for these settings and this very dictionary, if any."""
    path = run_dir / SUMMARY
    if not path.exists():
        return None
    record = read_json(path, "run summary")
    if not isinstance(record, dict) or record.get("key") != json.loads(json.dumps(key)):
        return None
    if record.get("weights_sha256") != _weights_sha(run_dir):
        return None
    return record.get("row")


def _seen(path: Path, what: str) -> None:
    if not path.exists():
        raise ClusterError(
            f"a Ray worker on {socket.gethostname()} does not see {what} {path}: the store and "
            f"--out must be on a filesystem every node shares, at the same path (docs/ray.md)"
        )


@ray.remote
def _run(
    spec: RunSpec,
    cfg: TrainConfig,
    store_path: str,
    columns: bool,
    out: str,
    evaluation: dict | None,
    key: dict,
) -> dict | None:
    """Train one run (an SAE on the pair of its in_site, or with `columns` its in_site ->
    out_site columns: a transcoder), then evaluate it if asked: the scaling row, also
    recorded beside the run."""
    _seen(Path(store_path), "the activation store")
    _seen(Path(out), "the output folder")
    store = ActivationStore(store_path)
    d = spec.dictionary
    if columns:
        data = Columns.from_store(store, [d.in_site, d.out_site])
    else:
        data = Pairs.from_store(store, d.in_site)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        # no progress bars from the workers (the driver counts runs; the settings, which
        # record `progress`, stay those of the local path)
        trained = train([spec], data, cfg, out)[spec.name].cpu()
    if evaluation is None:
        return None
    net, _ = load_agent(store.checkpoint)
    metrics = evaluate(trained, store, net, **evaluation)
    run_dir = Path(out) / spec.name
    history = json.loads((run_dir / "log.json").read_text())
    row = summary_row(spec, metrics, history)
    record = {"key": key, "weights_sha256": _weights_sha(run_dir), "row": row}
    atomic_write_json(run_dir / SUMMARY, record)
    return row


def train_each(
    specs: list[RunSpec],
    cfg: TrainConfig,
    store: ActivationStore,
    out: str | Path,
    evaluation: dict | None = None,
    columns: bool = False,
    progress: bool = True,
) -> dict[str, dict | None]:
    """Every run of `specs` as its own Ray task (`columns`: transcoders, reading their two
    sites); {run name: scaling row (None without `evaluation`)} in the order of `specs`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gpus = gpus_per_worker(cfg.device)
    task = _run.options(num_cpus=1, num_gpus=gpus, max_retries=RETRIES)
    rows: dict[str, dict | None] = {}
    todo = []
    for spec in specs:
        key = _key(spec, cfg, evaluation or {}, store.hash)
        row = recorded_row(out / spec.name, key) if evaluation is not None else None
        if row is not None:
            rows[spec.name] = row
        else:
            todo.append((spec, key))
    if progress:
        print(f"{len(todo)} of {len(specs)} run(s) as Ray tasks ({len(rows)} recorded, skipped)")
    store_path = str(Path(store.root).absolute())

    def submit(i: int):
        spec, key = todo[i]
        return task.remote(spec, cfg, store_path, columns, str(out.absolute()), evaluation, key)

    for (spec, _), row in zip(todo, in_order(submit, len(todo), len(todo), "a run"), strict=True):
        rows[spec.name] = row
        if progress:
            print(f"finished {spec.name}", flush=True)
    return {spec.name: rows[spec.name] for spec in specs}
