"""What a steering edit does to the agent, beside two controls measured in the same run.

Positions: held-out positions of an activation store, its held-out games split by game id
into half A (even ids: choosing the concept's latents and the live latents) and half B
(odd ids: every measurement), sampled half where the concept holds (any of the named
concepts is True) and half where it does not. Conditions, each against the clean agent on
the same positions (paired):

    steered           the edit on the concept's top latents
    random_latents    the same edit on as many latents drawn uniformly from those live on A
    random_direction  the steered delta replaced, row by row, by one of equal norm along a
                      fixed random direction (`sae.steering.edit`)

Measured per position; moves are the raw policy's argmax, or with `sims` the move of an
MCTS search of the (steered) float32 net:
    policy_mass       policy mass on the concept's target moves: a per-square concept's own
                      square; for threat_defensive@sq the moves that protect sq, for
                      threat_offensive@sq the moves that flip sq (`sae.steering.threats`)
    value             the value head's output
    protect_rate      threat_defensive concepts: of the threatened discs on their squares,
                      the share that the played move protects
    outcome_accuracy, discs_lost
                      on the sampled positions with <= 14 empties and more than one legal
                      move, solved exactly (`alphazero.evaluate.move_accuracy`)
    match score       the steered player against the clean one (arena, seeded openings)

Intervals are 95% paired percentile bootstrap intervals over positions (the change of a
ratio such as protect_rate resampled as a ratio of sums); the match score has a Wilson
interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alphazero.agent import AlphaZeroPlayer
from alphazero.evaluate import SolvedPosition, move_accuracy, solve_all
from othello import batch
from othello.arena import play_match
from othello.elo import wilson_interval
from othello.game import Position, parse_square
from sae.concepts.auc import auc_matrix
from sae.concepts.labels import family_of, load_labels
from sae.concepts.report import concept_latents
from sae.skill.levels import play_level
from sae.steering.edit import (
    Edit,
    SteeredEvaluator,
    SteeringError,
    edited_latents,
    random_direction,
    random_latents,
    steered_player,
    steering_hooks,
)
from sae.steering.threats import capturing_moves, protected, resolving_moves, threatened

CONDITIONS = ("steered", "random_latents", "random_direction")
METRICS = ("policy_mass", "value", "protect_rate", "outcome_accuracy", "discs_lost")
SPLITS = ("concept", "no_concept")
CHUNK = 4096


@dataclass
class EffectConfig:
    positions: int = 2000  # measured positions (half with the concept)
    solver_positions: int = 400  # of them solved exactly (<= 14 empties)
    select_positions: int = 20000  # positions of half A for choosing latents
    max_empties: int = 14
    games: int = 100  # per condition against the clean agent (0: no matches)
    match_sims: int = 0  # simulations of both players in the matches (0: raw policy)
    sims: int = 0  # simulations behind the measured moves (0: the raw policy's argmax)
    resamples: int = 1000
    seed: int = 0
    progress: bool = True


@dataclass
class EvalSet:
    me: np.ndarray
    opp: np.ndarray
    holds: np.ndarray  # bool [B]: the concept holds
    targets: np.ndarray | None  # bool [B, A]: the concept's target moves
    threat_squares: np.ndarray | None  # bool [B, n*n]: threatened discs on concept squares
    solved_at: np.ndarray  # indices into the positions of the solved ones
    solved: list[SolvedPosition]
    n: int


# -- positions, latents ----------------------------------------------------------------------
def heldout_halves(store) -> tuple[np.ndarray, np.ndarray]:
    """Held-out rows of even game ids (A) and odd ones (B)."""
    rows = store.rows("heldout")
    odd = store.read("game", rows) % 2 == 1
    return rows[~odd], rows[odd]


def concept_squares(names: list[str], family: str, n: int) -> np.ndarray:
    """bool [n*n]: squares of the named concepts of one family."""
    out = np.zeros(n * n, bool)
    for name in names:
        if family_of(name) == family:
            out[parse_square(name.split("@", 1)[1], n)] = True
    return out


def target_moves(names: list[str], me, opp, n: int) -> np.ndarray | None:
    """bool [B, n*n+1]: the concepts' target moves (module docstring); None if no concept
    is per-square."""
    out, any_square = np.zeros((len(me), n * n + 1), bool), False
    for family in dict.fromkeys(family_of(name) for name in names if "@" in name):
        any_square = True
        squares = concept_squares(names, family, n)
        if family == "threat_defensive":
            out |= resolving_moves(me, opp, n, squares)
        elif family == "threat_offensive":
            out |= capturing_moves(me, opp, n, squares)
        else:
            out[:, : n * n] |= squares
    return out if any_square else None


def sample_eval(store, names: list[str], cfg: EffectConfig) -> EvalSet:
    """Half B positions, half with the concept; the solved subset (module docstring)."""
    n, rng = store.board_size, np.random.default_rng(cfg.seed)
    _, rows = heldout_halves(store)
    labels = load_labels(store, rows, progress=False).select(names)
    holds = labels.matrix.any(1)
    if not holds.any() or holds.all():
        raise SteeringError(f"the concepts {names} hold on all or none of the held-out positions")
    pick = []
    for group in (np.flatnonzero(holds), np.flatnonzero(~holds)):
        pick.append(rng.permutation(group)[: cfg.positions // 2])
    at = np.sort(np.concatenate(pick))
    me, opp, holds = store.read("me", rows[at]), store.read("opp", rows[at]), holds[at]
    threat = None
    if "threat_defensive" in {family_of(x) for x in names}:
        threat = threatened(me, opp, n) & concept_squares(names, "threat_defensive", n)
    empties = n * n - batch.popcount(me | opp)
    choices = batch.legal_action_mask(me, opp, n).sum(1)
    ok = (empties <= cfg.max_empties) & (choices > 1)
    solved_at = []
    for group in (np.flatnonzero(ok & holds), np.flatnonzero(ok & ~holds)):
        solved_at.append(rng.permutation(group)[: cfg.solver_positions // 2])
    solved_at = np.sort(np.concatenate(solved_at))
    black = store.read("black_to_move", rows[at][solved_at])
    positions = [
        Position(int(me[i]), int(opp[i]), bool(b), n) for i, b in zip(solved_at, black, strict=True)
    ]
    solved = solve_all(positions, progress=cfg.progress)
    return EvalSet(me, opp, holds, target_moves(names, me, opp, n), threat, solved_at, solved, n)


def latent_acts(dictionary, store, rows: np.ndarray) -> np.ndarray:
    """The dictionary's latents [R, n_latents] on store rows (its input site)."""
    x = store.read(dictionary.cfg.in_site, rows)
    out = []
    with torch.no_grad():
        for s in range(0, len(x), CHUNK):
            out.append(dictionary.encode(torch.from_numpy(x[s : s + CHUNK].astype(np.float32))))
    return torch.cat(out).numpy()


def rank_latents(dictionary, store, names: list[str], top_n: int, cfg: EffectConfig, report=None):
    """({concept: its top_n latents by AUC}, latents live on half A). The ranking comes from
    a concepts report when given, else from `auc_matrix` on half A."""
    rows, _ = heldout_halves(store)
    rows = np.sort(np.random.default_rng(cfg.seed).permutation(rows)[: cfg.select_positions])
    acts = latent_acts(dictionary, store, rows)
    live = np.flatnonzero((acts > 0).any(0))
    if report is not None:
        return {name: concept_latents(report, name, top_n) for name in names}, live
    labels = load_labels(store, rows, progress=False).select(names)
    return rank_by_auc(acts, labels, top_n), live


def rank_by_auc(acts: np.ndarray, labels, top_n: int) -> dict[str, list[int]]:
    """{concept: its top_n latents by AUC} from latent activations [R, L] and Labels."""
    auc = auc_matrix(acts, labels.matrix)
    ranked = {}
    for j, name in enumerate(labels.names):
        if np.isnan(auc[:, j]).all():
            raise SteeringError(f"{name} never (or always) holds on the positions ranked on")
        ranked[name] = np.argsort(-np.nan_to_num(auc[:, j], nan=-1.0))[:top_n].tolist()
    return ranked


def top_latents(ranked: dict[str, list[int]], n: int) -> list[int]:
    """The first n latents of every concept, merged in order without repeats."""
    return list(dict.fromkeys(int(i) for latents in ranked.values() for i in latents[:n]))


# -- one condition -----------------------------------------------------------------------------
def policy_value(net, me, opp, hooks: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw policy [B, A] and value [B] of the float32 net with `hooks` on."""
    probs, values = [], []
    for s in range(0, len(me), CHUNK):
        with net.hooks(hooks or {}):
            p, v = net.predict(me[s : s + CHUNK], opp[s : s + CHUNK])
        probs.append(p)
        values.append(v)
    probs, values = np.concatenate(probs), np.concatenate(values)
    if not (np.isfinite(probs).all() and np.isfinite(values).all()):
        raise SteeringError("the steered net gave a non-finite policy or value: edit too strong")
    return probs, values


def per_position_accuracy(solved: list[SolvedPosition], actions) -> tuple[np.ndarray, np.ndarray]:
    """(keeps the solved outcome [S], discs lost [S]) of each position's action."""
    rows = [move_accuracy([s], [int(a)]) for s, a in zip(solved, actions, strict=True)]
    return (
        np.array([r["outcome_accuracy"] for r in rows]),
        np.array([r["discs_lost"] for r in rows]),
    )


def measure(net, ev: EvalSet, setup: tuple | None, sims: int = 0) -> dict[str, np.ndarray]:
    """Per-position numerators (and the protect denominators) of every metric; `setup` =
    (dictionary, edits, direction) steers, None is the clean net. Moves: the raw policy's
    argmax, or MCTS with `sims` simulations of the (steered) float32 net."""
    hooks = steering_hooks(*setup) if setup else None
    probs, values = policy_value(net, ev.me, ev.opp, hooks)
    actions = probs.argmax(1)
    if sims:
        evaluator = SteeredEvaluator(net, *setup) if setup else None
        positions = [
            Position(int(a), int(b), True, ev.n) for a, b in zip(ev.me, ev.opp, strict=True)
        ]
        actions = play_level(net, positions, sims, evaluator)
    out = {"value": values}
    if ev.targets is not None:
        out["policy_mass"] = (probs * ev.targets).sum(1)
    if ev.threat_squares is not None:
        saved = protected(ev.me, ev.opp, actions, ev.n) & ev.threat_squares
        out["protect_rate"] = saved.sum(1).astype(float)
    keep, lost = per_position_accuracy(ev.solved, actions[ev.solved_at])
    out["outcome_accuracy"], out["discs_lost"] = keep, lost
    return out


# -- comparisons ----------------------------------------------------------------------------
def paired_interval(diff, denom, rng, resamples: int) -> dict:
    """Change sum(diff) / sum(denom) with a 95% percentile bootstrap interval."""
    k = len(diff)
    if k == 0 or denom.sum() == 0:
        return {"mean": None, "low": None, "high": None, "n": int(k)}
    idx = rng.integers(0, k, (resamples, k))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = diff[idx].sum(1) / denom[idx].sum(1)
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return {"mean": float(diff.sum() / denom.sum()), "low": float(low), "high": float(high), "n": k}


def level(values, denom) -> float | None:
    return float(values.sum() / denom.sum()) if len(values) and denom.sum() > 0 else None


def _split_rows(ev: EvalSet, metric: str, split: str) -> np.ndarray:
    holds = ev.holds[ev.solved_at] if metric in ("outcome_accuracy", "discs_lost") else ev.holds
    return np.flatnonzero(holds if split == "concept" else ~holds)


def _denominator(ev: EvalSet, metric: str) -> np.ndarray:
    if metric == "protect_rate":
        return ev.threat_squares.sum(1).astype(float)
    size = len(ev.solved_at) if metric in ("outcome_accuracy", "discs_lost") else len(ev.me)
    return np.ones(size)


def compare(ev: EvalSet, clean: dict, other: dict, rng, resamples: int) -> dict:
    """{split: {metric: change with its interval}} of `other` against `clean`."""
    out = {}
    for split in SPLITS:
        out[split] = {}
        for metric in clean:
            at = _split_rows(ev, metric, split)
            denom = _denominator(ev, metric)[at]
            diff = other[metric][at] - clean[metric][at]
            out[split][metric] = paired_interval(diff, denom, rng, resamples)
    return out


def clean_levels(ev: EvalSet, clean: dict) -> dict:
    return {
        split: {
            m: level(clean[m][at], _denominator(ev, m)[at])
            for m in clean
            for at in [_split_rows(ev, m, split)]
        }
        for split in SPLITS
    }


def match_change(net, dictionary, edits, direction, cfg: EffectConfig, name: str) -> dict:
    """Score of the steered player against the clean one, change from 0.5, Wilson 95%."""
    seed = cfg.seed
    steered = steered_player(
        net, dictionary, edits, cfg.match_sims, direction, seed=seed, name=name
    )
    clean = AlphaZeroPlayer(net, cfg.match_sims, dtype="float32", seed=seed + 1, name="clean")
    r = play_match(steered, clean, cfg.games, net.cfg.board_size, seed=seed, progress=cfg.progress)
    low, high = wilson_interval(r.score_rate, r.games)
    return {
        "score": r.score_rate,
        "mean": r.score_rate - 0.5,
        "low": low - 0.5,
        "high": high - 0.5,
        "games": r.games,
        "wins": r.wins,
        "draws": r.draws,
        "losses": r.losses,
    }


def condition_edits(edits: list[Edit], latents: list[int]) -> list[Edit]:
    """The same ops and values moved onto other latents (the random-latent control)."""
    remap = dict(zip(edited_latents(edits), latents, strict=True))
    return [Edit(tuple(remap[i] for i in e.latents), e.op, e.value) for e in edits]


def condition_setups(edits: list[Edit], others: list[int], direction) -> dict:
    """{condition: (edits, direction)} for the steered edit and its two controls."""
    return {
        "steered": (edits, None),
        "random_latents": (condition_edits(edits, others), None),
        "random_direction": (edits, direction),
    }


def run_effect(net, dictionary, ev: EvalSet, edits: list[Edit], live, cfg: EffectConfig) -> dict:
    """Clean levels, the effect and both controls (module docstring)."""
    rng = np.random.default_rng(cfg.seed)
    others = random_latents(live, edited_latents(edits), len(edited_latents(edits)), cfg.seed)
    direction = random_direction(dictionary.cfg.d_out, cfg.seed)
    setups = condition_setups(edits, others, direction)
    clean = measure(net, ev, None, cfg.sims)
    changes = {}
    for name, (e, d) in setups.items():
        steered = measure(net, ev, (dictionary, e, d), cfg.sims)
        changes[name] = compare(ev, clean, steered, rng, cfg.resamples)
        if cfg.games:
            changes[name]["match"] = match_change(net, dictionary, e, d, cfg, name)
    return {
        "clean": clean_levels(ev, clean),
        "effect": changes["steered"],
        "controls": {
            "random_latents": {"latents": others, **changes["random_latents"]},
            "random_direction": changes["random_direction"],
        },
        "positions": {
            "concept": int(ev.holds.sum()),
            "no_concept": int((~ev.holds).sum()),
            "solved_concept": int(ev.holds[ev.solved_at].sum()),
            "solved_no_concept": int((~ev.holds[ev.solved_at]).sum()),
        },
        "interval": "95% paired percentile bootstrap over positions "
        f"({cfg.resamples} resamples); match: Wilson score interval",
    }
