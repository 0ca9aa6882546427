"""How strong is an agent? Matches against the baselines, and move accuracy against the
exact solver.

    python -m alphazero.evaluate runs/strong/agent --games 200 --sims 64

Matches: seeded random openings, each played with both colours (`othello.arena`), Elo with
a 95% interval. Move accuracy: positions with 10-14 empties, half from the agent's own games
(agent vs agent from random openings) and half from uniformly random games; positions with a
single legal move are left out (they cannot be got wrong). A move is correct when it keeps
the best achievable outcome (win / draw / loss) by exact solve; "discs lost" is how many
discs of final margin the move gives away against perfect play.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from tqdm import tqdm

from alphazero.agent import AlphaZeroPlayer
from alphazero.model import AlphaZeroNet, load_agent
from common import cli
from common.io import atomic_write_json
from othello.arena import play_match
from othello.elo import wilson_interval
from othello.game import Position
from othello.players import make_player
from othello.solver import solver_for


def match_table(
    net: AlphaZeroNet,
    opponents: list[str],
    games: int,
    simulations: int,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, dict]:
    """{opponent spec: MatchResult.to_dict()} for the agent (MCTS) against each opponent."""
    agent = AlphaZeroPlayer(net, simulations, device=device)
    out = {}
    for spec in opponents:
        opp = make_player(spec, net.cfg.board_size, device=device, seed=seed)
        out[spec] = play_match(
            agent, opp, games, net.cfg.board_size, seed=seed, progress=progress
        ).to_dict()
    return out


@dataclass
class SolvedPosition:
    position: Position
    values: dict[int, int]  # exact final disc difference of every legal action

    @property
    def best(self) -> int:
        return max(self.values.values())


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


def _eligible(p: Position, low: int, high: int) -> bool:
    return not p.is_terminal() and low <= p.empties() <= high and len(p.legal_actions()) > 1


def sample_positions(
    net: AlphaZeroNet,
    count: int,
    empties=(10, 14),
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> list[Position]:
    """`count` distinct positions: half from the agent's games against itself (raw policy,
    random openings), half from uniformly random games."""
    rng = random.Random(seed)
    n = net.cfg.board_size
    low, high = empties
    own: list[Position] = []
    agent = AlphaZeroPlayer(net, 0, device=device)
    games = 0
    while len(own) < count // 2 and games < 50 * count:
        res = play_match(
            agent, agent, 64, n, opening_plies=8, seed=seed + games, progress=False, record=True
        )
        games += 64
        for rec in res.records:
            pool = [p for p in rec.positions if _eligible(p, low, high)]
            if pool:
                own.append(rng.choice(pool))
    randoms: list[Position] = []
    while len(randoms) < count - len(own[: count // 2]):
        p = Position.start(n)
        pool = []
        while not p.is_terminal():
            if _eligible(p, low, high):
                pool.append(p)
            p = p.play(rng.choice(p.legal_actions()))
        if pool:
            randoms.append(rng.choice(pool))
    return own[: count // 2] + randoms


def solve_all(positions: list[Position], progress: bool = True) -> list[SolvedPosition]:
    out = []
    for p in tqdm(positions, desc="solving", disable=not progress, leave=False):
        out.append(SolvedPosition(p, solver_for(p.n).solve_moves(p)))
    return out


def move_accuracy(solved: list[SolvedPosition], actions: list[int]) -> dict[str, float]:
    """Share of moves that keep the best outcome class, the same share on the critical
    positions (where some legal move does lose the outcome), exact-best share, discs lost."""
    keep = exact = lost = critical = critical_keep = 0
    for s, a in zip(solved, actions, strict=True):
        v = s.values[a]
        ok = _sign(v) == _sign(s.best)
        keep += ok
        exact += v == s.best
        lost += s.best - v
        if any(_sign(x) != _sign(s.best) for x in s.values.values()):
            critical += 1
            critical_keep += ok
    k = len(solved)
    low, high = wilson_interval(keep / k, k)
    return dict(
        outcome_accuracy=keep / k,
        outcome_accuracy_95=[low, high],  # Wilson interval: 400 positions give about +-2%
        exact_accuracy=exact / k,
        discs_lost=lost / k,
        positions=k,
        critical_positions=critical,
        critical_accuracy=critical_keep / critical if critical else float("nan"),
    )


def accuracy_table(
    net: AlphaZeroNet, solved: list[SolvedPosition], simulations: list[int], device: str = "cpu"
) -> dict[str, dict]:
    """Move accuracy of the raw policy (sims 0) and of MCTS at each simulation count."""
    out = {}
    positions = [s.position for s in solved]
    for sims in simulations:
        player = AlphaZeroPlayer(net, sims, device=device)
        player.new_match(0)
        actions = player.choose(positions, list(range(len(positions))))
        out["raw policy" if sims == 0 else f"mcts {sims}"] = move_accuracy(solved, actions)
    return out


@cli.command
def main(argv=None) -> dict:
    ap = cli.parser(prog="python -m alphazero.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="agent checkpoint (stem, .json or .safetensors)")
    ap.add_argument("--games", type=int, default=200, help="games per opponent (0: skip)")
    ap.add_argument("--sims", type=int, default=64, help="MCTS simulations per move")
    ap.add_argument("--opponents", default="random,greedy,alphabeta:2,alphabeta:4")
    ap.add_argument(
        "--positions", type=int, default=2000, help="solved positions for move accuracy (0: skip)"
    )
    ap.add_argument(
        "--accuracy-sims",
        default="0,16,64",
        help="comma-separated simulation counts for move accuracy (0 = raw policy)",
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--device", type=cli.device, default="cpu")
    ap.add_argument(
        "--json", type=cli.out_file, metavar="PATH", help="also write the results as JSON"
    )
    args = ap.parse_args(argv)
    try:
        net, config = load_agent(args.checkpoint, args.device)
        sims_list = [int(s) for s in args.accuracy_sims.split(",") if s.strip()]
    except ValueError as e:
        ap.error(str(e))
    results: dict = {"checkpoint": args.checkpoint, "iteration": config.get("iteration")}
    if args.games > 0:
        results["matches"] = match_table(
            net, args.opponents.split(","), args.games, args.sims, args.seed, args.device
        )
        print(f"\nMCTS {args.sims} sims, {args.games} games per opponent, seeded openings")
        print(f"{'opponent':<14}{'W':>5}{'D':>5}{'L':>5}{'score':>8}{'disc +/-':>10}  Elo [95%]")
        for spec, r in results["matches"].items():
            lo = "-inf" if r["elo_low"] is None else f"{r['elo_low']:.0f}"
            hi = "inf" if r["elo_high"] is None else f"{r['elo_high']:.0f}"
            print(
                f"{spec:<14}{r['wins']:>5}{r['draws']:>5}{r['losses']:>5}"
                f"{r['score_rate']:>8.3f}{r['mean_disc_diff']:>+10.2f}  "
                f"{r['elo']:+.0f} [{lo}, {hi}]"
            )
    if args.positions > 0:
        positions = sample_positions(net, args.positions, seed=args.seed, device=args.device)
        solved = solve_all(positions)
        results["accuracy"] = accuracy_table(net, solved, sims_list, args.device)
        print(
            f"\nMove accuracy on {len(solved)} solved positions (10-14 empties, "
            f"half own games, half random games)"
        )
        crit = next(iter(results["accuracy"].values()))["critical_positions"]
        print(
            f"{'player':<12}{'keeps outcome [95%]':>23}{'on critical':>13}{'exact best':>12}"
            f"{'discs lost':>12}   (critical: {crit} positions where a move can lose)"
        )
        for name, r in results["accuracy"].items():
            lo, hi = r["outcome_accuracy_95"]
            keeps = f"{r['outcome_accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"
            print(
                f"{name:<12}{keeps:>23}{r['critical_accuracy']:>13.3f}"
                f"{r['exact_accuracy']:>12.3f}{r['discs_lost']:>12.3f}"
            )
    if args.json:
        atomic_write_json(args.json, results)
    sys.stdout.flush()
    return results


if __name__ == "__main__":
    main()
