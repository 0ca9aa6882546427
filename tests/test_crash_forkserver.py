"""A fork server for the fault-injection and bad-input tests, and its own checks.

Each test runs a command line's `main(argv)` in a child forked from one server process that
imported the project (torch, numba kernels' modules, matplotlib) once: a child is the CLI
as `python <cli> ARGS` runs it, minus the ~3 s of interpreter start and imports a fresh
process pays, so dozens of kill-and-resume runs fit in seconds. A child's stdout and stderr
go to a file; it exits with the CLI's exit status (a string passed to sys.exit prints to
stderr and exits 1, an uncaught exception prints its traceback and exits 1, as Python does),
or dies with os._exit(137) where fault injection (common.io.crash_point) kills it.

The server forks only from a process that has run no torch or numba work (so no thread
pool exists to be broken by the fork); every child starts its own.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIS = {
    "train_alphazero.py": "train_alphazero:main",
    "train_sae.py": "sae.dictionary.cli:main",
    "train_transcoder.py": "transcoder.train_cli:main",
    "pipeline.py": "pipeline:main",
    "play.py": "play:main",
    "sae.activations": "sae.activations.collect:main",
    "sae.dictionary.evaluate": "sae.dictionary.evaluate:main",
    "sae.concepts": "sae.concepts.report:main",
    "sae.probes": "sae.probes.report:main",
    "sae.steering": "sae.steering.cli:main",
    "sae.skill": "sae.skill.study:main",
    "sae.explain": "sae.explain.report:main",
    "transcoder.attribute": "transcoder.attribute:main",
    "transcoder.evaluate": "transcoder.evaluate:main",
    "transcoder.interventions": "transcoder.interventions:main",
    "transcoder.virtual_weights": "transcoder.virtual_weights:main",
    "vis.export": "vis.export:main",
    "vis.ship": "vis.ship:main",
    "vis.browser": "vis.browser:main",
    "othello.solve": "othello.solve:main",
    "othello.perft": "othello.perft:main",
    "alphazero.evaluate": "alphazero.evaluate:main",
    "alphazero.plot": "alphazero.plot:main",
    "alphazero.skill": "alphazero.skill:main",
}


@dataclass
class Result:
    rc: int
    output: str  # stdout and stderr together

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


def _child(job: dict) -> None:
    """Runs in the forked child; never returns."""
    fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ.update(job["env"])
        module, func = CLIS[job["cli"]].split(":")
        sys.argv = [job["cli"], *job["argv"]]
        ret = getattr(importlib.import_module(module), func)(job["argv"])
        code = ret if isinstance(ret, int) else 0
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _warm_up() -> None:
    """Load the game's and the search's compiled kernels (numba's cache) once, here: they run
    no threads. Self-play against a uniform numpy evaluator and a match of the baseline
    players touch them all without torch; the SAE kernels run threads and are left alone."""
    import numpy as np

    from alphazero.selfplay import SelfPlayConfig, self_play
    from othello import batch
    from othello.arena import play_match
    from othello.players import make_player

    def uniform(me, opp):
        legal = batch.legal_action_mask(me, opp, 4)
        return legal / legal.sum(1, keepdims=True), np.zeros(len(me), np.float32)

    for rule in ("puct", "gumbel"):
        self_play(uniform, 4, 2, SelfPlayConfig(2, 4, rule, opening_plies=2), progress=False)
    for a, b in (("random", "greedy"), ("alphabeta:2", "random")):
        play_match(make_player(a, 6), make_player(b, 6), 2, 6, 2, 0, progress=False, record=True)


def serve() -> None:
    """The server: import everything, then one forked child per JSON job line on stdin."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch._dynamo  # noqa: F401  (the optimizers import it on first use: ~2 s)

    for target in CLIS.values():
        importlib.import_module(target.split(":")[0])
    _warm_up()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(job)
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")
        out.flush()


class ForkServer:
    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("OTHELLO_CRASH_AT", None)
        env.pop("OTHELLO_CRASH_LOG", None)
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the fork server did not start")
        self.jobs = 0

    def run(self, cli: str, *argv, env: dict | None = None, cwd=ROOT, log=None) -> Result:
        """Run `cli ARGV` in a fresh child; its output is kept in `log` (default: a file in
        /tmp named after the job) and returned."""
        self.jobs += 1
        log = Path(log or f"/tmp/forkserver-{os.getpid()}-{self.jobs}.log")
        job = dict(cli=cli, argv=[str(a) for a in argv], env=env or {}, cwd=str(cwd), log=str(log))
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the fork server died")
        output = log.read_text()
        log.unlink()
        return Result(json.loads(reply)["rc"], output)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


_server: ForkServer | None = None


def server() -> ForkServer:
    """The one server of this pytest process (started on first use)."""
    global _server
    if _server is None:
        _server = ForkServer()
        atexit.register(_server.close)
    return _server


# -- its own checks -----------------------------------------------------------------------------
def test_children_report_exit_codes_errors_and_injected_kills(tmp_path):
    s = server()
    ok = s.run("othello.solve", "-XXXXX/OOOOOO/XXXXXX/OOOOOO/XXXXXX/OOOOO-X")
    assert ok.rc == 0 and "value +0 (D)" in ok.output
    usage = s.run("othello.solve", "--max-empties", "x", "X")
    assert usage.rc == 2 and "invalid int value" in usage.output
    # fault injection: the first crash point the collection reaches kills the child
    killed = s.run(
        "sae.activations",
        "--checkpoint",
        ROOT / "pretrained" / "agent",
        "--positions",
        "10",
        "--out",
        tmp_path / "store",
        env={"OTHELLO_CRASH_AT": "1"},
    )
    assert killed.rc == 137 and "killed at crash point 1 (" in killed.output


if __name__ == "__main__":
    serve()
