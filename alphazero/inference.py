"""Network inference for search: a frozen copy of the net in the fastest dtype for the device.

On CPUs with bfloat16 matrix units (AMX / AVX512-BF16) a bf16 copy evaluates leaf batches
several times faster than float32 (measured in bench/bench_selfplay.py); elsewhere float32.
Search only needs priors and values to a few digits, so the precision loss is harmless;
interpretability code always runs the float32 net.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch

from alphazero.model import AlphaZeroNet
from common.threads import ThreadChooser


@functools.cache
def cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            name
        ]
    except KeyError:
        raise ValueError(
            f"unknown dtype {name!r}: use auto, float32, bfloat16 or float16"
        ) from None


class NetEvaluator:
    """`evaluate(me, opp) -> (priors, values)` for MCTS, one network call per batch."""

    def __init__(self, net: AlphaZeroNet, dtype: str = "auto", device: str | None = None):
        self.device = torch.device(device) if device else net.stem.weight.device
        self.dtype = pick_dtype(dtype, self.device)
        self.calls = 0
        self.positions = 0
        self.threads = ThreadChooser()  # one or all torch threads, whichever is faster here
        self.load(net)

    def load(self, net: AlphaZeroNet) -> None:
        """Refresh the frozen copy from (possibly updated) training weights."""
        self.net = copy.deepcopy(net).to(self.device, self.dtype).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.inference_mode()
    def __call__(self, me: np.ndarray, opp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        self.positions += len(me)
        x, legal = self.net.encode(me, opp)
        with self.threads(len(me)):
            out = self.net(x.to(self.dtype), legal)
        priors = torch.softmax(out.policy_logits.float(), dim=-1)
        return priors.cpu().numpy(), out.value.float().cpu().numpy()
