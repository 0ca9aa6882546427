"""`--ray`: the same outputs as the local path, whatever the number of workers, and after a
worker is killed mid-task; no Ray without the switch; a dead cluster in one line.

All on the session's one local Ray instance (tests/conftest.py: 3 logical CPUs), small sizes.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from alphazero.selfplay import SelfPlayConfig, self_play
from alphazero.train import make_config, train
from common.io import load_state

ROOT = Path(__file__).resolve().parent.parent
SITES = "blocks.1.resid_post,blocks.0.mlp_in,blocks.0.mlp_out,blocks.1.mlp_in,blocks.1.mlp_out"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def _descends_from_us(pid: int) -> bool:
    while pid > 1:
        if pid == os.getpid():
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def _kill_when_running(title: str, ready=lambda: True, timeout: float = 300) -> int:
    """kill -9 the Ray worker of this test session whose process title is `ray::<title>` (a
    task or actor method running) once `ready()`; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(f"ray::{title}".encode()) and _descends_from_us(int(entry)):
                    os.kill(int(entry), signal.SIGKILL)
                    return int(entry)
        time.sleep(0.005)
    raise AssertionError(f"no ray::{title} worker ran within {timeout} s")


def _in_thread(fn, *args, **kwargs):
    out: dict = {}

    def go():
        try:
            out["result"] = fn(*args, **kwargs)
        except BaseException as e:  # re-raised in the test
            out["error"] = e

    thread = threading.Thread(target=go)
    thread.start()
    return thread, out


def _joined(thread, out):
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("result")


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray_agent")
    torch.manual_seed(0)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval(), root / "agent")
    return root / "agent"


def _collect_argv(agent, out, *extra):
    argv = ["--checkpoint", str(agent) + ".json", "--sites", SITES, "--positions", "1500"]
    return argv + ["--games-per-chunk", "12", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def store(agent, tmp_path_factory):
    """A small store collected here (the local path)."""
    from sae.activations.collect import main

    out = tmp_path_factory.mktemp("ray_store") / "local"
    main(_collect_argv(agent, out))
    return out


# -- no Ray without the switch --------------------------------------------------------------------
def test_plain_runs_never_import_ray(tmp_path):
    code = f"""
import sys
import pipeline, train_alphazero
from sae.activations.collect import main as collect
from sae.dictionary.cli import main as train_sae
from transcoder.train_cli import main as train_transcoder
out = {str(tmp_path)!r}
train_alphazero.main(["--preset", "tiny", "--iterations", "1", "--eval-games", "0",
                      "--no-progress", "--out", out + "/az"])
collect(["--checkpoint", out + "/az/agent.json", "--positions", "300", "--games-per-chunk",
         "8", "--sites", "blocks.1.resid_post,blocks.0.mlp_in,blocks.0.mlp_out",
         "--out", out + "/acts"])
train_sae(["--store", out + "/acts", "--site", "blocks.1.resid_post", "--sweep", "--widths",
           "16", "--l1-coeffs", "1", "--ks", "2", "--steps", "4", "--batch-size", "32",
           "--no-eval", "--out", out + "/sae"])
train_transcoder(["--store", out + "/acts", "--layer", "0", "--latents", "16", "--k", "2",
                  "--steps", "4", "--batch-size", "32", "--out", out + "/tc"])
loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
print("ray modules:", loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ray modules: []" in done.stdout, done.stdout[-2000:]


def test_a_dead_cluster_is_one_line_naming_it(store):
    argv = [sys.executable, "train_sae.py", "--store", str(store), "--site", "blocks.1.resid_post"]
    argv += ["--steps", "2", "--latents", "16", "--k", "2", "--no-eval", "--out"]
    dead = subprocess.run(
        [*argv, str(store.parent / "x"), "--ray", "127.0.0.1:1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = dead.stderr.strip().splitlines()
    assert dead.returncode == 1, dead.stderr[-2000:]
    assert lines[-1].startswith("error: --ray 127.0.0.1:1: no Ray cluster answers there"), lines
    assert "Traceback" not in dead.stderr
    bad = subprocess.run(
        [*argv, str(store.parent / "x"), "--ray", "nowhere"], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "expected HOST:PORT" in bad.stderr, bad.stderr


def test_pipeline_passes_ray_on_and_its_address_does_not_change_a_stage():
    from pipeline import Stage, fingerprint

    cmd = [sys.executable, "train_sae.py", "--sweep", "--quick"]
    plain = fingerprint(Stage("saes", [cmd], [], []))
    assert plain == fingerprint(Stage("saes", [cmd + ["--ray", "10.1.2.3:6379"]], [], []))
    assert plain == fingerprint(Stage("saes", [cmd + ["--ray", "auto"]], [], []))
    assert plain != fingerprint(Stage("saes", [cmd + ["--steps", "3"]], [], []))


# -- self-play ----------------------------------------------------------------------------------
def _buffer_and_weights(run: Path) -> dict[str, np.ndarray]:
    tensors, _ = load_state(run / "state" / "state", "alphazero_train_state")
    return {k: v.numpy() for k, v in tensors.items() if k.startswith(("buffer.", "net."))}


def test_one_and_three_selfplay_workers_fill_the_same_replay_buffer(ray_local, tmp_path):
    """Two iterations (the second plays with the weights published after the first), 12
    games in blocks of 4 each: locally, on 1 actor, and on 3 actors (the CLI's --ray: one
    worker per CPU of the session's instance)."""
    from alphazero.selfplay_actors import SelfPlayPool
    from train_alphazero import main

    settings = ["--preset", "tiny", "--games-per-iteration", "12", "--parallel-games", "4"]
    settings += ["--opening-plies", "2", "--root-rule", "puct", "--eval-games", "0"]
    settings += ["--no-progress"]
    main([*settings, "--out", str(tmp_path / "local")])
    main([*settings, "--out", str(tmp_path / "ray3"), "--ray"])
    cfg = make_config(
        "tiny", games_per_iteration=12, parallel_games=4, opening_plies=2, root_rule="puct",
        eval_games=0,
    )  # fmt: skip
    pool = SelfPlayPool(1, cfg.inference_dtype)
    try:
        train(cfg, tmp_path / "ray1", progress=False, play=pool)
    finally:
        pool.close()
    local = _buffer_and_weights(tmp_path / "local")
    assert local["buffer.me"].shape[0] > 12 * 10
    for name in ("ray1", "ray3"):
        other = _buffer_and_weights(tmp_path / name)
        assert other.keys() == local.keys()
        for key, value in local.items():
            assert np.array_equal(other[key], value), (name, key)


def test_a_selfplay_actor_killed_mid_block_is_replaced_and_the_games_are_the_same(ray_local):
    import ray

    from alphazero.selfplay_actors import SelfPlayPool

    torch.manual_seed(1)
    net = AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval()
    cfg = SelfPlayConfig(parallel_games=3, simulations=24, root_rule="gumbel", opening_plies=1)
    pool = SelfPlayPool(2, "float32")
    try:
        thread, out = _in_thread(pool, net, 6, 9, cfg, seed=5, progress=False)
        _kill_when_running("SelfPlayWorker.play")  # kill -9 of its process
        killed = _joined(thread, out)
        assert pool.workers.replaced >= 1
        ray.kill(pool.workers.actors[0])  # `ray.kill` of an actor: gone for good
        again = pool(net, 6, 9, cfg, seed=5, progress=False)
        assert pool.workers.replaced >= 2
    finally:
        pool.close()
    from alphazero.inference import NetEvaluator

    ref, ref_stats = self_play(NetEvaluator(net, "float32"), 6, 9, cfg, seed=5, progress=False)
    for ex, stats in (killed, again):
        assert stats.games == ref_stats.games == 9 and stats.lengths == ref_stats.lengths
        for field in ("me", "opp", "policy", "outcome", "ownership", "margin"):
            assert np.array_equal(getattr(ex, field), getattr(ref, field)), field


# -- activation collection ------------------------------------------------------------------------
def test_sharded_collection_writes_the_same_store_byte_for_byte(ray_local, agent, store):
    from sae.activations.collect import collect, main, play_chunk
    from sae.activations.sharded import chunks_on_ray

    main(_collect_argv(agent, store.parent / "ray3", "--ray"))  # 3 workers: the CLI's
    collect(
        str(agent) + ".json", SITES.split(","), 1500, store.parent / "ray1",
        games_per_chunk=12, progress=False, chunks=chunks_on_ray(1, play_chunk),
    )  # fmt: skip
    local = _files(store)
    assert len(local) > 10 and "manifest.json" in local
    for name in ("ray3", "ray1"):
        assert _files(store.parent / name) == local, name


# -- dictionaries ---------------------------------------------------------------------------------
SWEEP = ["--site", "blocks.1.resid_post", "--sweep", "--widths", "32", "--l1-coeffs", "1,2"]
SWEEP += ["--ks", "4,8", "--steps", "30", "--batch-size", "128", "--checkpoint-every", "10"]
SWEEP += ["--games", "2", "--positions", "256"]


def test_a_sweep_of_four_dictionaries_on_ray_gives_the_local_bundles(
    ray_local, store, tmp_path, capsys
):
    from sae.dictionary.cli import main

    main(["--store", str(store), *SWEEP, "--out", str(tmp_path / "local")])
    main(["--store", str(store), *SWEEP, "--out", str(tmp_path / "ray"), "--ray"])
    local, ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    runs = ["l1_1_n32", "l1_2_n32", "topk_k4_n32", "topk_k8_n32"]
    for run in runs:
        for name in ("dictionary.safetensors", "dictionary.json", "log.json"):
            assert ray[f"{run}/{name}"] == local[f"{run}/{name}"], (run, name)
    assert ray["scaling.json"] == local["scaling.json"]
    assert {k for k in ray if k.endswith("summary.json")} == {f"{r}/summary.json" for r in runs}
    capsys.readouterr()
    main(["--store", str(store), *SWEEP, "--out", str(tmp_path / "ray"), "--ray"])
    assert "0 of 4 run(s) as Ray tasks (4 recorded, skipped)" in capsys.readouterr().out
    assert _files(tmp_path / "ray") == ray


def test_a_dictionary_task_killed_mid_training_is_retried_to_the_same_bundle(
    ray_local, store, tmp_path
):
    from sae.dictionary.cli import main

    one = ["--store", str(store), "--site", "blocks.1.resid_post", "--latents", "32", "--k", "4"]
    one += ["--steps", "120", "--batch-size", "256", "--checkpoint-every", "20", "--no-eval"]
    main([*one, "--out", str(tmp_path / "local")])
    state = tmp_path / "ray" / "topk_k4_n32" / "train_state.json"
    thread, out = _in_thread(main, [*one, "--out", str(tmp_path / "ray"), "--ray"])
    _kill_when_running("_run", ready=state.exists)
    _joined(thread, out)
    local, ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert ray.keys() == local.keys()
    for name in local:
        assert ray[name] == local[name], name


def test_transcoders_one_task_per_block_give_the_local_set(ray_local, store, tmp_path):
    from transcoder.train_cli import main

    argv = ["--store", str(store), "--all-layers", "--skip", "--latents", "32", "--k", "4"]
    argv += ["--steps", "20", "--batch-size", "128"]
    main([*argv, "--out", str(tmp_path / "local")])
    main([*argv, "--out", str(tmp_path / "ray"), "--ray"])
    local = _files(tmp_path / "local")
    assert "transcoders.json" in local and "blocks.1/dictionary.safetensors" in local
    assert _files(tmp_path / "ray") == local


def test_cuda_work_on_a_cluster_without_gpus_is_refused_not_left_waiting(ray_local):
    from common import cluster

    assert ray_local.gpus == 0 and cluster.gpus_per_worker("cpu") == 0
    with pytest.raises(cluster.ClusterError, match="the Ray cluster has no GPU"):
        cluster.gpus_per_worker("cuda")
