"""The training engine: recovers a planted dictionary, AuxK revives dead latents, decoder norms
hold, the NaN guard fires, an interrupted run resumes onto the same weights."""

import numpy as np
import pytest
import torch

from common.io import CheckpointError
from sae.activations.batches import Pairs
from sae.dictionary.model import Codes, DictConfig, load_dictionary
from sae.dictionary.sweep import grid
from sae.dictionary.train import (
    Run,
    RunSpec,
    TrainConfig,
    TrainingDiverged,
    penalty_exponent,
    train,
)


def planted(n_rows=8000, d=24, atoms=32, active=3, seed=0):
    """x = sparse non-negative combination of unit atoms (known ground truth)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(atoms, d, generator=g)
    A /= A.norm(dim=1, keepdim=True)
    on = torch.rand(n_rows, atoms, generator=g) < active / atoms
    codes = on * (0.5 + torch.rand(n_rows, atoms, generator=g))
    return (codes @ A).numpy() * 7.0, A  # scaled: the dictionary must undo it


def fvu(d, x):
    x = torch.from_numpy(x)
    with torch.no_grad():
        return float((d(x) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def test_recovers_a_planted_dictionary(tmp_path):
    x, atoms = planted()
    train_x, test_x = x[:6000], x[6000:]
    specs = [
        RunSpec("topk", DictConfig("topk", d_in=24, n_latents=64, k=5), lr=3e-3),
        RunSpec("relu", DictConfig("relu", d_in=24, n_latents=64), l1_coeff=0.3, lr=3e-3),
    ]
    cfg = TrainConfig(batch_size=256, steps=400, progress=False, dead_after=5000)
    out = train(specs, Pairs.from_arrays(train_x), cfg, tmp_path)
    for name, d in out.items():
        assert fvu(d, test_x) < 0.15, name
        dec = d.W_dec / d.W_dec.norm(dim=1, keepdim=True)
        recovered = ((atoms @ dec.T).max(1).values > 0.9).float().mean()
        assert recovered > 0.85, (name, recovered)
    assert torch.allclose(out["topk"].W_dec.norm(dim=1), torch.ones(64), atol=1e-5)


def test_auxk_revives_latents_that_never_win_topk(tmp_path):
    x, _ = planted(n_rows=4096, seed=1)
    data = torch.from_numpy(x)
    alive = {}
    for aux in (0.0, 1 / 32):
        spec = RunSpec("r", DictConfig("topk", d_in=24, n_latents=64, k=2), lr=3e-3)
        run = Run(spec, TrainConfig(aux_coeff=aux, dead_after=512, steps=120), tmp_path)
        run.dict.set_scales(float(data.norm(dim=1).mean()), float(data.norm(dim=1).mean()))
        with torch.no_grad():  # half the encoder too weak to ever reach the top 2
            run.dict.W_enc[32:] *= 1e-3
        for step in range(120):
            batch = data[(step * 256) % 4096 :][:256]
            run.train_step(batch, batch)
        with torch.no_grad():
            fires = run.dict.train().encode_codes(data).fire_counts()
        alive[aux] = int((fires[32:] > 0).sum())
    assert alive[0.0] == 0  # no gradient ever reaches them without AuxK
    assert alive[1 / 32] >= 8, alive


def test_nan_guard_stops_with_a_clear_error(tmp_path):
    spec = RunSpec("boom", DictConfig("relu", d_in=4, n_latents=8))
    run = Run(spec, TrainConfig(), tmp_path)
    x = torch.randn(16, 4)
    run.train_step(x, x)
    x[3, 1] = float("nan")
    with pytest.raises(TrainingDiverged, match="run boom: loss is nan at step 1"):
        run.train_step(x, x)


class Interrupted(Exception):
    pass


def test_interrupted_training_resumes_onto_the_same_weights(tmp_path):
    x, _ = planted(n_rows=3000, seed=2)
    specs = [
        RunSpec("a", DictConfig("batchtopk", d_in=24, n_latents=48, k=3)),
        RunSpec("b", DictConfig("relu", d_in=24, n_latents=48), l1_coeff=0.5),
        # p-annealed: its coefficient changes before and after the checkpoint at step 10
        RunSpec("c", DictConfig("relu", d_in=24, n_latents=48), l1_coeff=0.5, p_end=0.3),
    ]
    cfg = TrainConfig(batch_size=128, steps=30, checkpoint_every=10, progress=False, dead_after=256)
    straight = train(specs, Pairs.from_arrays(x), cfg, tmp_path / "straight")

    class Crashing(Pairs):
        def batches(self, batch_size, seed=0, start=0):
            for i, b in enumerate(super().batches(batch_size, seed, start)):
                if i == 14:
                    raise Interrupted
                yield b

    crashing = Crashing(len(x), lambda r: x[r])
    with pytest.raises(Interrupted):
        train(specs, crashing, cfg, tmp_path / "resumed")
    _, config = load_dictionary(tmp_path / "resumed" / "a" / "dictionary")
    assert config["step"] == 10
    resumed = train(specs, Pairs.from_arrays(x), cfg, tmp_path / "resumed")
    for name in ("a", "b", "c"):
        for key, value in straight[name].state_dict().items():
            torch.testing.assert_close(resumed[name].state_dict()[key], value, msg=key)

    changed = [RunSpec("a", DictConfig("batchtopk", d_in=24, n_latents=48, k=4)), *specs[1:]]
    with pytest.raises(CheckpointError, match="other settings"):
        train(changed, Pairs.from_arrays(x), cfg, tmp_path / "resumed")


def test_scale_invariance_raw_units_in_raw_units_out(tmp_path):
    """Training on x and on 1000 x gives the same dictionary up to the stored scale."""
    x, _ = planted(n_rows=2048, seed=3)
    cfg = TrainConfig(batch_size=256, steps=20, progress=False)
    spec = [RunSpec("t", DictConfig("topk", d_in=24, n_latents=32, k=3), lr=1e-3)]
    small = train(spec, Pairs.from_arrays(x), cfg, tmp_path / "s")["t"]
    big = train(spec, Pairs.from_arrays(x * 1000), cfg, tmp_path / "b")["t"]
    probe = torch.from_numpy(x[:64])
    with torch.no_grad():
        torch.testing.assert_close(big(probe * 1000) / 1000, small(probe), rtol=1e-3, atol=1e-3)
    assert float(big.in_scale) == pytest.approx(float(small.in_scale) / 1000, rel=1e-5)


def test_batches_are_deterministic_resumable_and_without_repeats():
    x = np.arange(10_000, dtype=np.float32)[:, None].repeat(2, 1)
    pairs = Pairs(len(x), lambda r: x[r], window_rows=4096)
    gen = pairs.batches(500, seed=5)
    first = [next(gen)[0][:, 0].numpy() for _ in range(19)]
    epoch = np.concatenate(first[:18])  # 10 windows' worth: at most one epoch
    assert len(np.unique(epoch)) == len(epoch)
    later = pairs.batches(500, seed=5, start=7)
    np.testing.assert_array_equal(next(later)[0][:, 0].numpy(), first[7])
    assert not np.array_equal(first[0], next(pairs.batches(500, seed=6))[0][:, 0].numpy())


def test_sweep_grids_match_the_seed():
    full = grid(256, "blocks.2.resid_post")
    relu = [s for s in full if s.dictionary.architecture == "relu"]
    topk = [s for s in full if s.dictionary.architecture == "topk"]
    assert len(relu) == 25 and len(topk) == 20
    assert {s.l1_coeff for s in relu} == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert {s.dictionary.n_latents for s in full} == {256, 512, 1024, 2048, 4096}
    assert {s.dictionary.k for s in topk} == {8, 16, 32, 64}
    assert len({s.name for s in full}) == 45


def test_the_lp_penalty_counts_active_latents_only_and_has_finite_gradients():
    acts = torch.tensor([[0.0, 0.5, 2.0], [1.5, 0.0, 0.0]], requires_grad=True)
    w = torch.tensor([1.0, 2.0, 0.5])
    codes = Codes(acts, None, 3)
    assert float(codes.weighted_sum(w).detach()) == pytest.approx(0.5 * 2 + 2 * 0.5 + 1.5)
    total = codes.weighted_sum(w, 0.5)
    assert float(total.detach()) == pytest.approx(1.0**0.5 + 1.0**0.5 + 1.5**0.5)
    total.backward()
    assert torch.isfinite(acts.grad).all() and acts.grad[0, 0] == 0 and acts.grad[1, 1] == 0


def test_p_annealing_steps_p_down_and_keeps_the_penalty_continuous(tmp_path):
    cfg = TrainConfig(steps=100, p_anneal_start=0.2, p_updates=4, warmup_steps=5)
    ps = [penalty_exponent(s, cfg, 0.2) for s in range(100)]
    assert ps[:20] == [1.0] * 20 and all(a >= b for a, b in zip(ps, ps[1:], strict=False))
    assert sorted(set(ps), reverse=True) == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert ps[-1] == pytest.approx(0.2) and penalty_exponent(99, cfg, 1.0) == 1.0
    x, _ = planted(n_rows=2048, seed=3)
    data = torch.from_numpy(x)
    spec = RunSpec("p", DictConfig("relu", d_in=24, n_latents=48), l1_coeff=0.5, p_end=0.2)
    run = Run(spec, cfg, tmp_path)
    scale = float(data.norm(dim=1).mean())
    run.dict.set_scales(scale, scale)
    rescaled = 0
    for step in range(100):
        batch = data[(step * 128) % 2048 :][:128]
        coeff = float(run.penalty_coeff)
        if step and ps[step] != ps[step - 1]:  # p steps down on this batch
            with torch.no_grad():
                z, _ = run.dict.predict_scaled(batch)
                norms = run.dict.W_dec.norm(dim=1)
                old = coeff * float(z.weighted_sum(norms, ps[step - 1]))
            run.train_step(batch, batch)
            new = float(run.penalty_coeff) * float(z.weighted_sum(norms, ps[step]))
            assert new == pytest.approx(old, rel=1e-5) and float(run.penalty_coeff) != coeff
            rescaled += 1
        else:
            run.train_step(batch, batch)
            assert float(run.penalty_coeff) == coeff
    assert rescaled == 4


def test_p_end_names_the_run_and_is_checked_on_the_command_line():
    from sae.dictionary.cli import _exponent, parse_args

    relu = grid(256, "blocks.2.resid_post", widths=(256,), l1_coeffs=(3.0,), p_end=0.2)
    assert relu[0].name == "l1p0.2_3_n256" and relu[0].p_end == 0.2
    assert grid(256, "s", widths=(256,), l1_coeffs=(3.0,), ks=())[0].name == "l1_3_n256"
    assert _exponent("0.5") == 0.5 and _exponent("1") == 1.0
    for bad in ("0", "1.5", "nan"):
        with pytest.raises(SystemExit) as e:
            parse_args(["--p-end", bad])
        assert e.value.code == 2
