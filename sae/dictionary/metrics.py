"""Held-out metrics of a dictionary: reconstruction, sparsity, and fidelity spliced into the net.

Formulas follow REFERENCE.md. Sums run over the whole evaluation set, never as means of
per-row ratios:

    L0        mean number of active latents per row
    FVU       sum ||y - y_hat||^2 / sum ||y - mean(y)||^2;   explained variance = 1 - FVU
    MSE       mean over rows and dims of (y - y_hat)^2, in the dictionary's scaled units
              (mean ||y|| = sqrt(d)), so values compare across sites
    NMSE      sum ||y - y_hat||^2 / sum ||y||^2
    cosine    mean over rows of cos(y, y_hat)
    dead      fraction of latents that never fire on the set; dense: firing on > 10% of rows

Spliced: the net runs with the reconstruction in place of the target site's activation.
KL(clean || spliced) over legal moves, top-1 move agreement and value MSE against the clean
net; each also as score = (M_ablate - M_spliced) / (M_ablate - M_clean), where M_ablate
replaces the site by its mean over the evaluation positions (clean: KL 0, agreement 1, value
MSE 0). Win rate: the spliced agent against the clean one in a small seeded match. The
`multi_*` forms splice several sites in one pass (a transcoder per block: the whole net).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from alphazero.agent import AlphaZeroPlayer
from alphazero.model import AlphaZeroNet
from othello.arena import play_match
from sae.activations.batches import Pairs
from sae.activations.store import ActivationStore
from sae.dictionary.model import Dictionary

DENSE_FIRING = 0.1
DENSITY_BINS = np.arange(-6.0, 0.01, 0.5)  # log10 firing frequency


class ErrorSums:
    """Running sums for FVU, MSE, NMSE and cosine over a set seen in chunks (float64)."""

    def __init__(self, dim: int):
        self.rows, self.dim = 0, dim
        self.sq_err = self.sum_sq = self.cos = 0.0
        self.sum_y = torch.zeros(dim, dtype=torch.float64)

    def add(self, y: torch.Tensor, y_hat: torch.Tensor) -> None:
        y, y_hat = y.double(), y_hat.double()
        self.rows += len(y)
        self.sq_err += float((y - y_hat).pow(2).sum())
        self.sum_sq += float(y.pow(2).sum())
        self.sum_y += y.sum(0)
        self.cos += float(torch.nn.functional.cosine_similarity(y, y_hat, dim=1, eps=1e-12).sum())

    def result(self) -> dict[str, float]:
        total_var = self.sum_sq - float(self.sum_y.pow(2).sum()) / self.rows
        fvu = self.sq_err / total_var if total_var > 0 else math.nan
        return {
            "fvu": fvu,
            "explained_variance": 1.0 - fvu,
            "mse": self.sq_err / (self.rows * self.dim),
            "nmse": self.sq_err / self.sum_sq if self.sum_sq > 0 else math.nan,
            "cosine": self.cos / self.rows,
        }


@torch.no_grad()
def reconstruction_metrics(dictionary: Dictionary, pairs: Pairs, chunk_rows: int = 16384) -> dict:
    d = dictionary.eval()
    sums = ErrorSums(d.cfg.d_out)
    l0_sum = 0.0
    fires = torch.zeros(d.cfg.n_latents, dtype=torch.int64)
    for x, y in pairs.chunks(chunk_rows):
        z, y_hat = d.predict_scaled(x)
        sums.add(y * d.out_scale, y_hat)  # scaled units (mean ||y|| = sqrt(d))
        l0_sum += float(z.active_per_row().sum())
        fires += z.fire_counts()
    n_rows = sums.rows
    density = fires.double() / n_rows
    hist, _ = np.histogram(np.log10(density[density > 0].numpy()), DENSITY_BINS)
    return {
        "rows": n_rows,
        "l0": l0_sum / n_rows,
        **sums.result(),
        "dead_fraction": float((fires == 0).double().mean()),
        "dense_fraction": float((density > DENSE_FIRING).double().mean()),
        "density_histogram": {
            "log10_bin_edges": DENSITY_BINS.tolist(),
            "counts": hist.tolist(),
            "dead": int((fires == 0).sum()),
        },
    }


Splice = tuple[str, str, Callable[[torch.Tensor], torch.Tensor]]  # (in_site, out_site, fn)


def splice_hooks(
    in_site: str, out_site: str, reconstruct: Callable[[torch.Tensor], torch.Tensor]
) -> dict:
    """Hooks that replace `out_site` by reconstruct(activation at `in_site`), in the
    activation's own dtype (the search evaluator may run in bfloat16)."""
    return multi_splice_hooks([(in_site, out_site, reconstruct)])


def multi_splice_hooks(splices: list[Splice]) -> dict:
    """Hooks for several splices in one forward pass (e.g. a transcoder per block): each
    out_site is replaced by its reconstruct(in_site activation), the in_site activation
    being the one this (already spliced upstream) pass computes."""
    hooks: dict = {}
    for in_site, out_site, reconstruct in splices:
        sites = {in_site, out_site}
        if sites & hooks.keys():
            raise ValueError(f"sites {sorted(sites & hooks.keys())} are spliced twice")
        hooks.update(_one_splice(in_site, out_site, reconstruct))
    return hooks


def _one_splice(in_site, out_site, reconstruct) -> dict:
    def run(t: torch.Tensor) -> torch.Tensor:
        return reconstruct(t.float()).to(t.dtype)

    if in_site == out_site:
        return {in_site: run}
    seen: dict[str, torch.Tensor] = {}

    def capture(t):
        seen["x"] = t

    return {in_site: capture, out_site: lambda t: run(seen.pop("x")).to(t.dtype)}


def _compare(clean, other, legal) -> dict[str, float]:
    logp_c = torch.log_softmax(clean.policy_logits.float(), -1)
    logp_o = torch.log_softmax(other.policy_logits.float(), -1)
    terms = torch.where(legal, logp_c.exp() * (logp_c - logp_o), torch.zeros_like(logp_c))
    return {
        "kl": float(terms.sum(-1).mean()),
        "agreement": float((logp_c.argmax(-1) == logp_o.argmax(-1)).float().mean()),
        "value_mse": float((clean.value.float() - other.value.float()).pow(2).mean()),
    }


@torch.no_grad()
def spliced_metrics(
    net: AlphaZeroNet,
    me: np.ndarray,
    opp: np.ndarray,
    in_site: str,
    out_site: str,
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, float]:
    """Fidelity of the net with `out_site` replaced by reconstruct(in_site activation), and the
    same normalised against mean-ablation of `out_site` over these positions."""
    return multi_spliced_metrics(net, me, opp, [(in_site, out_site, reconstruct)])


@torch.no_grad()
def multi_spliced_metrics(
    net: AlphaZeroNet, me: np.ndarray, opp: np.ndarray, splices: list[Splice]
) -> dict[str, float]:
    """`spliced_metrics` with several sites spliced at once; the baseline mean-ablates every
    spliced out_site together."""
    x, legal = net.encode(me, opp)
    outs = [out_site for _, out_site, _ in splices]
    clean, cache = net.run_with_cache(x, legal, outs)
    means = {site: cache[site].float().mean(0) for site in outs}
    spliced = net.run_with_hooks(x, legal, multi_splice_hooks(splices))
    ablated = net.run_with_hooks(x, legal, {site: _constant(mean) for site, mean in means.items()})
    s, a = _compare(clean, spliced, legal), _compare(clean, ablated, legal)
    clean_level = {"kl": 0.0, "agreement": 1.0, "value_mse": 0.0}
    out = {}
    for key in s:
        out[key] = s[key]
        out[f"{key}_ablated"] = a[key]
        gap = a[key] - clean_level[key]
        out[f"{key}_score"] = (a[key] - s[key]) / gap if gap != 0 else math.nan
    return out


def _constant(mean: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: mean.expand_as(t).to(t.dtype)


def spliced_win_rate(
    net: AlphaZeroNet,
    in_site: str,
    out_site: str,
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
    games: int = 64,
    simulations: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Score rate (wins + draws / 2) of the spliced agent against the clean agent."""
    splices = [(in_site, out_site, reconstruct)]
    return multi_spliced_win_rate(net, splices, games, simulations, seed, progress)


def multi_spliced_win_rate(
    net: AlphaZeroNet,
    splices: list[Splice],
    games: int = 64,
    simulations: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """`spliced_win_rate` with several sites spliced at once."""
    clean = AlphaZeroPlayer(net, simulations, dtype="float32", seed=seed, name="clean")
    spliced = AlphaZeroPlayer(net, simulations, dtype="float32", seed=seed + 1, name="spliced")
    with spliced.evaluator.net.hooks(multi_splice_hooks(splices)):
        result = play_match(spliced, clean, games, net.cfg.board_size, 4, seed, progress)
    return {"win_rate": result.score_rate, "games": result.games}


def evaluate(
    dictionary: Dictionary,
    store: ActivationStore,
    net: AlphaZeroNet,
    *,
    positions: int = 8192,
    games: int = 64,
    simulations: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Every metric above on the store's held-out split (`games=0` skips the match)."""
    cfg = dictionary.cfg
    dictionary.eval()
    heldout = Pairs.from_store(store, cfg.in_site, cfg.out_site, split="heldout")
    metrics = reconstruction_metrics(dictionary, heldout)
    rows = store.rows("heldout")
    pick = np.sort(np.random.default_rng(seed).permutation(len(rows))[:positions])
    me, opp = store.read("me", rows[pick]), store.read("opp", rows[pick])
    metrics.update(spliced_metrics(net, me, opp, cfg.in_site, cfg.out_site, dictionary))
    metrics["spliced_positions"] = len(pick)
    if games:
        metrics.update(
            spliced_win_rate(
                net, cfg.in_site, cfg.out_site, dictionary, games, simulations, seed, progress
            )
        )
    return metrics
