"""Play Othello in the terminal against an agent, or run a match between two players.

    python othello/play.py --human                          # you (black) vs the best agent here
    python othello/play.py --human --opponent greedy --color white --size 8
    python othello/play.py --games 200 --p1 alphabeta:4 --p2 greedy [--json]

Player specs: random, greedy, alphabeta[:D], solver[:MAX_EMPTIES], az:CHECKPOINT[:SIMS],
and az:CHECKPOINT[:SIMS]+steer:DICT:LATENTS:OP:VALUE (the agent with latents of a dictionary
edited inside it; OP scale, clamp, zero or add, e.g.
az:pretrained/agent:64+steer:runs/sae_agent/topk_k32_n1024/dictionary.json:530,981:scale:10).
Squares are named by column then row, like c4 (a1 is the top-left corner).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as `python othello/play.py`: import from the repo root
    sys.path[0] = str(REPO_ROOT)

import argparse  # noqa: E402
import json  # noqa: E402

from othello import bitboard as bb  # noqa: E402
from othello.arena import DEFAULT_OPENING_PLIES, IllegalActionError, play_match  # noqa: E402
from othello.game import Position, parse_square, square_name  # noqa: E402
from othello.player import Player  # noqa: E402
from othello.players import make_player  # noqa: E402

QUIT_WORDS = ("quit", "q", "exit")


def default_opponent() -> str:
    """The shipped agent when it is there, else the strongest quick baseline."""
    agent = REPO_ROOT / "pretrained" / "agent"
    return f"az:{agent}" if agent.with_suffix(".json").exists() else "alphabeta:4"


def _colour(black: bool) -> str:
    return "X (black)" if black else "O (white)"


def _score_line(p: Position) -> str:
    return f"X (black) {bb.popcount(p.black)} - {bb.popcount(p.white)} O (white)"


def _read_move(p: Position) -> int | None:
    """Prompt until the human enters a legal move; None means quit."""
    legal = p.legal_actions()
    names = " ".join(square_name(a, p.n) for a in legal)
    while True:
        print(f"Legal moves: {names}")
        text = input("Your move (e.g. c4, or quit): ").strip().lower()
        if text in QUIT_WORDS:
            return None
        try:
            action = parse_square(text, p.n)
        except ValueError as e:
            print(f"Not understood: {e}.")
            continue
        if action == p.pass_action:
            print("You cannot pass: you have a legal move.")
        elif (p.me | p.opp) >> action & 1:
            print(f"{text} is occupied.")
        elif action not in legal:
            print(f"{text} flips no disc, so it is not a legal move.")
        else:
            return action


def play_human(opponent: Player, n: int, human_black: bool, seed: int) -> int:
    """One game in the terminal. Returns the exit code (0, also on quit / EOF / Ctrl-C)."""
    opponent.new_match(seed)
    p = Position.start(n)
    print(f"You are {_colour(human_black)}; {opponent.name} is {_colour(not human_black)}.")
    try:
        while not p.is_terminal():
            human_turn = p.black_to_move == human_black
            print()
            print(p.render(p.legal_moves() if human_turn else 0))
            print(_score_line(p))
            if not human_turn:
                action = opponent.choose([p], [0])[0]
                if action not in p.legal_actions():
                    raise IllegalActionError(f"{opponent.name} chose an illegal action {action}")
                if action == p.pass_action:
                    print(f"{opponent.name} has no legal move and passes.")
                else:
                    print(f"{opponent.name} plays {square_name(action, n)}.")
            elif p.legal_actions() == [p.pass_action]:
                print("You have no legal move, so you pass.")
                action = p.pass_action
            else:
                action = _read_move(p)
                if action is None:
                    print("Bye.")
                    return 0
            p = p.play(action)
    except (EOFError, KeyboardInterrupt):
        print("\nBye.")
        return 0
    finally:
        opponent.game_over(0)
    print()
    print(p.render())
    print(_score_line(p))
    black_diff = bb.popcount(p.black) - bb.popcount(p.white)
    mine = black_diff if human_black else -black_diff
    verdict = "You win" if mine > 0 else "You lose" if mine < 0 else "Draw"
    print(f"Game over. {verdict} ({mine:+d} discs).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    ap.add_argument("--seed", type=int, default=0, help="seed for openings and tie-breaks")
    ap.add_argument("--size", type=int, default=6, help="board size, even, 4..8 (default 6)")
    ap.add_argument("--json", action="store_true", help="--games: print one JSON object")
    ap.add_argument("--device", default="cpu", help="torch device for az players (default cpu)")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        bb.check_size(args.size)
    except ValueError as e:
        ap.error(str(e))

    if args.human:
        if args.p1 or args.p2 or args.json:
            ap.error("--p1, --p2 and --json are for --games matches")
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
