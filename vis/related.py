"""Latents related to each latent: by decoder direction and by firing together.

    similar    the k latents whose decoder rows have the highest cosine with its own
    cofiring   the k latents with the highest Jaccard index of firing on the sample's rows,
               |i and j fire| / |i or j fires|; co-occurrence counts come from a sparse
               (latents x rows) @ dense (rows x latents) product per chunk of rows, so the
               cost follows the number of firings, not rows x width^2

Both return (ids [n, k] int64, scores [n, k] float32); a slot without a partner (fewer than
k latents co-fire) holds id -1.
"""

from __future__ import annotations

import numpy as np
import torch

from vis.latents import Activations


def _top_k(scores: torch.Tensor, k: int, valid: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, scores.shape[1] - 1)
    scores = scores.masked_fill(~valid, float("-inf"))
    val, idx = scores.topk(k, dim=1)
    idx = torch.where(torch.isfinite(val), idx, -1)
    return idx.numpy(), val.nan_to_num(0.0, neginf=0.0).numpy()


@torch.no_grad()
def similar_latents(W_dec: torch.Tensor, k: int = 5, chunk: int = 1024):
    """Top-k decoder cosine of each latent with the others."""
    w = W_dec.detach().float().cpu()
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    ids, vals = [], []
    for start in range(0, len(w), chunk):
        sim = w[start : start + chunk] @ w.T
        rows = torch.arange(start, min(start + chunk, len(w)))
        valid = torch.ones_like(sim, dtype=torch.bool)
        valid[rows - start, rows] = False
        i, v = _top_k(sim, k, valid)
        ids.append(i)
        vals.append(v)
    return np.concatenate(ids), np.concatenate(vals)


@torch.no_grad()
def cofiring_latents(acts: Activations, k: int = 5, chunk_rows: int = 4096):
    """Top-k Jaccard partners of each latent on the sample's rows."""
    n = acts.n_latents
    both = torch.zeros(n, n)
    order = np.argsort(acts.row, kind="stable")
    row, lat = acts.row[order], acts.latent[order]
    bounds = np.searchsorted(row, np.arange(0, acts.n_rows + chunk_rows, chunk_rows))
    for lo, hi, start in zip(
        bounds[:-1], bounds[1:], range(0, acts.n_rows, chunk_rows), strict=True
    ):
        if lo == hi:
            continue
        r = torch.from_numpy(row[lo:hi] - start)
        c = torch.from_numpy(lat[lo:hi])
        ones = torch.ones(len(r))
        dense = torch.zeros(chunk_rows, n)
        dense[r, c] = 1.0
        sparse_t = torch.sparse_coo_tensor(
            torch.stack([c, r]), ones, (n, chunk_rows), check_invariants=False
        )
        both += torch.sparse.mm(sparse_t, dense)
    count = torch.from_numpy(np.bincount(acts.latent, minlength=n)).float()
    jaccard = both / (count[:, None] + count[None, :] - both).clamp_min(1.0)
    valid = both > 0
    valid.fill_diagonal_(False)
    return _top_k(jaccard, k, valid)
