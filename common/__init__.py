"""Small utilities shared by every package: the commit protocol for files (`common.io`) and
the thread choice for torch calls (`common.threads`).

Nothing here depends on import order: the toolkit no longer sets OMP_WAIT_POLICY (it did,
to PASSIVE, which made batched work up to 2x slower on a quiet machine and only took effect
when set before torch loaded); each network call site measures whether one torch thread or
torch's count is faster for its batch size on this machine, now (see common/threads.py and
bench/bench_threads.py).
"""
