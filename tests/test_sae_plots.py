"""Sweep summaries: the L1/TopK pairing and the scaling plots drawn from scaling.json rows."""

import pytest

from sae.dictionary.plots import plot_scaling
from sae.dictionary.sweep import best_pair


def row(arch, n, l0, fvu, k=None, l1=None):
    return dict(
        architecture=arch, n_latents=n, k=k, l1_coeff=l1, l0=l0, fvu=fvu, mse=fvu, train_loss=fvu
    )


SCALING = {
    "l1_1_n256": row("relu", 256, 80.0, 0.06, l1=1),
    "l1_4_n256": row("relu", 256, 20.0, 0.20, l1=4),
    "topk_k16_n256": row("topk", 256, 16.0, 0.06, k=16),
    "topk_k64_n256": row("topk", 256, 64.0, 0.02, k=64),
}


def test_best_pair_takes_similar_l0_and_lowest_fvu():
    # two pairs within an L0 ratio of 1.5 (20/16 and 80/64); the second has the lower FVU
    assert best_pair(SCALING) == ("l1_1_n256", "topk_k64_n256")
    assert best_pair(SCALING, max_l0_ratio=1.1) is None


@pytest.mark.parametrize("widths", [(256,), (256, 1024)])
def test_plots_are_written_for_one_or_many_widths(tmp_path, widths):
    scaling = {f"{name}_{w}": dict(r, n_latents=w) for name, r in SCALING.items() for w in widths}
    paths = plot_scaling(scaling, tmp_path)
    assert {p.name for p in paths} == {"scaling_relu.png", "scaling_topk.png", "frontier.png"}
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
