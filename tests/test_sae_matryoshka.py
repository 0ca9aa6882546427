"""Matryoshka dictionaries (nested prefixes that each reconstruct), the encoder's init scale,
and states written before these settings existed resuming under them."""

import json

import pytest
import torch

from common.io import CheckpointError
from sae.activations.batches import Pairs
from sae.dictionary.model import DictConfig, Dictionary, load_dictionary, save_dictionary
from sae.dictionary.sweep import grid
from sae.dictionary.train import Run, RunSpec, TrainConfig, train
from tests.test_sae_train import planted


def prefix_fvu(d: Dictionary, x, m: int) -> float:
    """FVU of the reconstruction from the active latents among the first m alone."""
    x = torch.from_numpy(x)
    with torch.no_grad():
        z = d.eval().encode_codes(x)
        y = torch.zeros(len(x), d.cfg.d_out).index_add_(
            0, z.codes.row_of_entry, (z.acts * (z.codes.idx < m))[:, None] * d.W_dec[z.codes.idx]
        )
        y = (y + d.b_dec) / d.out_scale
        return float((y - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def test_matryoshka_prefixes_reconstruct_on_their_own(tmp_path):
    """Trained on the same rows, the Matryoshka dictionary's first 8 latents reconstruct far
    better than a BatchTopK dictionary's first 8 (which nothing asks to), and the whole
    dictionary still reconstructs nearly as well (the small cost Bussmann et al. report)."""
    x, _ = planted(n_rows=8000, atoms=32, active=3, seed=4)
    train_x, test_x = x[:6000], x[6000:]
    specs = [
        RunSpec("m", DictConfig("matryoshka", d_in=24, n_latents=64, k=3, prefixes=[8, 64])),
        RunSpec("b", DictConfig("batchtopk", d_in=24, n_latents=64, k=3)),
    ]
    cfg = TrainConfig(batch_size=256, steps=400, progress=False, dead_after=5000)
    for s in specs:
        s.lr = 3e-3
    out = train(specs, Pairs.from_arrays(train_x), cfg, tmp_path)
    m8, b8 = prefix_fvu(out["m"], test_x, 8), prefix_fvu(out["b"], test_x, 8)
    full_m, full_b = prefix_fvu(out["m"], test_x, 64), prefix_fvu(out["b"], test_x, 64)
    assert m8 < 0.75 * b8, (m8, b8)
    assert full_b < 0.2 and full_m < full_b + 0.1, (full_m, full_b)  # a small cost
    log = json.loads((tmp_path / "m" / "log.json").read_text())
    assert (
        "fvu_prefix0" in log[-1]
        and "fvu_prefix0" not in json.loads((tmp_path / "b" / "log.json").read_text())[-1]
    )
    # inference: the learned threshold, as BatchTopK
    assert float(out["m"].threshold) > 0


def test_matryoshka_config_defaults_validation_and_round_trip(tmp_path):
    assert DictConfig("matryoshka", n_latents=4096).prefixes == [256, 512, 1024, 2048, 4096]
    assert DictConfig("matryoshka", n_latents=8, k=2).prefixes == [1, 2, 4, 8]
    for bad in ([8, 32], [16, 8, 64], [0, 64]):
        with pytest.raises(ValueError, match="prefixes"):
            DictConfig("matryoshka", n_latents=64, prefixes=bad).validate()
    with pytest.raises(ValueError, match="matryoshka"):
        DictConfig("topk", n_latents=64, prefixes=[8, 64]).validate()
    d = Dictionary(DictConfig("matryoshka", d_in=6, n_latents=16, k=2, prefixes=[4, 16]))
    save_dictionary(d, tmp_path / "dictionary")
    loaded, config = load_dictionary(tmp_path / "dictionary")
    assert loaded.cfg.prefixes == [4, 16] and config["dictionary"]["prefixes"] == [4, 16]
    config["dictionary"]["prefixes"] = [4, 15]
    (tmp_path / "dictionary.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="prefixes"):
        load_dictionary(tmp_path / "dictionary")


def test_encoder_init_scale_sets_the_row_length(tmp_path):
    spec = RunSpec("r", DictConfig("topk", d_in=24, n_latents=64, k=4))
    for scale in (1.0, 0.5):
        run = Run(spec, TrainConfig(enc_init_scale=scale), tmp_path)
        norms = run.dict.W_enc.norm(dim=1)
        torch.testing.assert_close(norms, torch.full((64,), scale))
        torch.testing.assert_close(run.dict.W_dec.norm(dim=1), torch.ones(64))
    with pytest.raises(ValueError, match="enc_init_scale"):
        TrainConfig(enc_init_scale=0.0).validate()


def test_a_state_from_before_the_new_settings_resumes(tmp_path):
    """A training state written before enc_init_scale / prefixes existed resumes (the first
    engineers' runs must not be refused); a changed old setting is still refused."""
    x, _ = planted(n_rows=2000, seed=5)
    spec = [RunSpec("a", DictConfig("topk", d_in=24, n_latents=32, k=3))]
    cfg = TrainConfig(batch_size=128, steps=20, checkpoint_every=10, progress=False)
    short = TrainConfig(**{**cfg.__dict__, "steps": 10})
    train(spec, Pairs.from_arrays(x), TrainConfig(**{**short.__dict__, "steps": 20}), tmp_path)
    state = tmp_path / "a" / "train_state.json"
    config = json.loads(state.read_text())
    del config["train_config"]["enc_init_scale"]
    del config["run"]["dictionary"]["prefixes"]
    config["step"] = 10  # pretend it stopped half way; the weights are valid either way
    state.write_text(json.dumps(config))
    train(spec, Pairs.from_arrays(x), cfg, tmp_path)  # resumes, no refusal
    config = json.loads(state.read_text())
    assert config["step"] == 20
    del config["train_config"]["enc_init_scale"]
    config["step"] = 10
    state.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="other settings"):
        train(spec, Pairs.from_arrays(x), TrainConfig(**{**cfg.__dict__, "seed": 1}), tmp_path)


def test_sweep_families():
    specs = grid(256, "s", widths=(256, 1024), l1_coeffs=(), ks=(32,),
                 families=("batchtopk", "matryoshka"))  # fmt: skip
    assert [s.name for s in specs] == [
        "batchtopk_k32_n256", "matryoshka_k32_n256", "batchtopk_k32_n1024", "matryoshka_k32_n1024",
    ]  # fmt: skip
    assert specs[-1].dictionary.prefixes == [64, 128, 256, 512, 1024]
