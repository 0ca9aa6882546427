"""Print the exact value of every legal move of a position.

    python -m othello.solve "------/------/--OX--/--XO--/------/------ X"

The position is n*n squares of X (black), O (white), - or . (empty), then the side to move
(X or O); spaces and '/' between rows are ignored. Values are final disc differences from
the side to move's point of view (empty squares count for nobody) under perfect play.
"""

from __future__ import annotations

import re
import sys
import time

from tqdm import tqdm

from common import cli
from othello.game import Position, square_name
from othello.solver import Solver, warm_up

# Past this many empties a 6x6 solve takes seconds per move and grows ~5x per 2 empties.
DEFAULT_MAX_EMPTIES = 20


def outcome_letter(value: int) -> str:
    return "W" if value > 0 else "L" if value < 0 else "D"


# A position argument (at least a 4x4 board's worth): board characters only, or a single
# '-' then anything (a malformed position, which the parser then explains; options are long)
_POSITION = re.compile(r"[-XOxo./\s]{17,}|-[^-].{15,}", re.DOTALL)


def position_last(argv: list[str]) -> list[str]:
    """argparse takes an argument starting with '-' for an option, and a position often starts
    with empty squares ('-'): move such an argument behind '--' so it reads as the position."""
    if "--" in argv:
        return argv
    positions = [a for a in argv if _POSITION.fullmatch(a)]
    return [a for a in argv if a not in positions] + (["--", *positions] if positions else [])


@cli.command
def main(argv=None) -> int:
    ap = cli.parser(
        prog="python -m othello.solve",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("position", help="the position text (quote it)")
    ap.add_argument(
        "--max-empties",
        type=int,
        default=DEFAULT_MAX_EMPTIES,
        help=f"refuse positions with more empty squares than this (default "
        f"{DEFAULT_MAX_EMPTIES}; raise it to wait longer)",
    )
    args = ap.parse_args(position_last(sys.argv[1:] if argv is None else list(argv)))
    try:
        position = Position.from_text(args.position)
    except ValueError as e:
        ap.error(f"bad position: {e}")
    empties = position.empties()
    if empties > args.max_empties:
        ap.error(
            f"{empties} empty squares is too many to solve quickly (limit {args.max_empties}); "
            f"pass --max-empties {empties} to try anyway"
        )

    side = "X (black)" if position.black_to_move else "O (white)"
    print(position.render(position.legal_moves()))
    print(f"{side} to move, {empties} empty squares")
    if position.is_terminal():
        d = position.disc_diff()
        print(f"game over: final disc difference {d:+d} for {side} ({outcome_letter(d)})")
        return 0

    warm_up()  # keep the one-off compile / cache load out of the reported time
    solver = Solver(position.n)
    t0 = time.perf_counter()
    actions = position.legal_actions()
    values = {}
    # A progress bar only where the wait is noticeable.
    for a in tqdm(actions, desc="solving", disable=empties < 16, file=sys.stderr, leave=False):
        values[a] = -solver.solve(position.play(a))
    seconds = time.perf_counter() - t0
    best = max(values.values())
    print("move  value  result")
    for a, v in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])):
        star = "  best" if v == best else ""
        print(f"{square_name(a, position.n):<5} {v:+5d}  {outcome_letter(v)}{star}")
    print(f"value {best:+d} ({outcome_letter(best)}); {solver.nodes} nodes in {seconds:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
