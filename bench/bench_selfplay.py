"""Self-play throughput: batched lockstep MCTS versus a sequential loop, side by side.

    python bench/bench_selfplay.py                   # default net, 64 simulations
    python bench/bench_selfplay.py --sims 32 --parallel 512

Both use the same (randomly initialised, default-size) network, the same search and the same
simulations per move. "Batched" plays --parallel games in lockstep with one network call per
simulation step for all of them; "sequential" plays one game at a time with a batch-1 network
call per simulation. Sequential is timed in float32 and in the inference dtype, and the ratio
is taken against the faster of the two. Positions/s counts searched (recorded) positions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from alphazero.inference import NetEvaluator  # noqa: E402
from alphazero.model import AlphaZeroNet, NetConfig  # noqa: E402
from alphazero.selfplay import SelfPlayConfig, self_play  # noqa: E402


def measure(net, dtype: str, parallel: int, games: int, sims: int, rule: str) -> dict:
    evaluator = NetEvaluator(net, dtype=dtype)
    cfg = SelfPlayConfig(parallel_games=parallel, simulations=sims, root_rule=rule)
    self_play(evaluator, net.cfg.board_size, 1, SelfPlayConfig(1, 2, rule), progress=False)
    evaluator.calls = evaluator.positions = 0
    t0 = time.perf_counter()
    examples, stats = self_play(evaluator, net.cfg.board_size, games, cfg, seed=0, progress=False)
    dt = time.perf_counter() - t0
    return dict(
        positions_per_s=stats.positions / dt,
        evals_per_s=evaluator.positions / dt,
        mean_batch=evaluator.positions / max(1, evaluator.calls),
        dtype=str(evaluator.dtype).replace("torch.", ""),
        seconds=dt,
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=256, help="games in lockstep (batched)")
    ap.add_argument("--games", type=int, default=512, help="games for the batched run")
    ap.add_argument("--sequential-games", type=int, default=2)
    ap.add_argument("--rule", choices=["puct", "gumbel"], default="gumbel")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=4)
    args = ap.parse_args(argv)
    import torch

    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=args.d_model, n_blocks=args.blocks)).eval()
    rows = {
        "sequential float32": measure(
            net, "float32", 1, args.sequential_games, args.sims, args.rule
        ),
        "sequential auto": measure(net, "auto", 1, args.sequential_games, args.sims, args.rule),
        f"batched x{args.parallel} auto": measure(
            net, "auto", args.parallel, args.games, args.sims, args.rule
        ),
    }
    base = max(
        rows["sequential float32"]["positions_per_s"], rows["sequential auto"]["positions_per_s"]
    )
    print(
        f"self-play, {args.rule} root, {args.sims} simulations/move, "
        f"net d={args.d_model} x {args.blocks} blocks, torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'mode':<22}{'dtype':>10}{'positions/s':>13}{'net evals/s':>13}{'mean batch':>12}"
        f"{'vs sequential':>15}"
    )
    for name, r in rows.items():
        print(
            f"{name:<22}{r['dtype']:>10}{r['positions_per_s']:>13.1f}{r['evals_per_s']:>13.0f}"
            f"{r['mean_batch']:>12.1f}{r['positions_per_s'] / base:>14.1f}x"
        )


if __name__ == "__main__":
    main()
