"""The whole pipeline on its quick default: agent -> activations -> SAEs -> metrics.

    python pipeline.py                      # ~4 minutes on 2 CPU cores
    python pipeline.py --agent pretrained/agent --positions 300000

Steps (each is one of the documented commands, run in turn; an interrupted pipeline rerun
with the same --out picks up where it stopped, since every step resumes):
  1. train an agent with the quick preset (skipped with --agent, e.g. the shipped one)
  2. collect its activations at blocks.2.resid_post from real games (`python -m sae.activations`)
  3. train a quick grid of L1 and TopK SAEs on them (`python train_sae.py --sweep --quick`)
  4. print the held-out metrics table (scaling.json holds every metric of every run)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

SITE = "blocks.2.resid_post"


def run_step(title: str, cmd: list[str]) -> None:
    print(f"\n== {title}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    result = subprocess.run(cmd)
    if result.returncode != 0:
        sys.exit(
            f"pipeline stopped: `{' '.join(cmd)}` exited with {result.returncode}; "
            f"rerun `python pipeline.py` with the same options to resume"
        )
    print(f"== {title}: done in {time.perf_counter() - t0:.0f} s", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    ap.add_argument("--out", type=Path, default=Path("runs/pipeline"), help="output folder")
    ap.add_argument("--agent", help="use this agent checkpoint instead of training one")
    ap.add_argument("--positions", type=int, default=200_000, help="activation rows")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    py = sys.executable

    if args.agent:
        agent = args.agent
    else:
        run_dir = args.out / "agent"
        cmd = [
            py,
            "train_alphazero.py",
            "--preset",
            "quick",
            "--out",
            str(run_dir),
            "--device",
            args.device,
        ]
        if (run_dir / "state" / "state.json").exists():
            cmd.append("--resume")
        run_step("1/3 train the agent (quick preset)", cmd)
        agent = str(run_dir / "agent")

    store = args.out / "acts"
    run_step(
        "2/3 collect activations",
        [
            py,
            "-m",
            "sae.activations",
            "--checkpoint",
            agent,
            "--sites",
            SITE,
            "--positions",
            str(args.positions),
            "--out",
            str(store),
        ],
    )
    run_step(
        "3/3 train and evaluate a quick SAE grid",
        [
            py,
            "train_sae.py",
            "--sweep",
            "--quick",
            "--store",
            str(store),
            "--site",
            SITE,
            "--out",
            str(args.out / "sae"),
        ],
    )
    print(
        f"\nAll done. Agent: {agent}; activations: {store}; SAEs and "
        f"{args.out / 'sae' / 'scaling.json'} under {args.out / 'sae'}"
    )


if __name__ == "__main__":
    main()
