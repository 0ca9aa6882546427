"""How many threads a network call uses: one, or torch's count, whichever measures faster.

What conflicts (measured with bench/bench_threads.py on 2 cores): torch splits every matrix
product over an OpenMP team whose workers, between parallel regions, either spin (the
default policy spins a while, then sleeps; ACTIVE spins) or sleep at once (PASSIVE). When a
core is free, splitting pays even for batch-1 calls, and spinning workers answer at once:
the default policy was the fastest setting for every workload on a quiet machine, PASSIVE
0.45-1.0x of it. When the cores are busy (another process, numba's own OpenMP pool from the
SAE kernels, a browser), a fork/join waits for a descheduled worker: with spinning workers
the same calls ran 10-50x slower than on one thread, and PASSIVE was the better setting. No
fixed setting is right on every machine at every moment, and OMP_WAIT_POLICY only takes
effect if set before torch loads.

So each call site chooses per call, by measurement (`ThreadChooser`). Per batch-size bucket
it runs on torch's count, and now and then runs a short trial of the other choice (one
thread, or back): a few calls in a row, the first not timed, because the first call after a
switch pays for waking the team (timing single calls made one thread look 2x faster than it
was). Calls outside trials are all timed: where neighbouring batch sizes chose differently
and calls alternate between them (games in lockstep around 32 rows), the switches are part
of what a choice costs. It keeps the faster (seconds per row, an exponential moving
average), and spaces the trials out while the choice holds (16 calls, doubling, and at least
enough calls that a trial of the slower choice costs about 3% of the time; at most 1024),
so it follows the machine's load without paying much for following it: on a quiet machine
the best choice is torch's count nearly everywhere, and the trials are all the chooser
costs there. A call on one thread has no parallel region: no worker to
wake or to wait for, whatever the wait policy. The thread count cannot undo spinning workers
on a busy machine, though: there PASSIVE with torch's count measured 2-3x faster on batched
work than the best choice under the default policy, so `common/wait_policy.py` sets PASSIVE
when the cores are full as the toolkit loads (only possible before torch loads).
OTHELLO_THREADS=fixed turns the choice off (torch's count for every call: the old behaviour,
for the bench).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

EMA = 0.3  # weight of the newest timing
TRIAL_CALLS = 3  # a trial: one untimed warm-up call, then two timed ones
FIRST_GAP, MAX_GAP = 16, 1024  # calls between trials
TRIAL_SHARE = 0.03  # a trial of the slower choice may cost about this share of the time

_last_threads = 0  # thread count of the latest chooser call in this process (the team's state)


@dataclass
class _Bucket:
    seconds_per_row: dict[int, float] = field(default_factory=dict)  # threads -> EMA
    choice: int = 0  # 0: not yet chosen (torch's count)
    gap: int = FIRST_GAP
    until_trial: int = FIRST_GAP
    trial_left: int = 0
    trial_timings: list[float] = field(default_factory=list)
    back_from_trial: bool = False


def adaptive() -> bool:
    return os.environ.get("OTHELLO_THREADS", "auto").lower() != "fixed"


class ThreadChooser:
    """`with chooser(rows): <torch work>` runs the work on the thread count measured fastest
    for batches of about that many rows (see the module docstring)."""

    def __init__(self):
        self.buckets: dict[int, _Bucket] = {}

    @staticmethod
    def _threads_for(bucket: _Bucket, most: int) -> int:
        choice = bucket.choice or most
        if bucket.trial_left == 0 and bucket.until_trial <= 0:
            bucket.trial_left, bucket.trial_timings = TRIAL_CALLS, []
        if bucket.trial_left:
            return 1 if choice == most else most
        return choice

    @staticmethod
    def _record(bucket: _Bucket, threads: int, per_row: float, warm: bool, most: int) -> None:
        choice = bucket.choice or most
        if bucket.trial_left:
            bucket.trial_left -= 1
            if warm:
                bucket.trial_timings.append(per_row)
            if bucket.trial_left == 0:
                _end_trial(bucket, threads, choice, most)
            return
        bucket.until_trial -= 1
        if bucket.back_from_trial:  # waking the team after a trial is the trial's cost
            bucket.back_from_trial = False
            return
        # other calls are timed even after a switch: when neighbouring batch sizes chose
        # differently, the switches are part of what this choice costs
        old = bucket.seconds_per_row.get(threads)
        bucket.seconds_per_row[threads] = (
            per_row if old is None else (1 - EMA) * old + EMA * per_row
        )

    @contextmanager
    def __call__(self, rows: int):
        global _last_threads
        import torch

        most = torch.get_num_threads()
        if not adaptive() or most == 1 or rows < 1:
            yield
            return
        bucket = self.buckets.setdefault(int(rows).bit_length(), _Bucket())
        threads = self._threads_for(bucket, most)
        warm = threads == _last_threads
        if threads != most:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            if threads != most:
                torch.set_num_threads(most)
            _last_threads = threads
        self._record(bucket, threads, elapsed / rows, warm, most)


def _end_trial(bucket: _Bucket, tried: int, choice: int, most: int) -> None:
    """Compare the trial's timings with the current choice's and space the next trial."""
    if bucket.trial_timings:
        bucket.seconds_per_row[tried] = sum(bucket.trial_timings) / len(bucket.trial_timings)
    kept = bucket.seconds_per_row.get(choice)
    new = bucket.seconds_per_row.get(tried)
    if kept is None or new is None:  # nothing warm to compare yet: try again soon
        bucket.until_trial = FIRST_GAP
        bucket.back_from_trial = True
        return
    if new < kept:
        bucket.choice, bucket.gap = tried, FIRST_GAP
    else:
        bucket.choice = choice
        cost_ratio = new / kept  # how much slower each trial call runs
        bucket.gap = min(MAX_GAP, max(2 * bucket.gap, int(TRIAL_CALLS * cost_ratio / TRIAL_SHARE)))
    bucket.until_trial = bucket.gap
    bucket.back_from_trial = True
