"""Steered vs clean MCTS player: positions searched per second in lockstep matches, side by side.

    python bench/bench_steer.py                     # shipped agent + SAE, 64 simulations
    python bench/bench_steer.py --games 64 --rounds 3 --sims 64

Three players search the same matches (--games games against the random player, seeded
openings, every game in lockstep, so each search step evaluates one batch of leaves): the
clean agent as `play.py` builds it (inference dtype "auto": bfloat16 on CPUs with bf16 matrix
units, else float32), the clean agent in float32, and the steered agent (float32 by design:
the edit runs on the float32 net), which also encodes, edits and decodes the dictionary's
site on every batch. Only the time inside each player's `choose` counts. Rounds alternate
the order; the ratio steered / clean is taken within each round (the three players run back
to back, so a shared machine's load changes cancel) and its median reported.
The target of issue 13: steered >= 0.70 x clean.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from alphazero.agent import AlphaZeroPlayer  # noqa: E402
from alphazero.inference import cpu_has_bf16  # noqa: E402
from alphazero.model import AlphaZeroNet, NetConfig, load_agent  # noqa: E402
from othello.arena import play_match  # noqa: E402
from othello.player import Player  # noqa: E402
from othello.players import RandomPlayer  # noqa: E402
from sae.dictionary.model import DictConfig, Dictionary  # noqa: E402
from sae.steering.edit import Edit, load_for_agent, parse_latents, steered_player  # noqa: E402

AGENT = Path("pretrained/agent")
SAE = Path("runs/sae_agent/topk_k32_n1024/dictionary.json")


class Timed(Player):
    """A player whose `choose` calls are timed and counted."""

    def __init__(self, inner: Player):
        self.inner, self.name = inner, inner.name
        self.seconds, self.positions = 0.0, 0

    def new_match(self, seed=None):
        self.inner.new_match(seed)

    def game_over(self, game_id):
        self.inner.game_over(game_id)

    def choose(self, positions, game_ids):
        t0 = time.perf_counter()
        out = self.inner.choose(positions, game_ids)
        self.seconds += time.perf_counter() - t0
        self.positions += len(positions)
        return out


def cpu_line() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}; bf16 matrix units: {'yes' if cpu_has_bf16() else 'no'}"


def load(args):
    import torch

    if Path(f"{args.agent}.json").exists():
        net, _ = load_agent(args.agent)
    else:  # no shipped agent: a default-size net with random weights, same cost
        torch.manual_seed(0)
        net = AlphaZeroNet(NetConfig()).eval()
    if args.dictionary and Path(args.dictionary).exists():
        return net, load_for_agent(args.dictionary, net)
    torch.manual_seed(0)
    cfg = DictConfig("topk", net.cfg.d_model, 1024, 32, in_site="blocks.2.resid_post")
    dictionary = Dictionary(cfg).eval()
    dictionary.set_scales(float(net.cfg.d_model) ** 0.5, float(net.cfg.d_model) ** 0.5)
    return net, dictionary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", default=str(AGENT))
    ap.add_argument("--dictionary", default=str(SAE), help="(random TopK 1024 if missing)")
    ap.add_argument("--latents", default="0-4", help="latents edited (default 0-4)")
    ap.add_argument("--op", default="scale")
    ap.add_argument("--value", type=float, default=10.0)
    ap.add_argument("--sims", type=int, default=64)
    ap.add_argument("--games", type=int, default=32, help="games per match, in lockstep")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args(argv)
    import torch

    net, dictionary = load(args)
    edits = [Edit(parse_latents(args.latents), args.op, args.value)]
    players = {
        "clean (auto dtype)": AlphaZeroPlayer(net, args.sims, name="clean"),
        "clean float32": AlphaZeroPlayer(net, args.sims, dtype="float32", name="clean32"),
        "steered float32": steered_player(net, dictionary, edits, args.sims, name="steered"),
    }
    dtypes = {k: str(p.evaluator.dtype).removeprefix("torch.") for k, p in players.items()}
    rates: dict[str, list[float]] = {name: [] for name in players}
    names = list(players)
    for r in range(args.rounds):  # the three back to back, so each round's ratios share a load
        for name in names if r % 2 == 0 else names[::-1]:
            timed = Timed(players[name])
            n = net.cfg.board_size
            play_match(timed, RandomPlayer(r), args.games, n, seed=r, progress=False)
            rates[name].append(timed.positions / timed.seconds)
    steered = np.array(rates["steered float32"])
    print(
        f"MCTS {args.sims} simulations, {args.games} games in lockstep vs random, {args.rounds} "
        f"rounds; torch threads {torch.get_num_threads()}; {cpu_line()}"
    )
    print(
        f"dictionary {dictionary.cfg.in_site} {dictionary.cfg.n_latents} latents "
        f"({dictionary.cfg.architecture}), edit {edits[0].op} {edits[0].value:g} on "
        f"{len(edits[0].latents)} latents"
    )
    print(
        f"{'player':<22}{'dtype':>10}{'positions/s (median, best)':>30}"
        f"{'steered / this per round: median [min, max]':>46}"
    )
    for name, values in rates.items():
        v = np.array(values)
        ratio = steered / v
        print(
            f"{name:<22}{dtypes[name]:>10}{np.median(v):>18.1f}{v.max():>12.1f}"
            f"{np.median(ratio):>28.2f}x [{ratio.min():.2f}, {ratio.max():.2f}]"
        )


if __name__ == "__main__":
    main()
