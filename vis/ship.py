"""Rebuild the viewer data shipped in the repository (vis/data) in one command.

    python -m vis.ship                     # what exists of the list below -> vis/data
    python -m vis.ship --dry-run           # print the export command only

What ships: the seed's recommended SAEs on blocks.2.resid_post (ReLU + L1, coefficient 3
and 4, 1024 and 2048 latents: runs/sae_agent/l1_{3,4}_n{1024,2048}); the best dictionary of
each --frontier sweep by the rule of `sae.frontier.rule` (its frontier.json, written by
`python -m sae.frontier`), or, where no frontier has been measured, the TopK run with the
lowest held-out FVU in runs/sae_agent/scaling.json; and the transcoder set runs/transcoders,
all exported from the shipped agent's store data/acts/agent. Runs that do not exist yet are
named and left out; the export itself is `python -m vis.export` (vis/README.md).

    python -m vis.ship --rebuild           # first make whatever of REBUILD is missing

--rebuild runs, in order, each stage of REBUILD whose output is missing (the store, the
seed-recipe sweep, the family sweep, the transcoders, the explanations of the seed-recipe
sweep, the frontier), each a documented command that resumes when interrupted, then exports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common import cli
from common.io import CheckpointError, read_json
from sae.dictionary.sweep import read_scaling
from vis.export import main as export_main

RECOMMENDED = ("l1_3_n1024", "l1_3_n2048", "l1_4_n1024", "l1_4_n2048")
DEFAULT_FRONTIERS = ("frontier/families", "grid")  # beside the --sweep folder (runs/)
SITES = ",".join(f"blocks.{i}.{s}" for i in range(4) for s in ("resid_post", "mlp_in", "mlp_out"))
STORE = "data/acts/agent"
# (output that marks the stage done, command): what the shipped viewer is built from
REBUILD = (
    (f"{STORE}/manifest.json",
     f"-m sae.activations --checkpoint pretrained/agent --sites {SITES} --positions 3000000 "
     f"--out {STORE}"),
    ("runs/sae_agent/scaling.json",
     f"train_sae.py --store {STORE} --site blocks.2.resid_post --sweep --widths 1024,2048 "
     "--l1-coeffs 3,4 --ks 32 --steps 1500 --out runs/sae_agent"),
    ("runs/frontier/families/scaling.json",
     f"train_sae.py --store {STORE} --site blocks.2.resid_post --sweep --families "
     "relu,topk,batchtopk,matryoshka --widths 1024 --ks 32 --l1-coeffs 8,16 --steps 1500 "
     "--games 0 --out runs/frontier/families"),
    ("runs/transcoders/transcoders.json",
     f"train_transcoder.py --store {STORE} --all-layers --skip --steps 1500 "
     "--out runs/transcoders"),
    ("runs/sae_agent/l1_3_n1024/explanations.json",
     "-m sae.explain " + " ".join(f"runs/sae_agent/{n}/dictionary.json" for n in (
         "l1_3_n1024", "l1_3_n2048", "l1_4_n1024", "l1_4_n2048", "topk_k32_n1024",
         "topk_k32_n2048")) + f" --store {STORE}"),
    ("runs/frontier/families/frontier.json",
     f"-m sae.frontier runs/frontier/families --store {STORE}"),
)  # fmt: skip


def rebuild() -> None:
    """Run every REBUILD stage whose output is missing (each resumes a killed run)."""
    for marker, command in REBUILD:
        if Path(marker).exists():
            print(f"have {marker}")
            continue
        print(f"python {command}", flush=True)
        done = subprocess.run([sys.executable, *command.split()], check=False)
        if done.returncode:
            sys.exit(f"error: python {command} failed (exit {done.returncode}); rerun to resume")


def best_topk(sweep: Path) -> str | None:
    """The TopK (or BatchTopK) run of the sweep with the lowest held-out FVU."""
    if not (sweep / "scaling.json").exists():
        return None
    runs = [
        (m["fvu"], name)
        for name, m in read_scaling(sweep).items()
        if m.get("architecture") != "relu" and isinstance(m.get("fvu"), int | float)
    ]
    return min(runs)[1] if runs else None


def frontier_best(folder: Path) -> Path | None:
    """The run a measured frontier (folder/frontier.json) chose by its rule, if any."""
    path = folder / "frontier.json"
    if not path.exists():
        return None
    best = (read_json(path, "frontier").get("choice") or {}).get("best")
    if not isinstance(best, str) or best not in read_scaling(folder):
        raise CheckpointError(f"{path} names no run of its sweep as the best ({best!r})")
    return folder / best


def shipped_sources(
    sweep: Path, transcoders: Path, frontiers: list[Path] = ()
) -> tuple[list[str], list[str]]:
    """(sources to export, what is missing)."""
    paths = [sweep / name for name in RECOMMENDED]
    chosen = [p for p in (frontier_best(f) for f in frontiers) if p is not None]
    top = None if chosen else best_topk(sweep)
    paths += chosen or ([sweep / top] if top else [])
    sources, missing = [], []
    for path in dict.fromkeys(paths):
        (sources if (path / "dictionary.json").exists() else missing).append(str(path))
    if not chosen and not top:
        missing.append(f"a frontier.json in {', '.join(map(str, frontiers)) or '(none given)'}")
    if (transcoders / "transcoders.json").exists():
        sources.append(str(transcoders))
    else:
        missing.append(str(transcoders))
    return sources, missing


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(
        prog="python -m vis.ship",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    ap.add_argument("--sweep", default="runs/sae_agent", help="the SAE sweep folder")
    ap.add_argument("--transcoders", default="runs/transcoders", help="the transcoder set")
    ap.add_argument(
        "--frontier",
        action="append",
        help="a sweep measured by python -m sae.frontier: ships its best by the rule (repeatable; "
        "default frontier/families and grid beside --sweep, where they hold a frontier.json)",
    )
    ap.add_argument("--store", default="data/acts/agent", help="the shipped agent's store")
    ap.add_argument(
        "--out", type=cli.out_dir, default="vis/data", help="data folder (default vis/data)"
    )
    ap.add_argument("--dry-run", action="store_true", help="print the export command only")
    ap.add_argument(
        "--rebuild",
        action="store_true",
        help="first run every missing stage the shipped data is built from (hours on 2 cores)",
    )
    args, rest = ap.parse_known_args(argv)
    if args.rebuild and not args.dry_run:
        rebuild()
    try:
        base = Path(args.sweep).parent
        frontiers = (
            [Path(f) for f in args.frontier]
            if args.frontier
            else [base / f for f in DEFAULT_FRONTIERS]
        )
        sources, missing = shipped_sources(Path(args.sweep), Path(args.transcoders), frontiers)
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    for m in missing:
        print(f"not shipped (missing): {m}")
    if not sources:
        sys.exit(f"error: nothing to ship: none of the runs exist under {args.sweep}")
    export = [*sources, "--store", args.store, "--out", args.out, *rest]
    print("python -m vis.export " + " ".join(export), flush=True)
    if not args.dry_run:
        export_main(export)


if __name__ == "__main__":
    main()
