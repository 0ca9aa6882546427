"""The agent's network: a residual MLP tower with named hook points.

    x = Linear(planes)                         # stem
    for each block:  x = x + MLP(LN(x))        # MLP = Linear(d, 4d) -> GELU -> Linear(4d, d)
    h = LN(x) -> policy logits (n*n + 1, illegal moves masked to -inf), value (tanh),
                 ownership (tanh, per square), disc margin (tanh, final diff / n*n)

Every block exposes five hook points, `blocks.{i}.resid_pre`, `.mlp_in` (after LN),
`.mlp_hidden` (after GELU), `.mlp_out` and `.resid_post`, plus `ln_final`. Hooks are the only
way anything reaches inside the net: `run_with_cache` reads activations, `run_with_hooks`
replaces or edits them (one callable per site; return a tensor to replace the activation,
or None to leave it). SAE splicing, transcoder splicing and steering all go through them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.io import CheckpointError, bundle_paths, check_state_dict, load_bundle, save_bundle
from common.threads import ThreadChooser
from othello import batch
from othello.bitboard import check_size

_PREDICT_THREADS = ThreadChooser()  # `predict` calls: one or all torch threads, by measurement
SITE_KINDS = ("resid_pre", "mlp_in", "mlp_hidden", "mlp_out", "resid_post")
INPUT_ENCODING = "planes:mine,theirs,empty[,legal] x squares, side to move first"


@dataclass
class NetConfig:
    board_size: int = 6
    d_model: int = 256
    n_blocks: int = 4
    mlp_ratio: int = 4
    legal_plane: bool = True  # feed the legal-move plane as a 4th input plane

    @property
    def squares(self) -> int:
        return self.board_size * self.board_size

    @property
    def n_actions(self) -> int:
        return self.squares + 1

    @property
    def in_features(self) -> int:
        return (4 if self.legal_plane else 3) * self.squares

    @property
    def d_mlp(self) -> int:
        return self.mlp_ratio * self.d_model

    def validate(self) -> NetConfig:
        check_size(self.board_size)
        for name in ("d_model", "n_blocks", "mlp_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"NetConfig.{name} must be a positive integer, got {value!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise CheckpointError(f"unknown network settings {sorted(unknown)}")
        return cls(**d).validate()


class NetOutput(NamedTuple):
    policy_logits: torch.Tensor  # [B, n*n+1], -inf at illegal actions
    value: torch.Tensor  # [B] in (-1, 1), from the side to move
    ownership: torch.Tensor  # [B, n*n] in (-1, 1): +1 = mine at the end of the game
    margin: torch.Tensor  # [B] in (-1, 1): final disc difference / n*n


def encode(me: np.ndarray, opp: np.ndarray, n: int, legal_plane: bool = True):
    """Canonical boards (uint64 arrays) -> (float32 features [B, F], bool legal [B, n*n+1])."""
    me = batch.as_bitboards(me).reshape(-1)
    opp = batch.as_bitboards(opp).reshape(-1)
    moves = batch.legal_moves(me, opp, n)
    mine, theirs = batch.unpack(me, n), batch.unpack(opp, n)
    planes = [mine, theirs, ~(mine | theirs)]
    if legal_plane:
        planes.append(batch.unpack(moves, n))
    x = np.concatenate(planes, axis=1).astype(np.float32)
    legal = batch.legal_action_mask(me, opp, n, moves)
    return torch.from_numpy(x), torch.from_numpy(legal)


class Block(nn.Module):
    def __init__(self, cfg: NetConfig, index: int):
        super().__init__()
        self.prefix = f"blocks.{index}."
        self.ln = nn.LayerNorm(cfg.d_model)
        self.fc_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.fc_out = nn.Linear(cfg.d_mlp, cfg.d_model)

    def mlp(self, h: torch.Tensor, hook) -> torch.Tensor:
        h = hook(self.prefix + "mlp_hidden", F.gelu(self.fc_in(h)))
        return hook(self.prefix + "mlp_out", self.fc_out(h))

    def forward(self, x: torch.Tensor, hook) -> torch.Tensor:
        x = hook(self.prefix + "resid_pre", x)
        h = hook(self.prefix + "mlp_in", self.ln(x))
        return hook(self.prefix + "resid_post", x + self.mlp(h, hook))


class AlphaZeroNet(nn.Module):
    def __init__(self, cfg: NetConfig | None = None):
        super().__init__()
        self.cfg = (cfg or NetConfig()).validate()
        c = self.cfg
        self.stem = nn.Linear(c.in_features, c.d_model)
        self.blocks = nn.ModuleList(Block(c, i) for i in range(c.n_blocks))
        self.ln_final = nn.LayerNorm(c.d_model)
        self.policy_head = nn.Linear(c.d_model, c.n_actions)
        self.value_head = nn.Linear(c.d_model, 1)
        self.ownership_head = nn.Linear(c.d_model, c.squares)
        self.margin_head = nn.Linear(c.d_model, 1)
        for b in self.blocks:  # keep the residual stream's scale steady with depth
            b.fc_out.weight.data.mul_((2 * c.n_blocks) ** -0.5)
        self._hooks: dict[str, Callable] = {}

    # -- hook points ---------------------------------------------------------------------
    @property
    def sites(self) -> list[str]:
        return [f"blocks.{i}.{k}" for i in range(self.cfg.n_blocks) for k in SITE_KINDS] + [
            "ln_final"
        ]

    def site_dim(self, site: str) -> int:
        self._check_sites([site])
        return self.cfg.d_mlp if site.endswith("mlp_hidden") else self.cfg.d_model

    def _check_sites(self, sites: Iterable[str]) -> None:
        bad = [s for s in sites if s not in self.sites]
        if bad:
            raise ValueError(f"unknown hook site(s) {bad}; valid sites: {', '.join(self.sites)}")

    def _hook(self, site: str, x: torch.Tensor) -> torch.Tensor:
        fn = self._hooks.get(site)
        if fn is None:
            return x
        out = fn(x)
        return x if out is None else out

    @contextmanager
    def hooks(self, fns: dict[str, Callable[[torch.Tensor], torch.Tensor | None]]):
        """Within the block, call fns[site](activation) at each named site; a returned tensor
        replaces the activation downstream."""
        self._check_sites(fns)
        if self._hooks:
            raise RuntimeError("hooks are already active on this net (nesting is not supported)")
        self._hooks = dict(fns)
        try:
            yield self
        finally:
            self._hooks = {}

    def run_with_hooks(self, x, legal, fns) -> NetOutput:
        with self.hooks(fns):
            return self(x, legal)

    def run_with_cache(self, x, legal, sites: Iterable[str]) -> tuple[NetOutput, dict]:
        """Forward pass that also returns {site: activation} for the requested sites."""
        cache: dict[str, torch.Tensor] = {}

        def keep(site):
            def fn(t):
                cache[site] = t

            return fn

        out = self.run_with_hooks(x, legal, {s: keep(s) for s in sites})
        return out, cache

    # -- forward -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, legal: torch.Tensor | None = None) -> NetOutput:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, self._hook)
        h = self._hook("ln_final", self.ln_final(h))
        logits = self.policy_head(h)
        if legal is not None:
            logits = logits.masked_fill(~legal, float("-inf"))
        return NetOutput(
            logits,
            torch.tanh(self.value_head(h)).squeeze(-1),
            torch.tanh(self.ownership_head(h)),
            torch.tanh(self.margin_head(h)).squeeze(-1),
        )

    def encode(self, me, opp):
        """Canonical uint64 boards -> (features, legal) tensors on this net's device."""
        x, legal = encode(me, opp, self.cfg.board_size, self.cfg.legal_plane)
        dev = self.stem.weight.device
        return x.to(dev), legal.to(dev)

    @torch.inference_mode()
    def predict(self, me, opp) -> tuple[np.ndarray, np.ndarray]:
        """Policy probabilities [B, n*n+1] and values [B] as float32 numpy arrays."""
        x, legal = self.encode(me, opp)
        with _PREDICT_THREADS(len(x)):
            out = self(x.to(self.stem.weight.dtype), legal)
        probs = torch.softmax(out.policy_logits.float(), dim=-1)
        return probs.cpu().numpy(), out.value.float().cpu().numpy()


# -- checkpoints -------------------------------------------------------------------------
KIND = "alphazero"


def save_agent(net: AlphaZeroNet, stem, dtype: torch.dtype = torch.float32, **metadata) -> None:
    """Weights to `<stem>.safetensors` (stored as `dtype`; float16 halves the file, loading
    always gives a float32 net), architecture + metadata to `<stem>.json` (atomic)."""
    config = {
        "kind": KIND,
        "net": asdict(net.cfg),
        "board_size": net.cfg.board_size,
        "input_encoding": INPUT_ENCODING,
        "weights_dtype": str(dtype).removeprefix("torch."),
        **metadata,
    }
    save_bundle(stem, {k: v.to(dtype) for k, v in net.state_dict().items()}, config)


def load_agent(stem, device: str | torch.device = "cpu") -> tuple[AlphaZeroNet, dict]:
    tensors, config = load_bundle(stem, KIND)
    if "net" not in config:
        raise CheckpointError(f"{stem}: config has no 'net' section (architecture)")
    try:
        cfg = NetConfig.from_dict(config["net"])
    except (ValueError, TypeError) as e:  # one clear line naming the file, not a traceback
        raise CheckpointError(f"{bundle_paths(stem)[1]}: bad network settings: {e}") from None
    if config.get("board_size", cfg.board_size) != cfg.board_size:
        raise CheckpointError(f"{stem}: board_size disagrees with the net config")
    net = AlphaZeroNet(cfg)
    check_state_dict(net, tensors, str(stem))
    net.load_state_dict(tensors)
    return net.to(device).eval(), config
