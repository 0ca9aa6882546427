"""Grids of dictionaries trained together, and the scaling summary written after them.

The seed's L1 grid (lambda in 1..5 x latents 256..4096) and a TopK grid (k in 8..64 x the
same widths) train from one pass over the store (every batch feeds every run); BatchTopK and
Matryoshka grids (the same k x widths) join when their families are asked for. `--quick`
shrinks the grids to a few small runs for checking the pipeline in minutes.
"""

from __future__ import annotations

import math
from pathlib import Path

from common.io import CheckpointError, read_json
from sae.dictionary.model import DictConfig
from sae.dictionary.train import RunSpec

SCALING = "scaling.json"

WIDTHS = (256, 512, 1024, 2048, 4096)
L1_COEFFS = (1.0, 2.0, 3.0, 4.0, 5.0)
TOPK_KS = (8, 16, 32, 64)
QUICK = {"widths": (256, 512), "l1": (2.0, 4.0), "k": (8, 32)}


def run_name(
    architecture: str, n_latents: int, k: int = 0, l1: float = 0.0, p_end: float = 1.0
) -> str:
    if architecture == "relu":
        anneal = f"p{p_end:g}" if p_end != 1.0 else ""
        return f"l1{anneal}_{l1:g}_n{n_latents}"
    return f"{architecture}_k{k}_n{n_latents}"


def grid(
    d_in: int,
    site: str,
    quick: bool = False,
    lr: float | None = None,
    widths=None,
    l1_coeffs=None,
    ks=None,
    families=("relu", "topk"),
    p_end: float = 1.0,
) -> list[RunSpec]:
    """The L1 x width grid and a k x width grid per k family (the seed's unless narrowed)."""

    def pick(given, full, small):
        return given if given is not None else (small if quick else full)

    widths = pick(widths, WIDTHS, QUICK["widths"])
    l1_coeffs = pick(l1_coeffs, L1_COEFFS, QUICK["l1"])
    ks = pick(ks, TOPK_KS, QUICK["k"])
    specs = []
    for n in widths:
        if "relu" in families:
            for lam in l1_coeffs:
                cfg = DictConfig("relu", d_in=d_in, n_latents=n, in_site=site)
                name = run_name("relu", n, l1=lam, p_end=p_end)
                specs.append(RunSpec(name, cfg, l1_coeff=lam, lr=lr, p_end=p_end))
        for arch in (f for f in families if f != "relu"):
            for k in ks:
                if k <= n:
                    cfg = DictConfig(arch, d_in=d_in, n_latents=n, k=k, in_site=site)
                    specs.append(RunSpec(run_name(arch, n, k=k), cfg, lr=lr))
    return specs


def summary_row(spec: RunSpec, metrics: dict, history: list[dict]) -> dict:
    """One entry of scaling.json: the run's settings, held-out metrics, final train loss."""
    cfg = spec.dictionary
    return {
        "architecture": cfg.architecture,
        "n_latents": cfg.n_latents,
        "k": cfg.k if cfg.sparse_by_k else None,
        "l1_coeff": spec.l1_coeff if cfg.architecture == "relu" else None,
        "p_end": spec.p_end if cfg.architecture == "relu" else None,
        "lr": spec.learning_rate,
        "train_loss": history[-1]["loss"] if history else None,
        **metrics,
    }


def best_pair(scaling: dict[str, dict], max_l0_ratio: float = 1.5) -> tuple[str, str] | None:
    """(L1 run, TopK run) at similar L0 (ratio <= max_l0_ratio) with the lowest summed FVU."""
    l1 = [n for n, r in scaling.items() if r["architecture"] == "relu"]
    topk = [n for n, r in scaling.items() if r["architecture"] != "relu"]
    best, best_cost = None, math.inf
    for a in l1:
        for b in topk:
            la, lb = scaling[a]["l0"], scaling[b]["l0"]
            if min(la, lb) <= 0 or max(la, lb) / min(la, lb) > max_l0_ratio:
                continue
            cost = scaling[a]["fvu"] + scaling[b]["fvu"]
            if cost < best_cost:
                best, best_cost = (a, b), cost
    return best


def read_scaling(folder) -> dict[str, dict]:
    """A sweep folder's scaling.json: {run name: metrics}. Run names are folder names inside
    the sweep (no separator, no '..'): a file naming anything else is refused, so a sweep never
    sends a command outside its folder."""
    path = Path(folder) / SCALING
    scaling = read_json(path, "scaling table")
    if not isinstance(scaling, dict):
        raise CheckpointError(f"{path} does not hold a JSON object of runs")
    for name, row in scaling.items():
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise CheckpointError(
                f"{path}: run name {name!r} is not a folder name inside the sweep {folder}"
            )
        if not isinstance(row, dict):
            raise CheckpointError(f"{path}: the entry of run {name!r} is not a JSON object")
    return scaling


def run_folders(folder) -> list[Path]:
    """The run folders of a finished sweep, in scaling.json's order ([] without one)."""
    folder = Path(folder)
    if not (folder / SCALING).exists():
        return []
    return [folder / name for name in read_scaling(folder)]
