"""Time the exact solver on endgames drawn from seeded random play.

    python bench/bench_solver.py                       # 6x6, 12/14/16 empties
    python bench/bench_solver.py --empties 12 14 16 18 --positions 20

Per empties count: median / mean / max ms per position for the exact value, nodes per
position and per second, and the same for the win/draw/loss-only window. Every position is
solved from an empty transposition table. The numba compile time (measured in a fresh
process with an empty cache) and this process's cache load are reported apart and are not
counted in any timing.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/bench_solver.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from othello import bitboard as bb  # noqa: E402
from othello.solver import Solver, random_endgame, warm_up  # noqa: E402

# REFERENCE.md: a C bitboard solver (PVS, table, fastest-first), one core, random 6x6 endgames.
C_REFERENCE_MS = {12: 1.5, 14: 7.0, 16: 35.0, 18: 160.0, 20: 900.0}


def fresh_compile_seconds() -> float:
    """Seconds to compile the solver from nothing: a child process with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = "from othello.solver import warm_up; print(warm_up())"
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
        )
    if out.returncode:
        raise RuntimeError(out.stderr)
    return float(out.stdout.split()[-1])


def time_solves(solver: Solver, positions, wdl: bool) -> tuple[np.ndarray, int]:
    times, nodes = [], 0
    for p in positions:
        solver.clear()
        before = solver.nodes
        t0 = time.perf_counter()
        solver.solve_wdl(p) if wdl else solver.solve(p)
        times.append(time.perf_counter() - t0)
        nodes += solver.nodes - before
    return np.array(times), nodes


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--size", type=int, default=6, help="board size (default 6)")
    ap.add_argument("--empties", type=int, nargs="+", default=[12, 14, 16])
    ap.add_argument("--positions", type=int, default=50, help="positions per empties count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table-bits", type=int, default=20, help="log2 of the table entries")
    ap.add_argument("--skip-compile", action="store_true", help="do not time a fresh compile")
    args = ap.parse_args(argv)
    try:
        bb.check_size(args.size)
        Solver(args.size, args.table_bits)
    except ValueError as e:
        ap.error(str(e))
    if args.positions < 1:
        ap.error("--positions must be at least 1")
    for e in args.empties:
        if not 1 <= e <= args.size**2 - 4:
            ap.error(f"--empties {e} is not possible on {args.size}x{args.size}")

    if not args.skip_compile:
        print(f"numba compile from an empty cache: {fresh_compile_seconds():.2f} s (not counted)")
    print(f"numba cache load in this process:  {warm_up():.2f} s (not counted)")
    rng = np.random.default_rng(args.seed)
    solver = Solver(args.size, args.table_bits)
    header = (
        f"{'empties':>7} {'n':>4} {'median ms':>10} {'mean ms':>9} {'max ms':>9} "
        f"{'nodes/pos':>10} {'Mnodes/s':>9} {'WDL med ms':>11} {'WDL mean ms':>12} "
        f"{'exact/WDL':>10} {'C ref ms':>9}"
    )
    rows = []
    for e in args.empties:
        positions = [random_endgame(args.size, e, rng) for _ in range(args.positions)]
        exact = wdl = None
        for kind in tqdm(("exact", "wdl"), desc=f"{e} empties", file=sys.stderr, leave=False):
            if kind == "exact":
                exact = time_solves(solver, positions, wdl=False)
            else:
                wdl = time_solves(solver, positions, wdl=True)
        (t, nodes), (tw, _) = exact, wdl
        c_ref = C_REFERENCE_MS.get(e) if args.size == 6 else None
        rows.append(
            f"{e:>7} {len(positions):>4} {np.median(t) * 1e3:>10.2f} {t.mean() * 1e3:>9.2f} "
            f"{t.max() * 1e3:>9.1f} {nodes / len(positions):>10.0f} "
            f"{nodes / t.sum() / 1e6:>9.2f} {np.median(tw) * 1e3:>11.2f} "
            f"{tw.mean() * 1e3:>12.2f} {t.mean() / tw.mean():>10.1f} "
            f"{c_ref if c_ref is not None else '-':>9}"
        )
    print(f"{args.size}x{args.size}, seed {args.seed}, table 2^{args.table_bits}")
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
