"""Engine throughput: positions per second for "legal moves + apply one random legal move"
over B games in random playouts (finished games restart), for three engines measured side by
side in one run: the naive per-square engine (othello.naive), the scalar bitboard engine
(othello.bitboard, one game at a time) and the batched numpy engine (othello.batch).

    python bench/bench_engine.py                     # 6x6, B = 1 64 512
    python bench/bench_engine.py --batches 512 4096 --seconds 2

Each (engine, B) cell is timed for at least --seconds, in --rounds interleaved rounds; the best
round is kept (the machine is shared, so the best is the least disturbed run).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from othello import batch, naive  # noqa: E402
from othello import bitboard as bb  # noqa: E402
from othello.game import Position  # noqa: E402


class NaivePlayouts:
    """B games on the 2-D list engine, advanced one game at a time."""

    def __init__(self, games: int, n: int, seed: int):
        self.n, self.rng = n, random.Random(seed)
        self.games = [(naive.start_board(n), naive.BLACK) for _ in range(games)]

    def step(self) -> None:
        for i, (board, player) in enumerate(self.games):
            moves = naive.legal_moves(board, player)
            if moves:
                self.games[i] = naive.play(board, player, self.rng.choice(moves))
            elif naive.legal_moves(board, -player):
                self.games[i] = (board, -player)  # forced pass
            else:
                self.games[i] = (naive.start_board(self.n), naive.BLACK)


class ScalarPlayouts:
    """B games on the integer bitboard engine, advanced one game at a time."""

    def __init__(self, games: int, n: int, seed: int):
        self.n, self.rng = n, random.Random(seed)
        start = Position.start(n)
        self.start = (start.me, start.opp)
        self.games = [self.start] * games

    def step(self) -> None:
        n = self.n
        for i, (me, opp) in enumerate(self.games):
            moves = bb.legal_moves(me, opp, n)
            if moves:
                self.games[i] = bb.play(me, opp, self.rng.choice(list(bb.bits(moves))), n)
            elif bb.legal_moves(opp, me, n):
                self.games[i] = (opp, me)
            else:
                self.games[i] = self.start


class BatchedPlayouts:
    """B games on the numpy engine, advanced together with no loop over games."""

    def __init__(self, games: int, n: int, seed: int):
        self.n, self.rng = n, np.random.default_rng(seed)
        self.start_me, self.start_opp = batch.start(1, n)
        self.me, self.opp = batch.start(games, n)

    def step(self) -> None:
        n = self.n
        moves = batch.legal_moves(self.me, self.opp, n)
        mask = batch.legal_action_mask(self.me, self.opp, n, moves)
        over = batch.is_terminal(self.me, self.opp, n, moves)
        actions = batch.sample_actions(mask, self.rng)
        self.me, self.opp = batch.play(self.me, self.opp, actions, n)
        self.me[over], self.opp[over] = self.start_me[0], self.start_opp[0]


ENGINES = {"naive": NaivePlayouts, "scalar": ScalarPlayouts, "batched": BatchedPlayouts}


def positions_per_second(playouts, games: int, seconds: float) -> float:
    playouts.step()  # warm-up: caches, first allocations
    steps, t0 = 0, time.perf_counter()
    while True:
        playouts.step()
        steps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return games * steps / elapsed


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=6, help="board size (even, 4..8; default 6)")
    ap.add_argument(
        "--batches", type=int, nargs="+", default=[1, 64, 512], help="games advanced together"
    )
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum time per cell per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is kept")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        bb.check_size(args.size)
    except ValueError as e:
        ap.error(str(e))
    if min(args.batches) < 1:
        ap.error("--batches must all be at least 1")
    if args.seconds <= 0:
        ap.error("--seconds must be positive")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    best = {}
    cells = [(b, name) for b in args.batches for name in ENGINES]
    with tqdm(total=args.rounds * len(cells), desc="timing", leave=False) as bar:
        for r in range(args.rounds):
            for b, name in cells:
                playouts = ENGINES[name](b, args.size, args.seed + r)
                rate = positions_per_second(playouts, b, args.seconds)
                best[b, name] = max(best.get((b, name), 0.0), rate)
                bar.update()

    print(
        f"{args.size}x{args.size} random playouts: legal moves + apply one random legal move "
        f"(finished games restart); positions/s, best of {args.rounds} round(s) of "
        f">= {args.seconds:g} s per cell"
    )
    header = ("B", "naive", "scalar", "batched", "vs naive", "vs scalar")
    print("{:>6} {:>12} {:>12} {:>12} {:>10} {:>10}".format(*header))
    for b in args.batches:
        naive_rate, scalar_rate, batched_rate = (best[b, name] for name in ENGINES)
        print(
            f"{b:>6} {naive_rate:>12,.0f} {scalar_rate:>12,.0f} {batched_rate:>12,.0f} "
            f"{batched_rate / naive_rate:>9.1f}x {batched_rate / scalar_rate:>9.1f}x"
        )


if __name__ == "__main__":
    main()
