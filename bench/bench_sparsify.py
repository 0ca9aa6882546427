"""Our TopK trainer against EleutherAI sparsify 1.3.3 on the same rows, in the same order.

Every trainer sees the same batches of the store's training split (our engine's shuffled
order), scaled alike (mean ||x|| = sqrt(d), our stored scale); steps interleave, each timed
alone. Held-out FVU (sum of squared errors over total variance, on a seeded sample of the
held-out games' rows) at every --eval-every steps, rows per second, and dead latents (never
firing on that sample) at the end.

sparsify runs as its trainer does for an SAE with the FVU loss (sparsify/trainer.py), without
the language-model plumbing: its SparseCoder (nn.Linear encoder init, decoder = the encoder's
rows normalised, b_dec = the first batch's mean, decoder re-normalised before every step,
gradient parallel to the decoder removed), auxk_alpha 0 (its default), and each of its two
optimizers at its own defaults: `signum` (its default: schedule-free SignSGD, momentum 0.95,
lr 5e-3 / sqrt(n / 2^14)) and `adam` (lr 2e-4 / sqrt(n / 2^14), linear warm-up over 1000 steps
then linear decay to 0). Ours: `train.Run` steps with the TrainConfig overrides of each
--ours variant ("name:key=value,key=value").

Install sparsify for this bench only (it must not replace the pinned torch):
    pip install --no-deps -r bench/requirements-sparsify.txt && pip show torch

    python bench/bench_sparsify.py [--steps 1000] [--latents 4096] [--k 32] [--batch 4096]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<this file>.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.bench_transcoder import cpu_features  # noqa: E402
from sae.activations.batches import Pairs  # noqa: E402
from sae.activations.store import ActivationStore  # noqa: E402
from sae.dictionary.model import DictConfig  # noqa: E402
from sae.dictionary.train import Run, RunSpec, TrainConfig, _initialise  # noqa: E402

DEFAULT_OURS = (
    "ours init 1.0:enc_init_scale=1.0",
    "ours init 0.577:enc_init_scale=0.57735",
)


def import_sparsify():
    """sparsify's SparseCoder, SignSGD and the schedule-free wrapper, without running the
    package's __init__ (it imports the trainer, which needs HF datasets and a language model)."""
    spec = importlib.util.find_spec("sparsify")
    if spec is None or spec.submodule_search_locations is None:
        sys.exit(
            "error: sparsify is not installed: pip install --no-deps -r "
            "bench/requirements-sparsify.txt"
        )
    pkg = types.ModuleType("sparsify")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["sparsify"] = pkg
    os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")
    from schedulefree import ScheduleFreeWrapper
    from sparsify.config import SparseCoderConfig
    from sparsify.sign_sgd import SignSGD
    from sparsify.sparse_coder import SparseCoder

    version = (Path(spec.submodule_search_locations[0]) / "__init__.py").read_text()
    return SparseCoder, SparseCoderConfig, SignSGD, ScheduleFreeWrapper, version.split('"')[1]


class Sparsify:
    """One sparsify SAE trained the way its Trainer trains it (loss_fn fvu, one device)."""

    def __init__(self, mods, optimizer: str, d: int, n: int, k: int, steps: int, seed: int):
        SparseCoder, SparseCoderConfig, SignSGD, ScheduleFree, _ = mods
        torch.manual_seed(seed)
        self.sae = SparseCoder(d, SparseCoderConfig(num_latents=n, k=k))
        self.kind, self.step = optimizer, 0
        if optimizer == "adam":
            self.base_lr = 2e-4 / math.sqrt(n / 2**14)
            self.opt = torch.optim.Adam(self.sae.parameters(), lr=self.base_lr)
            warm, total = 1000, steps  # get_linear_schedule_with_warmup(adam, 1000, steps)
            self.factor = lambda s: (
                s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm))
            )
        else:
            self.base_lr = 5e-3 / math.sqrt(n / 2**14)
            self.opt = ScheduleFree(SignSGD(self.sae.parameters(), lr=self.base_lr), momentum=0.95)
            self.opt.train()
            self.factor = None
        if self.factor:
            for g in self.opt.param_groups:
                g["lr"] = self.base_lr * self.factor(0)

    def train_step(self, x: torch.Tensor) -> None:
        sae = self.sae
        if self.step == 0:
            sae.b_dec.data = x.mean(0)
        sae.set_decoder_norm_to_unit_norm()
        out = sae(x=x, y=x, dead_mask=None, total_variance=(x - x.mean(0)).pow(2).sum())
        out.fvu.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        self.opt.step()
        self.opt.zero_grad()
        self.step += 1
        if self.factor:
            for g in self.opt.param_groups:
                g["lr"] = self.base_lr * self.factor(self.step)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        if self.kind == "signum":
            self.opt.eval()  # the schedule-free average is the model it evaluates
        sq, fired = 0.0, torch.zeros(self.sae.num_latents, dtype=torch.bool)
        for part in x.split(8192):
            out = self.sae(x=part, y=part)
            sq += float((out.sae_out - part).double().pow(2).sum())
            fired[out.latent_indices[out.latent_acts > 0]] = True
        if self.kind == "signum":
            self.opt.train()
        return sq, fired


class Ours:
    def __init__(self, overrides: dict, pairs: Pairs, d: int, n: int, k: int, steps, seed, tmp):
        cfg = TrainConfig(steps=steps, seed=seed, progress=False, **overrides).validate()
        spec = RunSpec("ours", DictConfig("topk", d_in=d, n_latents=n, k=k))
        self.run = Run(spec, cfg, tmp)
        _initialise([self.run], pairs, cfg)

    def train_step(self, x_raw: torch.Tensor) -> None:
        self.run.train_step(x_raw, x_raw)

    @torch.no_grad()
    def evaluate(self, x_raw: torch.Tensor) -> tuple[float, torch.Tensor]:
        d = self.run.dict.eval()
        scale = float(d.in_scale)
        sq, fired = 0.0, torch.zeros(d.cfg.n_latents, dtype=torch.bool)
        for part in x_raw.split(8192):
            z, y_hat = d.predict_scaled(part)
            sq += float((y_hat - part * scale).double().pow(2).sum())
            fired |= z.fire_counts() > 0
        d.train()
        return sq, fired


def parse_override(text: str) -> tuple[str, dict]:
    name, _, body = text.partition(":")
    fields = TrainConfig.__dataclass_fields__
    out = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"error: {key!r} is not a TrainConfig setting")
        out[key] = type(fields[key].default)(value) if fields[key].default is not None else value
    return name, out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", default="data/acts/agent")
    ap.add_argument("--site", default="blocks.2.resid_post")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--heldout", type=int, default=30000, help="held-out rows for FVU / dead")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--sparsify", default="adam,signum", help="sparsify optimizers to run")
    ap.add_argument("--ours", nargs="*", default=list(DEFAULT_OURS), help="name:key=value,...")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if min(args.steps, args.batch, args.latents, args.k, args.heldout, args.eval_every) < 1:
        ap.error("all counts must be positive")
    mods = import_sparsify()
    store = ActivationStore(args.store)
    pairs = Pairs.from_store(store, args.site)
    held = Pairs.from_store(store, args.site, split="heldout")
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.permutation(held.n_rows)[: args.heldout])
    x_held = held.read(pick)[0]
    d = x_held.shape[1]
    scale = math.sqrt(d) / pairs.mean_norms()[0]  # what our engine stores as in_scale
    x_held_s = x_held * scale
    total_var = float((x_held_s.double() - x_held_s.double().mean(0)).pow(2).sum())
    print(
        f"sparsify {mods[-1]} vs ours: TopK d={d}, {args.latents} latents, k={args.k}, batch "
        f"{args.batch}, {args.steps} steps on {args.store}:{args.site} (training split, our "
        f"shuffled order); held-out FVU on {len(x_held)} rows of held-out games"
    )
    print(
        f"CPU: {cpu_features()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    trainers: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for opt in filter(None, args.sparsify.split(",")):
            trainers[f"sparsify {opt}"] = Sparsify(
                mods, opt, d, args.latents, args.k, args.steps, args.seed
            )
        for i, text in enumerate(args.ours):
            name, overrides = parse_override(text)
            trainers[name] = Ours(
                overrides, pairs, d, args.latents, args.k, args.steps, args.seed, f"{tmp}/{i}"
            )
        seconds = dict.fromkeys(trainers, 0.0)
        curve: dict[str, list[float]] = {name: [] for name in trainers}
        evals = []
        batches = pairs.batches(args.batch, args.seed)
        for step in range(args.steps):
            x = next(batches)[0]
            xs = x * scale
            for name, t in trainers.items():
                t0 = time.perf_counter()
                t.train_step(xs if isinstance(t, Sparsify) else x)
                seconds[name] += time.perf_counter() - t0
            if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
                evals.append(step + 1)
                row = []
                for name, t in trainers.items():
                    sq, fired = t.evaluate(x_held_s if isinstance(t, Sparsify) else x_held)
                    curve[name].append(sq / total_var)
                    dead = int((~fired).sum())
                    row.append(f"{name} {sq / total_var:.4f} ({dead} dead)")
                print(f"step {step + 1}: " + "; ".join(row), flush=True)
    ref = next(iter(trainers))
    print(
        f"\nheld-out FVU per step (same rows, same order); load average now "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        "| trainer | "
        + " | ".join(f"FVU @ {s}" for s in evals)
        + " | rows/s | rows/s vs "
        + ref
        + " | FVU @ end vs "
        + ref
        + " | dead |"
    )
    print("|---" * (len(evals) + 5) + "|")
    for name, t in trainers.items():
        rate = args.steps * args.batch / seconds[name]
        ref_rate = args.steps * args.batch / seconds[ref]
        _, fired = t.evaluate(x_held_s if isinstance(t, Sparsify) else x_held)
        print(
            f"| {name} | "
            + " | ".join(f"{v:.4f}" for v in curve[name])
            + f" | {rate:,.0f} | {rate / ref_rate:.2f}x | {curve[name][-1] / curve[ref][-1]:.3f}"
            + f" | {int((~fired).sum())} |"
        )


if __name__ == "__main__":
    main()
