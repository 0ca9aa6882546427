"""Feature absorption (Chanin et al. 2024, as SAEBench measures it), on a parent / child pair of
board concepts where the child implies the parent by the rules.

The pair: parent "I hold a stable disc" (any square of stable_mine), child "I hold a corner"
(corners_mine>=1); a corner disc can never be flipped, so the child implies the parent
(checked on the data). Absorption is the failure mode where the parent's own latents stay
silent on child positions because a child-specific latent has taken the parent's direction.

What is computed, following SAEBench's absorption eval:
1. A ground-truth logistic-regression probe for the parent on the site's activations (set
   A); its unit direction w in the dictionary's scaled input space.
2. The parent's main latents by k-sparse probing (sae.concepts.sparse_probing): k = 1, 2,
   .. 5 latents by mean difference, grown while the held-out F1 rises by more than 0.03.
3. On the probe's true positives of set B, with projections onto w taken relative to the
   decoder bias, a = (x_s - b_dec) . w, and per latent p_i = f_i (W_dec[i] . w):
     absorption fraction: 0 if the main latents' sum already reaches a, or if the top
       (<= 3) other latents with cos(W_dec[i], w) >= 0.1 and p_i > 0 carry less than 0.4 a;
       1 if the main latents' sum is <= 0; else min(absorbers, a - main) /
       (that + main);
     full absorption: every main latent is silent, a > 0, and the single top-projecting
       latent has cos >= 0.025 and p_i >= 0.4 a.
   Scores: the mean absorption fraction and the full-absorption rate over those positions.
Differences from SAEBench, and why: projections are taken from b_dec (this residual stream
has a large mean that b_dec carries, which would otherwise dominate a), and p_i uses the
decoder row itself rather than its cosine (the same for unit-norm decoders, correct for ReLU
dictionaries whose rows are not). Transcoders are skipped: their decoders write to another
site, so there is no input direction to absorb.
"""

from __future__ import annotations

import numpy as np
import torch

from sae.concepts.auc import SortedColumns
from sae.concepts.sparse_probing import fit_logistic, k_sparse_probing

PARENT, CHILD = "stable_mine", "corners_mine>=1"
MAX_K, SPLIT_JUMP = 5, 0.03
ABSORBER_COS, FULL_COS, PROJECTION_SHARE, MAX_ABSORBERS = 0.1, 0.025, 0.4, 3
PROBE_ROWS = 20000  # the parent probe on d dimensions: Newton's Hessian is d x d
MAX_ROWS = 5000  # probe true positives scored
EPS = 1e-8


def main_latents(sc_a, parent_a, sc_b, parent_b) -> tuple[list[int], list[float]]:
    """SAEBench's feature-split rule: grow k while the k-sparse F1 rises by > SPLIT_JUMP."""
    ks = tuple(range(1, MAX_K + 1))
    result = k_sparse_probing(sc_a, parent_a[:, None], sc_b, parent_b[:, None], ks)
    f1s, chosen = result["f1"][0], result["latents"][0]
    best, k = -np.inf, 0
    for i, f1 in enumerate(f1s):
        if not f1 > best + SPLIT_JUMP:
            break
        best, k = f1, i + 1
    return [int(x) for x in chosen[:k]], [float(x) for x in f1s]


def absorption(
    dictionary,
    x_a: np.ndarray,
    sc_a: SortedColumns,
    labels_a: dict[str, np.ndarray],
    x_b: np.ndarray,
    sc_b: SortedColumns,
    labels_b: dict[str, np.ndarray],
    seed: int = 0,
) -> dict:
    """The report's "absorption" section; labels_* map "parent" / "child" to bool [R]."""
    parent_a, parent_b, child_b = labels_a["parent"], labels_b["parent"], labels_b["child"]
    out = {"parent": f"any {PARENT}@<square>", "child": CHILD}
    out["child_implies_parent"] = bool(not (labels_a["child"] & ~parent_a).any()) and bool(
        not (child_b & ~parent_b).any()
    )
    if min(parent_a.sum(), (~parent_a).sum(), parent_b.sum(), (~parent_b).sum()) < 10:
        return {**out, "skipped": "too few positives or negatives of the parent"}
    scale = float(dictionary.in_scale)
    b_dec = dictionary.b_dec.detach().double().numpy()
    take = np.random.default_rng(seed).permutation(len(x_a))[:PROBE_ROWS]
    w, b = fit_logistic(torch.from_numpy(x_a[take])[None], torch.from_numpy(parent_a[take])[None])
    w, b = w[0].numpy(), float(b[0])
    probe_pred = x_b.astype(np.float64) @ w + b > 0
    direction = w / np.linalg.norm(w)  # scaled space = raw space up to the scalar in_scale
    main, main_f1 = main_latents(sc_a, parent_a, sc_b, parent_b)
    tp = probe_pred & parent_b
    n_tp = int(tp.sum())
    if n_tp > MAX_ROWS:  # a seeded sample keeps the dense [rows, latents] block small
        keep = np.random.default_rng(seed).permutation(np.flatnonzero(tp))[:MAX_ROWS]
        tp = np.zeros_like(tp)
        tp[keep] = True
    out.update(
        probe_f1=float(2 * n_tp / (probe_pred.sum() + parent_b.sum())),
        main_latents=main,
        k_sparse_f1=main_f1,
        probe_true_positives=n_tp,
        positions_scored=int(tp.sum()),
    )
    if not tp.any() or not main:
        return {**out, "mean_absorption_fraction": np.nan, "full_absorption_rate": np.nan}
    dec = dictionary.W_dec.detach().double().numpy()
    along = dec @ direction  # p_i / f_i
    cos = along / np.linalg.norm(dec, axis=1).clip(EPS)
    a = (x_b[tp].astype(np.float64) * scale - b_dec) @ direction
    f = sc_b.subset(tp).columns(np.arange(sc_b.n_cols))
    proj = f * along[None, :]
    is_main = np.zeros(len(along), bool)
    is_main[main] = True
    main_sum = proj[:, is_main].sum(1)
    candidates = np.where(~is_main & (cos >= ABSORBER_COS) & (proj > 0), proj, 0.0)
    top = -np.sort(-candidates, axis=1)[:, :MAX_ABSORBERS].sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(a > 0, top / a, 0.0)
        partial = np.minimum(top, a - main_sum)
        fraction = np.where(
            (main_sum >= a) | (share < PROJECTION_SHARE),
            0.0,
            np.where(main_sum <= 0, 1.0, np.clip(partial / (partial + main_sum), 0, 1)),
        )
    top_latent = proj.argmax(1)
    top_proj = proj[np.arange(len(a)), top_latent]
    full = (
        (f[:, is_main] < EPS).all(1)
        & (a > 0)
        & (cos[top_latent] >= FULL_COS)
        & (top_proj >= PROJECTION_SHARE * a)
    )
    absorbers, counts = np.unique(top_latent[full], return_counts=True)
    order = np.argsort(-counts)[:5]
    child_tp = child_b[tp]
    out.update(
        mean_absorption_fraction=float(fraction.mean()),
        full_absorption_rate=float(full.mean()),
        full_absorption_rate_with_child=float(full[child_tp].mean()) if child_tp.any() else None,
        full_absorption_rate_without_child=(
            float(full[~child_tp].mean()) if (~child_tp).any() else None
        ),
        top_absorbing_latents=[[int(absorbers[i]), int(counts[i])] for i in order],
    )
    return out
