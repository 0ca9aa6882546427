"""Fidelity of a transcoder set, printed as tables and written as JSON and a heatmap PNG.

    python -m transcoder.evaluate runs/transcoders
    python -m transcoder.evaluate runs/transcoders --levels runs/transcoders_levels/iter_0002,...

What is measured is described in transcoder/fidelity.py. The store and the agent default to
the ones the set records (the data it was trained on and the checkpoint that produced it).
`--levels` names more transcoder sets, one per skill level (each trained on its own agent's
activations); each adds a row to the heatmap of top-1 agreement by game phase, measured on
held-out positions of its own store. Output: FOLDER/fidelity.json and
FOLDER/fidelity_phase.png unless --json / --heatmap say otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alphazero.model import load_agent
from common import cli
from common.io import CheckpointError, atomic_write_json
from sae.activations.collect import file_hash
from sae.activations.store import ActivationStore
from sae.dictionary.evaluate import format_table
from sae.dictionary.metrics import multi_spliced_win_rate
from transcoder.fidelity import (
    heldout_positions,
    layer_fidelity,
    phase_agreement,
    solver_fidelity,
    splices,
)
from transcoder.plots import plot_phase_heatmap
from transcoder.set import TranscoderSet, load_transcoder_set


def _open(folder: str, store_path: str | None, checkpoint: str | None, device: str):
    """(set, net, agent config, store) with the set's recorded store and agent by default."""
    tset = load_transcoder_set(folder, device)
    store_path = store_path or (tset.config.get("store") or {}).get("path")
    checkpoint = checkpoint or tset.agent_path
    if not store_path or not checkpoint:
        raise CheckpointError(f"{folder} records no store or agent: pass --store / --checkpoint")
    net, agent = load_agent(checkpoint, device)
    tset.check_net(net)
    recorded = (tset.config.get("agent") or {}).get("sha256")
    if recorded and recorded != file_hash(Path(checkpoint).with_suffix(".safetensors")):
        print(f"note: {checkpoint} is not the agent {folder} was trained on ({recorded})")
    return tset, net, agent, ActivationStore(store_path)


def _label(tset: TranscoderSet, agent: dict) -> str:
    """Row name: the agent (with its training iteration) and the transcoders' width."""
    name = Path(tset.agent_path).with_suffix("").name
    it = agent.get("iteration")
    if it is not None and str(it) not in name:
        name += f" (iteration {it})"
    return f"{name}, {tset.layers[0].cfg.n_latents} latents"


def _phase_rows(main, levels: list[str], args) -> list[dict]:
    """phase_agreement rows with a "label", for the main set and every --levels set, in
    order of training iteration (a list: the JSON keeps the order)."""
    rows = []
    for tset, net, agent, store in [main] + [_open(f, None, None, args.device) for f in levels]:
        me, opp = heldout_positions(store, args.positions, args.seed)
        result = phase_agreement(net, splices(tset), me, opp)
        rows.append((agent.get("iteration", 1 << 30), _label(tset, agent), result))
    return [{"label": label, **result} for _, label, result in sorted(rows, key=lambda r: r[0])]


def print_report(report: dict) -> None:
    print("\nPer block (that MLP replaced) and all blocks replaced at once, held-out positions;")
    print("scores are 1 - replaced / mean-ablated (KL, 1 - top-1, value MSE)")
    print(format_table(report["layers"]))
    solver = report.get("solver")
    if solver:
        n = solver["original"]["positions"]
        print(f"\nRaw policy against the exact solver ({n} positions, 10-14 empties)")
        print(f"{'net':<10}{'keeps outcome [95%]':>23}{'exact best':>12}{'discs lost':>12}")
        for name in ("original", "replaced"):
            r = solver[name]
            lo, hi = r["outcome_accuracy_95"]
            keeps = f"{r['outcome_accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"
            print(f"{name:<10}{keeps:>23}{r['exact_accuracy']:>12.3f}{r['discs_lost']:>12.3f}")
        print(f"same move as the original: {solver['same_move']:.3f}")
    match = report.get("match")
    if match:
        print(
            f"\nFully replaced agent vs original ({match['games']} games, "
            f"{match['simulations']} simulations): score {match['win_rate']:.3f}"
        )
    for r in report["phase"]:
        cells = "  ".join(
            f"{b}: {a:.3f}" for b, a in zip(r["bins"], r["agreement"], strict=True) if a == a
        )
        print(f"top-1 agreement, {r['label']}: {cells}  (all {r['overall']:.3f})")


@cli.command
def main(argv: list[str] | None = None) -> dict:
    ap = cli.parser(prog="python -m transcoder.evaluate", description=__doc__)
    ap.add_argument("folder", help="transcoder set (what train_transcoder.py --all-layers writes)")
    ap.add_argument("--store", help="activation store (default: the one the set was trained on)")
    ap.add_argument("--checkpoint", help="agent checkpoint (default: the one the set records)")
    ap.add_argument(
        "--positions", type=int, default=8192, help="held-out positions for the spliced metrics"
    )
    ap.add_argument("--solver-positions", type=int, default=2000, help="solved positions (0: skip)")
    ap.add_argument("--games", type=int, default=200, help="replaced vs original games (0: skip)")
    ap.add_argument("--simulations", type=int, default=0, help="MCTS simulations in that match")
    ap.add_argument("--levels", default="", help="comma-separated transcoder sets of skill levels")
    ap.add_argument(
        "--json", type=cli.out_file, help="write the report here (default FOLDER/fidelity.json)"
    )
    ap.add_argument(
        "--heatmap", type=cli.out_file, help="heatmap PNG (default FOLDER/fidelity_phase.png)"
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--device", type=cli.device, default="cpu", help="torch device (cpu, ...)")
    args = ap.parse_args(argv)
    if args.positions < 1 or min(args.solver_positions, args.games, args.simulations) < 0:
        ap.error("--positions must be positive; --solver-positions, --games, --simulations >= 0")
    levels = [f.strip() for f in args.levels.split(",") if f.strip()]
    folder = Path(args.folder)
    cli.check_out_file(args.json or folder / "fidelity.json", "--json")
    cli.check_out_file(args.heatmap or folder / "fidelity_phase.png", "--heatmap")
    try:
        main_set = _open(args.folder, args.store, args.checkpoint, args.device)
        tset, net, agent, store = main_set
        report = _report(tset, net, store, args)
        report["phase"] = _phase_rows(main_set, levels, args)
    except (ValueError, FileNotFoundError) as e:  # CheckpointError, StoreError, missing sites
        sys.exit(f"error: {e}")
    heatmap = Path(args.heatmap or folder / "fidelity_phase.png")
    title = (
        "Top-1 agreement of the net with every MLP replaced by its transcoder and the original"
        f"\n({args.positions} held-out positions of each row's agent's own games)"
    )
    report["heatmap"] = str(plot_phase_heatmap(report["phase"], heatmap, title))
    atomic_write_json(args.json or folder / "fidelity.json", report)
    print_report(report)
    print(f"\nwrote {args.json or folder / 'fidelity.json'} and {heatmap}")
    return report


def _report(tset: TranscoderSet, net, store: ActivationStore, args) -> dict:
    me, opp = heldout_positions(store, args.positions, args.seed)
    report = {
        "schema_version": 1,
        "kind": "transcoder_fidelity",
        "set": str(tset.folder),
        "agent": tset.config.get("agent"),
        "store": {"path": str(store.root), "hash": store.hash},
        "positions": len(me),
        "layers": layer_fidelity(tset, store, net, me, opp),
    }
    replace = splices(tset)
    if args.solver_positions:
        report["solver"] = solver_fidelity(net, replace, args.solver_positions, args.seed)
    if args.games:
        match = multi_spliced_win_rate(
            net, replace, args.games, args.simulations, args.seed, progress=True
        )
        report["match"] = {**match, "simulations": args.simulations}
    return report


if __name__ == "__main__":
    main()
