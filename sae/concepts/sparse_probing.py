"""k-sparse probing (SAEBench, adapted to board concepts): how well k latents carry a concept.

For each concept, on a training set of positions: rank the latents by the difference of their
mean activation on the concept's positives and negatives, keep the top k (k = 1, 2, 5), fit
a class-balanced logistic regression on those k activations (on a seeded sample of at most
TRAIN_ROWS positions), and score it by F1 on held-out positions (other games). Concepts
with fewer than MIN_POSITIVES positives (or negatives) on either side get NaN.

`fit_logistic` fits many small L2-regularised logistic regressions at once by Newton's
method: features [B, R, k] -> weights [B, k] and bias [B], on standardised features, in
float64. The batch runs over concepts, so there is no Python loop per concept.
"""

from __future__ import annotations

import numpy as np
import torch

from sae.concepts.auc import SortedColumns

KS = (1, 2, 5)
MIN_POSITIVES = 10
TRAIN_ROWS = 10000  # a seeded sample of the training set fits each probe (SAEBench: 4,000)
L2 = 1e-3
NEWTON_STEPS = 30
CONCEPT_BATCH = 64


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float = L2, steps: int = NEWTON_STEPS):
    """Logistic regressions [B] on features x [B, R, k] and targets y [B, R] (0/1), classes
    weighted to equal total weight (sklearn's class_weight="balanced", as SAEBench's k-sparse
    probes): returns (weights [B, k], bias [B]) in the units of x. Features are standardised
    inside; the L2 penalty (not on the bias) keeps separable problems finite."""
    x, y = x.double(), y.double()
    n_pos = y.sum(1, keepdim=True).clamp_min(1)
    weight = torch.where(y > 0, 0.5 / n_pos, 0.5 / (y.shape[1] - n_pos).clamp_min(1))
    mean, std = x.mean(1, keepdim=True), x.std(1, keepdim=True).clamp_min(1e-8)
    z = torch.cat([(x - mean) / std, torch.ones_like(x[..., :1])], -1)  # [B, R, k + 1]
    k1 = z.shape[2]
    reg = torch.full((k1,), l2, dtype=torch.float64)
    reg[-1] = 0.0
    beta = torch.zeros(z.shape[0], k1, dtype=torch.float64)
    zt = z.transpose(1, 2)  # [B, k + 1, R]
    for _ in range(steps):
        p = torch.sigmoid(torch.bmm(z, beta[:, :, None])[..., 0])
        grad = torch.bmm(zt, (weight * (p - y))[:, :, None])[..., 0] + reg * beta
        hess = torch.bmm(zt * (weight * p * (1 - p))[:, None, :], z) + torch.diag(reg)
        hess += 1e-9 * torch.eye(k1, dtype=torch.float64)
        step = torch.linalg.solve(hess, grad)
        beta -= step
        if float(step.abs().max()) < 1e-6:
            break
    w = beta[:, :-1] / std[:, 0]
    b = beta[:, -1] - (w * mean[:, 0]).sum(1)
    return w, b


def mean_difference(sc: SortedColumns, labels: np.ndarray) -> np.ndarray:
    """[L, C]: mean activation on the concept's positives minus that on its negatives."""
    y = torch.from_numpy(labels.astype(np.float64))
    on_pos = (sc.matrix() @ y).numpy()
    total = np.bincount(sc.col, weights=sc.vals, minlength=sc.n_cols)[:, None]
    pos = labels.sum(0)[None, :].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return on_pos / pos - (total - on_pos) / (labels.shape[0] - pos)


def f1_score(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """F1 per column of boolean [R, C] predictions."""
    tp = (pred & truth).sum(0)
    total = pred.sum(0) + truth.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * tp / total, np.nan)


def k_sparse_probing(
    sc_train: SortedColumns,
    y_train: np.ndarray,
    sc_test: SortedColumns,
    y_test: np.ndarray,
    ks: tuple[int, ...] = KS,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """{"f1": [C, len(ks)] held-out F1, "latents": [C, max(ks)] the latents chosen}: latents
    chosen on the whole training set, probes fitted on at most TRAIN_ROWS of it."""
    n_concepts = y_train.shape[1]
    diff = np.nan_to_num(mean_difference(sc_train, y_train), nan=-np.inf)
    top = np.argsort(-diff, axis=0, kind="stable")[: max(ks)].T  # [C, k_max]
    if len(y_train) > TRAIN_ROWS:
        keep = np.zeros(len(y_train), bool)
        keep[np.random.default_rng(seed).permutation(len(y_train))[:TRAIN_ROWS]] = True
        sc_train, y_train = sc_train.subset(keep), y_train[keep]
    f1 = np.full((n_concepts, len(ks)), np.nan)
    enough = np.minimum(y_train.sum(0), len(y_train) - y_train.sum(0)) >= MIN_POSITIVES
    enough &= np.minimum(y_test.sum(0), len(y_test) - y_test.sum(0)) >= MIN_POSITIVES
    todo = np.flatnonzero(enough)
    for start in range(0, len(todo), CONCEPT_BATCH):
        concepts = todo[start : start + CONCEPT_BATCH]
        used, where = np.unique(top[concepts], return_inverse=True)
        where = where.reshape(len(concepts), -1)
        x_train = torch.from_numpy(sc_train.columns(used))
        x_test = torch.from_numpy(sc_test.columns(used))
        for i, k in enumerate(ks):
            cols = torch.from_numpy(where[:, :k])  # [B, k] into `used`
            xs = x_train[:, cols].permute(1, 0, 2)  # [B, R, k]
            w, b = fit_logistic(xs, torch.from_numpy(y_train[:, concepts].T.astype(np.float64)))
            scores = torch.einsum("brk,bk->br", x_test[:, cols].permute(1, 0, 2).double(), w)
            pred = (scores + b[:, None]).T.numpy() > 0
            f1[concepts, i] = f1_score(pred, y_test[:, concepts])
    return {"f1": f1, "latents": top}
