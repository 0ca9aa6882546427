"""Compiled inner loops of the batched search: descend every tree to a leaf, and back values
up its path. Plain loops over games, depth and actions, compiled with numba so that tree
bookkeeping costs microseconds next to the network call (numpy on [games, actions] slices
spent ~1 ms per simulation step on Python overhead).

Arrays are the tree arrays of `BatchedMCTS` ([trees, nodes, actions] and [trees, nodes]).
Selection rules are those of `alphazero.mcts`; see its docstring.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PUCT, GUMBEL = 0, 1


@njit(cache=True)
def _puct_action(N, W, P, legal, value, b, node, c_puct, fpu_reduction):
    A = N.shape[2]
    total = 0.0
    for a in range(A):
        total += N[b, node, a]
    sqrt_total = math.sqrt(max(total, 1.0))
    fpu = value[b, node] - fpu_reduction
    best, best_a = -np.inf, -1
    for a in range(A):
        if not legal[b, node, a]:
            continue
        n = N[b, node, a]
        q = W[b, node, a] / n if n > 0 else fpu
        score = q + c_puct * P[b, node, a] * sqrt_total / (1.0 + n)
        if score > best:
            best, best_a = score, a
    return best_a


@njit(cache=True)
def improved_logits(N, W, P, legal, value, b, node, c_visit, c_scale, out):
    """Gumbel AlphaZero: log prior + sigma(completed Q) for each legal action into `out`
    (-inf elsewhere). Unvisited actions get the mixed value (the node's value blended with
    the prior-weighted mean Q of the visited ones)."""
    A = N.shape[2]
    total, max_n, pv, pq = 0.0, 0.0, 0.0, 0.0
    for a in range(A):
        n = N[b, node, a]
        total += n
        max_n = max(max_n, n)
        if n > 0:
            pv += P[b, node, a]
            pq += P[b, node, a] * W[b, node, a] / n
    mixed = value[b, node]
    if pv > 0:
        mixed = (value[b, node] + total * pq / pv) / (1.0 + total)
    scale = (c_visit + max_n) * c_scale
    for a in range(A):
        if legal[b, node, a]:
            n = N[b, node, a]
            q = W[b, node, a] / n if n > 0 else mixed
            out[a] = math.log(max(P[b, node, a], 1e-12)) + scale * (q + 1.0) / 2.0
        else:
            out[a] = -np.inf
    return total


@njit(cache=True)
def _gumbel_interior_action(N, W, P, legal, value, b, node, c_visit, c_scale, logits):
    A = N.shape[2]
    total = improved_logits(N, W, P, legal, value, b, node, c_visit, c_scale, logits)
    top = -np.inf
    for a in range(A):
        top = max(top, logits[a])
    z = 0.0
    for a in range(A):
        if legal[b, node, a]:
            z += math.exp(logits[a] - top)
    best, best_a = -np.inf, -1
    for a in range(A):
        if legal[b, node, a]:
            score = math.exp(logits[a] - top) / z - N[b, node, a] / (1.0 + total)
            if score > best:
                best, best_a = score, a
    return best_a


@njit(cache=True)
def _gumbel_root_action(
    N, W, P, legal, value, b, c_visit, c_scale, gumbel, considered, search_visits, wanted, logits
):
    """Sequential halving: among the considered actions whose visits this search equal
    `wanted`, the best Gumbel score g + log prior + sigma(Q)."""
    A = N.shape[2]
    improved_logits(N, W, P, legal, value, b, 0, c_visit, c_scale, logits)
    best, best_a = -np.inf, -1
    for a in range(A):
        if considered[b, a] and search_visits[b, a] == wanted:
            score = gumbel[b, a] + logits[a]
            if score > best:
                best, best_a = score, a
    return best_a


@njit(cache=True)
def descend(
    slots,
    N,
    W,
    P,
    legal,
    children,
    terminal,
    value,
    rule,
    c_puct,
    fpu_reduction,
    c_visit,
    c_scale,
    gumbel,
    considered,
    search_visits,
    wanted,
    path_nodes,
    path_actions,
    depth,
    leaf_child,
):
    """Walk each tree from its root to the first missing child (leaf_child = -1) or to a
    finished game already in the tree (leaf_child = that node). Records the path."""
    logits = np.empty(N.shape[2])
    for i in range(len(slots)):
        b = slots[i]
        node, d = 0, 0
        while True:
            if rule == PUCT:
                a = _puct_action(N, W, P, legal, value, b, node, c_puct, fpu_reduction)
            elif d == 0:
                a = _gumbel_root_action(
                    N,
                    W,
                    P,
                    legal,
                    value,
                    b,
                    c_visit,
                    c_scale,
                    gumbel,
                    considered,
                    search_visits,
                    wanted[i],
                    logits,
                )
            else:
                a = _gumbel_interior_action(
                    N, W, P, legal, value, b, node, c_visit, c_scale, logits
                )
            path_nodes[i, d] = node
            path_actions[i, d] = a
            d += 1
            child = children[b, node, a]
            if child < 0:
                leaf_child[i] = -1
                break
            if terminal[b, child]:
                leaf_child[i] = child
                break
            node = child
        depth[i] = d


@njit(cache=True)
def backup(slots, N, W, path_nodes, path_actions, depth, leaf_value, search_visits):
    """Add one visit and the leaf's value along each path. The edge at depth d belongs to the
    player (depth - d) plies above the leaf: the value's sign flips at every ply."""
    for i in range(len(slots)):
        b = slots[i]
        v = leaf_value[i]
        for d in range(depth[i] - 1, -1, -1):
            v = -v
            N[b, path_nodes[i, d], path_actions[i, d]] += 1
            W[b, path_nodes[i, d], path_actions[i, d]] += v
        search_visits[b, path_actions[i, 0]] += 1


@njit(cache=True)
def root_logits(slots, N, W, P, legal, value, c_visit, c_scale):
    """Improved-policy logits (log prior + sigma(completed Q)) at the root of each slot."""
    out = np.empty((len(slots), N.shape[2]))
    for i in range(len(slots)):
        improved_logits(N, W, P, legal, value, slots[i], 0, c_visit, c_scale, out[i])
    return out


@njit(cache=True)
def subtree_order(children, slot, root, order):
    """Breadth-first list of the nodes under `root` (root first) into `order`; returns how
    many. Children are always allocated after their parent, so this visits each once."""
    order[0] = root
    head, tail = 0, 1
    while head < tail:
        node = order[head]
        head += 1
        for a in range(children.shape[2]):
            c = children[slot, node, a]
            if c >= 0:
                order[tail] = c
                tail += 1
    return tail
