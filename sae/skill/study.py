"""Skill adaptation, scored by the exact solver: awareness vs externalisation of threats
across skill levels, transition points, and calibration of a weak checkpoint.

    python -m sae.skill --store data/acts/agent          # ~10 minutes on 2 cores

Skill axis (`sae.skill.levels`): every checkpoint (pretrained/levels/* and the final agent)
at every MCTS budget of --sims, ordered by the rate of exact-best moves on the study's
solved positions (the solver's measure). On the SAME held-out positions of the store:

  awareness        per checkpoint and block, probe accuracy and best-latent AUC of the
                   threat and stability concepts (`sae.skill.awareness`; one small SAE per
                   checkpoint and block, trained by the one engine, kept under --out)
  externalisation  per level, on threat positions (an optimal move resolves a threat),
                   how often it plays an optimal resolving move
  transition point per position, the lowest level from which every stronger level plays
                   an exact-best move; its distribution, clean and with every level's net
                   steered (its own block --steer-block SAE, top --steer-top-n latents of
                   each threat_defensive square by AUC, --steer-op / --steer-value)
  calibration      the weak checkpoint (--weak), raw policy, before and after (a) policy-
                   head fine-tuning toward the solver's optimal moves on threat positions
                   (`sae.skill.calibrate`) and (b) steering its threat latents, with the same
                   edit on random latents as control; awareness, externalisation, outcome
                   accuracy and discs lost

Writes OUT/skill.json (atomic) and two plots (--plot-prefix: PREFIX_adaptation.png,
PREFIX_transition.png); prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from alphazero.evaluate import solve_all
from alphazero.model import load_agent
from common import cli
from common.io import CheckpointError, atomic_write_json
from othello import batch
from othello.game import Position
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.labels import load_labels
from sae.probes.report import fit_probe
from sae.skill.awareness import (
    FAMILIES,
    AwarenessConfig,
    best_latent_auc,
    family_means,
    site_acts,
    sites_of,
    train_dictionaries,
)
from sae.skill.calibrate import FinetuneConfig, finetune_head, threat_training_set
from sae.skill.levels import (
    NEVER,
    Level,
    checkpoints,
    distribution,
    optimal_actions,
    play_level,
    score_level,
    skill_order,
    threat_targets,
    transition_points,
)
from sae.skill.plots import plot_adaptation, plot_transition
from sae.steering.cli import config_from_args
from sae.steering.edit import (
    OPS,
    Edit,
    SteeredEvaluator,
    SteeringError,
    random_latents,
    steering_hooks,
)
from sae.steering.effect import heldout_halves, rank_by_auc, top_latents

CONCEPT_FAMILIES = [f for group in FAMILIES.values() for f in group]


@dataclass
class SkillConfig:
    positions: int = 600  # solved held-out positions every level plays
    awareness_positions: int = 4000  # held-out positions (all phases) for probes and AUC
    sims: tuple[int, ...] = (0, 16, 64, 256)
    max_empties: int = 14
    levels_dir: str = "pretrained/levels"  # the earlier checkpoints
    final: str = "pretrained/agent"
    weak: str = "pretrained/levels/iter_0002"
    steer_block: int = 2
    steer_top_n: int = 1
    steer_op: str = "scale"
    steer_value: float = 5.0  # scale: the middle of the dose-response range
    seed: int = 0
    progress: bool = True
    awareness: AwarenessConfig = field(default_factory=AwarenessConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


# -- positions ----------------------------------------------------------------------------------
def study_positions(store, cfg: SkillConfig):
    """(solved positions, awareness rows split (even games, odd games)) from half B / A."""
    n = store.board_size
    rng = np.random.default_rng(cfg.seed)
    half_a, half_b = heldout_halves(store)
    rows = rng.permutation(half_b)
    me, opp = store.read("me", rows), store.read("opp", rows)
    empties = n * n - batch.popcount(me | opp)
    ok = (empties <= cfg.max_empties) & (batch.legal_action_mask(me, opp, n).sum(1) > 1)
    at = np.flatnonzero(ok)[: cfg.positions]
    black = store.read("black_to_move", rows[at])
    positions = [
        Position(int(me[i]), int(opp[i]), bool(b), n) for i, b in zip(at, black, strict=True)
    ]
    solved = solve_all(positions, progress=cfg.progress)
    aware = np.sort(rng.permutation(np.concatenate([half_a, half_b]))[: cfg.awareness_positions])
    odd = store.read("game", aware) % 2 == 1
    return solved, aware[~odd], aware[odd]


# -- awareness ---------------------------------------------------------------------------------
def probe_means(train_x, train_labels, test_x, test_labels) -> dict[str, float]:
    """Family means of the held-out balanced accuracy of linear probes (`sae.probes.report`; one
    probe per concept, concepts with too few positives left out)."""
    result = fit_probe(train_x, train_labels.matrix, test_x, test_labels.matrix)
    return family_means(result.balanced_accuracy, test_labels)


def awareness(net, dictionaries, store, rows_fit, rows_test, hooks=None) -> dict:
    """{site: {"auc": {group: ...}, "probe": {group: ...}}} (hooks on, e.g. steering)."""
    out = {}
    labels = {}
    acts = {}
    for key, rows in (("fit", rows_fit), ("test", rows_test)):
        labels[key] = load_labels(store, rows, progress=False).select(CONCEPT_FAMILIES)
        me, opp = store.read("me", rows), store.read("opp", rows)
        acts[key] = site_acts(net, me, opp, sites_of(net), hooks)
    for site in sites_of(net):
        auc = best_latent_auc(dictionaries[site], acts["test"][site], labels["test"])
        out[site] = {"auc": family_means(auc, labels["test"])}
        out[site]["probe"] = probe_means(
            acts["fit"][site], labels["fit"], acts["test"][site], labels["test"]
        )
    return out


def threat_edit(net, dictionary, store, rows, cfg: SkillConfig) -> tuple[list[Edit], list[int]]:
    """(the steering edit on the checkpoint's top threat_defensive latents, latents live
    on `rows`)."""
    site = dictionary.cfg.in_site
    me, opp = store.read("me", rows), store.read("opp", rows)
    x = torch.from_numpy(site_acts(net, me, opp, [site])[site])
    with torch.no_grad():
        f = dictionary.encode(x).numpy()
    labels = load_labels(store, rows, progress=False).select("threat_defensive")
    keep = [j for j in range(len(labels.names)) if 0 < labels.matrix[:, j].sum() < len(rows)]
    ranked = rank_by_auc(f, labels.select([labels.names[j] for j in keep]), cfg.steer_top_n)
    latents = top_latents(ranked, cfg.steer_top_n)
    return [Edit(tuple(latents), cfg.steer_op, cfg.steer_value)], np.flatnonzero((f > 0).any(0))


# -- the study ------------------------------------------------------------------------------------
def run(store, cfg: SkillConfig, out_dir: Path) -> dict:
    n = store.board_size
    solved, rows_fit, rows_test = study_positions(store, cfg)
    threat, targets = threat_targets(solved, n)
    optimal = optimal_actions(solved, n)
    positions = [s.position for s in solved]
    stems = checkpoints(cfg.levels_dir, cfg.final)
    if cfg.weak not in stems:
        raise SteeringError(f"--weak {cfg.weak} is not one of the checkpoints {stems}")
    boards = np.sort(
        np.random.default_rng(cfg.seed).permutation(store.rows("train"))[
            : cfg.awareness.train_positions
        ]
    )
    me_train, opp_train = store.read("me", boards), store.read("opp", boards)
    levels = [Level(c, s) for c in stems for s in cfg.sims]
    scores, steered_scores, actions, steered_actions, aware, per_ckpt = {}, {}, {}, {}, {}, {}
    for stem in tqdm(stems, desc="checkpoints", disable=not cfg.progress):
        net, _ = load_agent(stem)
        if not 0 <= cfg.steer_block < net.cfg.n_blocks:
            raise SteeringError(
                f"--steer-block {cfg.steer_block}: {stem} has blocks 0..{net.cfg.n_blocks - 1}"
            )
        folder = out_dir / "dictionaries" / Path(stem).name
        dicts = train_dictionaries(net, stem, me_train, opp_train, cfg.awareness, folder)
        aware[stem] = awareness(net, dicts, store, rows_fit, rows_test)
        steer_dict = dicts[f"blocks.{cfg.steer_block}.resid_post"]
        edit, live = threat_edit(net, steer_dict, store, rows_fit, cfg)
        per_ckpt[stem] = {"edits": edit, "live": live, "dicts": dicts, "net": net}
        evaluator = SteeredEvaluator(net, steer_dict, edit)
        for lv in (lv for lv in levels if lv.checkpoint == stem):
            actions[lv.name] = play_level(net, positions, lv.sims)
            scores[lv.name] = score_level(solved, actions[lv.name], threat, targets)
            steered_actions[lv.name] = play_level(net, positions, lv.sims, evaluator)
            steered_scores[lv.name] = score_level(solved, steered_actions[lv.name], threat, targets)
    order = skill_order(levels, scores)
    rows = np.arange(len(solved))

    def points(chosen):
        correct = np.stack([optimal[rows, chosen[lv.name]] for lv in order])
        return transition_points(correct)

    clean_points, steered_points = points(actions), points(steered_actions)
    weak = per_ckpt[cfg.weak]
    calibration = calibrate(store, cfg, solved, threat, targets, rows_fit, rows_test, weak, aware)
    return {
        "kind": "skill_study",
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "positions": {"solved": len(solved), "threat": int(threat.sum())},
        "awareness_positions": {"fit": len(rows_fit), "test": len(rows_test)},
        "order": [lv.name for lv in order],
        "levels": {lv.name: {"checkpoint": lv.checkpoint, "sims": lv.sims} for lv in levels},
        "scores": scores,
        "steered_scores": steered_scores,
        "awareness": aware,
        "steering": {
            stem: {"latents": list(e["edits"][0].latents), "op": cfg.steer_op}
            for stem, e in per_ckpt.items()
        },
        "transition": {
            "clean": distribution(clean_points, order),
            "steered": distribution(steered_points, order),
            "moved": moved(clean_points, steered_points, len(order)),
        },
        "calibration": calibration,
    }


def calibrate(store, cfg, solved, threat, targets, rows_fit, rows_test, weak, aware) -> dict:
    """Before / after table of the weak checkpoint's raw policy (module docstring). The
    fine-tuned head leaves the trunk as it was, so its awareness is the weak one's."""
    net, edit = weak["net"], weak["edits"]
    steer_dict = weak["dicts"][f"blocks.{cfg.steer_block}.resid_post"]
    train_set, games = threat_training_set(store, cfg.finetune)
    if len(np.unique(games)) < 2:
        raise SteeringError(
            f"{store.root}: {len(train_set)} threat positions in {len(np.unique(games))} "
            f"training game(s); fine-tuning needs threat positions of at least 2 games"
        )
    tuned, info = finetune_head(net, train_set, games, cfg.finetune)
    others = random_latents(weak["live"], edit[0].latents, len(edit[0].latents), cfg.seed)
    control = [Edit(tuple(others), edit[0].op, edit[0].value)]
    rows = {}
    for name, model, edits in (
        ("weak (before)", net, None),
        ("(a) head fine-tuned", tuned, None),
        ("(b) steered", net, edit),
        ("(b) control: random latents", net, control),
    ):
        evaluator = SteeredEvaluator(net, steer_dict, edits) if edits else None
        chosen = play_level(model, [s.position for s in solved], 0, evaluator)
        row = score_level(solved, chosen, threat, targets)
        if edits:
            hooks = steering_hooks(steer_dict, edits)
            row["awareness"] = awareness(net, weak["dicts"], store, rows_fit, rows_test, hooks)
        else:
            row["awareness"] = aware[cfg.weak]
        rows[name] = row
    return {"finetune": info, "control_latents": others, "rows": rows}


def moved(clean: np.ndarray, steered: np.ndarray, levels: int) -> dict[str, int]:
    """How many transition points steering moved to a weaker / stronger level ("never"
    counts as beyond the strongest)."""
    c = np.where(clean == NEVER, levels, clean)
    s = np.where(steered == NEVER, levels, steered)
    return {"earlier": int((s < c).sum()), "later": int((s > c).sum()), "same": int((s == c).sum())}


# -- output -------------------------------------------------------------------------------------
def _ci(rate, interval) -> str:
    if rate is None or rate != rate:
        return "-"
    return f"{rate:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def format_tables(result: dict) -> str:
    lines = [
        f"Levels, weakest to strongest by exact-best moves ({result['positions']['solved']} solved "
        f"positions, {result['positions']['threat']} threat positions)",
        f"{'level':<18}{'exact best':>11}{'keeps outcome':>15}{'discs lost':>12}"
        f"{'externalisation [95%]':>26}{'steered ext.':>14}{'steered lost':>14}",
    ]
    for name in result["order"]:
        r, s = result["scores"][name], result["steered_scores"][name]
        lines.append(
            f"{name:<18}{r['exact_accuracy']:>11.3f}{r['outcome_accuracy']:>15.3f}"
            f"{r['discs_lost']:>12.3f}{_ci(r['externalisation'], r['externalisation_95']):>26}"
            f"{s['externalisation']:>14.3f}{s['discs_lost']:>14.3f}"
        )
    lines += ["", "Awareness (held-out balanced accuracy of probes / best-latent AUC)"]
    groups = list(FAMILIES)
    lines.append(
        f"{'checkpoint':<14}{'site':<22}"
        + "".join(f"{g + ' probe':>17}{g + ' AUC':>15}" for g in groups)
    )
    for stem, sites in result["awareness"].items():
        for site, a in sites.items():
            lines.append(
                f"{Path(stem).name:<14}{site:<22}"
                + "".join(f"{a['probe'][g]:>17.3f}{a['auc'][g]:>15.3f}" for g in groups)
            )
    lines += ["", "Transition points (positions per level; 'never' = the strongest errs)"]
    t = result["transition"]
    lines.append(f"{'level':<18}{'clean':>8}{'steered':>9}")
    for name in [*result["order"], "never"]:
        lines.append(f"{name:<18}{t['clean'][name]:>8}{t['steered'][name]:>9}")
    lines.append(f"steering moved {t['moved']}")
    lines += ["", "Calibration of the weak checkpoint (raw policy; awareness at the steered block)"]
    c = result["calibration"]
    site = f"blocks.{result['config']['steer_block']}.resid_post"
    lines.append(
        f"{'':<30}{'externalisation [95%]':>26}{'keeps outcome':>15}{'discs lost':>12}"
        f"{'threat probe':>14}{'threat AUC':>12}"
    )
    for name, r in c["rows"].items():
        a = r["awareness"][site]
        lines.append(
            f"{name:<30}{_ci(r['externalisation'], r['externalisation_95']):>26}"
            f"{r['outcome_accuracy']:>15.3f}{r['discs_lost']:>12.3f}"
            f"{a['probe']['threat']:>14.3f}{a['auc']['threat']:>12.3f}"
        )
    f = c["finetune"]
    lines.append(
        f"(a) {f['train_positions']} train / {f['val_positions']} validation threat positions, "
        f"stopped after epoch {f['epochs']}"
    )
    return "\n".join(lines)


def _numbers(text: str) -> tuple:
    try:
        return tuple(cli.parse_int(v, 0, 1 << 20) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0,16,64, got {text!r}") from None


@cli.command
def main(argv: list[str] | None = None) -> int:
    ap = cli.parser(
        prog="python -m sae.skill",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
    )
    d = SkillConfig()
    ap.add_argument("--store", default="data/acts/agent", help="activation store (positions)")
    ap.add_argument("--positions", type=cli.count(1), default=d.positions)
    ap.add_argument("--awareness-positions", type=cli.count(2), default=d.awareness_positions)
    ap.add_argument("--sims", type=_numbers, default=d.sims, help="budgets (default 0,16,64,256)")
    ap.add_argument("--levels-dir", default=d.levels_dir, help="earlier checkpoints (*.json)")
    ap.add_argument("--agent", dest="final", metavar="AGENT", default=d.final, help="final agent")
    ap.add_argument("--weak", default=d.weak, help="checkpoint calibrated (default iter_0002)")
    ap.add_argument("--steer-block", type=int, default=d.steer_block)
    ap.add_argument("--steer-top-n", type=cli.count(1), default=d.steer_top_n)
    ap.add_argument("--steer-op", default=d.steer_op, help=f"one of {', '.join(OPS)}")
    ap.add_argument("--steer-value", type=float, default=d.steer_value)
    ap.add_argument("--sae-steps", type=cli.count(1), default=d.awareness.steps)
    ap.add_argument(
        "--sae-latents",
        dest="sae_n_latents",
        metavar="N",
        type=cli.count(d.awareness.k),
        default=d.awareness.n_latents,
        help=f"latents of each awareness SAE (at least its k, {d.awareness.k})",
    )
    ap.add_argument(
        "--sae-positions",
        dest="sae_train_positions",
        metavar="N",
        type=cli.count(1),
        default=d.awareness.train_positions,
    )
    ap.add_argument("--finetune-positions", type=cli.count(2), default=d.finetune.positions)
    ap.add_argument("--finetune-lr", type=cli.finite, default=d.finetune.lr)
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument(
        "--out", type=cli.out_dir, default="runs/skill", help="folder for skill.json and the SAEs"
    )
    ap.add_argument("--plot-prefix", default="docs/skill", help="PREFIX_adaptation.png, ...")
    ap.add_argument(
        "--json", type=cli.out_file, metavar="PATH", help="also write the result here ('-': stdout)"
    )
    args = ap.parse_args(argv)
    if args.steer_op not in OPS:
        ap.error(f"unknown op {args.steer_op!r}; valid ops: {', '.join(OPS)}")
    if not np.isfinite(args.steer_value):
        ap.error("--steer-value must be finite")
    if min(args.positions, args.awareness_positions, args.steer_top_n, args.sae_steps) < 1:
        ap.error("sizes must be positive")
    if not args.finetune_lr > 0:
        ap.error("--finetune-lr must be positive")
    if not args.sims or min(args.sims) < 0:
        ap.error("--sims must be non-negative integers")
    for suffix in ("adaptation", "transition"):
        cli.check_out_file(f"{args.plot_prefix}_{suffix}.png", "--plot-prefix")
    if not Path(f"{args.final}.json").exists():
        ap.error(f"--agent {args.final}: no checkpoint {args.final}.json")
    if not Path(args.levels_dir).is_dir():
        ap.error(f"--levels-dir {args.levels_dir} is not a folder of checkpoints")
    progress, seed = args.json != "-", args.seed
    cfg = config_from_args(
        SkillConfig,
        args,
        progress=progress,
        awareness=config_from_args(AwarenessConfig, args, "sae_", progress=progress, seed=seed),
        finetune=config_from_args(FinetuneConfig, args, "finetune_", progress=progress, seed=seed),
    )
    torch.manual_seed(args.seed)
    try:
        store = ActivationStore(args.store)
        result = run(store, cfg, Path(args.out))
    except (SteeringError, StoreError, CheckpointError) as e:
        sys.exit(f"error: {e}")
    atomic_write_json(Path(args.out) / "skill.json", result)
    plot_adaptation(result, f"{args.plot_prefix}_adaptation.png")
    plot_transition(result, f"{args.plot_prefix}_transition.png")
    if args.json == "-":
        print(json.dumps(result))
        return 0
    if args.json:
        atomic_write_json(args.json, result)
    print(format_tables(result))
    print(f"wrote {Path(args.out) / 'skill.json'} and {args.plot_prefix}_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
