"""Awareness: how well each checkpoint's residual stream represents the threat and stability
concepts, at every block, on the same held-out positions.

Two measures per (checkpoint, block, family), each the mean over the family's per-square
concepts that have both classes among the test positions:

    probe   held-out balanced accuracy of a linear probe (`sae.probes.report.fit_probe`) on
            blocks.{i}.resid_post, trained on the positions of even game ids and tested
            on the odd ones
    auc     best-latent ROC AUC (`sae.concepts.auc.auc_matrix`, max over latents) of a small TopK
            SAE trained on that checkpoint's own activations (the one engine,
            `sae.dictionary.train`,
            on the store's training-split boards run through the checkpoint)

Families: threat = threat_defensive, threat_offensive; stability = stable_mine,
stable_theirs (`othello.concepts`). Activations can be taken with hooks on (steering), the
capture composed after them, so awareness of a steered net is measured the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.io import bundle_paths
from sae.activations.batches import Columns
from sae.activations.collect import file_hash
from sae.concepts.auc import auc_matrix
from sae.concepts.labels import Labels
from sae.dictionary.model import DictConfig, Dictionary
from sae.dictionary.train import RunSpec, TrainConfig, train

FAMILIES = {
    "threat": ("threat_defensive", "threat_offensive"),
    "stability": ("stable_mine", "stable_theirs"),
}
CHUNK = 4096


@dataclass
class AwarenessConfig:
    train_positions: int = 40000  # training-split boards per checkpoint for its SAEs
    n_latents: int = 512
    k: int = 16
    steps: int = 400
    batch_size: int = 1024
    seed: int = 0
    progress: bool = True


def sites_of(net) -> list[str]:
    return [f"blocks.{i}.resid_post" for i in range(net.cfg.n_blocks)]


def with_capture(hooks: dict, sites: list[str], cache: dict) -> dict:
    """`hooks` plus a capture of each site's activation as it leaves the site (after any
    edit there)."""

    def capture(site, inner):
        def fn(t):
            edited = inner(t) if inner else None
            cache[site] = t if edited is None else edited
            return edited

        return fn

    return {**hooks, **{site: capture(site, hooks.get(site)) for site in sites}}


@torch.no_grad()
def site_acts(net, me, opp, sites: list[str], hooks: dict | None = None) -> dict[str, np.ndarray]:
    """{site: float32 activations [B, d]} of the float32 net, `hooks` on."""
    parts: dict[str, list] = {s: [] for s in sites}
    for s in range(0, len(me), CHUNK):
        x, legal = net.encode(me[s : s + CHUNK], opp[s : s + CHUNK])
        cache: dict = {}
        net.run_with_hooks(x, legal, with_capture(hooks or {}, sites, cache))
        for site in sites:
            parts[site].append(cache[site].float().cpu().numpy())
    return {site: np.concatenate(p) for site, p in parts.items()}


def train_dictionaries(net, checkpoint: str, me, opp, cfg: AwarenessConfig, out_dir) -> dict:
    """{site: Dictionary}: one small TopK SAE per block of this checkpoint, trained (or
    resumed, or loaded when done) by the one engine from one pass over its activations."""
    sites = sites_of(net)
    acts = site_acts(net, me, opp, sites)
    sha = file_hash(bundle_paths(checkpoint)[0])
    info = {"checkpoint": {"path": str(checkpoint), "sha256": sha}, "boards": len(me)}
    data = Columns(len(me), {s: (lambda r, a=acts[s]: a[r]) for s in sites}, info=info)
    d = net.cfg.d_model
    specs = [RunSpec(s, DictConfig("topk", d, cfg.n_latents, cfg.k, in_site=s)) for s in sites]
    train_cfg = TrainConfig(
        batch_size=min(cfg.batch_size, len(me)),
        steps=cfg.steps,
        warmup_steps=min(100, cfg.steps // 10),
        seed=cfg.seed,
        init_rows=min(16384, len(me)),
        checkpoint_every=cfg.steps,
        progress=cfg.progress,
    )
    return train(specs, data, train_cfg, Path(out_dir))


def family_means(per_concept: np.ndarray, labels: Labels) -> dict[str, float]:
    """{family group: mean of per-concept scores over its concepts} (NaN scores skipped)."""
    out = {}
    for group, families in FAMILIES.items():
        cols = [i for i, name in enumerate(labels.names) if name.split("@")[0] in families]
        values = per_concept[cols]
        out[group] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out


@torch.no_grad()
def best_latent_auc(dictionary: Dictionary, acts: np.ndarray, labels: Labels) -> np.ndarray:
    """Per concept, the best AUC of any latent [C] (NaN where a class is missing)."""
    chunks = [torch.from_numpy(acts[s : s + CHUNK]) for s in range(0, len(acts), CHUNK)]
    f = torch.cat([dictionary.encode(c) for c in chunks]).numpy()
    auc = auc_matrix(f, labels.matrix)
    with warnings.catch_warnings():  # a concept without both classes is all-NaN: stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(auc, 0)
