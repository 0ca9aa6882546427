"""The per-call thread choice: each call site settles on the thread count that measures
faster for its batch size (timing only calls that did not follow a switch), re-checks it in
short trials spaced by what they cost, restores torch's count, and OTHELLO_THREADS=fixed
turns it off."""

import time

import numpy as np
import pytest
import torch

from alphazero.inference import NetEvaluator
from alphazero.model import AlphaZeroNet, NetConfig
from common import threads
from common.threads import ThreadChooser
from othello import batch


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def run_calls(chooser, rows: int, calls: int, slow_threads: int) -> list[int]:
    """Calls whose work is 20x slower on `slow_threads` threads; the thread counts they ran on."""
    seen = []
    for _ in range(calls):
        with chooser(rows):
            seen.append(torch.get_num_threads())
            time.sleep(0.002 if seen[-1] == slow_threads else 0.0001)
    return seen


@pytest.mark.parametrize("slow", [1, 2])
def test_settles_on_the_faster_count_and_rechecks_rarely(two_threads, slow):
    seen = run_calls(ThreadChooser(), 8, 200, slow_threads=slow)
    fast = 3 - slow
    assert seen[0] == 2  # torch's own count until measured otherwise
    assert 1 in seen[: threads.FIRST_GAP + 2]  # a trial of one thread comes soon
    assert seen[-60:].count(fast) >= 57  # then the faster one, with rare trials
    # trials of a 20x slower choice are spaced so that they cost about a tenth of the time
    assert seen[60:].count(slow) <= 3
    assert torch.get_num_threads() == 2


def test_the_first_call_after_a_switch_is_not_timed(two_threads):
    # one thread is a little faster once warm, but each switch costs 20 ms: single-call
    # timings would keep the choice at two threads forever
    chooser = ThreadChooser()
    seen = []
    for _ in range(60):
        with chooser(4):
            t = torch.get_num_threads()
            first = not seen or seen[-1] != t
            seen.append(t)
            time.sleep((0.02 if first and len(seen) > 1 else 0.0) + (0.002 if t == 1 else 0.003))
    assert seen[-20:].count(1) >= 18


def test_follows_a_change_of_machine_load(two_threads):
    chooser = ThreadChooser()
    run_calls(chooser, 8, 40, slow_threads=2)  # busy machine: one thread wins
    # the load is gone: the next trial (at most MAX_GAP calls away) finds two threads faster
    seen = run_calls(chooser, 8, threads.MAX_GAP + 60, slow_threads=1)
    assert seen[-20:].count(2) >= 19


def test_batch_sizes_are_chosen_apart(two_threads):
    chooser = ThreadChooser()
    run_calls(chooser, 1, 40, slow_threads=2)
    run_calls(chooser, 1000, 40, slow_threads=1)
    assert {b.choice for b in chooser.buckets.values()} == {1, 2}


def test_fixed_keeps_torchs_count(two_threads, monkeypatch):
    monkeypatch.setenv("OTHELLO_THREADS", "fixed")
    assert set(run_calls(ThreadChooser(), 8, 10, slow_threads=2)) == {2}


def test_count_is_restored_when_the_call_fails(two_threads):
    with pytest.raises(RuntimeError), ThreadChooser()(4):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_the_search_evaluator_uses_it(two_threads):
    net = AlphaZeroNet(NetConfig(d_model=16, n_blocks=1)).eval()
    evaluator = NetEvaluator(net, dtype="float32")
    seen = []
    me, opp = batch.start(1, 6)
    with evaluator.net.hooks({"blocks.0.mlp_in": lambda t: seen.append(torch.get_num_threads())}):
        for _ in range(threads.FIRST_GAP + threads.TRIAL_CALLS):  # through the first trial
            priors, _ = evaluator(me, opp)
    assert np.allclose(priors.sum(1), 1, atol=1e-5)
    assert set(seen) == {1, 2} and torch.get_num_threads() == 2


def test_neighbouring_batch_sizes_stop_switching(two_threads):
    # 31 rows are a little faster on one thread, 32 on two, but each switch costs 3 ms: calls
    # alternating between the two sizes (games in lockstep) must settle on one count
    chooser, seen = ThreadChooser(), []
    for i in range(200):
        rows = 31 + i % 2
        with chooser(rows):
            t = torch.get_num_threads()
            switched = bool(seen) and seen[-1] != t
            seen.append(t)
            fast = 1 if rows == 31 else 2
            time.sleep((0.003 if switched else 0.0) + (0.0008 if t == fast else 0.001))
    switches = sum(a != b for a, b in zip(seen[-60:], seen[-59:], strict=False))
    assert switches <= 6
