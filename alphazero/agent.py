"""The AlphaZero agent as a `Player`: batched MCTS over all the games it is playing.

One `choose` call searches every given game together (one network call per simulation step
for all of them) and keeps each game's tree between moves: the opponent's reply is found
among the children of the previous root, so its subtree is reused.

Importing this module registers the `az:CHECKPOINT[:SIMS]` player spec with the game's
player factory (`othello.players`). Layers above add suffixes to it through
`register_az_extension` (`sae.steering`: `az:CKPT:SIMS+steer:...`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from alphazero.inference import NetEvaluator
from alphazero.mcts import BatchedMCTS, SearchConfig
from alphazero.model import AlphaZeroNet, load_agent
from othello import batch
from othello.game import Position
from othello.player import Player
from othello.players import register_player_kind


class AlphaZeroPlayer(Player):
    def __init__(
        self,
        net: AlphaZeroNet,
        simulations: int = 64,
        *,
        root_rule: str = "puct",
        root_noise: bool = False,
        temperature: float = 0.0,
        temperature_plies: int = 0,
        seed: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        name: str | None = None,
        search: SearchConfig | None = None,
        evaluator: NetEvaluator | None = None,
    ):
        self.n = net.cfg.board_size
        # A given evaluator (e.g. sae.steering.edit's steered net) replaces the plain copy.
        self.evaluator = evaluator or NetEvaluator(net, dtype=dtype, device=device)
        self.cfg = search or SearchConfig(
            simulations=max(simulations, 1),
            root_rule=root_rule,
            root_noise=root_noise,
            gumbel_scale=1.0 if root_noise else 0.0,
        )
        self.raw_policy = simulations == 0
        self.temperature = temperature
        self.temperature_plies = temperature_plies
        self.name = name or ("az-raw" if self.raw_policy else f"az:{simulations}")
        self.seed = seed
        self.new_match(seed)

    def new_match(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)
        self.mcts = (
            None
            if self.raw_policy
            else BatchedMCTS(
                self.evaluator, self.n, 0, self.cfg, seed=int(self.rng.integers(2**63))
            )
        )
        self.slot_of: dict[int, int] = {}
        self.free: list[int] = []

    def game_over(self, game_id: int) -> None:
        slot = self.slot_of.pop(game_id, None)
        if slot is not None:
            self.free.append(slot)

    def _slot(self, game_id: int) -> tuple[int, bool]:
        if game_id in self.slot_of:
            return self.slot_of[game_id], False
        if not self.free:
            old = self.mcts.num_trees
            self.mcts.grow(max(2 * old, 8))
            self.free.extend(range(self.mcts.num_trees - 1, old - 1, -1))
        slot = self.free.pop()
        self.slot_of[game_id] = slot
        return slot, True

    def _pick(self, policy: np.ndarray, best: np.ndarray, positions) -> np.ndarray:
        """Greedy after the opening plies; sample policy^(1/T) before them."""
        actions = best.copy()
        if self.temperature > 0:
            for i, pos in enumerate(positions):
                ply = pos.n * pos.n - 4 - pos.empties()
                if ply < self.temperature_plies:
                    p = policy[i] ** (1.0 / self.temperature)
                    actions[i] = self.rng.choice(len(p), p=p / p.sum())
        return actions

    def choose(self, positions: Sequence[Position], game_ids: Sequence[int]) -> list[int]:
        me = np.array([p.me for p in positions], dtype=np.uint64)
        opp = np.array([p.opp for p in positions], dtype=np.uint64)
        if self.raw_policy:
            priors, _ = self.evaluator(me, opp)
            return [int(a) for a in self._pick(priors, priors.argmax(axis=1), positions)]
        slots = np.array(
            [self._sync(pos, gid) for pos, gid in zip(positions, game_ids, strict=True)]
        )
        result = self.mcts.search(slots)
        actions = self._pick(result.policy, result.best, positions)
        self.mcts.advance(slots, actions)
        return [int(a) for a in actions]

    def _sync(self, pos: Position, game_id: int) -> int:
        """Point the game's tree at `pos`: reuse the child it reached, else start afresh."""
        slot, new = self._slot(game_id)
        t = self.mcts
        if not new and not t.terminal[slot, 0]:
            legal = np.flatnonzero(t.legal[slot, 0])
            me, opp = batch.play(
                np.full(len(legal), t.me[slot, 0]),
                np.full(len(legal), t.opp[slot, 0]),
                legal,
                self.n,
            )
            hit = np.flatnonzero((me == pos.me) & (opp == pos.opp))
            if hit.size:
                t.advance([slot], [legal[hit[0]]])
                return slot
        if new or t.me[slot, 0] != pos.me or t.opp[slot, 0] != pos.opp:
            t.reset([slot], [pos.me], [pos.opp])
        return slot


# suffix name -> (builder(net, checkpoint, simulations, suffix_text, device) -> Player, form)
_EXTENSIONS: dict[str, tuple[Callable[..., Player], str]] = {}


def register_az_extension(name: str, build: Callable[..., Player], form: str) -> None:
    """`az:CKPT[:SIMS]+NAME:...` builds `build(net, CKPT, SIMS, "NAME:...", device)`."""
    _EXTENSIONS[name] = (build, form)
    _register()


def make_az_player(spec: str, n: int, device: str = "cpu") -> Player:
    """`CHECKPOINT[:SIMS]` (the part after `az:` in a player spec); SIMS 0 = raw policy.
    `CHECKPOINT[:SIMS]+NAME:...` hands the player to a registered extension (NAME steer:
    `sae.steering`)."""
    spec, plus, suffix = spec.partition("+")
    path, _, sims = spec.partition(":")
    if sims and not sims.isdigit():
        raise ValueError(f"az:{spec}: SIMS must be a non-negative integer")
    name = suffix.partition(":")[0]
    if plus and name not in _EXTENSIONS:
        known = ", ".join(form for _, form in _EXTENSIONS.values()) or "none registered"
        raise ValueError(
            f"az:{spec}+{suffix}: unknown suffix {name!r} (known: {known}; +steer: comes with "
            f"sae.steering, which play.py imports)"
        )
    net, config = load_agent(path, device=device)
    if net.cfg.board_size != n:
        raise ValueError(
            f"{path} was trained on {net.cfg.board_size}x{net.cfg.board_size}, not {n}x{n}"
        )
    simulations = int(sims) if sims else 64
    if plus:
        build, _ = _EXTENSIONS[name]
        return build(net, path, simulations, suffix, device)
    return AlphaZeroPlayer(net, simulations, device=device, name=f"az:{path}:{simulations}")


def _register() -> None:
    forms = ["az:CHECKPOINT[:SIMS]"]
    forms += [f"az:CHECKPOINT[:SIMS]+{form}" for _, form in _EXTENSIONS.values()]
    register_player_kind("az", lambda arg, n, device, seed: make_az_player(arg, n, device), forms)


_register()
