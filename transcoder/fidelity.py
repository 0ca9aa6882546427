"""Fidelity of a transcoder set: how well its transcoders stand in for the MLPs.

Per block i, on the store's held-out games:
  - reconstruction of `blocks.{i}.mlp_out` from `blocks.{i}.mlp_in` (FVU, L0, dead / dense
    fractions: sae.dictionary.metrics.reconstruction_metrics);
  - the net with that one MLP replaced by its transcoder: KL(original || replaced) on legal
    moves, top-1 move agreement, value MSE, each also as a score against mean-ablating that
    MLP's output (sae.dictionary.metrics.multi_spliced_metrics).
All blocks at once ("all"): the same with every MLP replaced in one forward pass, each
transcoder reading the mlp_in that the already-replaced blocks below it produce (errors
compound, as they would in an attribution graph), against mean-ablating every MLP. Then:
  - move quality of the fully replaced net's raw policy against the exact solver, beside the
    original's, on the positions alphazero.evaluate samples (10-14 empties, half from the
    agent's games, half from random games, a single legal move left out): the share of moves
    that keep the solved outcome and discs lost per move;
  - the fully replaced agent against the original in a match (multi_spliced_win_rate);
  - top-1 agreement of replaced vs original by game phase (bins of empties).
Every network runs in float32.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from alphazero.agent import AlphaZeroPlayer
from alphazero.evaluate import move_accuracy, sample_positions, solve_all
from alphazero.model import AlphaZeroNet
from othello import batch
from sae.activations.batches import Pairs
from sae.activations.store import ActivationStore
from sae.dictionary.metrics import (
    Splice,
    multi_splice_hooks,
    multi_spliced_metrics,
    reconstruction_metrics,
)
from transcoder.set import TranscoderSet, block_sites, layer_name

PHASE_WIDTH = 4  # empties per game-phase bin


def splices(tset: TranscoderSet, blocks=None) -> list[Splice]:
    """(mlp_in, mlp_out, transcoder) of each block (default: every block of the set)."""
    return [(*block_sites(i), tset.layers[i]) for i in (tset.blocks if blocks is None else blocks)]


def heldout_positions(store: ActivationStore, count: int, seed: int = 0):
    """(me, opp) of `count` held-out rows drawn without replacement (seeded), in row order."""
    rows = store.rows("heldout")
    pick = np.sort(np.random.default_rng(seed).permutation(len(rows))[:count])
    return store.read("me", rows[pick]), store.read("opp", rows[pick])


@torch.no_grad()
def layer_fidelity(
    tset: TranscoderSet, store: ActivationStore, net: AlphaZeroNet, me, opp
) -> dict[str, dict]:
    """{"blocks.i": reconstruction + spliced metrics, "all": spliced metrics of all blocks}."""
    out = {}
    for i in tset.blocks:
        heldout = Pairs.from_store(store, *block_sites(i), split="heldout")
        # the store streams CPU tensors: reconstruction runs on a CPU copy
        metrics = reconstruction_metrics(copy.deepcopy(tset.layers[i]).cpu(), heldout)
        metrics.update(multi_spliced_metrics(net, me, opp, splices(tset, [i])))
        out[layer_name(i)] = metrics
    out["all"] = multi_spliced_metrics(net, me, opp, splices(tset))
    return out


def raw_policy_moves(net: AlphaZeroNet, positions, replace: list[Splice] | None = None):
    """The raw policy's move (argmax, float32) in each position, with `replace` spliced."""
    player = AlphaZeroPlayer(net, 0, dtype="float32")
    with player.evaluator.net.hooks(multi_splice_hooks(replace or [])):
        return player.choose(positions, list(range(len(positions))))


def solver_fidelity(
    net: AlphaZeroNet, replace: list[Splice], count: int, seed: int = 0, progress: bool = True
) -> dict[str, dict]:
    """Move accuracy against the exact solver of the original and the replaced raw policy,
    on the same solved positions."""
    solved = solve_all(sample_positions(net, count, seed=seed, progress=progress), progress)
    positions = [s.position for s in solved]
    original = raw_policy_moves(net, positions)
    replaced = raw_policy_moves(net, positions, replace)
    return {
        "original": move_accuracy(solved, original),
        "replaced": move_accuracy(solved, replaced),
        "same_move": float(np.mean(np.array(original) == np.array(replaced))),
    }


def phase_bins(n: int) -> list[tuple[int, int]]:
    """(low, high) empties of each game-phase bin, opening first: 32-29, 28-25, ... on 6x6."""
    top = n * n - 4
    return [(max(1, hi - PHASE_WIDTH + 1), hi) for hi in range(top, 0, -PHASE_WIDTH)]


@torch.no_grad()
def phase_agreement(net: AlphaZeroNet, replace: list[Splice], me, opp) -> dict:
    """Top-1 agreement of the replaced net with the original per bin of empties (and over
    all positions): {"bins", "agreement" (NaN where a bin is empty), "positions"}."""
    x, legal = net.encode(me, opp)
    original = net(x, legal).policy_logits.argmax(-1)
    replaced = net.run_with_hooks(x, legal, multi_splice_hooks(replace)).policy_logits.argmax(-1)
    same = (original == replaced).cpu().numpy()
    n = net.cfg.board_size
    empties = n * n - batch.popcount(np.asarray(me) | np.asarray(opp))
    bins = phase_bins(n)
    agreement, counts = [], []
    for lo, hi in bins:
        inside = (empties >= lo) & (empties <= hi)
        counts.append(int(inside.sum()))
        agreement.append(float(same[inside].mean()) if inside.any() else float("nan"))
    return {
        "bins": [f"{hi}-{lo}" for lo, hi in bins],
        "agreement": agreement,
        "positions": counts,
        "overall": float(same.mean()),
    }
