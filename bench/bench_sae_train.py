"""Training throughput of the sparse TopK trainer vs a dense PyTorch TopK baseline.

Both train the same TopK SAE (d=256, 4096 latents, k=32 by default; normalised MSE, unit-norm
decoder with the parallel gradient removed, fused Adam) on the same batches. The baseline is
the usual PyTorch code: full [B, n] latents scattered from topk, dense decode, autograd.
Steps alternate between the two so machine noise hits both alike; the table prints medians,
activations/s, the speed-up, and achieved GFLOP/s next to a plain matmul of the encoder's
shape timed in the same run.

    python bench/bench_sae_train.py [--steps 12] [--batch 4096] [--latents 4096] [--k 32]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from sae.dictionary.model import DictConfig  # noqa: E402
from sae.dictionary.train import Run, RunSpec, TrainConfig  # noqa: E402


class DenseTopK(torch.nn.Module):
    """Reference implementation: dense latents, dense decode, autograd does the rest."""

    def __init__(self, d: int, n: int, k: int):
        super().__init__()
        dec = torch.randn(n, d)
        dec /= dec.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(dec)
        self.W_enc = torch.nn.Parameter(dec.clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(n))
        self.b_dec = torch.nn.Parameter(torch.zeros(d))
        self.k = k
        self.opt = torch.optim.Adam(self.parameters(), lr=1e-3, fused=True)

    def train_step(self, x: torch.Tensor) -> float:
        pre = F.linear(x - self.b_dec, self.W_enc, self.b_enc)
        vals, idx = pre.topk(self.k, dim=1)
        f = torch.zeros_like(pre).scatter(1, idx, vals.relu())
        x_hat = f @ self.W_dec + self.b_dec
        loss = (x_hat - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            g, w = self.W_dec.grad, self.W_dec
            g -= (g * w).sum(1, keepdim=True) * w
        torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)
        return float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=12, help="timed steps per trainer")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if min(args.steps, args.batch, args.d, args.latents, args.k) < 1 or args.k > args.latents:
        ap.error("sizes must be positive and k <= latents")
    torch.manual_seed(args.seed)
    B, d, n, k = args.batch, args.d, args.latents, args.k
    # synthetic activations with some structure: sparse combinations of random directions
    atoms = torch.randn(4 * d, d)
    codes = torch.rand(8 * B, 4 * d).lt(8 / (4 * d)).float() * torch.rand(8 * B, 4 * d)
    data = codes @ atoms + 0.1 * torch.randn(8 * B, d)

    with tempfile.TemporaryDirectory() as tmp:
        spec = RunSpec("bench", DictConfig("topk", d_in=d, n_latents=n, k=k), lr=1e-3)
        ours = Run(spec, TrainConfig(steps=10**9, aux_coeff=0.0, progress=False), tmp)
        ours.dict.set_scales(1.0, 1.0)
        dense = DenseTopK(d, n, k)
        w = torch.randn(n, d)

        def sparse_step(x):
            ours.train_step(x, x)

        def matmul(x):
            torch.mm(x, w.T)

        timings: dict[str, list[float]] = {"sparse": [], "dense": [], "matmul": []}
        fns = {"sparse": sparse_step, "dense": dense.train_step, "matmul": matmul}
        for i in range(args.steps + 2):  # two warm-up rounds (numba compile, allocator)
            x = data[(i % 8) * B : (i % 8 + 1) * B]
            for name, fn in fns.items():
                t = time.perf_counter()
                fn(x)
                if i >= 2:
                    timings[name].append(time.perf_counter() - t)

    med = {name: statistics.median(ts) for name, ts in timings.items()}
    flops = {
        # encoder matmul + sparse decode fwd (1) and bwd (2) + encoder weight grad (1), 2*B*k*d each
        "sparse": 2 * B * d * n + 4 * 2 * B * k * d,
        # encoder fwd, dense decode fwd, decode bwd (2), encoder weight grad + input grad (2)
        "dense": 6 * 2 * B * d * n,
        "matmul": 2 * B * d * n,
    }
    print(
        f"TopK SAE training step, batch {B}, d={d}, latents={n}, k={k}, "
        f"{torch.get_num_threads()} threads, median of {args.steps} alternating steps"
    )
    print(f"{'':28s} {'ms/step':>9s} {'acts/s':>10s} {'GFLOP/s':>9s}")
    labels = {
        "sparse": "sparse TopK trainer (ours)",
        "dense": "dense PyTorch TopK",
        "matmul": "plain matmul [B,d]x[d,n]",
    }
    for name in ("sparse", "dense", "matmul"):
        rate = f"{B / med[name]:10.0f}" if name != "matmul" else f"{'':>10s}"
        gflops = flops[name] / med[name] / 1e9
        print(f"{labels[name]:28s} {1e3 * med[name]:9.1f} {rate} {gflops:9.1f}")
    print(f"speed-up (dense / sparse step time): {med['dense'] / med['sparse']:.2f}x")
    print(
        f"sparse trainer: {flops['sparse'] / med['sparse'] / 1e9:.1f} useful GFLOP/s = "
        f"{(flops['sparse'] / med['sparse']) / (flops['matmul'] / med['matmul']):.2f} of the "
        f"plain matmul's rate"
    )


if __name__ == "__main__":
    main()
