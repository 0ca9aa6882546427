"""Per-latent statistics of a dictionary on the export's position sample (the dashboard panels
of Neuronpedia / sae_vis that come from activations alone).

The dictionary encodes its input site's activations for every sampled row; the nonzero
entries are kept as (row, latent, value) triplets, so memory follows L0, not the width.
Per latent:

    density     fraction of sampled rows where it fires (f > 0)
    mean, max   of its activation where it fires
    hist        counts of its firing activations in `hist_bins` equal bins over (0, max]
    top         the `top` distinct positions with the highest activation
    quantiles   its distinct firing positions ranked by activation and cut into
                `quantile_bins` bins of equal count; per bin [low, high, examples] with
                `per_bin` seeded picks (sae_vis's quantile-binned examples)

A position recurs in the store as often as it was played and always gets the same
activation, so examples are distinct positions while the counts above weigh rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from sae.activations.store import ActivationStore
from sae.dictionary.model import Dictionary


@dataclass
class Activations:
    row: np.ndarray  # [nnz] int64, index into the sample's rows
    latent: np.ndarray  # [nnz] int64
    value: np.ndarray  # [nnz] float32, > 0
    n_rows: int
    n_latents: int


@dataclass
class StatsConfig:
    top: int = 20
    quantile_bins: int = 10
    per_bin: int = 2
    hist_bins: int = 20
    seed: int = 0


@torch.no_grad()
def encode_sample(
    dictionary: Dictionary,
    store: ActivationStore,
    rows: np.ndarray,
    chunk_rows: int = 4096,
    device: str = "cpu",
    progress: bool = True,
) -> Activations:
    """The dictionary's nonzero latents on the given store rows (its input site)."""
    site = dictionary.cfg.in_site
    parts = []
    chunks = store.iter_chunks(site, rows, chunk_rows)
    total = -(-len(rows) // chunk_rows)
    for start, x in enumerate(tqdm(chunks, total=total, desc="encode", disable=not progress)):
        f = dictionary.encode(torch.from_numpy(x.astype(np.float32)).to(device)).cpu()
        r, c = torch.nonzero(f > 0, as_tuple=True)
        parts.append((r.numpy() + start * chunk_rows, c.numpy(), f[r, c].numpy()))
    cat = [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(3)]
    return Activations(
        cat[0].astype(np.int64),
        cat[1].astype(np.int64),
        cat[2].astype(np.float32),
        len(rows),
        dictionary.cfg.n_latents,
    )


def latent_stats(acts: Activations, pos: np.ndarray, cfg: StatsConfig) -> list[dict | None]:
    """One dict per latent (None for a latent that never fired in the sample); examples are
    [distinct position index, activation] pairs."""
    n = acts.n_latents
    counts = np.bincount(acts.latent, minlength=n)
    sums = np.bincount(acts.latent, weights=acts.value, minlength=n)
    maxes = np.zeros(n, np.float32)
    np.maximum.at(maxes, acts.latent, acts.value)
    # histogram: every latent's firing values in hist_bins bins of (0, its max]
    b = cfg.hist_bins
    bins = np.minimum((acts.value / maxes[acts.latent] * b).astype(np.int64), b - 1)
    hist = np.bincount(acts.latent * b + bins, minlength=n * b).reshape(n, b)
    # distinct (latent, position) pairs, best first within each latent
    position = pos[acts.row]
    key = acts.latent * (int(pos.max()) + 1 if len(pos) else 1) + position
    _, first = np.unique(key, return_index=True)
    lat, p, v = acts.latent[first], position[first], acts.value[first]
    order = np.lexsort((p, -v, lat))
    lat, p, v = lat[order], p[order], v[order]
    bounds = np.searchsorted(lat, np.arange(n + 1))
    rng = np.random.default_rng(cfg.seed)
    out: list[dict | None] = []
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        if counts[i] == 0:
            out.append(None)
            continue
        ex_p, ex_v = p[lo:hi], v[lo:hi]
        out.append(
            {
                "density": counts[i] / acts.n_rows,
                "mean": sums[i] / counts[i],
                "max": float(maxes[i]),
                "hist": hist[i].tolist(),
                "top": list(zip(ex_p[: cfg.top].tolist(), ex_v[: cfg.top].tolist(), strict=True)),
                "quantiles": _quantile_examples(ex_p, ex_v, cfg, rng),
            }
        )
    return out


def _quantile_examples(p: np.ndarray, v: np.ndarray, cfg: StatsConfig, rng) -> list:
    """[low, high, [[position, activation], ...]] per bin, lowest activations first."""
    p, v = p[::-1], v[::-1]  # ascending
    out = []
    for chunk in np.array_split(np.arange(len(v)), min(cfg.quantile_bins, len(v))):
        pick = np.sort(rng.choice(chunk, min(cfg.per_bin, len(chunk)), replace=False))[::-1]
        examples = [[int(p[j]), float(v[j])] for j in pick]
        out.append([float(v[chunk[0]]), float(v[chunk[-1]]), examples])
    return out
