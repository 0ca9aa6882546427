"""The training CLI end to end on the tiny preset, and the strength plot."""

import json
import subprocess
import sys

from alphazero.plot import main as plot_main


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_help_lists_presets_and_settings():
    r = run("train_alphazero.py", "--help")
    assert r.returncode == 0
    assert "--preset" in r.stdout and "--simulations" in r.stdout and "--resume" in r.stdout


def test_bad_settings_are_rejected_clearly():
    r = run("train_alphazero.py", "--preset", "tiny", "--board-size", "5", "--print-config")
    assert r.returncode == 2 and "board size" in r.stderr
    r = run("train_alphazero.py", "--root-rule", "mcts", "--print-config")
    assert r.returncode == 2 and "root" in r.stderr


def test_tiny_run_then_resume_refusal_and_plot(tmp_path):
    out = tmp_path / "run"
    r = run("train_alphazero.py", "--preset", "tiny", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "agent.json").read_text())
    assert config["kind"] == "alphazero" and config["iteration"] == 1
    r = run("train_alphazero.py", "--preset", "tiny", "--out", str(out), "--no-progress")
    assert r.returncode == 2 and "--resume" in r.stderr
    plot_main([str(out)])
    assert (out / "strength.png").stat().st_size > 1000
