"""A game of Othello in the terminal between a person and any `Player`.

The command line is `play.py` at the repository root (it offers every player kind, the
agent's among them); `python othello/play.py` and `python -m othello.play` still work and
say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python othello/play.py`: import from the repo root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from common.moved import forward  # noqa: E402
from othello import bitboard as bb  # noqa: E402
from othello.arena import IllegalActionError  # noqa: E402
from othello.game import Position, parse_square, square_name  # noqa: E402
from othello.player import Player  # noqa: E402

QUIT_WORDS = ("quit", "q", "exit")


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


if __name__ == "__main__":
    forward("python othello/play.py", ["play.py"], sys.argv[1:])
