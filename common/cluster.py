"""Ray, only when asked: the `--ray [ADDRESS]` switch and the few ways the toolkit uses it.

Without `--ray` nothing here imports Ray (an optional dependency: requirements-ray.txt).
`--ray` alone starts a local Ray instance on this machine; `--ray HOST:PORT` (the head's GCS
address printed by `ray start --head`), `--ray ray://HOST:10001` (Ray Client) or `--ray auto`
(the cluster started on this machine) joins an existing cluster. A cluster that does not
answer is one line naming the address (`ClusterError`, exit 1 through common/cli.py's
boundary): the port is tried first (refused or unreachable: at once), then `ray.init` gets
`CONNECT_SECONDS`, where Ray's own client would retry for minutes.

Workers import the toolkit from this checkout (PYTHONPATH set to its root for every worker):
on a cluster the checkout, the activation store and the output folders must be at the same
path on every node, a shared filesystem (docs/ray.md).

What runs there, by workload (each module holds its own remote code):
  - `Workers`: a fixed set of actors, one call at a time each; a call whose actor died
    (`ray.kill`, kill -9, a lost node) runs again on a fresh actor. Self-play uses it.
  - `in_order`: tasks kept `window` in flight, results handed back in submission order;
    Ray retries a task whose worker died. Activation chunks and dictionaries use it.
Results are gathered in a fixed order and every unit of work is seeded by its index, so
outputs do not depend on how many workers ran them, nor on a worker killed halfway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.cli import InputError, UsageError

ROOT = Path(__file__).resolve().parent.parent  # the checkout workers import the toolkit from
LOCAL = "local"  # `--ray` without an address
CONNECT_SECONDS = 60.0  # ray.init on an address that answered the port check
PORT_SECONDS = 5.0
RETRIES = 3  # runs of one unit of work whose worker died before the command gives up
HELP = (
    "run the work on Ray: alone, a local Ray instance on this machine; with ADDRESS "
    "(HOST:PORT of `ray start --head`, ray://HOST:PORT, or auto) join that cluster "
    "(docs/ray.md)"
)


class ClusterError(InputError):
    """A cluster that cannot be reached or used: one line, exit 1."""


def address(text: str) -> str:
    """An argparse type: local, auto, HOST:PORT or ray://HOST:PORT."""
    text = text.strip()
    if text in (LOCAL, "auto"):
        return text
    host, port = _host_port(text)
    if not host or port is None:
        raise UsageError(f"--ray {text!r}: expected HOST:PORT, ray://HOST:PORT, auto or local")
    return text


def add_argument(ap) -> None:
    ap.add_argument(
        "--ray", nargs="?", const=LOCAL, default=None, type=_argtype, metavar="ADDRESS", help=HELP
    )


def _argtype(text: str) -> str:
    import argparse

    try:
        return address(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def passthrough(value: str | None) -> list[str]:
    """The command-line words that give a child command the same `--ray`."""
    return [] if value is None else ["--ray", value]


def _host_port(text: str) -> tuple[str, int | None]:
    body = text.removeprefix("ray://")
    host, sep, port = body.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return host, None
    return host.strip("[]"), int(port)


def worker_env() -> dict:
    """The runtime environment of every worker: the toolkit importable from this checkout."""
    return {"env_vars": {"PYTHONPATH": str(ROOT)}}


def init_local(**kwargs) -> None:
    """Start a local Ray instance for the toolkit (tests pass num_cpus and memory caps)."""
    import ray

    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("runtime_env", worker_env())
    ray.init(address="local", **kwargs)  # a new instance, even beside a `ray start` one


@dataclass
class Cluster:
    """A connected Ray: how much it holds, and how children reach it."""

    address: str  # the GCS address (HOST:PORT) a child command can pass to --ray
    cpus: int
    gpus: int

    @classmethod
    def current(cls) -> Cluster:
        import ray

        res = ray.cluster_resources()
        gcs = ray.get_runtime_context().gcs_address
        return cls(gcs, max(1, int(res.get("CPU", 1))), int(res.get("GPU", 0)))


@contextlib.contextmanager
def session(where: str | None) -> Iterator[Cluster | None]:
    """Connect as `--ray` asks (None: no Ray, nothing imported) for the length of a command;
    a Ray this process already holds (a test's, a pipeline's) is used as it is."""
    if where is None:
        yield None
        return
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "--ray needs Ray, an optional dependency: pip install -r requirements-ray.txt"
        ) from None
    owned = not ray.is_initialized()
    if owned:
        _connect(where)
    try:
        yield Cluster.current()
    finally:
        if owned:
            ray.shutdown()


def _connect(where: str) -> None:
    import ray

    if where == LOCAL:
        init_local()
        return
    if where != "auto":
        host, port = _host_port(where)
        try:
            socket.create_connection((host, port), timeout=PORT_SECONDS).close()
        except OSError as e:
            reason = e.strerror or str(e) or type(e).__name__
            raise ClusterError(
                f"--ray {where}: no Ray cluster answers there ({reason}); start one with "
                f"`ray start --head` or check the address"
            ) from None
    # ray.init on a port that answers but is no Ray head retries for minutes: bounded here
    done: dict[str, Any] = {}

    def connect():
        try:
            ray.init(address=where, runtime_env=worker_env())
            done["ok"] = True
        except Exception as e:  # reported below, in one line
            done["error"] = e

    # joined from a thread, Ray warns that it cannot install its SIGTERM handler: ours
    # (common/cli.py) stops the command and `session` disconnects, so the warning is noise
    quiet = logging.getLogger("ray._private.worker")
    drop = _Drop("SIGTERM handler is not set")
    quiet.addFilter(drop)
    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(CONNECT_SECONDS)
    quiet.removeFilter(drop)
    if "ok" in done:
        return
    why = done.get("error")
    reason = " ".join(str(why).split())[:300] if why else f"no answer in {CONNECT_SECONDS:.0f} s"
    if not os.environ.get("RAY_AUTH_MODE"):  # what a cluster with token authentication needs
        reason += "; with token authentication set RAY_AUTH_MODE=token and the token (docs/ray.md)"
    raise ClusterError(f"--ray {where}: could not join a Ray cluster there ({reason})")


class _Drop(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


def gpus_per_worker(device: str) -> int:
    """1 for a CUDA device (each worker one GPU), else 0; a cluster without GPUs is an error
    here rather than work Ray would wait for forever."""
    if not str(device).startswith("cuda"):
        return 0
    if Cluster.current().gpus < 1:
        raise ClusterError(f"--device {device} with --ray: the Ray cluster has no GPU")
    return 1


# -- running work ---------------------------------------------------------------------------
def _raise_task_error(e: Exception, what: str) -> None:
    """A failure inside remote code: the error it raised (the CLI's handlers apply), or for a
    worker that died past its retries one line saying so."""
    import ray.exceptions as rex

    if isinstance(e, rex.RayTaskError) and isinstance(e.cause, Exception):
        cause = e.cause
        if isinstance(cause, (InputError, ValueError, OSError, MemoryError, FloatingPointError)):
            raise cause from None
        raise e
    if isinstance(e, (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError)):
        raise ClusterError(f"{what}: its Ray worker died {RETRIES + 1} times ({type(e).__name__})")
    raise e


def in_order(
    submit: Callable[[int], Any], count: int | None, window: int, what: str = "a task"
) -> Iterator[Any]:
    """Results of `submit(0)`, `submit(1)`, ... (each an ObjectRef) in that order, at most
    `window` submitted ahead; `count` None: until the caller stops (closing the generator
    cancels what is still running)."""
    import ray

    window = max(1, window)
    running: deque = deque()
    nxt = 0
    try:
        while True:
            while len(running) < window and (count is None or nxt < count):
                running.append(submit(nxt))
                nxt += 1
            if not running:
                return
            ref = running.popleft()
            try:
                result = ray.get(ref)
            except Exception as e:
                _raise_task_error(e, what)
            yield result
    finally:
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


class Workers:
    """`count` actors made by `make()`, each running one call at a time (see module doc)."""

    def __init__(self, make: Callable[[], Any], count: int):
        self.make = make
        self.actors = [make() for _ in range(max(1, count))]
        self.replaced = 0  # actors started again after one died

    def map(
        self,
        method: str,
        calls: list[tuple],
        shared: tuple = (),
        done: Callable[[int, Any], None] | None = None,
    ) -> list:
        """`actor.<method>(*shared, *calls[i])` for every i on the free actors; the results
        in the order of `calls`. `done(i, result)` is told as each one arrives."""
        import ray
        import ray.exceptions as rex

        results: list = [None] * len(calls)
        failures = [0] * len(calls)
        todo = deque(range(len(calls)))
        idle = deque(range(len(self.actors)))
        running: dict = {}
        while todo or running:
            while todo and idle:
                a, i = idle.popleft(), todo.popleft()
                ref = getattr(self.actors[a], method).remote(*shared, *calls[i])
                running[ref] = (a, i)
            [ref], _ = ray.wait(list(running), num_returns=1)
            a, i = running.pop(ref)
            try:
                results[i] = ray.get(ref)
            except rex.RayActorError as e:
                failures[i] += 1
                if failures[i] > RETRIES:
                    _raise_task_error(e, f"{method} #{i}")
                with contextlib.suppress(Exception):
                    ray.kill(self.actors[a])
                self.actors[a] = self.make()  # a fresh process; the call runs again
                self.replaced += 1
                todo.appendleft(i)
            except Exception as e:
                _raise_task_error(e, f"{method} #{i}")
            else:
                if done is not None:
                    done(i, results[i])
            idle.append(a)
        return results

    def close(self) -> None:
        import ray

        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.actors = []


def cpu_count() -> int:
    """CPUs of this machine the scheduler lets this process use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
