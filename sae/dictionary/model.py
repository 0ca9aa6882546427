"""Sparse dictionaries: a map from an input vector to a target vector through sparse latents.

An SAE is the case target == input (same hook site); a transcoder reads one site (e.g.
`blocks.1.mlp_in`) and predicts another (`blocks.1.mlp_out`). Architectures:

    relu       f = ReLU(W_enc (x - b_dec) + b_enc), trained with L1 on f_i * ||W_dec[i]||
    topk       keep the k largest pre-activations per row (then ReLU); unit-norm decoder rows
    batchtopk  keep the B * k largest over a training batch; at inference every
               pre-activation above a threshold learned as an EMA during training
    matryoshka batchtopk whose nested prefixes (the first `prefixes[i]` latents) are each
               trained to reconstruct on their own (Bussmann et al. 2025); the same at inference

Scales live inside the module as buffers: callers pass raw activations and get raw-scale
reconstructions. Internally x_s = x * in_scale with in_scale = sqrt(d_in) / mean ||x|| over
the training split (the seed's normalisation, which the seed forgot to save), and the decoder
predicts y * out_scale. The pre-encoder bias subtraction (x_s - b_dec) applies only when the
target is the input. Rows of W_enc and W_dec are latents, so a sparse decode gathers rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from common.io import CheckpointError, bundle_paths, check_state_dict, load_bundle, save_bundle
from sae.dictionary.sparse import (
    SparseCodes,
    sampled_linear,
    select_above,
    select_batch_topk,
    select_topk,
    sparse_decode,
)

KIND = "dictionary"
ARCHITECTURES = ("relu", "topk", "batchtopk", "matryoshka")
DENSE_SWITCH = 1 / 16  # ReLU codes denser than this (early training) take the dense path


@dataclass
class DictConfig:
    architecture: str = "topk"
    d_in: int = 256
    n_latents: int = 4096
    k: int = 32  # topk / batchtopk only
    d_out: int | None = None  # None: same as d_in
    in_site: str | None = None
    out_site: str | None = None  # None: same as in_site (an autoencoder)
    skip: bool = False  # transcoders: add a linear skip term W_skip x (Paulo et al. 2025)
    # matryoshka only: nested prefix sizes, increasing, the last = n_latents (None: n/16, n/8,
    # n/4, n/2, n, Bussmann et al.'s doubling groups)
    prefixes: list[int] | None = None

    def __post_init__(self):
        if self.d_out is None:
            self.d_out = self.d_in
        if self.out_site is None:
            self.out_site = self.in_site
        if self.architecture == "matryoshka" and self.prefixes is None:
            self.prefixes = default_prefixes(int(self.n_latents))
        if self.prefixes is not None:
            self.prefixes = [int(p) for p in self.prefixes]

    @property
    def autoencoder(self) -> bool:
        return self.in_site == self.out_site and self.d_in == self.d_out

    @property
    def sparse_by_k(self) -> bool:
        return self.architecture in ("topk", "batchtopk", "matryoshka")

    def validate(self) -> DictConfig:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        for name in ("d_in", "d_out", "n_latents"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"DictConfig.{name} must be positive")
        if self.sparse_by_k and not 1 <= self.k <= self.n_latents:
            raise ValueError(f"k={self.k} must be in 1..n_latents={self.n_latents}")
        if self.skip and self.autoencoder:
            raise ValueError("a skip connection needs a transcoder (out_site != in_site)")
        if self.prefixes is not None:
            p = self.prefixes
            if self.architecture != "matryoshka":
                raise ValueError("prefixes are for the matryoshka architecture only")
            rising = all(a < b for a, b in zip(p, p[1:], strict=False))
            if not p or p[0] < 1 or p[-1] != self.n_latents or not rising:
                raise ValueError(
                    f"prefixes must increase from >= 1 to n_latents={self.n_latents}, got {p}"
                )
        return self

    @classmethod
    def from_dict(cls, d: dict) -> DictConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise CheckpointError(f"unknown dictionary settings {sorted(unknown)}")
        try:
            return cls(**d).validate()
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"bad dictionary config: {e}") from e


def default_prefixes(n: int, groups: int = 5) -> list[int]:
    """n / 2^(groups-1), ..., n / 2, n (sizes below 1 dropped)."""
    return sorted({max(1, n >> i) for i in range(groups)})


class Codes:
    """The latents of a batch: sparse (codes + active values) or, on the dense path, [B, n]."""

    def __init__(self, acts: torch.Tensor, codes: SparseCodes | None, n_latents: int):
        self.acts, self.codes, self.n_latents = acts, codes, n_latents

    def dense(self) -> torch.Tensor:
        return self.acts if self.codes is None else self.codes.to_dense(self.acts)

    def weighted_sum(self, weights: torch.Tensor, p: float = 1.0) -> torch.Tensor:
        """sum over rows and latents of (f_i * weights_i)^p: the L1 penalty with decoder norms
        at p = 1, its L_p^p version (p-annealing) below 1."""
        v = self.acts * (weights if self.codes is None else weights[self.codes.idx])
        if p == 1.0:
            return v.sum()
        # x^p has an infinite slope at 0: silent latents add 0 and pass no gradient
        return torch.where(v > 0, v.clamp_min(1e-12).pow(p), 0.0).sum()

    @torch.no_grad()
    def fire_counts(self) -> torch.Tensor:
        """How many rows each latent fired (f > 0) on, [n] int64."""
        if self.codes is None:
            return (self.acts > 0).sum(0)
        on = self.acts > 0
        return torch.bincount(self.codes.idx[on], minlength=self.n_latents)

    @torch.no_grad()
    def active_per_row(self) -> torch.Tensor:
        if self.codes is None:
            return (self.acts > 0).sum(1)
        rows = self.codes.row_of_entry[self.acts > 0]
        return torch.bincount(rows, minlength=self.codes.rows)

    @torch.no_grad()
    def min_active(self) -> float:
        on = self.acts[self.acts > 0]
        return float(on.min()) if on.numel() else 0.0


class Dictionary(nn.Module):
    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.cfg = cfg.validate()
        n, d_in, d_out = cfg.n_latents, cfg.d_in, cfg.d_out
        self.W_enc = nn.Parameter(torch.empty(n, d_in))
        self.b_enc = nn.Parameter(torch.zeros(n))
        self.W_dec = nn.Parameter(torch.empty(n, d_out))
        self.b_dec = nn.Parameter(torch.zeros(d_out))
        # Skip transcoders: y_s_hat = W_dec^T f + b_dec + W_skip x_s, W_skip [d_out, d_in].
        self.W_skip = nn.Parameter(torch.zeros(d_out, d_in)) if cfg.skip else None
        self.register_buffer("in_scale", torch.tensor(1.0))
        self.register_buffer("out_scale", torch.tensor(1.0))
        self.register_buffer("threshold", torch.tensor(0.0))  # batchtopk inference bar
        self.reset_parameters()

    def reset_parameters(
        self, generator: torch.Generator | None = None, enc_scale: float = 1.0
    ) -> None:
        """TopK (Gao et al.): unit decoder rows, encoder = decoder transpose. ReLU (Anthropic,
        April 2024 update): decoder rows of norm 0.1, encoder = decoder transpose. The encoder
        rows are then multiplied by `enc_scale` (train.TrainConfig.enc_init_scale says why)."""
        cfg = self.cfg
        with torch.no_grad():
            dec = torch.randn(cfg.n_latents, cfg.d_out, generator=generator)
            dec /= dec.norm(dim=1, keepdim=True)
            if cfg.architecture == "relu":
                dec *= 0.1
            self.W_dec.copy_(dec)
            if cfg.d_in == cfg.d_out:
                self.W_enc.copy_(dec)
            else:
                enc = torch.randn(cfg.n_latents, cfg.d_in, generator=generator)
                enc *= dec.norm(dim=1, keepdim=True) / enc.norm(dim=1, keepdim=True)
                self.W_enc.copy_(enc)
            self.W_enc.mul_(enc_scale)
            self.b_enc.zero_()
            self.b_dec.zero_()
            if self.W_skip is not None:
                self.W_skip.zero_()

    def set_scales(self, mean_in_norm: float, mean_out_norm: float) -> None:
        """Scales that bring mean ||x|| to sqrt(d_in) and mean ||y|| to sqrt(d_out)."""
        for name, norm, d in (
            ("in_scale", mean_in_norm, self.cfg.d_in),
            ("out_scale", mean_out_norm, self.cfg.d_out),
        ):
            if not math.isfinite(norm) or norm <= 0:
                raise ValueError(f"mean activation norm must be positive and finite, got {norm}")
            getattr(self, name).fill_(math.sqrt(d) / norm)

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Drop the decoder gradient's component along each (unit) decoder row."""
        g, w = self.W_dec.grad, self.W_dec
        if g is not None:
            g -= (g * w).sum(1, keepdim=True) * w

    # -- the computation, in the scaled space -----------------------------------------------
    def _scaled_input(self, x_raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x * in_scale, effective encoder bias). For an autoencoder the encoder sees
        x - b_dec; folding that into the bias (b_enc - W_enc b_dec) gives the same
        pre-activations and gradients without a per-row gradient w.r.t. the input."""
        x = (x_raw.to(self.W_enc.dtype) * self.in_scale).detach()
        if self.cfg.autoencoder:
            return x, self.b_enc - self.W_enc @ self.b_dec
        return x, self.b_enc

    def _select(self, x: torch.Tensor, bias: torch.Tensor) -> SparseCodes:
        cfg, W = self.cfg, self.W_enc
        if cfg.architecture == "topk":
            return select_topk(x, W, bias, cfg.k)
        if cfg.architecture in ("batchtopk", "matryoshka"):
            if self.training:
                return select_batch_topk(x, W, bias, cfg.k)
            return select_above(x, W, bias, float(self.threshold))
        return select_above(x, W, bias, 0.0)

    def encode_codes(self, x_raw: torch.Tensor) -> Codes:
        """Latent activations of raw inputs (differentiable; sparse unless ReLU rows are dense,
        judged on the first block of rows)."""
        x, bias = self._scaled_input(x_raw)
        n = self.cfg.n_latents
        if self.cfg.architecture == "relu":
            codes = select_above(x, self.W_enc, bias, 0.0, max_density=DENSE_SWITCH)
            if codes is None:
                return Codes(F.relu(F.linear(x, self.W_enc, bias)), None, n)
        else:
            codes = self._select(x, bias)
        return Codes(F.relu(sampled_linear(x, self.W_enc, bias, codes)), codes, n)

    def decode_scaled(self, z: Codes) -> torch.Tensor:
        """The latents' part of the output in the scaled space (y * out_scale)."""
        if z.codes is None:
            return z.acts @ self.W_dec + self.b_dec
        return sparse_decode(z.codes, z.acts, self.W_dec) + self.b_dec

    def skip_scaled(self, x_raw: torch.Tensor) -> torch.Tensor | None:
        """The skip term W_skip (x * in_scale) in the scaled output space (None: no skip)."""
        if self.W_skip is None:
            return None
        return (x_raw.to(self.W_skip.dtype) * self.in_scale) @ self.W_skip.T

    def predict_scaled(self, x_raw: torch.Tensor) -> tuple[Codes, torch.Tensor]:
        """(latents, full prediction in the scaled space): what training compares."""
        z = self.encode_codes(x_raw)
        y = self.decode_scaled(z)
        skip = self.skip_scaled(x_raw)
        return z, y if skip is None else y + skip

    # -- the public, raw-scale interface ----------------------------------------------------
    def encode(self, x_raw: torch.Tensor) -> torch.Tensor:
        """Dense latent activations [B, n_latents] of raw inputs."""
        return self.encode_codes(x_raw).dense()

    def decode(self, f: torch.Tensor, x_raw: torch.Tensor | None = None) -> torch.Tensor:
        """Raw-scale output from dense latents [B, n_latents] (e.g. edited for steering);
        a skip transcoder also needs its input `x_raw` for the skip term."""
        y = f @ self.W_dec + self.b_dec
        if self.W_skip is not None:
            if x_raw is None:
                raise ValueError("a skip transcoder's decode needs the input x_raw")
            y = y + self.skip_scaled(x_raw)
        return y / self.out_scale

    def forward(self, x_raw: torch.Tensor) -> torch.Tensor:
        return self.predict_scaled(x_raw)[1] / self.out_scale


@torch.no_grad()
def geometric_median(points: torch.Tensor, iters: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the sum of Euclidean distances."""
    points = points.double()
    guess = points.mean(0)
    for _ in range(iters):
        w = 1.0 / (points - guess).norm(dim=1).clamp_min(1e-9)
        new = (w[:, None] * points).sum(0) / w.sum()
        if (new - guess).norm() <= tol * (1 + guess.norm()):
            guess = new
            break
        guess = new
    return guess.float()


# -- checkpoints --------------------------------------------------------------------------
def save_dictionary(dictionary: Dictionary, stem, **metadata) -> None:
    """Weights + buffers to `<stem>.safetensors`; architecture, scales (also readable by
    eye), sites and provenance (source checkpoint, data hash, step, ...) to `<stem>.json`."""
    config = {
        "kind": KIND,
        "role": "sae" if dictionary.cfg.autoencoder else "transcoder",
        "dictionary": asdict(dictionary.cfg),
        "in_scale": float(dictionary.in_scale),
        "out_scale": float(dictionary.out_scale),
        "threshold": float(dictionary.threshold),
        **metadata,
    }
    save_bundle(stem, {k: v.detach().cpu() for k, v in dictionary.state_dict().items()}, config)


def load_dictionary(stem, device: str | torch.device = "cpu") -> tuple[Dictionary, dict]:
    tensors, config = load_bundle(stem, KIND)
    if not isinstance(config.get("dictionary"), dict):
        raise CheckpointError(f"{stem}: config has no 'dictionary' section (architecture)")
    run = config.get("run")
    trained = run.get("dictionary") if isinstance(run, dict) else None
    if isinstance(trained, dict):  # the sites it was trained on (the training engine records)
        for key in ("in_site", "out_site"):
            now, then = config["dictionary"].get(key), trained.get(key)
            if then is not None and now != then:
                raise CheckpointError(
                    f"{bundle_paths(stem)[1]}: dictionary.{key} is {now!r} but it was trained "
                    f"at {then!r} (run.dictionary.{key}): the config was edited; a dictionary "
                    f"reads only the site it was trained on"
                )
    dictionary = Dictionary(DictConfig.from_dict(config["dictionary"]))
    check_state_dict(dictionary, tensors, str(stem))
    for name in ("in_scale", "out_scale"):
        value = float(tensors[name])
        if not math.isfinite(value) or value <= 0:
            raise CheckpointError(f"{stem}: {name} = {value} (must be positive and finite)")
    dictionary.load_state_dict(tensors)
    return dictionary.to(device).eval(), config
