"""Print the held-out metrics of one or more trained dictionaries as a table.

    python -m sae.dictionary.evaluate runs/sae/topk_k32_n1024/dictionary.json [more ...] \
        [--json out.json]

The store and the agent default to the ones recorded in the dictionary's config (the data it
was trained on and the checkpoint that produced it); metrics use the store's held-out games.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alphazero.model import load_agent
from common import cli
from common.io import CheckpointError, atomic_write_json, resolve_recorded
from sae.activations.store import ActivationStore, StoreError
from sae.dictionary.metrics import evaluate
from sae.dictionary.model import load_dictionary

COLUMNS = [
    ("l0", "L0", "{:.1f}"),
    ("fvu", "FVU", "{:.4f}"),
    ("explained_variance", "EV", "{:.4f}"),
    ("mse", "MSE", "{:.4f}"),
    ("nmse", "NMSE", "{:.4f}"),
    ("cosine", "cos", "{:.4f}"),
    ("dead_fraction", "dead", "{:.3f}"),
    ("dense_fraction", "dense", "{:.3f}"),
    ("kl", "KL", "{:.4f}"),
    ("kl_score", "KL score", "{:.3f}"),
    ("agreement", "top-1", "{:.3f}"),
    ("agreement_score", "top-1 score", "{:.3f}"),
    ("value_mse", "value MSE", "{:.4f}"),
    ("value_mse_score", "value score", "{:.3f}"),
    ("win_rate", "win rate", "{:.3f}"),
]


def format_table(results: dict[str, dict]) -> str:
    """One row per dictionary (name -> metrics), columns as in COLUMNS where present."""
    cols = [c for c in COLUMNS if any(c[0] in m for m in results.values())]
    header = ["dictionary"] + [c[1] for c in cols]
    rows = [
        [name] + [fmt.format(m[k]) if k in m else "-" for k, _, fmt in cols]
        for name, m in results.items()
    ]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(prog="python -m sae.dictionary.evaluate", description=__doc__)
    ap.add_argument("dictionaries", nargs="+", help="dictionary checkpoints (.json stems)")
    ap.add_argument("--store", help="activation store (default: the one it was trained on)")
    ap.add_argument("--checkpoint", help="agent checkpoint (default: the store's)")
    ap.add_argument(
        "--positions", type=int, default=8192, help="held-out positions for the spliced metrics"
    )
    ap.add_argument(
        "--games", type=int, default=64, help="games of spliced vs clean agent (0: skip)"
    )
    ap.add_argument(
        "--simulations", type=int, default=0, help="MCTS simulations in that match (0: raw policy)"
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--json", type=cli.out_file, help="also write all metrics to this JSON file")
    args = ap.parse_args(argv)
    if args.positions < 1 or args.games < 0 or args.simulations < 0:
        ap.error("--positions must be positive; --games and --simulations >= 0")
    results = {}
    try:
        for path in args.dictionaries:
            dictionary, config = load_dictionary(path)
            recorded = (config.get("data") or {}).get("store")
            if not (args.store or recorded):
                ap.error(f"{path} records no activation store: pass --store")
            # a recorded path is absolute, or (older dictionaries) relative to the dictionary
            store = ActivationStore(args.store or resolve_recorded(recorded, Path(path).parent))
            ckpt = args.checkpoint or store.checkpoint
            if not ckpt:
                ap.error(f"{store.root} records no agent checkpoint: pass --checkpoint")
            net, _ = load_agent(ckpt)
            name = Path(path).parent.name if Path(path).stem == "dictionary" else Path(path).stem
            results[name] = evaluate(
                dictionary,
                store,
                net,
                positions=args.positions,
                games=args.games,
                simulations=args.simulations,
                seed=args.seed,
            )
    except (CheckpointError, StoreError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    print(format_table(results))
    if args.json:
        atomic_write_json(args.json, results)


if __name__ == "__main__":
    main()
