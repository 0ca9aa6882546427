"""Play Othello in the terminal against an agent, run a match between two players, or find
where a match was decided.

    python play.py --human                          # you (black) vs the best agent here
    python play.py --human --opponent greedy --color white --size 8
    python play.py --games 200 --p1 alphabeta:4 --p2 greedy [--json]
    python play.py --games 200 --p1 az:pretrained/agent:64 --p2 alphabeta:4 --turning-points

Player specs: random, greedy, alphabeta[:D], solver[:MAX_EMPTIES], az:CHECKPOINT[:SIMS],
and az:CHECKPOINT[:SIMS]+steer:DICT:LATENTS:OP:VALUE (the agent with latents of a dictionary
edited inside it; OP scale, clamp, zero or add, e.g.
az:pretrained/agent:64+steer:runs/sae_agent/topk_k32_n1024/dictionary.json:530,981:scale:10).
Squares are named by column then row, like c4 (a1 is the top-left corner).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

import alphazero.agent  # noqa: F401  (registers the az: player spec)
import sae.steering  # noqa: F401  (registers its +steer: suffix)
from common import cli
from othello import bitboard as bb
from othello.arena import DEFAULT_OPENING_PLIES, IllegalActionError, play_match
from othello.play import play_human
from othello.players import make_player
from othello.solver import Solver
from othello.turning_points import format_summary, summarize, trace_game

REPO_ROOT = Path(__file__).resolve().parent


def default_opponent() -> str:
    """The shipped agent when it is there, else the strongest quick baseline."""
    agent = REPO_ROOT / "pretrained" / "agent"
    return f"az:{agent}" if agent.with_suffix(".json").exists() else "alphabeta:4"


def build_parser() -> argparse.ArgumentParser:
    ap = cli.parser(
        prog="play.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
    )
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--human", action="store_true", help="play a game in the terminal")
    mode.add_argument("--games", type=int, metavar="N", help="play N games between --p1 and --p2")
    ap.add_argument(
        "--opponent",
        metavar="SPEC",
        help="--human: who you play (default: az:pretrained/agent if it exists, else alphabeta:4)",
    )
    ap.add_argument(
        "--color", choices=["black", "white"], default="black", help="--human: your side"
    )
    ap.add_argument("--p1", metavar="SPEC", help="--games: the first player (results are its view)")
    ap.add_argument("--p2", metavar="SPEC", help="--games: the second player")
    ap.add_argument(
        "--opening-plies",
        type=int,
        default=DEFAULT_OPENING_PLIES,
        metavar="K",
        help=f"--games: random plies before the players take over (default "
        f"{DEFAULT_OPENING_PLIES}); each opening is played twice with colours swapped",
    )
    ap.add_argument("--seed", type=cli.seed, default=0, help="seed for openings and tie-breaks")
    ap.add_argument("--size", type=int, default=6, help="board size, even, 4..8 (default 6)")
    ap.add_argument("--json", action="store_true", help="--games: print one JSON object")
    ap.add_argument(
        "--turning-points",
        action="store_true",
        help="--games: solve every game from --from-empties on and count the moves that gave "
        "away a side's solved outcome (othello.turning_points)",
    )
    ap.add_argument(
        "--from-empties",
        type=int,
        default=20,
        metavar="E",
        help="--turning-points: solve from the first position with at most E empties (default 20)",
    )
    ap.add_argument(
        "--device", type=cli.device, default="cpu", help="torch device for az players (default cpu)"
    )
    return ap


def turning_points(p1, p2, args) -> int:
    """The match, recorded, then every game solved from `args.from_empties` on."""
    match = play_match(
        p1, p2, args.games, args.size, args.opening_plies, args.seed, progress=True, record=True
    )
    solver = Solver(args.size, table_bits=22)
    records = tqdm(match.records, desc="solving", unit="game")
    traces = [trace_game(r, solver, args.from_empties) for r in records]
    summary = summarize(traces, keep_traces=args.json)
    if args.json:
        head = dict(p1=args.p1, p2=args.p2, from_empties=args.from_empties)
        print(json.dumps(dict(head, **asdict(summary))))
    else:
        print(format_summary(summary, p1.name, p2.name, args.from_empties))
    return 0


@cli.command
def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        bb.check_size(args.size)
    except ValueError as e:
        ap.error(str(e))

    if args.human:
        if args.p1 or args.p2 or args.json or args.turning_points:
            ap.error("--p1, --p2, --json and --turning-points are for --games matches")
        spec = args.opponent or default_opponent()
        try:
            opponent = make_player(spec, args.size, args.device, seed=args.seed)
        except ValueError as e:
            ap.error(str(e))
        return play_human(opponent, args.size, args.color == "black", args.seed)

    if args.opponent:
        ap.error("--opponent is for --human; use --p1 and --p2 with --games")
    if args.games < 1:
        ap.error("--games must be at least 1")
    if not args.p1 or not args.p2:
        ap.error("--games needs --p1 SPEC and --p2 SPEC")
    if args.opening_plies < 0:
        ap.error("--opening-plies must be >= 0")
    try:
        p1 = make_player(args.p1, args.size, args.device, seed=args.seed)
        p2 = make_player(args.p2, args.size, args.device, seed=args.seed + 1)
    except ValueError as e:
        ap.error(str(e))
    if args.turning_points:
        return turning_points(p1, p2, args)
    try:
        result = play_match(p1, p2, args.games, args.size, args.opening_plies, args.seed)
    except IllegalActionError:
        raise  # a bug in a player, not in the command line
    except ValueError as e:  # e.g. openings so long that they end the game
        ap.error(str(e))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
