"""k-sparse probing and feature absorption on synthetic latents whose answers are known by
construction: a concept carried by one latent, a child concept absorbed into its own latent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sae.concepts.absorption as absorption_mod
from sae.concepts.absorption import absorption
from sae.concepts.analysis import latent_columns
from sae.concepts.auc import SortedColumns
from sae.concepts.sparse_probing import fit_logistic, k_sparse_probing
from sae.dictionary.model import DictConfig, Dictionary


def test_fit_logistic_recovers_a_known_rule():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4000, 3))
    y = np.stack([x[0, :, 0] - 2 * x[0, :, 2] > 0.5, x[1, :, 1] > 0]).astype(float)
    w, b = fit_logistic(torch.from_numpy(x), torch.from_numpy(y))
    # direction of concept 0 is (1, 0, -2) up to scale; concept 1 is feature 1 alone
    d0 = w[0].numpy() / np.linalg.norm(w[0].numpy())
    assert d0 == pytest.approx(np.array([1, 0, -2]) / 5**0.5, abs=0.05)
    assert abs(w[1, 0]) < 0.1 * w[1, 1] and abs(w[1, 2]) < 0.1 * w[1, 1]
    acc = ((np.einsum("brk,bk->br", x, w.numpy()) + b.numpy()[:, None] > 0) == y).mean(1)
    assert (acc > 0.97).all()


def test_k_sparse_probing_finds_the_carrying_latent():
    rng = np.random.default_rng(1)
    n = 3000
    y = rng.random((n, 3)) < [0.3, 0.2, 0.5]
    acts = rng.random((n, 12)).astype(np.float32) * (rng.random((n, 12)) < 0.2)
    acts[:, 7] = y[:, 0] * (0.5 + rng.random(n))  # latent 7 is concept 0 exactly
    acts[:, 4] = (y[:, 1] & (rng.random(n) < 0.6)) * 1.0  # latent 4: part of concept 1
    acts[:, 9] = (y[:, 1] & (acts[:, 4] == 0)) * 1.0  # latent 9: the rest of concept 1
    train = rng.random(n) < 0.5
    sc = SortedColumns.from_dense(acts)
    got = k_sparse_probing(sc.subset(train), y[train], sc.subset(~train), y[~train], (1, 2, 5))
    assert got["latents"][0, 0] == 7 and got["f1"][0, 0] == pytest.approx(1.0)
    assert set(got["latents"][1, :2]) == {4, 9}
    assert got["f1"][1, 0] < 0.85 < 0.99 < got["f1"][1, 1]  # one latent is not enough
    assert got["f1"][2].max() < 0.7  # concept 2 is noise to every latent


def absorbing_dictionary() -> Dictionary:
    """Inputs x = A p + C c (+ noise) with orthonormal p, c and child C => parent A. Latent 0
    (encoder p - 2c, decoder p) fires on A without C; latent 1 (encoder c, decoder p + c)
    fires on C and carries the parent's direction there: the child absorbed the parent."""
    d = Dictionary(DictConfig(architecture="relu", d_in=8, n_latents=4, in_site="s"))
    p, c = np.eye(8)[0], np.eye(8)[1]
    with torch.no_grad():
        d.W_enc.zero_()
        d.W_dec.zero_()
        d.W_enc[0] = torch.tensor(p - 2 * c)
        d.W_enc[1] = torch.tensor(c)
        d.W_dec[0] = torch.tensor(p)
        d.W_dec[1] = torch.tensor(p + c)
        d.b_enc.fill_(-0.1)  # latents 2, 3 never fire
    return d.eval()


def test_absorption_of_a_rare_child_by_its_own_latent(monkeypatch):
    monkeypatch.setattr(absorption_mod, "MAX_ROWS", 1000)  # score a sample of the positions
    rng = np.random.default_rng(2)
    n = 6000
    parent = rng.random(n) < 0.5
    child = parent & (rng.random(n) < 0.05)
    x = np.zeros((n, 8), np.float32)
    x[:, 0], x[:, 1] = parent, child
    x += 0.01 * rng.standard_normal((n, 8)).astype(np.float32)
    d = absorbing_dictionary()
    sc = latent_columns(d, x)
    b = rng.random(n) < 0.5
    got = absorption(
        d, x[~b], sc.subset(~b), {"parent": parent[~b], "child": child[~b]},
        x[b], sc.subset(b), {"parent": parent[b], "child": child[b]},
    )  # fmt: skip
    assert got["child_implies_parent"] and got["probe_f1"] > 0.99
    assert got["positions_scored"] == 1000 < got["probe_true_positives"]
    assert got["main_latents"] == [0]  # latent 1 adds too little F1 to count as a split
    rate = child[b].sum() / parent[b].sum()
    assert got["full_absorption_rate"] == pytest.approx(rate, abs=0.025)
    assert got["full_absorption_rate_with_child"] == 1.0
    assert got["full_absorption_rate_without_child"] == 0.0
    assert got["mean_absorption_fraction"] == got["full_absorption_rate"]  # all or nothing here
    assert got["top_absorbing_latents"][0][0] == 1
