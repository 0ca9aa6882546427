"""What a set of features (dictionary latents, raw neurons) means, against exact concept labels.

`analyse(sc, labels, set_b)` takes the features' activations on R positions (`SortedColumns`),
their `sae.concepts.labels.Labels` and a bool [R] marking set B (the second half of the
positions, by game) and returns:

  auc        [L, C] exact ROC AUC (`sae.concepts.auc`); a solver concept is scored only on the rows
             whose solver labels are valid (`Labels.solved`), every other concept on all rows;
  families   per family: the best AUC of any feature for any of its concepts (with that
             feature and concept), and the mean over its concepts of the best feature's AUC;
  latents    per feature: firing density, its TOP_CONCEPTS concepts by AUC, and its label:
             among its top TOP_CONCEPTS concepts by AUC that hold on at most half of their
             positions and have MIN_LABEL_SUPPORT positives and negatives, the one whose
             best-threshold classifier "activation >= v" (v > 0: the feature fires) has
             the highest F1 (with AUC, precision, recall,
             threshold); null for a feature that never fires;
  explained_fraction   live features (firing at least once) whose label reaches F1 >= 0.7,
             in-sample (the held-out explained fraction is `sae.explain`'s);
  coverage / coverage_all / reconstruction   Karvonen et al.'s metrics
             (`sae.concepts.board_metrics`, fitted on set A, scored on set B) for the board
             state (mine / theirs / empty per square) and the legal moves of the side to move
             (legal_mine).
"""

from __future__ import annotations

import numpy as np
import torch

from sae.concepts.auc import SortedColumns, auc_matrix, best_f1
from sae.concepts.board_metrics import karvonen_metrics
from sae.concepts.labels import Labels, family_of

TOP_CONCEPTS = 5
TOP_LATENTS = 10
# A label says when a feature fires; a concept true on most positions (mobility_mine>=1,
# 95%) would "explain" any feature that fires almost always, with a high F1.
MAX_LABEL_RATE = 0.5
# A concept with a handful of positives "labels" a latent with F1 1 by chance: a label needs
# this many positives and negatives among its valid rows (held-out programs with intervals
# are `sae.explain`'s; this label is the in-sample best single concept).
MIN_LABEL_SUPPORT = 25
EXPLAINED_F1 = 0.7
KARVONEN_FAMILIES = {"board": ("mine", "theirs", "empty"), "legal": ("legal_mine",)}


@torch.no_grad()
def latent_columns(dictionary, x: np.ndarray, batch: int = 8192) -> SortedColumns:
    """The dictionary's latent activations on raw inputs x [R, d_in], column-sorted."""
    rows, cols, vals = [], [], []
    device = dictionary.W_enc.device
    for start in range(0, len(x), batch):
        chunk = torch.from_numpy(np.asarray(x[start : start + batch], np.float32)).to(device)
        z = dictionary.encode_codes(chunk)
        if z.codes is None:
            r, c = torch.nonzero(z.acts, as_tuple=True)
            v = z.acts[r, c]
        else:
            r, c, v = z.codes.row_of_entry, z.codes.idx, z.acts
        rows.append(r.cpu().numpy() + start)
        cols.append(c.cpu().numpy())
        vals.append(v.float().cpu().numpy())
    return SortedColumns.from_coo(
        np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), len(x),
        dictionary.cfg.n_latents,
    )  # fmt: skip


def groups(sc: SortedColumns, labels: Labels) -> list[tuple]:
    """(concept columns, rows, features on those rows, labels on them) per validity group:
    the solver concepts on the solved rows, every other concept on all rows."""
    solver = np.array([labels.is_solver(n) for n in labels.names])
    out = [(np.flatnonzero(~solver), np.ones(len(labels.rows), bool))]
    if solver.any():
        out.append((np.flatnonzero(solver), labels.solved))
    return [
        (cols, rows, (sc if rows.all() else sc.subset(rows)), labels.matrix[rows][:, cols])
        for cols, rows in out
        if cols.size and rows.any()
    ]


def auc_all(sc: SortedColumns, labels: Labels, parts: list):
    """(AUC [L, C], positives [C], positive rate [C]), each concept on its valid rows."""
    auc = np.full((sc.n_cols, len(labels.names)), np.nan)
    positives = np.zeros(len(labels.names), np.int64)
    rate = np.zeros(len(labels.names))
    for cols, _, part, y in parts:
        auc[:, cols] = auc_matrix(part, y)
        positives[cols] = y.sum(0)
        rate[cols] = y.mean(0)
    return auc, positives, rate


def label_latents(
    sc: SortedColumns, parts: list, auc: np.ndarray, rate, candidates: int, positives=None
):
    """Per latent, the best-F1 concept among its `candidates` top concepts by AUC that hold
    on at most MAX_LABEL_RATE of their positions, with MIN_LABEL_SUPPORT positives and
    negatives."""
    ok = rate <= MAX_LABEL_RATE
    if positives is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            negatives = np.where(rate > 0, positives / rate - positives, 0)
        ok &= (positives >= MIN_LABEL_SUPPORT) & (negatives >= MIN_LABEL_SUPPORT)
    eligible = np.where(ok, np.nan_to_num(auc, nan=-1.0), -1.0)
    ranked = np.argsort(-eligible, axis=1)[:, :candidates]
    best = {k: np.full(sc.n_cols, np.nan) for k in ("f1", "precision", "recall", "threshold")}
    best["concept"] = np.full(sc.n_cols, -1)
    for r in range(ranked.shape[1]):
        concept = ranked[:, r]
        for cols, _, part, y in parts:
            mine = np.isin(concept, cols)
            if not mine.any():
                continue
            local = np.searchsorted(cols, np.where(mine, concept, cols[0]))
            got = best_f1(part, y, local)
            better = mine & (np.nan_to_num(got["f1"], nan=-1) > np.nan_to_num(best["f1"], nan=-1))
            for k in ("f1", "precision", "recall", "threshold"):
                best[k][better] = got[k][better]
            best["concept"][better] = concept[better]
    return best


def family_table(auc: np.ndarray, labels: Labels) -> dict:
    out = {}
    fam = np.array([family_of(n) for n in labels.names])
    for family in labels.families:
        cols = np.flatnonzero(fam == family)
        block = auc[:, cols]
        if np.isnan(block).all():
            out[family] = {"best_auc": None, "best_latent": None, "best_concept": None,
                           "mean_best_auc": None, "concepts": int(cols.size)}  # fmt: skip
            continue
        latent, j = np.unravel_index(np.nanargmax(block), block.shape)
        defined = ~np.isnan(block).all(0)
        out[family] = {
            "best_auc": float(block[latent, j]),
            "best_latent": int(latent),
            "best_concept": labels.names[cols[j]],
            "mean_best_auc": float(np.nanmean(np.nanmax(block[:, defined], 0))),
            "concepts": int(cols.size),
        }
    return out


def karvonen(sc: SortedColumns, labels: Labels, set_b: np.ndarray) -> dict:
    fam = np.array([family_of(n) for n in labels.names])
    families = {
        key: np.flatnonzero(np.isin(fam, members)) for key, members in KARVONEN_FAMILIES.items()
    }
    used = np.concatenate([v for v in families.values()])
    local = {k: np.searchsorted(used, v) for k, v in families.items() if v.size}
    order = np.argsort(used)
    used = used[order]
    local = {k: np.flatnonzero(np.isin(used, families[k])) for k in local}
    y = labels.matrix[:, used]
    sc = sc.positive()  # only positive activations fire
    return karvonen_metrics(sc.subset(~set_b), y[~set_b], sc.subset(set_b), y[set_b], local)


def analyse(
    sc: SortedColumns,
    labels: Labels,
    set_b: np.ndarray,
    candidates: int = TOP_CONCEPTS,
    explained_f1: float = EXPLAINED_F1,
) -> dict:
    """The per-feature analysis in the module docstring (raw arrays kept under "auc" and
    "best" for callers that need more)."""
    parts = groups(sc, labels)
    auc, positives, rate = auc_all(sc, labels, parts)
    best = label_latents(sc, parts, auc, rate, candidates, positives)
    fires = np.diff(sc.colptr)
    live = fires > 0
    explained = live & (np.nan_to_num(best["f1"]) >= explained_f1)
    board = karvonen(sc, labels, set_b)
    return {
        "auc": auc,
        "positives": positives,
        "best": best,
        "density": fires / sc.n_rows,
        "live": int(live.sum()),
        "l0": float(sc.positive().nnz / sc.n_rows),  # features firing (> 0) per position
        "explained": int(explained.sum()),
        "explained_fraction": float(explained.sum() / max(1, live.sum())),
        "families": family_table(auc, labels),
        "coverage": {k: v["score"] for k, v in board["coverage"].items()},
        "coverage_all": {k: v["score"] for k, v in board["coverage_all"].items()},
        "reconstruction": {k: v["score"] for k, v in board["reconstruction"].items()},
        "board_metrics": board,
    }


def summary(result: dict) -> dict:
    """The headline numbers of `analyse` (what a baseline reports)."""
    return {
        "features": int(len(result["density"])),
        "live": result["live"],
        "l0": result["l0"],
        "families": {
            f: {k: v[k] for k in ("best_auc", "mean_best_auc", "best_latent", "best_concept")}
            for f, v in result["families"].items()
        },
        "coverage": result["coverage"],
        "coverage_all": result["coverage_all"],
        "reconstruction": result["reconstruction"],
        "explained_fraction": result["explained_fraction"],
    }
