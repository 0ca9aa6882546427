"""The OpenMP wait policy: PASSIVE only when other tasks fill the cores at import, never over
the user's own setting or once torch has loaded; and a real busy machine is seen as busy."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import common.wait_policy as wp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh(monkeypatch):
    """choose() as at a first import: undecided, torch not loaded, an empty environment."""
    env: dict[str, str] = {}
    monkeypatch.setattr(wp, "CHOSEN", "not decided")
    monkeypatch.setattr(wp.os, "environ", env)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(wp, "usable_cpus", lambda: 2)
    return env


def test_passive_only_when_other_tasks_fill_every_core(fresh, monkeypatch):
    monkeypatch.setattr(wp, "others_running", lambda: 1)
    assert wp.choose().startswith("the default") and "OMP_WAIT_POLICY" not in fresh
    monkeypatch.setattr(wp, "CHOSEN", "not decided")
    monkeypatch.setattr(wp, "others_running", lambda: 2)
    assert wp.choose().startswith("PASSIVE") and fresh["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.parametrize(
    "env", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "1000"}, {"OTHELLO_THREADS": "fixed"}]
)
def test_the_users_setting_stands(fresh, monkeypatch, env):
    fresh.update(env)
    monkeypatch.setattr(wp, "others_running", lambda: 8)
    wp.choose()
    assert fresh.get("OMP_WAIT_POLICY") == env.get("OMP_WAIT_POLICY")


def test_nothing_is_set_once_torch_has_loaded(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", object())
    monkeypatch.setattr(wp, "others_running", lambda: 8)
    assert wp.choose().startswith("torch loaded first") and "OMP_WAIT_POLICY" not in fresh


def test_a_busy_machine_is_seen_at_import():
    """Real busy processes, one per usable CPU: a fresh interpreter importing the toolkit
    sets PASSIVE before torch loads."""
    if wp.others_running() is None:
        pytest.skip("no /proc/loadavg here")
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(wp.usable_cpus())
    ]
    try:
        time.sleep(0.5)
        code = "import othello, os; print(os.environ.get('OMP_WAIT_POLICY'))"
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={k: v for k, v in wp.os.environ.items() if k not in wp.USER_SETTINGS},
            check=True,
        )
    finally:
        for p in busy:
            p.kill()
    assert out.stdout.strip() == "PASSIVE"
