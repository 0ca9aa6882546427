"""Steering: edit a dictionary's latents inside the running agent, keeping its error term.

At the dictionary's site the activation splits as  x = decode(f) + e  with f = encode(x) and
e the reconstruction error. An edit changes some latents, f -> f', and the site receives

    decode(f') + e  =  x + (f' - f)[edited] @ W_dec / out_scale

so only the edited latents' share of the reconstruction changes: the error term and every
other latent pass through untouched, and an empty edit is exactly the clean net. For a
transcoder (in_site = blocks.i.mlp_in -> out_site = blocks.i.mlp_out) f is encoded from the
in_site activation and the delta is added to the true MLP output (the skip term cancels).

Ops on each latent i of an `Edit` (values in the latent's own activation units):
    scale  f_i -> value * f_i        (0 ablates, 1 is the clean net)
    clamp  f_i -> value              (on every position, firing or not)
    zero   f_i -> 0
    add    f_i -> f_i + value        (value times the latent's decoder direction)

`direction` (a control): the same edit's delta replaced, row by row, by a vector of equal
norm along one fixed direction, so a steering effect can be told from a mere push of that
size. Everything goes through the hook API: `steering_hooks` for `net.hooks(...)`, and
`SteeredEvaluator` for search: a float32 copy of the net that the batched MCTS and
`AlphaZeroPlayer` evaluate with the hooks on, failing loudly on a non-finite policy or value.
The player spec `az:CHECKPOINT[:SIMS]+steer:DICT:LATENTS:OP:VALUE` is `sae.steering.player`.

    python -m sae.steering DICT --store STORE --concepts threat_defensive@b2 --top-n 5 \
        --op scale --value 10          # the measured effect beside its two controls
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from alphazero.agent import AlphaZeroPlayer
from alphazero.inference import NetEvaluator
from alphazero.model import AlphaZeroNet
from common.cli import InputError
from common.io import bundle_paths
from sae.activations.collect import file_hash
from sae.dictionary.model import Dictionary, load_dictionary

OPS = ("scale", "clamp", "zero", "add")


class SteeringError(InputError):
    """A steering request that cannot be carried out (one line says why)."""


@dataclass(frozen=True)
class Edit:
    latents: tuple[int, ...]
    op: str
    value: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "latents", tuple(int(i) for i in self.latents))
        if self.op not in OPS:
            raise SteeringError(f"unknown op {self.op!r}; valid ops: {', '.join(OPS)}")
        if not math.isfinite(self.value):
            raise SteeringError(f"the {self.op} value must be a finite number, got {self.value}")
        if not self.latents:
            raise SteeringError("an edit needs at least one latent")

    def apply(self, f: torch.Tensor) -> torch.Tensor:
        """New values of this edit's latents, given their current values [B, len(latents)]."""
        if self.op == "scale":
            return f * self.value
        if self.op == "add":
            return f + self.value
        return torch.full_like(f, 0.0 if self.op == "zero" else self.value)


def edited_latents(edits: Sequence[Edit]) -> list[int]:
    """Every latent the edits touch, once, in order of first mention."""
    return list(dict.fromkeys(i for e in edits for i in e.latents))


def check_edits(dictionary: Dictionary, edits: Sequence[Edit]) -> None:
    n = dictionary.cfg.n_latents
    bad = sorted({i for e in edits for i in e.latents if not 0 <= i < n})
    if bad:
        raise SteeringError(
            f"latent ids {bad[:8]} out of range: the dictionary has {n} (0..{n - 1})"
        )


def steering_delta(dictionary: Dictionary, x: torch.Tensor, edits: Sequence[Edit]) -> torch.Tensor:
    """Raw-scale change of the dictionary's output site [B, d_out] for input activations x."""
    latents = edited_latents(edits)
    f = dictionary.encode(x.float())[:, latents]
    new = f.clone()
    col = {latent: j for j, latent in enumerate(latents)}
    for e in edits:  # in order: edits of the same latent compose
        cols = [col[i] for i in e.latents]
        new[:, cols] = e.apply(new[:, cols])
    return (new - f) @ dictionary.W_dec[latents] / dictionary.out_scale


def steering_hooks(
    dictionary: Dictionary, edits: Sequence[Edit], direction: torch.Tensor | None = None
) -> dict:
    """Hooks for `net.hooks(...)` that apply `edits` at the dictionary's site(s). With a
    `direction` ([d_out]), each row's delta is replaced by one of equal norm along it."""
    check_edits(dictionary, edits)
    cfg = dictionary.cfg
    unit = None if direction is None else direction.float() / direction.float().norm()

    def shifted(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        delta = steering_delta(dictionary, x, edits)
        if unit is not None:
            delta = delta.norm(dim=1, keepdim=True) * unit.to(delta.device)
        return (out.float() + delta).to(out.dtype)

    if cfg.in_site == cfg.out_site:
        return {cfg.in_site: lambda t: shifted(t, t)}
    seen: dict[str, torch.Tensor] = {}

    def capture(t):
        seen["x"] = t

    return {cfg.in_site: capture, cfg.out_site: lambda t: shifted(t, seen.pop("x"))}


def random_direction(dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g)
    return v / v.norm()


def random_latents(live: np.ndarray, avoid: Sequence[int], count: int, seed: int) -> list[int]:
    """`count` latents drawn uniformly from `live` ids, none of `avoid` (the control)."""
    pool = np.setdiff1d(np.asarray(live, np.int64), np.asarray(list(avoid), np.int64))
    if len(pool) < count:
        raise SteeringError(f"only {len(pool)} other live latents to draw {count} from")
    return sorted(np.random.default_rng(seed).choice(pool, count, replace=False).tolist())


# -- loading, with the checks that a dictionary fits the agent -----------------------------
def check_fits(dictionary: Dictionary, config: dict, net: AlphaZeroNet, agent_sha256: str | None):
    """One-line errors for a dictionary read at sites the net lacks, with other widths, or
    trained on another agent's activations (the agent hash its config records)."""
    cfg = dictionary.cfg
    for site, dim in ((cfg.in_site, cfg.d_in), (cfg.out_site, cfg.d_out)):
        if site not in net.sites:
            raise SteeringError(f"the dictionary reads site {site!r}, which this agent lacks")
        if net.site_dim(site) != dim:
            raise SteeringError(f"{site} has {net.site_dim(site)} dims, the dictionary {dim}")
    trained = ((config.get("data") or {}).get("checkpoint") or {}).get("sha256")
    if trained and agent_sha256 and trained != agent_sha256:
        path = config["data"]["checkpoint"].get("path")
        raise SteeringError(
            f"the dictionary was trained on agent {path} (sha256 {trained}), not on this agent "
            f"(sha256 {agent_sha256})"
        )


def agent_sha256(checkpoint) -> str:
    return file_hash(bundle_paths(checkpoint)[0])


def load_for_agent(path, net: AlphaZeroNet, checkpoint=None, device="cpu") -> Dictionary:
    """A dictionary checked against the agent (`checkpoint`: its path, for the hash)."""
    dictionary, config = load_dictionary(path, device=device)
    check_fits(dictionary, config, net, agent_sha256(checkpoint) if checkpoint else None)
    for p in dictionary.parameters():
        p.requires_grad_(False)
    return dictionary


# -- search -------------------------------------------------------------------------------
class SteeredEvaluator(NetEvaluator):
    """`evaluate(me, opp)` of the steered agent for MCTS: the float32 copy of the net runs
    with the steering hooks on; a non-finite prior or value raises SteeringError."""

    def __init__(self, net, dictionary, edits, direction=None, device: str | None = None):
        super().__init__(net, dtype="float32", device=device)
        self.dictionary = dictionary.to(self.device).eval()
        self.fns = steering_hooks(self.dictionary, edits, direction)

    def __call__(self, me, opp):
        with self.net.hooks(self.fns):
            priors, values = super().__call__(me, opp)
        bad = ~(np.isfinite(priors).all(axis=1) & np.isfinite(values))
        if bad.any():
            raise SteeringError(
                f"the steered net gave a non-finite policy or value on {int(bad.sum())} of "
                f"{len(bad)} positions: the edit is too strong"
            )
        return priors, values


def steered_player(net, dictionary, edits, simulations=64, direction=None, device=None, **kw):
    """An `AlphaZeroPlayer` whose search (or raw policy) evaluates the steered net."""
    evaluator = SteeredEvaluator(net, dictionary, edits, direction, device)
    return AlphaZeroPlayer(net, simulations, evaluator=evaluator, device=device, **kw)


MAX_LATENT = 2**31 - 1  # larger ids are typos (and overflow torch's indexing)
MAX_RANGE = 1 << 20  # latents one range may name


def parse_latents(text: str) -> tuple[int, ...]:
    """'12,40' or '3-5' -> latent ids. Ids are ASCII digits below 2**31 (str.isdigit also
    takes '²' and '١'); a range runs upwards ('5-3' is refused, not read as empty)."""
    out: list[int] = []
    form = f"latents must be ids like 12,40 or 3-5, got {text!r}"
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        for digits in (lo, hi) if dash else (lo,):
            if not (digits.isascii() and digits.isdigit()):
                raise SteeringError(form)
            if len(digits) > 10 or int(digits) > MAX_LATENT:
                raise SteeringError(f"latent id {digits[:20]} is too large (ids are below 2**31)")
        if dash and int(hi) < int(lo):
            raise SteeringError(f"the latent range {part.strip()} is empty: write {hi}-{lo}")
        if dash and int(hi) - int(lo) >= MAX_RANGE:
            raise SteeringError(f"the latent range {part.strip()} names over {MAX_RANGE} latents")
        out += range(int(lo), int(hi) + 1) if dash else [int(lo)]
    return tuple(out)
