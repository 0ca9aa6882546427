"""The OpenMP wait policy, chosen from how busy the cores are when the toolkit loads.

torch's OpenMP runtime (libgomp) reads OMP_WAIT_POLICY once, when torch loads; afterwards only
the thread count of each call can change (`common/threads.py` chooses that). Which policy is
faster depends on the moment, not the machine (bench/bench_threads.py, 2 cores,
docs/threads.md): on a quiet machine the default policy (workers spin a while, then sleep) is the
fastest for every workload and PASSIVE (sleep at once) runs batched self-play at about 0.6x;
with every core taken by other processes, spinning workers fight them for the cores and
PASSIVE runs batched self-play and matches 2-3x faster than the default.

So, when the toolkit is imported before torch and the user has set neither OMP_WAIT_POLICY
nor GOMP_SPINCOUNT: count the other tasks running right now (the instantaneous field of
/proc/loadavg, a few samples), and set PASSIVE when they fill every core this process may
use. On other systems, with torch already loaded, or with OTHELLO_THREADS=fixed (the bench's
"old behaviour" settings), nothing is set. `CHOSEN` says what happened, for reports.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from common.threads import adaptive

USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
CHOSEN = "not decided"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def others_running(samples: int = 5, pause: float = 0.002) -> int | None:
    """Runnable tasks besides this one (median of a few samples), or None off Linux."""
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None
        counts.append(max(0, running - 1))  # the reading task counts itself
        if i + 1 < samples:
            time.sleep(pause)
    return int(statistics.median(counts))


def choose() -> str:
    """Set OMP_WAIT_POLICY=PASSIVE if the cores are busy now and nothing else decided it."""
    global CHOSEN
    if CHOSEN != "not decided":
        return CHOSEN
    if "torch" in sys.modules:
        CHOSEN = "torch loaded first: its policy stands"
    elif any(k in os.environ for k in USER_SETTINGS):
        CHOSEN = "set by the user: " + ", ".join(
            f"{k}={os.environ[k]}" for k in USER_SETTINGS if k in os.environ
        )
    elif not adaptive():
        CHOSEN = "OTHELLO_THREADS=fixed: the default policy"
    else:
        others, cpus = others_running(), usable_cpus()
        if others is not None and others >= cpus:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            CHOSEN = f"PASSIVE ({others} other tasks running on {cpus} CPUs)"
        else:
            CHOSEN = "the default policy (cores free)"
    return CHOSEN
