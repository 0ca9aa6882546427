"""Small utilities shared by every package: the commit protocol for files (`common.io`), the
thread count of torch calls (`common.threads`) and the OpenMP wait policy
(`common.wait_policy`).

Importing any toolkit package imports this first, so the wait policy can still be chosen
before torch loads: PASSIVE only when other tasks fill every core at that moment (measured
2-3x faster then on batched work), otherwise torch's default (fastest on a quiet machine).
Imported after torch, the toolkit leaves the policy alone and only chooses thread counts.
"""

from common.wait_policy import choose as _choose_wait_policy

_choose_wait_policy()
