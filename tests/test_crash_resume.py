"""Fault injection: each writer is killed at every kill point of one save, resumed, and must
end with exactly the files of an uninterrupted run, and no temporary file.

For each writer (the agent trainer, the SAE engine through train_sae.py, a transcoder run
through train_transcoder.py, activation collection) a reference run lists every crash
point it reaches (OTHELLO_CRASH_LOG); the test picks those of one save sequence (before,
between and after each file's write and rename; a "before write B" right after "after
rename A" is the same instant on disk and is skipped), kills a fresh run there
(OTHELLO_CRASH_AT: os._exit(137), as kill -9), reruns the same command (with --resume for
the agent), and compares the whole output folder with the reference: byte for byte, except
the agent's wall-clock fields (elapsed seconds and speeds; its weights, optimizer, replay
buffer and RNG state are compared byte for byte). The CLIs run in forked children
(tests/test_crash_forkserver.py) to keep this fast.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from common.io import CheckpointError
from sae.activations.batches import Pairs
from sae.dictionary.model import DictConfig
from sae.dictionary.train import RunSpec, TrainConfig, train
from tests.test_crash_forkserver import server

SITES = "blocks.1.resid_post," + ",".join(
    f"blocks.{i}.mlp_{k}" for i in (0, 1) for k in ("in", "out")
)
# wall-clock fields of the agent trainer's JSON files: the only bytes two runs may differ in
CLOCK = {"elapsed", "elapsed_seconds", "seconds_selfplay", "seconds_train", "seconds_eval"}
CLOCK |= {"selfplay_positions_per_s"}


def crash_log(cli, argv, tmp: Path) -> list[str]:
    """Labels of every crash point a complete run reaches, in order (index i+1 = label i)."""
    log = tmp / "crash.log"
    r = server().run(cli, *argv, env={"OTHELLO_CRASH_LOG": str(log)})
    assert r.rc == 0, r.output
    return [line.split("\t", 1)[1] for line in log.read_text().splitlines()]


def kill_points(labels: list[str], first: int, last: int | None = None) -> list[int]:
    """1-based crash point numbers of labels[first:last], without the repeated instants."""
    last = len(labels) if last is None else last
    return [
        i + 1 for i in range(first, last) if i == first or not labels[i].startswith("before write")
    ]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def temporaries(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob(".*") if ".tmp" in p.name]


def _without_clock(value):
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


def differences(got: Path, want: Path, clock: bool = False) -> list[str]:
    a, b = files(got), files(want)
    out = [f"missing {n}" for n in sorted(set(b) - set(a))]
    out += [f"extra {n}" for n in sorted(set(a) - set(b))]
    for name in sorted(set(a) & set(b)):
        x, y = a[name], b[name]
        if clock and name.endswith(".json"):
            x, y = (_without_clock(json.loads(v)) for v in (x, y))
        elif clock and name.endswith(".jsonl"):
            x, y = ([_without_clock(json.loads(line)) for line in v.splitlines()] for v in (x, y))
        if x != y:
            out.append(f"differs {name}")
    return out


def kill_matrix(
    cli, argv, labels, points, tmp: Path, reference: Path, resume=(), clock=False, says=""
):
    """Kill a fresh run at each point, resume it (its output must contain `says`), compare
    with the reference. Asserts every row (point, label, identical, temporaries left)
    passed."""
    s, rows, failed = server(), [], []
    for k in points:
        out = tmp / f"kill{k}"
        run_argv = [a if a != "OUT" else out for a in argv]
        killed = s.run(cli, *run_argv, env={"OTHELLO_CRASH_AT": str(k)})
        assert killed.rc == 137 and f"killed at crash point {k} (" in killed.output, (
            k,
            killed.output[-2000:],
        )
        resumed = s.run(cli, *run_argv, *resume)
        assert resumed.rc == 0 and says in resumed.output, (k, labels[k - 1], resumed.output)
        diff = differences(out, reference, clock)
        left = temporaries(out)
        rows.append((k, labels[k - 1], not diff, left))
        if diff or left:
            failed.append((k, labels[k - 1], diff, left))
    print(f"\n{cli}: kill point -> resumed identical, temporaries left")
    for k, label, same, left in rows:
        print(f"  {k:3d} {label:45s} {'identical' if same else 'DIFFERENT'}  {left or 'none'}")
    assert not failed, failed


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A tiny agent, a reference store of it (with its crash log) and the command."""
    root = tmp_path_factory.mktemp("crash")
    torch.manual_seed(0)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval(), root / "agent")
    argv = ["--checkpoint", root / "agent.json", "--sites", SITES, "--positions", "200"]
    argv += ["--games-per-chunk", "4", "--out", "OUT"]
    labels = crash_log("sae.activations", [a if a != "OUT" else root / "store" for a in argv], root)
    return root, argv, labels


def test_activation_collection_resumes_byte_identical_from_every_kill_point(collected, tmp_path):
    root, argv, labels = collected
    # creation (files, then the manifest), the second chunk (from the instant the first is
    # committed), and finalising
    chunks = [i for i, label in enumerate(labels) if label == "after rows acts/"]
    assert len(chunks) >= 2 and labels[-1] == "after rename manifest.json"
    points = kill_points(labels, 0, chunks[0]) + kill_points(labels, chunks[1] - 1, len(labels))
    kill_matrix("sae.activations", argv, labels, points, tmp_path, root / "store")


def test_sae_training_resumes_byte_identical_from_every_kill_point(collected, tmp_path):
    root = collected[0]
    argv = ["--store", root / "store", "--site", "blocks.1.resid_post", "--latents", "32"]
    argv += ["--k", "4", "--steps", "20", "--checkpoint-every", "10", "--batch-size", "32"]
    argv += ["--no-eval", "--out"]
    reference = tmp_path / "reference"
    labels = crash_log("train_sae.py", [*argv, reference], tmp_path)
    # the step-20 save: a new generation, the commit, the old one deleted, the exports
    last = max(i for i, label in enumerate(labels) if "train_state.00000020" in label)
    first = labels.index("before write train_state.00000020.safetensors")
    assert last > first and any("before delete train_state.00000010" in x for x in labels)
    kill_matrix("train_sae.py", [*argv, "OUT"], labels, kill_points(labels, first), tmp_path,
                reference, says="resuming topk_k4_n32 at step ")  # fmt: skip


def test_transcoder_set_resumes_byte_identical_around_each_commit(collected, tmp_path):
    """Two transcoders (one per block) train from one pass and save in turn: a kill between
    their commits leaves block 0 a checkpoint ahead, and block 1 catches up alone."""
    root = collected[0]
    argv = ["--store", root / "store", "--all-layers", "--latents", "32", "--k", "4"]
    argv += ["--steps", "10", "--batch-size", "32", "--skip", "--out"]
    reference = tmp_path / "reference"
    labels = crash_log("train_transcoder.py", [*argv, reference], tmp_path)
    # each block's tensor file and commit, then the set's config
    points = [
        i + 1
        for i, label in enumerate(labels)
        if ("train_state" in label or "transcoders.json" in label)
        and not label.startswith("before write")
    ]
    kill_matrix("train_transcoder.py", [*argv, "OUT"], labels, points, tmp_path, reference)


def test_agent_training_resumes_from_every_kill_point(tmp_path):
    argv = ["--preset", "tiny", "--iterations", "2", "--games-per-iteration", "2"]
    argv += ["--parallel-games", "2", "--simulations", "2", "--final-simulations", "2"]
    argv += ["--eval-games", "0", "--d-model", "8", "--n-blocks", "1", "--batch-size", "16"]
    argv += ["--buffer-positions", "200", "--no-progress", "--out"]
    reference = tmp_path / "reference"
    labels = crash_log("train_alphazero.py", [*argv, reference], tmp_path)
    # iteration 1's save: its state, the commit, iteration 0's state deleted, the exports
    first = labels.index("before write state.00000001.safetensors")
    assert "before delete state.00000000.safetensors" in labels[first:]
    kill_matrix("train_alphazero.py", [*argv, "OUT"], labels, kill_points(labels, first),
                tmp_path, reference, resume=["--resume"], clock=True,
                says="resuming at iteration ")  # fmt: skip


def test_the_sae_trainer_names_what_changed_when_it_resumes_or_refuses(tmp_path, capsys):
    data = Pairs.from_arrays(np.random.default_rng(0).standard_normal((512, 8), np.float32))
    spec = RunSpec("a", DictConfig("topk", d_in=8, n_latents=16, k=2))
    cfg = TrainConfig(batch_size=64, steps=4, checkpoint_every=2, progress=False)
    train([spec], data, cfg, tmp_path)
    capsys.readouterr()
    train([spec], data, replace(cfg, log_every=5), tmp_path)
    state = tmp_path / "a" / "train_state.json"
    assert f"resuming a at step 4 of 4 from {state} (changed: log_every: 25 -> 5)" in (
        capsys.readouterr().out
    )
    other = RunSpec("a", DictConfig("topk", d_in=8, n_latents=16, k=3))
    with pytest.raises(CheckpointError) as e:
        train([other], data, cfg, tmp_path)
    assert "(run.dictionary.k: 2 -> 3)" in str(e.value) and "\n" not in str(e.value)
