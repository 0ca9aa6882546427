"""AlphaZero training: self-play -> train -> evaluate, one iteration at a time.

The whole loop is `train()` below. Every iteration ends by committing one training state
(common.io's `save_state`): the net's float32 weights, the optimizer, the replay buffer and
the torch RNG in one tensor file, then the JSON naming it (with its SHA-256, the numpy RNG,
the counters, the settings and the log) renamed into place: the commit point. Everything
else is an export rewritten from the committed state, after it and again on resume, so
`resume=True` continues a run killed at any instant from its last committed iteration,
with exactly the weights, buffer and RNG it had, and ends with the files an uninterrupted
run writes.

Run directory layout:
    state/state.json               resume point: names the tensor file below, written last
    state/state.00000003.safetensors   weights, optimizer moments, replay buffer, torch RNG
    agent.safetensors/.json        latest agent (what play.py and the SAE tools load)
    iters/iter_0003.*              agent after each iteration (float16; the "skill levels")
    log.jsonl                      one JSON line of metrics per iteration
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from alphazero.agent import AlphaZeroPlayer
from alphazero.inference import NetEvaluator, cpu_has_bf16
from alphazero.model import AlphaZeroNet, NetConfig, load_agent, save_agent
from alphazero.replay import ReplayBuffer
from alphazero.selfplay import Examples, SelfPlayConfig, self_play
from common.io import (
    atomic_write_text,
    check_state_dict,
    load_state,
    read_json,
    remove_stale_generations,
    remove_stale_temp,
    save_state,
    settings_diff,
)
from othello.arena import play_match
from othello.players import make_player

STATE_KIND = "alphazero_train_state"


@dataclass
class TrainConfig:
    # network
    board_size: int = 6
    d_model: int = 256
    n_blocks: int = 4
    legal_plane: bool = True
    # self-play
    iterations: int = 20
    games_per_iteration: int = 256
    parallel_games: int = 256
    simulations: int = 32  # at the first iteration ...
    final_simulations: int = 32  # ... growing linearly to this at the last (MiniZero)
    root_rule: str = "gumbel"  # "gumbel" or "puct"
    opening_plies: int = 0  # self-play games start after 0..K random plies (uniform per game)
    value_q_weight: float = 0.0  # value target mixes in the root search value (see selfplay)
    solve_empties: int = 0  # exact endgame solver rescores value targets (see selfplay)
    # optimisation
    batch_size: int = 512
    sample_reuse: float = 4.0  # each new position is drawn this many times on average
    lr: float = 2e-3
    lr_min_fraction: float = 0.05  # cosine decay to lr * this over the run
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    buffer_positions: int = 150_000
    value_weight: float = 1.0
    aux_weight: float = 0.5  # ownership + margin auxiliary targets (KataGo); 0 turns them off
    # evaluation after each iteration (0 games = skip)
    eval_games: int = 64
    eval_simulations: int = 32
    eval_opponents: str = "random,greedy,alphabeta:2"
    eval_every: int = 1  # evaluate after every k-th iteration (and the last)
    # run
    seed: int = 0
    device: str = "cpu"
    inference_dtype: str = "auto"  # self-play net copy: auto = bf16 where the CPU has AMX
    train_autocast: bool = True  # bf16 autocast for training steps where the CPU supports it

    def net_config(self) -> NetConfig:
        return NetConfig(self.board_size, self.d_model, self.n_blocks, legal_plane=self.legal_plane)

    def simulations_at(self, iteration: int) -> int:
        if self.iterations <= 1:
            return self.final_simulations
        frac = iteration / (self.iterations - 1)
        return round(self.simulations + frac * (self.final_simulations - self.simulations))


PRESETS: dict[str, dict] = {
    # A few minutes on 2 CPU cores: feeds the quick pipeline (SAEs on a real, weak agent).
    "quick": dict(
        iterations=4,
        games_per_iteration=128,
        parallel_games=128,
        simulations=16,
        final_simulations=16,
        eval_games=32,
        eval_simulations=16,
        sample_reuse=3.0,
    ),
    # The shipped agent: the strongest we reach in about 30 minutes on 2 CPU cores. PUCT beat
    # Gumbel here at equal time, and lr 1e-3 with the value target mixing outcome and root
    # value beat lr 2e-3 on the outcome alone (docs/agent.md, "What was tried").
    "strong": dict(
        iterations=48,
        games_per_iteration=512,
        parallel_games=256,
        simulations=16,
        final_simulations=64,
        root_rule="puct",
        sample_reuse=8.0,
        lr=1e-3,
        value_q_weight=0.5,
        eval_games=64,
        eval_simulations=32,
        eval_every=3,
        eval_opponents="random,greedy,alphabeta:2,alphabeta:4",
    ),
    # CI smoke test: seconds.
    "tiny": dict(
        d_model=32,
        n_blocks=2,
        iterations=2,
        games_per_iteration=8,
        parallel_games=8,
        simulations=4,
        final_simulations=4,
        batch_size=64,
        eval_games=4,
        eval_simulations=4,
        eval_opponents="random",
        buffer_positions=2000,
    ),
}


def make_config(preset: str | None = None, **overrides) -> TrainConfig:
    base = dict(PRESETS[preset]) if preset else {}
    base.update(overrides)
    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(base) - known)
    if bad:
        raise ValueError(f"unknown training settings {bad}")
    return TrainConfig(**base)


# -- losses ---------------------------------------------------------------------------------
def to_tensors(ex: Examples, net: AlphaZeroNet) -> dict[str, torch.Tensor]:
    x, legal = net.encode(ex.me, ex.opp)
    dev = x.device
    return dict(
        x=x,
        legal=legal,
        policy=torch.from_numpy(ex.policy).to(dev),
        outcome=torch.from_numpy(ex.outcome).to(dev),
        ownership=torch.from_numpy(ex.ownership.astype(np.float32)).to(dev),
        margin=torch.from_numpy(ex.margin).to(dev),
    )


def losses(net: AlphaZeroNet, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = net(batch["x"], batch["legal"])
    logp = F.log_softmax(out.policy_logits.float(), dim=-1)
    # Targets are 0 on illegal actions, where logp is -inf: take 0 * -inf as 0.
    target = batch["policy"]
    policy = -torch.where(target > 0, target * logp, 0.0).sum(-1).mean()
    value = F.mse_loss(out.value.float(), batch["outcome"])
    ownership = F.mse_loss(out.ownership.float(), batch["ownership"])
    margin = F.mse_loss(out.margin.float(), batch["margin"])
    return dict(policy=policy, value=value, ownership=ownership, margin=margin)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (
        cfg.lr_min_fraction + (1 - cfg.lr_min_fraction) * 0.5 * (1 + math.cos(math.pi * frac))
    )


# -- checkpoint state -------------------------------------------------------------------------
def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split an optimizer state dict into flat tensors (safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors, meta = {}, {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        meta["state"][str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
            else:
                meta["state"][str(pid)][k] = v
    return tensors, meta


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state = {}
    for pid, rest in meta["state"].items():
        st = dict(rest)
        for name, t in tensors.items():
            p, _, k = name.partition(".")
            if p == pid:
                st[k] = t
        state[int(pid)] = st
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


class Run:
    """Files of one training run (see the module docstring)."""

    def __init__(self, out: str | Path):
        self.dir = Path(out)
        self.state_dir = self.dir / "state"
        self.state = self.state_dir / "state"
        self.iters_dir = self.dir / "iters"
        self.agent = self.dir / "agent"
        self.log = self.dir / "log.jsonl"

    def iter_stem(self, it: int) -> Path:
        return self.iters_dir / f"iter_{it:04d}"

    def exists(self) -> bool:
        return self.state.with_suffix(".json").exists()

    def save(self, net, opt, buffer, rng, state: dict) -> None:
        """Commit an iteration (`state`: iteration, step, elapsed, train_config, metrics,
        log), then rewrite the exports from it."""
        opt_tensors, opt_meta = _optimizer_tensors(opt)
        buf_tensors, buf_meta = buffer.state()
        tensors = {
            **{f"net.{k}": v for k, v in net.state_dict().items()},
            **{f"optim.{k}": v for k, v in opt_tensors.items()},
            **{f"buffer.{k}": v for k, v in buf_tensors.items()},
            "torch_rng": torch.get_rng_state(),
        }
        state = dict(
            state, kind=STATE_KIND, optimizer=opt_meta, buffer=buf_meta, rng=rng.bit_generator.state
        )
        save_state(self.state, tensors, state, generation=state["iteration"])
        self.export(net, state)

    def export(self, net, state: dict) -> None:
        """The agent files and the log of a committed state (idempotent)."""
        meta = dict(
            iteration=state["iteration"],
            step=state["step"],
            train_config=state["train_config"],
            metrics=state["metrics"],
            elapsed_seconds=state["elapsed"],
        )
        save_agent(net, self.agent, **meta)
        save_agent(net, self.iter_stem(state["iteration"]), dtype=torch.float16, **meta)
        atomic_write_text(self.log, "".join(json.dumps(line) + "\n" for line in state["log"]))

    def load(self, net, opt) -> tuple[ReplayBuffer, dict] | None:
        """Restore the committed state into `net` and `opt` (built with its settings), after
        removing what a killed save left behind; re-export it. None if nothing was committed."""
        for folder in (self.dir, self.state_dir, self.iters_dir):
            for p in remove_stale_temp(folder):
                print(f"removed stale temporary {p}")
        remove_stale_generations(self.state)
        loaded = load_state(self.state, STATE_KIND)
        if loaded is None:
            return None
        tensors, state = loaded
        part = {
            prefix: {
                k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")
            }
            for prefix in ("net", "optim", "buffer")
        }
        check_state_dict(net, part["net"], str(self.state.with_suffix(".json")))
        net.load_state_dict(part["net"])
        _load_optimizer(opt, part["optim"], state["optimizer"])
        torch.set_rng_state(tensors["torch_rng"])
        self.export(net, state)
        return ReplayBuffer.from_state(part["buffer"], state["buffer"]), state


# -- evaluation -------------------------------------------------------------------------------
def evaluate_iteration(net, prev_stem, cfg: TrainConfig, seed: int) -> dict:
    if cfg.eval_games <= 0:
        return {}
    agent = AlphaZeroPlayer(net, cfg.eval_simulations, device=cfg.device, dtype=cfg.inference_dtype)
    opponents = [s for s in cfg.eval_opponents.split(",") if s]
    results = {}
    for spec in opponents + (["previous"] if prev_stem else []):
        if spec == "previous":
            prev, _ = load_agent(prev_stem, cfg.device)
            opp = AlphaZeroPlayer(
                prev,
                cfg.eval_simulations,
                device=cfg.device,
                dtype=cfg.inference_dtype,
                name="previous",
            )
        else:
            opp = make_player(spec, cfg.board_size, seed=seed)
        r = play_match(agent, opp, cfg.eval_games, cfg.board_size, seed=seed, progress=False)
        results[f"score_vs_{spec}"] = r.score_rate
    return results


# -- the loop ---------------------------------------------------------------------------------
def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    wandb_run=None,
    progress: bool = True,
    play=None,
) -> AlphaZeroNet:
    """`play(net, n, games, selfplay_config, seed, progress) -> (examples, stats)` plays each
    iteration's games (default: here, `self_play`; alphazero.selfplay_actors on Ray)."""
    run = Run(out)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = AlphaZeroNet(cfg.net_config()).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    buffer = ReplayBuffer(cfg.buffer_positions, cfg.board_size)
    start_it, step, elapsed, log = 0, 0, 0.0, []

    if run.exists() and not resume:
        raise FileExistsError(f"{run.dir} already holds a run: pass --resume or a new --out")
    if run.exists():
        saved = read_json(run.state.with_suffix(".json"), "training state").get("train_config")
        changed = settings_diff(saved, asdict(cfg))
        if changed:
            raise ValueError(
                f"--resume with different settings ({'; '.join(changed)}); use the original "
                f"settings or a new --out"
            )
    loaded = run.load(net, opt)  # (also clears what a run killed before its first commit left)
    if loaded is None:
        if resume:
            print(f"no resumable state in {run.state_dir}; starting a new run")
    else:
        buffer, state = loaded
        rng.bit_generator.state = state["rng"]
        start_it, step, elapsed = state["iteration"] + 1, state["step"], state["elapsed"]
        log = state["log"]
        print(
            f"resuming at iteration {start_it} from {run.state.with_suffix('.json')} "
            f"(iteration {state['iteration']} committed, step {step})"
        )

    evaluator = NetEvaluator(net, dtype=cfg.inference_dtype, device=cfg.device)

    def play_here(net, n, games, sp_cfg, seed, progress):
        evaluator.load(net)
        return self_play(evaluator, n, games, sp_cfg, seed=seed, progress=progress)

    play = play or play_here
    autocast = cfg.train_autocast and (device.type == "cuda" or cpu_has_bf16())
    # Planned total steps, for the cosine schedule: positions per game ~ (n*n - 4) plies.
    total_steps = int(
        cfg.iterations
        * cfg.games_per_iteration
        * (cfg.board_size**2 - 4)
        * cfg.sample_reuse
        / cfg.batch_size
    )

    bar = tqdm(
        range(start_it, cfg.iterations),
        desc="iterations",
        disable=not progress,
        initial=start_it,
        total=cfg.iterations,
    )
    for it in bar:
        t0 = time.perf_counter()
        # 1. self-play with the current weights
        sp_cfg = SelfPlayConfig(
            cfg.parallel_games,
            cfg.simulations_at(it),
            cfg.root_rule,
            opening_plies=cfg.opening_plies,
            q_weight=cfg.value_q_weight,
            solve_empties=cfg.solve_empties,
        )
        seed = int(rng.integers(2**63))
        examples, sp = play(net, cfg.board_size, cfg.games_per_iteration, sp_cfg, seed, progress)
        buffer.add(examples)
        t_selfplay = time.perf_counter() - t0

        # 2. train on the replay buffer
        net.train()
        steps = max(1, round(cfg.sample_reuse * len(examples) / cfg.batch_size))
        sums: dict[str, float] = {}
        for _ in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total_steps, cfg)
            batch = to_tensors(buffer.sample(cfg.batch_size, rng), net)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                parts = losses(net, batch)
            loss = (
                parts["policy"]
                + cfg.value_weight * parts["value"]
                + cfg.aux_weight * (parts["ownership"] + parts["margin"])
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v.item()
        net.eval()
        t_train = time.perf_counter() - t0 - t_selfplay

        # 3. evaluate against baselines and the previous iteration
        scores = {}
        if (it + 1) % cfg.eval_every == 0 or it == cfg.iterations - 1:
            prev = run.iter_stem(it - cfg.eval_every) if it >= cfg.eval_every else None
            scores = evaluate_iteration(net, prev, cfg, seed=cfg.seed + it)
        t_eval = time.perf_counter() - t0 - t_selfplay - t_train
        elapsed += time.perf_counter() - t0

        metrics = dict(
            **{f"loss_{k}": v / steps for k, v in sums.items()},
            selfplay_games=sp.games,
            selfplay_positions=sp.positions,
            selfplay_positions_per_s=sp.positions / t_selfplay,
            selfplay_black_win=sp.black_wins / max(1, sp.games),
            selfplay_draw=sp.draws / max(1, sp.games),
            simulations=sp_cfg.simulations,
            train_steps=steps,
            lr=lr_at(step, total_steps, cfg),
            seconds_selfplay=t_selfplay,
            seconds_train=t_train,
            seconds_eval=t_eval,
            buffer=len(buffer),
            **scores,
        )
        log.append(dict(iteration=it, step=step, elapsed=elapsed, **metrics))
        state = dict(
            iteration=it,
            step=step,
            elapsed=elapsed,
            train_config=asdict(cfg),
            metrics=metrics,
            log=log,
        )
        run.save(net, opt, buffer, rng, state)
        if wandb_run is not None:
            wandb_run.log(dict(iteration=it, elapsed=elapsed, **metrics), step=step)
        bar.set_postfix(
            {k.replace("score_vs_", "vs "): f"{v:.2f}" for k, v in scores.items()}
            | {"pol": f"{metrics['loss_policy']:.3f}"}
        )
    return net
