"""Self-play: a fixed number of game slots play in lockstep; a finished game's slot starts a
new game at once, so every search step evaluates a full batch of leaves.

Each searched position becomes a training example: the canonical board, the search policy
(visit distribution for PUCT, completed-Q policy for Gumbel), and, once the game is over,
the outcome from the mover's view (+1 / 0 / -1), the final ownership of every square and
the final disc margin. The value target is the outcome, optionally averaged with the search's
root value (`q_weight`): the outcome alone is a noisy target when games are decided by
later mistakes, the root value a biased one; their mean is a common compromise.
With `solve_empties` the exact solver rescores each game (as Leela Chess rescores its games
with endgame tablebases): positions with that many empties or fewer get their exact
win/draw/loss as value target, and earlier positions the exact outcome of the game's first
such position instead of the result the players happened to reach from it. Forced
moves (a single legal action, passes included) are played without a search and not
recorded: their policy target carries no information.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from alphazero.mcts import BatchedMCTS, Evaluator, SearchConfig
from othello import batch
from othello.game import Position
from othello.solver import Solver


@dataclass
class SelfPlayConfig:
    parallel_games: int = 128
    simulations: int = 64
    root_rule: str = "gumbel"  # "puct" or "gumbel"
    temperature_plies: int = 8  # PUCT: sample moves from visits for this many plies
    # each game starts with a uniformly drawn 0..opening_plies random plies (diversity: the
    # agent also learns positions its own play avoids, like those of seeded match openings)
    opening_plies: int = 0
    q_weight: float = 0.0  # value target = (1 - w) * outcome + w * root search value
    solve_empties: int = 0  # exact-solver value targets at <= this many empties (0 = off)

    def search_config(self) -> SearchConfig:
        puct = self.root_rule == "puct"
        return SearchConfig(
            simulations=self.simulations,
            root_rule=self.root_rule,
            root_noise=puct,
            gumbel_scale=1.0,
        )


@dataclass
class Examples:
    """A batch of training positions (canonical boards) with their targets."""

    me: np.ndarray  # uint64 [K]
    opp: np.ndarray  # uint64 [K]
    policy: np.ndarray  # float32 [K, A]
    outcome: np.ndarray  # float32 [K] value target: +1 / 0 / -1 from the mover's view (mixed
    #                      with the root value when q_weight > 0)
    ownership: np.ndarray  # int8 [K, n*n] +1 mine / -1 theirs / 0 empty at the end
    margin: np.ndarray  # float32 [K] final disc difference / n*n, mover's view

    def __len__(self) -> int:
        return len(self.me)

    @staticmethod
    def concat(parts: list[Examples]) -> Examples:
        return Examples(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("me", "opp", "policy", "outcome", "ownership", "margin")
            )
        )


@dataclass
class SelfPlayStats:
    games: int = 0
    positions: int = 0
    black_wins: int = 0
    white_wins: int = 0
    draws: int = 0
    lengths: list[int] = field(default_factory=list)


class _Game:
    """Per-slot record of a game in progress."""

    __slots__ = ("me", "opp", "policy", "root_value", "black_to_move", "plies")

    def __init__(self):
        self.me, self.opp, self.policy, self.root_value, self.black_to_move = [], [], [], [], []
        self.plies = 0


def _finish(
    game: _Game,
    final_me: int,
    final_opp: int,
    final_black: bool,
    n: int,
    q_weight: float = 0.0,
    solver: Solver | None = None,
    solve_empties: int = 0,
):
    """Targets for every recorded position of a finished game."""
    k = len(game.me)
    me, opp = np.array(game.me, np.uint64), np.array(game.opp, np.uint64)
    mover_is_final = np.array(game.black_to_move) == final_black  # same side as final mover?
    diff = batch.disc_diff(np.array([final_me], np.uint64), np.array([final_opp], np.uint64))[0]
    sign = np.where(mover_is_final, 1, -1)
    own_final = batch.unpack(np.array([final_me], np.uint64), n)[0].astype(np.int8) - batch.unpack(
        np.array([final_opp], np.uint64), n
    )[0].astype(np.int8)
    outcome = (sign * np.sign(diff)).astype(np.float32)
    exact = np.zeros(k, bool)
    if solver is not None and k:
        exact = n * n - batch.popcount(me | opp) <= solve_empties
        for i in np.flatnonzero(exact):
            outcome[i] = solver.solve_wdl(Position(int(me[i]), int(opp[i]), True, n))
        if exact.any():  # earlier positions: the exact outcome from the first solved one
            first = np.flatnonzero(exact)[0]
            # sign[i] * sign[first]: +1 where position i has the same mover as `first`
            outcome[:first] = sign[:first] * sign[first] * outcome[first]
    mixed = (1 - q_weight) * outcome + q_weight * np.array(game.root_value, np.float32)
    return Examples(
        me=me,
        opp=opp,
        policy=np.array(game.policy, np.float32).reshape(k, -1),
        outcome=np.where(exact, outcome, mixed).astype(np.float32),
        ownership=(sign[:, None] * own_final[None, :]).astype(np.int8),
        margin=(sign * diff / (n * n)).astype(np.float32),
    )


def self_play(
    evaluate: Evaluator,
    n: int,
    num_games: int,
    cfg: SelfPlayConfig,
    seed: int | None = None,
    progress: bool = True,
) -> tuple[Examples, SelfPlayStats]:
    """Play `num_games` complete games and return their examples and statistics."""
    rng = np.random.default_rng(seed)
    slots = min(cfg.parallel_games, num_games)
    mcts = BatchedMCTS(evaluate, n, slots, cfg.search_config(), seed=int(rng.integers(2**63)))
    solver = Solver(n) if cfg.solve_empties else None
    me, opp = batch.start(slots, n)
    black = np.ones(slots, bool)
    games = [_Game() for _ in range(slots)]
    started = slots
    running = np.ones(slots, bool)
    stats = SelfPlayStats()
    parts: list[Examples] = []
    # Counted in moves as they are played (games in lockstep all end near the close, so a
    # count of finished games sits at 0 and then jumps): the total starts at the most moves
    # the games can take and drops by the squares a game leaves empty when it ends early.
    squares = n * n - 4
    bar = tqdm(
        total=num_games * squares, desc="self-play", unit="move", disable=not progress, leave=False
    )

    def new_games(ids: np.ndarray) -> None:
        """Start games in these slots (from seeded random openings if asked)."""
        m, o = batch.start(len(ids), n)
        b = np.ones(len(ids), bool)
        if cfg.opening_plies:  # (no draw otherwise: seeded runs stay as they were)
            plies = rng.integers(0, cfg.opening_plies + 1, len(ids))
            for ply in range(cfg.opening_plies):
                going = (plies > ply) & ~batch.is_terminal(m, o, n)
                a = batch.sample_actions(batch.legal_action_mask(m, o, n), rng)
                pm, po = batch.play(m, o, a, n)
                m, o = np.where(going, pm, m), np.where(going, po, o)
                b ^= going
        me[ids], opp[ids], black[ids] = m, o, b
        bar.total -= int(batch.popcount(m | o).sum()) - 4 * len(ids)  # opening moves
        for s in ids:
            games[s] = _Game()
        mcts.reset(ids, m, o)

    new_games(np.arange(slots))

    while running.any():
        live = np.flatnonzero(running)
        legal = batch.legal_action_mask(me[live], opp[live], n)
        forced = legal.sum(axis=1) == 1
        actions = legal.argmax(axis=1)  # the forced move where there is only one
        search = live[~forced]
        if search.size:
            result = mcts.search(search)
            chosen = result.best.copy()
            if cfg.root_rule == "puct":
                plies = np.array([games[s].plies for s in search])
                early = np.flatnonzero(plies < cfg.temperature_plies)
                for i in early:
                    p = result.visits[i] / result.visits[i].sum()
                    chosen[i] = rng.choice(len(p), p=p)
            actions[~forced] = chosen
            for i, s in enumerate(search):
                g = games[s]
                g.me.append(me[s])
                g.opp.append(opp[s])
                g.policy.append(result.policy[i])
                g.root_value.append(result.value[i])
                g.black_to_move.append(black[s])
        mcts.advance(live, actions)
        me[live], opp[live] = batch.play(me[live], opp[live], actions, n)
        bar.update(int((actions != n * n).sum()))  # passes place no disc
        black[live] = ~black[live]
        for s in live:
            games[s].plies += 1
        ended = live[mcts.root_terminal(live)]
        for s in ended:
            g = games[s]
            ex = _finish(
                g, int(me[s]), int(opp[s]), bool(black[s]), n, cfg.q_weight, solver,
                cfg.solve_empties,
            )  # fmt: skip
            if len(ex):
                parts.append(ex)
            diff = int(batch.disc_diff(me[s : s + 1], opp[s : s + 1])[0])
            black_diff = diff if black[s] else -diff
            stats.games += 1
            stats.positions += len(ex)
            stats.black_wins += black_diff > 0
            stats.white_wins += black_diff < 0
            stats.draws += black_diff == 0
            stats.lengths.append(g.plies)
            bar.total -= squares + 4 - int(batch.popcount(me[s : s + 1] | opp[s : s + 1])[0])
            bar.set_postfix(games=f"{stats.games}/{num_games}", refresh=False)
        restart = ended[: max(0, num_games - started)]
        running[ended[len(restart) :]] = False
        if restart.size:
            started += len(restart)
            new_games(restart)
    bar.close()
    if not parts:
        A = n * n + 1
        empty = Examples(
            np.zeros(0, np.uint64),
            np.zeros(0, np.uint64),
            np.zeros((0, A), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, n * n), np.int8),
            np.zeros(0, np.float32),
        )
        return empty, stats
    return Examples.concat(parts), stats
