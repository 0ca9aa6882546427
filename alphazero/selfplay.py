"""Self-play: games play in lockstep blocks of `parallel_games`, every search step evaluating
the leaves of all the block's running games in one batch. Each game draws its random
opening, its sampled moves and its root noise from its own generator, seeded by (phase seed,
game number), and a block is the unit of work: the games, and the examples in block order,
are the same whether one process plays the blocks one after the other or Ray workers share
them (alphazero.selfplay_actors).

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


def game_rng(seed: int, game: int) -> np.random.Generator:
    """Game number `game`'s own generator (its opening, sampled moves and root noise)."""
    return np.random.default_rng([seed, game])


def self_play(
    evaluate: Evaluator,
    n: int,
    num_games: int,
    cfg: SelfPlayConfig,
    seed: int | None = None,
    progress: bool = True,
) -> tuple[Examples, SelfPlayStats]:
    """Play `num_games` complete games and return their examples and statistics, block after
    block (`blocks`): the same games, and the same examples in the same order, as any set of
    workers playing the blocks and joining them in block order (alphazero.selfplay_actors)."""
    if seed is None:
        seed = int(np.random.default_rng().integers(2**63))
    # Counted in moves as they are played (games in lockstep all end near the close, so a
    # count of finished games sits at 0 and then jumps): the total starts at the most moves
    # the games can take and drops by the squares a game leaves empty when it ends early.
    bar = tqdm(
        total=num_games * (n * n - 4),
        desc="self-play",
        unit="move",
        disable=not progress,
        leave=False,
    )
    played = [
        play_block(evaluate, n, first, count, cfg, seed, bar)
        for first, count in blocks(num_games, cfg.parallel_games)
    ]
    bar.close()
    return join(played, n)


def blocks(num_games: int, parallel_games: int) -> list[tuple[int, int]]:
    """(first game, games) of each block: `parallel_games` games in lockstep, the unit of work.
    Games are seeded one by one (`game_rng`) and a block's network calls are the same batches
    wherever it is played, so the games do not depend on who plays which block."""
    size = max(1, parallel_games)
    return [(first, min(size, num_games - first)) for first in range(0, num_games, size)]


def join(played: list[tuple[Examples, SelfPlayStats]], n: int) -> tuple[Examples, SelfPlayStats]:
    """The examples and statistics of blocks, in block order."""
    stats = SelfPlayStats()
    for _, s in played:
        stats.games += s.games
        stats.positions += s.positions
        stats.black_wins += s.black_wins
        stats.white_wins += s.white_wins
        stats.draws += s.draws
        stats.lengths += s.lengths
    parts = [ex for ex, _ in played if len(ex)]
    return (Examples.concat(parts) if parts else _no_examples(n)), stats


def play_block(
    evaluate: Evaluator,
    n: int,
    first: int,
    count: int,
    cfg: SelfPlayConfig,
    seed: int,
    bar=None,
) -> tuple[Examples, SelfPlayStats]:
    """Games first..first+count-1 of a self-play phase seeded `seed`, all in lockstep; `bar`
    (tqdm) counts their moves."""
    bar = bar if bar is not None else tqdm(total=0, disable=True)
    slots = count
    rngs = [game_rng(seed, first + i) for i in range(slots)]
    mcts = BatchedMCTS(evaluate, n, slots, cfg.search_config(), rngs=rngs)
    solver = Solver(n) if cfg.solve_empties else None
    me, opp = batch.start(slots, n)
    black = np.ones(slots, bool)
    games = [_Game() for _ in range(slots)]
    running = np.ones(slots, bool)
    stats = SelfPlayStats()
    parts: list[Examples] = []
    squares = n * n - 4
    if cfg.opening_plies:  # each game its own 0..opening_plies random plies
        for s in range(slots):
            g = rngs[s]
            for _ in range(int(g.integers(0, cfg.opening_plies + 1))):
                m, o = me[s : s + 1], opp[s : s + 1]
                if batch.is_terminal(m, o, n)[0]:
                    break
                a = batch.sample_actions(batch.legal_action_mask(m, o, n), g)
                me[s : s + 1], opp[s : s + 1] = batch.play(m, o, a, n)
                black[s] = ~black[s]
        bar.total -= int(batch.popcount(me | opp).sum()) - 4 * slots  # opening moves
    mcts.reset(np.arange(slots), me, opp)

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
                    chosen[i] = rngs[search[i]].choice(len(p), p=p)
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
        running[ended] = False
    return (Examples.concat(parts) if parts else _no_examples(n)), stats


def _no_examples(n: int) -> Examples:
    A = n * n + 1
    return Examples(
        np.zeros(0, np.uint64),
        np.zeros(0, np.uint64),
        np.zeros((0, A), np.float32),
        np.zeros(0, np.float32),
        np.zeros((0, n * n), np.int8),
        np.zeros(0, np.float32),
    )
