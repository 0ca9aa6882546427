"""Dictionaries: the sparse paths equal the dense computation, scales are stored and applied,
checkpoints round-trip and fail clearly."""

import json

import pytest
import torch
import torch.nn.functional as F

from common.io import CheckpointError
from sae.dictionary.model import (
    DictConfig,
    Dictionary,
    geometric_median,
    load_dictionary,
    save_dictionary,
)
from sae.dictionary.sparse import select_batch_topk, select_topk


def _dense_reference(d: Dictionary, x_raw: torch.Tensor, rows: int) -> torch.Tensor:
    """Textbook dense computation of the latents from the raw input."""
    x = x_raw * d.in_scale
    if d.cfg.autoencoder:
        x = x - d.b_dec
    pre = F.linear(x, d.W_enc, d.b_enc)
    if d.cfg.architecture == "topk":
        vals, idx = pre.topk(d.cfg.k, dim=1)
        return torch.zeros_like(pre).scatter(1, idx, vals.relu())
    if d.cfg.architecture == "batchtopk":
        bar = pre.detach().flatten().topk(rows * d.cfg.k).values.min()
        return torch.where(pre >= bar, pre, torch.zeros_like(pre)).relu()
    return pre.relu()


def _random_dictionary(arch, d_in=12, d_out=None, n=40, k=5, seed=0, bias=0.0):
    torch.manual_seed(seed)
    cfg = DictConfig(
        arch,
        d_in=d_in,
        d_out=d_out,
        n_latents=n,
        k=k,
        in_site="a",
        out_site="a" if d_out is None else "b",
    )
    d = Dictionary(cfg).train()
    with torch.no_grad():
        d.W_enc.normal_()
        d.b_enc.normal_().add_(bias)
        d.b_dec.normal_()
        d.W_dec.normal_()
        d.in_scale.fill_(0.7)
        d.out_scale.fill_(1.3)
    return d


@pytest.mark.parametrize(
    "arch,d_out,bias",
    [
        ("topk", None, 0.0),
        ("batchtopk", None, 0.0),
        ("relu", None, -25.0),
        ("relu", None, 1.0),
        ("topk", 7, 0.0),
    ],
)
def test_sparse_path_matches_dense_forward_and_gradients(arch, d_out, bias):
    d = _random_dictionary(arch, d_out=d_out, bias=bias)
    x = torch.randn(33, 12) * 4
    y = torch.randn(33, d.cfg.d_out)
    z = d.encode_codes(x)
    if arch == "relu":  # bias -25 keeps rows sparse (sparse path), +1 makes them dense
        assert (z.codes is None) == (bias > 0)
    loss = (d.decode_scaled(z) - y).pow(2).sum() + z.weighted_sum(d.W_dec.norm(dim=1))
    loss.backward()
    sparse_grads = {n: p.grad.clone() for n, p in d.named_parameters()}
    d.zero_grad()

    f = _dense_reference(d, x, 33)
    torch.testing.assert_close(z.dense(), f, rtol=1e-5, atol=1e-5)
    dense_loss = (f @ d.W_dec + d.b_dec - y).pow(2).sum() + (f * d.W_dec.norm(dim=1)).sum()
    dense_loss.backward()
    torch.testing.assert_close(loss, dense_loss, rtol=1e-5, atol=1e-4)
    for name, p in d.named_parameters():
        torch.testing.assert_close(sparse_grads[name], p.grad, rtol=1e-3, atol=1e-3)


def test_batch_topk_keeps_exactly_batch_k_even_when_one_row_dominates():
    torch.manual_seed(1)
    W, b = torch.randn(64, 8), torch.zeros(64)
    x = torch.randn(10, 8) * 0.01
    x[3] = torch.randn(8) * 100  # this row owns every large pre-activation
    codes = select_batch_topk(x, W, b, k=4, candidates=2)
    pre = F.linear(x, W, b)
    expected = pre.flatten().topk(40).values
    assert codes.nnz == 40
    torch.testing.assert_close(codes.pre.sort().values, expected.sort().values)


def test_topk_selection_matches_torch_topk_on_a_large_block():
    torch.manual_seed(2)
    x, W, b = torch.randn(1100, 16), torch.randn(300, 16), torch.randn(300)
    codes = select_topk(x, W, b, 7)  # more rows than one selection block
    vals = F.linear(x, W, b).topk(7, dim=1).values
    torch.testing.assert_close(codes.pre.view(1100, 7).sort(1).values, vals.sort(1).values)


def test_scale_is_stored_applied_and_survives_save_load(tmp_path):
    torch.manual_seed(3)
    d = Dictionary(DictConfig("topk", d_in=8, n_latents=32, k=4, in_site="blocks.0.resid_post"))
    x = torch.randn(50, 8) * 1000  # raw activations far from unit scale
    d.set_scales(float(x.norm(dim=1).mean()), float(x.norm(dim=1).mean()))
    assert float(d.in_scale) == pytest.approx(8**0.5 / float(x.norm(dim=1).mean()), rel=1e-6)
    out = d(x)
    # the module scales internally: the same weights on pre-scaled data give scaled output
    unit = Dictionary(d.cfg)
    unit.load_state_dict(
        {**d.state_dict(), "in_scale": torch.tensor(1.0), "out_scale": torch.tensor(1.0)}
    )
    torch.testing.assert_close(unit(x * d.in_scale) / d.out_scale, out)

    save_dictionary(d, tmp_path / "sae", step=7, data={"store_hash": "abc"})
    loaded, config = load_dictionary(tmp_path / "sae.json")
    assert torch.equal(loaded(x), d.eval()(x))
    assert config["in_scale"] == pytest.approx(float(d.in_scale))
    assert config["dictionary"]["in_site"] == "blocks.0.resid_post"
    assert config["role"] == "sae" and config["step"] == 7


def test_load_rejects_bad_checkpoints(tmp_path):
    d = Dictionary(DictConfig("relu", d_in=4, n_latents=8))
    save_dictionary(d, tmp_path / "x")
    config = json.loads((tmp_path / "x.json").read_text())
    config["dictionary"]["n_latents"] = 9
    (tmp_path / "x.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="W_enc"):
        load_dictionary(tmp_path / "x")
    config["dictionary"] = {"architecture": "gated", "d_in": 4, "n_latents": 8}
    (tmp_path / "x.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="architecture"):
        load_dictionary(tmp_path / "x")
    save_dictionary(d, tmp_path / "y")
    from safetensors.torch import load_file, save_file

    tensors = load_file(tmp_path / "y.safetensors")
    tensors["in_scale"] = torch.tensor(float("nan"))
    save_file(tensors, tmp_path / "y.safetensors")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_dictionary(tmp_path / "y")  # the weights no longer match their recorded hash
    config = json.loads((tmp_path / "y.json").read_text())
    del config["weights_sha256"]  # as a file written before hashes were recorded
    (tmp_path / "y.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="in_scale"):
        load_dictionary(tmp_path / "y")


def test_decoder_projection_removes_the_parallel_component():
    d = _random_dictionary("topk")
    d.normalize_decoder()
    d.W_dec.grad = torch.randn_like(d.W_dec)
    d.remove_parallel_grad()
    assert (d.W_dec.grad * d.W_dec).sum(1).abs().max() < 1e-5
    assert torch.allclose(d.W_dec.norm(dim=1), torch.ones(d.cfg.n_latents), atol=1e-6)


def test_geometric_median_resists_outliers():
    pts = torch.zeros(101, 3)
    pts[:60] = torch.tensor([1.0, 1.0, 1.0]) + 0.01 * torch.randn(60, 3)
    pts[60:] = torch.tensor([100.0, -50.0, 30.0])  # a far cluster pulls the mean away
    med = geometric_median(pts)
    assert (med - torch.tensor([1.0, 1.0, 1.0])).norm() < 0.1
    assert (pts.mean(0) - torch.tensor([1.0, 1.0, 1.0])).norm() > 10
