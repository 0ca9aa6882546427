"""`python -m sae.steering`: steer a dictionary's latents in the agent and measure the effect
beside its two controls, or sweep the dose (see sae.steering.effect and sae.steering.dose).

    python -m sae.steering runs/sae_agent/topk_k32_n1024/dictionary.json \\
        --store data/acts/agent --concepts threat_defensive@b2,threat_defensive@e5 \\
        --top-n 1 --op scale --value 10 [--json -]
    python -m sae.steering DICT --store STORE --concepts ... --sweep --plot docs/steer_dose.png

Latents: the top --top-n of each concept by AUC (a concepts report with --report, else
computed on held-out half A), or --latents 12,40. Ops on each latent f_i: scale (f_i -> v
f_i), clamp (f_i -> v), zero, add (f_i -> f_i + v); the error term is kept. The agent is the
store's (its hash checked against the store and the dictionary) unless --checkpoint names
it. The same edit in a game: python play.py --p1 'az:CKPT:64+steer:DICT:12,40:scale:5'.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from alphazero.model import load_agent
from common import cli
from common.io import CheckpointError, atomic_write_json, bundle_paths, read_json
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.labels import UnknownConcept
from sae.concepts.report import ReportError, report_of
from sae.steering.dose import STRENGTHS, TOP_NS, format_sweep, plot_sweep, sweep
from sae.steering.edit import OPS, Edit, SteeringError, agent_sha256, load_for_agent, parse_latents
from sae.steering.effect import METRICS, SPLITS, EffectConfig, rank_latents, run_effect, sample_eval


def config_from_args(cls, args, prefix: str = "", **given):
    """A config dataclass filled from the parsed arguments named prefix + field (the other
    fields keep their defaults unless `given`)."""
    names = {f.name for f in fields(cls)} - set(given)
    found = {k.removeprefix(prefix): v for k, v in vars(args).items() if k.startswith(prefix)}
    return cls(**{k: v for k, v in found.items() if k in names}, **given)


def _numbers(text: str, kind=float) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    ap = cli.parser(
        prog="python -m sae.steering",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("dictionary", help="dictionary bundle (.json / .safetensors / stem)")
    ap.add_argument("--store", required=True, help="activation store of the agent")
    ap.add_argument(
        "--concepts", required=True, help="comma-separated concept names (threat_defensive@b2,..)"
    )
    ap.add_argument("--top-n", type=int, default=5, help="latents per concept (default 5)")
    ap.add_argument("--latents", help="explicit latent ids instead (12,40 or 3-5)")
    ap.add_argument("--op", default="scale", help=f"one of {', '.join(OPS)} (default scale)")
    ap.add_argument("--value", type=float, default=10.0, help="the op's value (default 10)")
    ap.add_argument("--sweep", action="store_true", help="dose-response sweep instead")
    ap.add_argument(
        "--strengths", type=_numbers, default=STRENGTHS, help="sweep values (default 0..50)"
    )
    ap.add_argument(
        "--top-ns", type=lambda t: _numbers(t, int), default=TOP_NS, help="sweep n (1,5,10)"
    )
    ap.add_argument(
        "--plot", type=cli.out_file, help="sweep plot PNG (default: beside the dictionary)"
    )
    ap.add_argument("--report", help="concepts report to rank latents by (sae.concepts.report)")
    ap.add_argument("--checkpoint", help="the agent (default: the one the store records)")
    defaults = EffectConfig()
    ap.add_argument("--positions", type=int, default=defaults.positions)
    ap.add_argument("--solver-positions", type=int, default=defaults.solver_positions)
    ap.add_argument("--games", type=int, default=defaults.games, help="match games (0: none)")
    ap.add_argument("--match-sims", type=int, default=defaults.match_sims)
    ap.add_argument(
        "--sims", type=int, default=defaults.sims, help="MCTS behind measured moves (0: raw)"
    )
    ap.add_argument("--resamples", type=int, default=defaults.resamples)
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--device", type=cli.device, default="cpu")
    ap.add_argument(
        "--json", type=cli.out_file, metavar="PATH", help="write the result as JSON ('-': stdout)"
    )
    return ap


def _check_args(ap, args) -> None:
    if args.op not in OPS:
        ap.error(f"unknown op {args.op!r}; valid ops: {', '.join(OPS)}")
    if not math.isfinite(args.value):
        ap.error(f"--value must be finite, got {args.value}")
    for name in ("top_n", "positions", "solver_positions", "resamples"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(args.games, args.match_sims, args.sims) < 0:
        ap.error("--games, --match-sims and --sims must be >= 0")
    if min(args.top_ns) < 1:
        ap.error("--top-ns must be positive")
    if args.latents:
        try:
            parse_latents(args.latents)
        except SteeringError as e:
            ap.error(f"--latents: {e}")
    if args.sweep:
        plot = args.plot or Path(bundle_paths(args.dictionary)[1]).parent / "steer_dose.png"
        cli.check_out_file(plot, "--plot" if args.plot else "the plot beside the dictionary")


def load_inputs(args):
    """(store, net, dictionary), every agent hash checked."""
    store = ActivationStore(args.store)
    recorded = store.manifest.get("checkpoint") or {}
    checkpoint = args.checkpoint or recorded.get("path")
    if not checkpoint or not bundle_paths(checkpoint)[0].exists():
        raise SteeringError(f"agent checkpoint {checkpoint!r} not found: pass --checkpoint")
    sha = agent_sha256(checkpoint)
    if recorded.get("sha256") and recorded["sha256"] != sha:
        raise SteeringError(f"{checkpoint} is not the agent {store.root} was collected with")
    net, _ = load_agent(checkpoint, device=args.device)
    dictionary = load_for_agent(args.dictionary, net, checkpoint, args.device)
    if dictionary.cfg.in_site not in store.sites:
        raise SteeringError(f"{store.root} has no activations at {dictionary.cfg.in_site}")
    return store, net, dictionary


def _cell(stat) -> str:
    if stat is None or stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:+.3f} [{stat['low']:+.3f}, {stat['high']:+.3f}]"


def format_effect(result: dict) -> str:
    metrics = [m for m in METRICS if m in result["clean"]["concept"]]
    lines = [f"{'':<18}{'positions':<12}" + "".join(f"{m:>28}" for m in metrics) + f"{'match':>28}"]
    for split in SPLITS:
        level = result["clean"][split]
        lines.append(
            f"{'clean':<18}{split:<12}"
            + "".join(f"{'-' if level[m] is None else f'{level[m]:.3f}':>28}" for m in metrics)
        )
    rows = {"steered": result["effect"], **result["controls"]}
    for name, change in rows.items():
        for split in SPLITS:
            match = _cell(change.get("match")) if split == "concept" else ""
            lines.append(
                f"{name:<18}{split:<12}"
                + "".join(f"{_cell(change[split][m]):>28}" for m in metrics)
                + f"{match:>28}"
            )
    return "\n".join(lines)


@cli.command
def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    _check_args(ap, args)
    names = [c.strip() for c in args.concepts.split(",") if c.strip()]
    cfg = config_from_args(EffectConfig, args, progress=args.json != "-")
    torch.manual_seed(args.seed)
    try:
        store, net, dictionary = load_inputs(args)
        top = max(args.top_ns) if args.sweep else args.top_n
        report = None
        if args.report:
            config = read_json(bundle_paths(args.dictionary)[1], "dictionary config")
            report = report_of(args.report, args.dictionary, config)
        ranked, live = rank_latents(dictionary, store, names, top, cfg, report)
        ev = sample_eval(store, names, cfg)
        setup = {
            "dictionary": str(args.dictionary),
            "site": dictionary.cfg.out_site,
            "store": str(store.root),
            "concepts": names,
            "ranked_latents": ranked,
            "op": args.op,
            "config": vars(cfg),
        }
        if args.sweep:
            rows = sweep(
                net, dictionary, ev, ranked, live, args.op, args.strengths, args.top_ns, cfg
            )
            result = {"kind": "steering_sweep", **setup, "rows": rows}
            plot = Path(args.plot or bundle_paths(args.dictionary)[1].parent / "steer_dose.png")
            title = f"{', '.join(names)}: op {args.op}, {len(ev.me)} held-out positions"
            plot_sweep(rows, plot, title)
            text = format_sweep(rows) + f"\nplot: {plot}"
        else:
            latents = parse_latents(args.latents) if args.latents else None
            latents = latents or tuple(i for r in ranked.values() for i in r[: args.top_n])
            edits = [Edit(tuple(dict.fromkeys(latents)), args.op, args.value)]
            effect = run_effect(net, dictionary, ev, edits, live, cfg)
            result = {"kind": "steering_effect", **setup, "latents": edits[0].latents, **effect}
            result["value"] = args.value
            text = format_effect(result)
    except (
        SteeringError,
        StoreError,
        CheckpointError,
        UnknownConcept,
        ReportError,
        IndexError,
    ) as e:
        sys.exit(f"error: {e}")
    if args.json == "-":
        print(json.dumps(result, default=_jsonable))
        return 0
    print(text)
    if args.json:
        atomic_write_json(args.json, json.loads(json.dumps(result, default=_jsonable)))
    return 0


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (tuple, np.ndarray)):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")
