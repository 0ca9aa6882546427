"""Batched Monte-Carlo tree search: many games' trees advance in lockstep.

Every simulation step descends all trees at once (numpy over the games, a Python loop only
over depth), expands one leaf per game, evaluates all new leaves with ONE call to the
evaluator, and backs the values up. Tree statistics live in arrays of shape
[trees, nodes, actions]; node 0 is always the root, and `advance` keeps the subtree of the
move played (compacted back to the front of the arrays).

Two root rules:
- "puct": AlphaZero's PUCT with optional Dirichlet noise at the root; play from visit counts.
- "gumbel": Gumbel AlphaZero (Danihelka et al., ICLR 2022): sample up to `considered`
  root actions with Gumbel noise, share the simulations between them by sequential halving,
  and take the policy target from completed Q-values. Inside the tree it selects with the
  deterministic rule of that paper. It keeps improving the policy with 8-32 simulations.

The search sees the game only through `othello.batch` (rules over bitboards) and the
evaluator: `evaluate(me, opp) -> (priors [K, A], values [K])`, priors 0 on illegal actions,
values in [-1, 1] from the side to move. Values in the tree are from the point of view of
the player choosing at that node; every action, a pass included, hands the move over, so a
value changes sign at every ply. A finished game is valued +1 / 0 / -1: a draw is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from alphazero import mcts_kernels as kernels
from othello import batch

Evaluator = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class SearchConfig:
    simulations: int = 64
    root_rule: str = "puct"  # "puct" or "gumbel"
    c_puct: float = 1.5
    fpu_reduction: float = 0.2  # unvisited child's Q = parent's value - this
    root_noise: bool = False  # Dirichlet noise on the root priors (PUCT self-play)
    dirichlet_alpha: float = 0.5
    noise_fraction: float = 0.25
    gumbel_scale: float = 1.0  # 0 = deterministic Gumbel search (evaluation)
    considered: int = 16  # Gumbel: root actions sampled for sequential halving
    c_visit: float = 50.0  # Gumbel: sigma(q) = (c_visit + max N) * c_scale * q
    c_scale: float = 0.1

    def validate(self) -> SearchConfig:
        if self.root_rule not in ("puct", "gumbel"):
            raise ValueError(f"root_rule must be 'puct' or 'gumbel', got {self.root_rule!r}")
        if self.simulations < 1:
            raise ValueError("simulations must be >= 1")
        return self


@dataclass
class SearchResult:
    visits: np.ndarray  # [K, A] root visit counts (reused subtree included)
    policy: np.ndarray  # [K, A] improved policy: training target and play distribution
    q: np.ndarray  # [K, A] root action values (0 where unvisited)
    value: np.ndarray  # [K] root value estimate from the side to move
    best: np.ndarray  # [K] the action the search recommends (argmax; Gumbel's final pick)


@cache
def halving_schedule(considered: int, simulations: int) -> np.ndarray:
    """Sequential halving as a visit-count sequence: entry j is the visit count that the root
    action chosen at simulation j must currently have. Each round gives every remaining
    action the same number of visits, then halves the field (never below 2)."""
    if considered <= 1:
        return np.arange(simulations)
    rounds = math.ceil(math.log2(considered))
    seq: list[int] = []
    visits = [0] * considered
    remaining = considered
    while len(seq) < simulations:
        per_action = max(1, simulations // (rounds * remaining))
        for _ in range(per_action):
            seq.extend(visits[:remaining])
            for i in range(remaining):
                visits[i] += 1
        remaining = max(2, remaining // 2)
    return np.array(seq[:simulations], dtype=np.int64)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class BatchedMCTS:
    """Search trees for `num_trees` games (slots). Slots are independent: `reset` gives a slot
    a new root position, `search` runs simulations on a set of slots, `advance` moves roots."""

    def __init__(
        self,
        evaluate: Evaluator,
        n: int,
        num_trees: int,
        cfg: SearchConfig | None = None,
        seed: int | None = None,
        rngs: list[np.random.Generator] | None = None,
    ):
        self.evaluate = evaluate
        self.n = n
        self.cfg = (cfg or SearchConfig()).validate()
        self.rng = np.random.default_rng(seed)
        # one generator per slot (self-play seeds each game): a game's root noise then does
        # not depend on which games share its batch
        self.rngs = rngs
        A = n * n + 1
        # Fresh simulations per move + the reused subtree (bounded in `advance`) + the root.
        M = 2 * self.cfg.simulations + 2
        self.A, self.M, self.max_depth = A, M, 2 * n * n + 2
        shape = (num_trees, M)
        self.me = np.zeros(shape, np.uint64)
        self.opp = np.zeros(shape, np.uint64)
        self.children = np.full(shape + (A,), -1, np.int32)
        self.N = np.zeros(shape + (A,), np.float32)
        self.W = np.zeros(shape + (A,), np.float32)
        self.P = np.zeros(shape + (A,), np.float32)
        self.legal = np.zeros(shape + (A,), bool)
        self.value = np.zeros(shape, np.float32)  # evaluator's value, or the exact end value
        self.terminal = np.zeros(shape, bool)
        self.size = np.zeros(num_trees, np.int64)
        # Gumbel search state, per slot
        self.gumbel = np.zeros((num_trees, A), np.float32)
        self.search_visits = np.zeros((num_trees, A), np.float32)
        self.considered = np.zeros((num_trees, A), bool)
        sims, k = self.cfg.simulations, self.cfg.considered
        self.schedule = np.stack([halving_schedule(m, sims) for m in range(k + 1)])

    @property
    def num_trees(self) -> int:
        return len(self.size)

    def grow(self, num_trees: int) -> None:
        """Make room for more slots (existing trees are kept)."""
        extra = num_trees - self.num_trees
        if extra <= 0:
            return
        for name in (
            "me",
            "opp",
            "children",
            "N",
            "W",
            "P",
            "legal",
            "value",
            "terminal",
            "size",
            "gumbel",
            "search_visits",
            "considered",
        ):
            arr = getattr(self, name)
            pad = np.zeros((extra,) + arr.shape[1:], arr.dtype)
            if name == "children":
                pad -= 1
            setattr(self, name, np.concatenate([arr, pad]))

    # -- roots -------------------------------------------------------------------------------
    def reset(self, slots, me, opp) -> None:
        """Start fresh trees at `slots` from the given positions (not finished games)."""
        slots = np.asarray(slots, dtype=np.int64)
        self._clear(slots)
        self.me[slots, 0], self.opp[slots, 0] = me, opp
        self.size[slots] = 1
        self._expand(slots, np.zeros(len(slots), np.int64))
        self._prepare_roots(slots)

    def advance(self, slots, actions) -> None:
        """Play `actions` at the roots of `slots`, keeping the subtree below each move."""
        slots = np.asarray(slots, dtype=np.int64)
        actions = np.asarray(actions, dtype=np.int64)
        child = self.children[slots, 0, actions]
        me, opp = batch.play(self.me[slots, 0], self.opp[slots, 0], actions, self.n)
        fresh = []
        for i, (s, c) in enumerate(zip(slots, child, strict=True)):
            if c < 0 or not self._compact(s, c):
                fresh.append(i)
        if fresh:
            fresh = np.array(fresh)
            self._clear(slots[fresh])
            self.me[slots[fresh], 0], self.opp[slots[fresh], 0] = me[fresh], opp[fresh]
            self.size[slots[fresh]] = 1
            self._expand(slots[fresh], np.zeros(len(fresh), np.int64))
        self._prepare_roots(slots)

    def root_terminal(self, slots) -> np.ndarray:
        return self.terminal[np.asarray(slots), 0]

    def _clear(self, slots: np.ndarray) -> None:
        self.children[slots] = -1
        self.N[slots] = 0
        self.W[slots] = 0
        self.size[slots] = 0

    def _compact(self, slot: int, new_root: int) -> bool:
        """Move the subtree under `new_root` to the front of the slot's arrays. Returns False
        (caller starts a fresh tree) when the subtree leaves too little room for a search."""
        order = np.empty(self.M, np.int64)
        total = kernels.subtree_order(self.children, slot, new_root, order)
        if total + self.cfg.simulations + 1 > self.M:
            return False
        order = order[:total]
        remap = np.full(self.M + 1, -1, np.int32)  # index -1 -> slot M -> -1
        remap[order] = np.arange(total, dtype=np.int32)
        for arr in (
            self.me,
            self.opp,
            self.N,
            self.W,
            self.P,
            self.legal,
            self.value,
            self.terminal,
        ):
            arr[slot, :total] = arr[slot, order]
        kids = self.children[slot, order]
        self.children[slot, :total] = remap[kids]
        self.children[slot, total:] = -1
        self.N[slot, total:] = 0
        self.W[slot, total:] = 0
        self.size[slot] = total
        return True

    def _prepare_roots(self, slots: np.ndarray) -> None:
        cfg = self.cfg
        live = slots[~self.terminal[slots, 0]]
        if cfg.root_rule == "puct" and cfg.root_noise and live.size:
            legal = self.legal[live, 0]
            noise = self._draw(live, lambda g, size: g.gamma(cfg.dirichlet_alpha, 1.0, size))
            noise *= legal
            noise /= noise.sum(axis=1, keepdims=True)
            p = self.P[live, 0]
            self.P[live, 0] = (1 - cfg.noise_fraction) * p + cfg.noise_fraction * noise

    def _draw(self, slots: np.ndarray, draw) -> np.ndarray:
        """[len(slots), A] random numbers: `draw(generator, size)` from the shared generator,
        or row by row from each slot's own."""
        if self.rngs is None:
            return draw(self.rng, (len(slots), self.A))
        return np.stack([draw(self.rngs[s], self.A) for s in slots]).reshape(len(slots), self.A)

    # -- search ------------------------------------------------------------------------------
    def search(self, slots) -> SearchResult:
        """Run `cfg.simulations` simulations on every slot (roots must not be terminal)."""
        slots = np.asarray(slots, dtype=np.int64)
        if self.terminal[slots, 0].any():
            raise ValueError("cannot search a finished game")
        if self.cfg.root_rule == "gumbel":
            self._start_gumbel(slots)
        for sim in range(self.cfg.simulations):
            self._simulate(slots, sim)
        return self._result(slots)

    def _simulate(self, slots: np.ndarray, sim: int) -> None:
        cfg = self.cfg
        K, D = len(slots), self.max_depth
        path_nodes = np.zeros((K, D), np.int64)
        path_actions = np.zeros((K, D), np.int64)
        depth = np.zeros(K, np.int64)
        leaf = np.zeros(K, np.int64)  # existing terminal child, or -1 = expand a new node
        gumbel = cfg.root_rule == "gumbel"
        wanted = self.schedule[self.considered[slots].sum(axis=1), sim] if gumbel else depth
        kernels.descend(
            slots, self.N, self.W, self.P, self.legal, self.children, self.terminal,
            self.value, kernels.GUMBEL if gumbel else kernels.PUCT, cfg.c_puct,
            cfg.fpu_reduction, cfg.c_visit, cfg.c_scale, self.gumbel, self.considered,
            self.search_visits, wanted, path_nodes, path_actions, depth, leaf,
        )  # fmt: skip
        new = leaf < 0
        if new.any():
            b = slots[new]
            rows = np.flatnonzero(new)
            parent = path_nodes[rows, depth[rows] - 1]
            action = path_actions[rows, depth[rows] - 1]
            ids = self.size[b].copy()
            self.size[b] += 1
            self.children[b, parent, action] = ids
            self.me[b, ids], self.opp[b, ids] = batch.play(
                self.me[b, parent], self.opp[b, parent], action, self.n
            )
            self._expand(b, ids)
            leaf[new] = ids
        leaf_value = self.value[slots, leaf].astype(np.float64)
        kernels.backup(
            slots, self.N, self.W, path_nodes, path_actions, depth, leaf_value, self.search_visits
        )

    def _expand(self, slots: np.ndarray, nodes: np.ndarray) -> None:
        """Fill in legal moves, terminal flags and (one evaluator call) priors and values."""
        me, opp = self.me[slots, nodes], self.opp[slots, nodes]
        moves = batch.legal_moves(me, opp, self.n)
        legal = batch.legal_action_mask(me, opp, self.n, moves)
        over = batch.is_terminal(me, opp, self.n, moves)
        self.legal[slots, nodes] = legal
        self.terminal[slots, nodes] = over
        self.P[slots, nodes] = 0
        self.value[slots, nodes] = np.sign(batch.disc_diff(me, opp)).astype(np.float32)
        live = ~over
        if live.any():
            priors, values = self.evaluate(me[live], opp[live])
            priors = np.where(legal[live], priors, 0.0)
            # Guard against a prior that underflowed to all-zero: fall back to uniform.
            total = priors.sum(axis=1, keepdims=True)
            uniform = legal[live] / legal[live].sum(axis=1, keepdims=True)
            priors = np.where(total > 0, priors / np.maximum(total, 1e-30), uniform)
            self.P[slots[live], nodes[live]] = priors
            self.value[slots[live], nodes[live]] = values

    # -- Gumbel root -------------------------------------------------------------------------
    def _root_logits(self, slots: np.ndarray) -> np.ndarray:
        return kernels.root_logits(
            slots,
            self.N,
            self.W,
            self.P,
            self.legal,
            self.value,
            self.cfg.c_visit,
            self.cfg.c_scale,
        )

    def _start_gumbel(self, slots: np.ndarray) -> None:
        legal = self.legal[slots, 0]
        g = self._draw(slots, lambda r, size: r.gumbel(size=size)).astype(np.float32)
        g *= self.cfg.gumbel_scale
        self.gumbel[slots] = g
        self.search_visits[slots] = 0
        logits = np.log(np.maximum(self.P[slots, 0], 1e-12))
        score = np.where(legal, g + logits, -np.inf)
        m = np.minimum(legal.sum(axis=1), self.cfg.considered)
        rank = np.argsort(-score, axis=1).argsort(axis=1)
        self.considered[slots] = (rank < m[:, None]) & legal

    def _gumbel_root_scores(self, b):
        return np.where(self.considered[b], self.gumbel[b] + self._root_logits(b), -np.inf)

    # -- results ---------------------------------------------------------------------------------
    def _result(self, slots: np.ndarray) -> SearchResult:
        N = self.N[slots, 0].copy()
        q = np.where(N > 0, self.W[slots, 0] / np.maximum(N, 1), 0.0)
        total = N.sum(axis=1)
        value = (self.value[slots, 0] + (q * N).sum(axis=1)) / (1 + total)
        if self.cfg.root_rule == "puct":
            policy = N / np.maximum(total[:, None], 1)
            best = N.argmax(axis=1)
        else:
            policy = _softmax(self._root_logits(slots))
            # Final pick: among the most-visited considered actions, the best Gumbel score.
            sv = self.search_visits[slots]
            top = self.considered[slots] & (sv == sv.max(axis=1, keepdims=True))
            best = np.where(top, self._gumbel_root_scores(slots), -np.inf).argmax(axis=1)
        return SearchResult(
            N, policy.astype(np.float32), q.astype(np.float32), value.astype(np.float32), best
        )
