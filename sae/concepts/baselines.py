"""The two baselines of the concepts report, computed in the same run on the same positions.

neurons     the raw MLP neurons of the dictionary's block, `blocks.{i}.mlp_hidden` (the GELU
            outputs, d_mlp of them) for a site `blocks.{i}.*`; `ln_final` sits after the
            blocks, so it gets the last block's neurons (the report says so).
random_net  the dictionary's own recipe (its DictConfig, L1 coefficient, learning rate and
            recorded training settings, with a short step budget) trained by the one engine
            (`sae.dictionary.train.train` on `sae.activations.batches.Pairs.from_arrays`) on
            the activations, at the same
            site(s), of a randomly initialised AlphaZeroNet of the agent's architecture on a
            seeded sample of the store's training positions (Karvonen et al.'s control: what
            a dictionary finds in a net that learned nothing).
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, fields

import numpy as np
import torch

from alphazero.model import AlphaZeroNet, NetConfig
from sae.activations.batches import Pairs
from sae.activations.collect import evaluate_positions
from sae.concepts.analysis import analyse, latent_columns, summary
from sae.concepts.auc import SortedColumns
from sae.concepts.labels import Labels
from sae.dictionary.model import DictConfig, Dictionary
from sae.dictionary.train import RunSpec, TrainConfig, train


@dataclass
class RandomNetConfig:
    steps: int = 300  # short: the control needs a trained recipe, not a converged one
    batch_size: int = 1024
    positions: int = 32768  # training positions sampled from the store's train split
    seed: int = 0


def neuron_site(site: str, n_blocks: int) -> tuple[str, str | None]:
    """(the mlp_hidden site of the nearest block, a note when it is not the site's own)."""
    m = re.fullmatch(r"blocks\.(\d+)\.\w+", site)
    if m:
        return f"blocks.{m[1]}.mlp_hidden", None
    last = f"blocks.{n_blocks - 1}.mlp_hidden"
    return last, f"{site} is outside the blocks: neurons of the nearest block, {last}"


def site_activations(net: AlphaZeroNet, me, opp, sites: list[str]) -> dict[str, np.ndarray]:
    """float32 activations of canonical boards at hook sites (one pass, batched)."""
    return evaluate_positions(net, me, opp, list(dict.fromkeys(sites)), "float32")[0]


def random_net(cfg: NetConfig, seed: int) -> AlphaZeroNet:
    """The agent's architecture with PyTorch's default initialisation, seeded."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AlphaZeroNet(cfg).eval()


def train_like(
    config: dict, x: np.ndarray, y: np.ndarray | None, cfg: RandomNetConfig, progress: bool
) -> tuple[Dictionary, dict]:
    """The recipe recorded in a dictionary's config, trained briefly on (x, y)."""
    recorded = config.get("train_config") or {}
    known = {f.name for f in fields(TrainConfig)}
    tc = TrainConfig(**{k: v for k, v in recorded.items() if k in known})
    tc.steps, tc.seed, tc.progress = cfg.steps, cfg.seed, progress
    tc.batch_size = min(tc.batch_size, cfg.batch_size, len(x))
    tc.warmup_steps = min(tc.warmup_steps, max(1, cfg.steps // 10))
    tc.init_rows = min(tc.init_rows, len(x))
    tc.checkpoint_every = cfg.steps
    spec = RunSpec(
        "random_net",
        DictConfig.from_dict(config["dictionary"]),
        l1_coeff=float(config.get("l1_coeff") or 0.0),
        lr=config.get("lr"),
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dictionary = train([spec], Pairs.from_arrays(x, y), tc, out_dir=tmp)["random_net"]
    info = {
        "steps": tc.steps,
        "batch_size": tc.batch_size,
        "training_positions": len(x),
        "lr": spec.learning_rate,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return dictionary, info


def neuron_columns(net, store, rows, site: str) -> tuple[SortedColumns, str, str | None]:
    """The block's raw MLP neurons on store rows: (columns, their site, a note or None)."""
    hidden_site, note = neuron_site(site, net.cfg.n_blocks)
    me, opp = store.read("me", rows), store.read("opp", rows)
    hidden = site_activations(net, me, opp, [hidden_site])[hidden_site]
    return SortedColumns.from_dense(hidden), hidden_site, note


def random_net_columns(net, store, rows, config: dict, rc: RandomNetConfig, progress: bool):
    """The dictionary's recipe trained briefly on a random net's activations (a seeded sample
    of the store's training positions), encoded on the random net's activations at `rows`:
    (columns, training info)."""
    dcfg = DictConfig.from_dict(config["dictionary"])
    control = random_net(net.cfg, rc.seed).to(net.stem.weight.device)
    pick = np.random.default_rng([rc.seed, 2]).permutation(store.rows("train"))[: rc.positions]
    pick = np.sort(pick)
    sites = [dcfg.in_site, dcfg.out_site]
    acts = site_activations(control, store.read("me", pick), store.read("opp", pick), sites)
    y = None if dcfg.autoencoder else acts[dcfg.out_site]
    trained, info = train_like(config, acts[dcfg.in_site], y, rc, progress)
    me, opp = store.read("me", rows), store.read("opp", rows)
    x = site_activations(control, me, opp, [dcfg.in_site])[dcfg.in_site]
    return latent_columns(trained.to(net.stem.weight.device), x), info


def neuron_baseline(net, store, rows, site: str, labels: Labels, set_b, cfg) -> dict:
    """The block's raw MLP neurons on the analysed positions."""
    sc, hidden_site, note = neuron_columns(net, store, rows, site)
    result = analyse(sc, labels, set_b, cfg.top_concepts)
    return {"site": hidden_site, "note": note, **summary(result)}


def random_net_baseline(net, store, rows, config: dict, labels: Labels, set_b, cfg) -> dict:
    """The random-net control analysed on the same positions as the dictionary."""
    rc = cfg.random_net
    sc, info = random_net_columns(net, store, rows, config, rc, cfg.progress)
    result = analyse(sc, labels, set_b, cfg.top_concepts)
    site = DictConfig.from_dict(config["dictionary"]).in_site
    return {"site": site, "training": info, "seed": rc.seed, **summary(result)}
