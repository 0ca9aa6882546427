"""Exact attribution graphs of the agent's move (or value) on its transcoder replacement.

The local replacement model of one position: every MLP is replaced by its transcoder plus an
error node err_i = mlp_out_i - transcoder_i(mlp_in_i) (a constant vector for this position),
and every LayerNorm's scale (its per-position standard deviation sigma) is frozen at its value
here, so LN(x) = gamma * C x / sigma + beta (C: subtract the mean) is affine. With the active
latents fixed the whole net is then linear in its sources, and the direct effects between
nodes are exact:

    nodes    latents  every active latent of every block; activation = its pre-activation
             target   a move's logit (default: the agent's raw-policy move) or the value
                      head's pre-activation (before the tanh)
             errors   one per block (err_i written into the residual stream after block i)
             inputs   the input features that are on (planes mine / theirs / empty / legal)
             biases   the stem's bias; per block one node for its constants (LN beta_i,
                      b_enc, b_dec and the skip term's image of beta_i); the head's (LN_final
                      beta and the head's bias)
    edges    A[t, s], rows receive (circuit-tracer's convention): s's direct effect on t
             through the residual stream and the skip terms (linear paths, not nodes).

Edges come from reader vectors. A node that reads the residual stream x_i has a reader r with
its pre-activation = r . x_i + constants: a latent l of block i reads
r = in_scale * C(gamma_i / sigma_i * W_enc[l]) (the frozen LN's transpose), the target
r = C(gamma_f / sigma_f * w) with w its head row. Moving a reader from x_{i+1} down to x_i
adds the skip path: r += L_i^T S_i^T r with S_i = in_scale / out_scale * W_skip (nothing
without skip). A source that writes the vector v into x_{j+1} (a latent: f * W_dec[l] /
out_scale) then has the edge r_{j+1} . v to the reader. All readers of all positions move
together, so a graph is a few batched matrix products.

Exactness (tests/test_attribution.py): on the unpruned graph, every latent's incoming edges
(its bias node included) sum to its pre-activation and the target's to its logit or value
pre-activation, up to float rounding. `total_effects` follows every path: the target equals
the sum over leaf sources (inputs, biases, errors) of their total contributions.

`batch_graphs` builds many positions at once as dense padded arrays [B, N, N] (absent nodes:
zero rows and columns); `build_graph` is one position, absent nodes dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alphazero.model import AlphaZeroNet
from common.cli import InputError
from othello import batch
from othello.game import square_name
from sae.dictionary.model import Dictionary

LATENT, TARGET, ERROR, INPUT, BIAS = range(5)
KIND_NAMES = ("latent", "target", "error", "input", "bias")
PLANES = ("mine", "theirs", "empty", "legal")
VALUE = "value"


class AttributionError(InputError):
    """A graph that cannot be built for this input (one line says why)."""


# -- the frozen LayerNorm and the skip path, shared with the virtual weights ----------------
def inverse_scale(x: torch.Tensor, ln: torch.nn.LayerNorm) -> torch.Tensor:
    """1 / sigma of LayerNorm `ln` on rows x [..., d] (what freezing it keeps)."""
    return torch.rsqrt(x.var(-1, unbiased=False) + ln.eps)


def read_through_ln(r: torch.Tensor, gamma: torch.Tensor, inv_sigma) -> torch.Tensor:
    """L^T r for the frozen LN L = diag(gamma / sigma) C: C(gamma / sigma * r) on the last dim;
    `inv_sigma` broadcasts against r (a number, or [B, 1, ...] per position)."""
    v = r * (gamma * inv_sigma)
    return v - v.mean(-1, keepdim=True)


def skip_back(r: torch.Tensor, d: Dictionary, gamma: torch.Tensor, inv_sigma) -> torch.Tensor:
    """Readers at the stream after block i moved to its input: r + L_i^T S_i^T r."""
    if d.W_skip is None:
        return r
    s = (r @ d.W_skip.to(r.dtype)) * (d.in_scale / d.out_scale).to(r.dtype)
    return r + read_through_ln(s, gamma, inv_sigma)


# -- graphs -------------------------------------------------------------------------------
@dataclass
class AttributionGraph:
    """One position's graph: nodes in the order latents, target, errors, inputs, biases."""

    adjacency: torch.Tensor  # [N, N], rows receive
    kind: np.ndarray  # [N] LATENT / TARGET / ERROR / INPUT / BIAS
    layer: np.ndarray  # [N] block (latents, errors, block biases); -1 inputs and stem
    # bias; n_blocks the head bias; n_blocks + 1 the target
    feature: np.ndarray  # [N] latent id, input feature index (plane * n*n + square),
    # the target's action (n*n + 1 for the value); -1 errors and biases
    activation: torch.Tensor  # [N] latent pre-activation, target value, 1 for inputs,
    # ||err|| for errors, NaN for biases
    me: int
    opp: int
    board_size: int
    n_blocks: int
    target: int | str  # action index, or "value"
    prob: float  # policy probability of the target move (1.0 for the value)
    value: float  # the agent's value (tanh) for this position

    @property
    def n_nodes(self) -> int:
        return len(self.kind)

    @property
    def target_index(self) -> int:
        return int(np.flatnonzero(self.kind == TARGET)[0])

    @property
    def target_name(self) -> str:
        return VALUE if self.target == VALUE else square_name(int(self.target), self.board_size)

    def node_name(self, i: int) -> str:
        """Readable name: `mine@c3`, `L2#1234`, `err2`, `bias2`, `bias:stem`, `c4` / `value`."""
        kind, layer, feature = int(self.kind[i]), int(self.layer[i]), int(self.feature[i])
        if kind == LATENT:
            return f"L{layer}#{feature}"
        if kind == INPUT:
            return input_name(feature, self.board_size)
        if kind == ERROR:
            return f"err{layer}"
        if kind == BIAS:
            return (
                "bias:stem"
                if layer < 0
                else "bias:head"
                if layer == self.n_blocks
                else f"bias{layer}"
            )
        return self.target_name

    def target_weights(self) -> torch.Tensor:
        w = torch.zeros(self.n_nodes, dtype=self.adjacency.dtype, device=self.adjacency.device)
        w[self.target_index] = 1.0
        return w

    def total_effects(self) -> torch.Tensor:
        """d target / d node along every path of the local model, per unit of activation
        (latents) or per node (inputs, errors, biases: their whole contribution)."""
        return total_effects(self.adjacency, unit_scale(self), self.target_weights())

    def contributions(self) -> torch.Tensor:
        """Each node's total contribution to the target (effect x activation); over the leaf
        sources (inputs, errors, biases) these sum to the target's value exactly."""
        return self.total_effects() * unit_scale(self)


def input_name(feature: int, n: int) -> str:
    plane, square = divmod(int(feature), n * n)
    return f"{PLANES[plane]}@{square_name(square, n)}"


def unit_scale(graph) -> torch.Tensor:
    """What one unit of each node is: latents their activation, every other node itself."""
    kind = torch.as_tensor(graph.kind, device=graph.activation.device)
    ones = torch.ones_like(graph.activation)
    return torch.where(kind == LATENT, graph.activation, ones)


def path_sum(matrix: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """weights^T (M + M^2 + M^3 + ...), batched on leading dims: a sum over paths of every
    length. Graphs here are DAGs of depth n_blocks + 1, so the series ends exactly."""
    cur = weights.unsqueeze(-2) @ matrix
    total = cur.clone()
    for _ in range(matrix.shape[-1] + 1):
        cur = cur @ matrix
        if not cur.any():
            return total.squeeze(-2)
        total = total + cur
    raise RuntimeError("the attribution graph has a cycle")  # cannot happen: a bug


def total_effects(adjacency: torch.Tensor, scale: torch.Tensor, weights: torch.Tensor):
    """weights^T (I + M + M^2 + ...) with M = A / scale (per unit of the source)."""
    m = adjacency / torch.where(scale == 0, torch.ones_like(scale), scale).unsqueeze(-2)
    return weights + path_sum(m, weights)


@dataclass
class LocalModel:
    """What the local replacement model of B positions freezes (one forward pass of the
    real net): per block the active latents, their pre-activations, the error vector and
    1 / sigma of the block's LN; 1 / sigma of the final LN; the target's head row."""

    x: torch.Tensor  # [B, F] input features
    legal: torch.Tensor  # [B, n_actions]
    idx: list[torch.Tensor]  # per block [B, K_i] latent ids (padded: `fired` False)
    fired: list[torch.Tensor]  # per block [B, K_i] bool
    pre: list[torch.Tensor]  # per block [B, K_i] pre-activations
    err: list[torch.Tensor]  # per block [B, d] error vectors
    inv: list[torch.Tensor]  # per block [B] 1 / sigma of LN_i
    inv_f: torch.Tensor  # [B] 1 / sigma of LN_final
    targets: np.ndarray  # [B] action, -1 for the value
    head_w: torch.Tensor  # [B, d] the target's row of its head
    head_b: torch.Tensor  # [B]
    target_value: torch.Tensor  # [B] logit / value pre-activation
    probs: np.ndarray  # [B] policy probability of the target (1.0 for the value)
    values: np.ndarray  # [B] the agent's value


@dataclass
class GraphBatch:
    """Graphs of B positions as dense padded arrays; absent nodes (inputs that are off,
    latent slots that did not fire) have zero rows and columns and `present` False."""

    adjacency: torch.Tensor  # [B, N, N]
    activation: torch.Tensor  # [B, N]
    present: torch.Tensor  # [B, N] bool
    feature: torch.Tensor  # [B, N] long (latent ids vary by position)
    kind: np.ndarray  # [N]
    layer: np.ndarray  # [N]
    me: np.ndarray
    opp: np.ndarray
    targets: np.ndarray  # [B] action index, -1 for the value
    probs: np.ndarray  # [B]
    values: np.ndarray  # [B]
    board_size: int
    n_blocks: int
    local: LocalModel  # what the graphs were built from

    def __len__(self) -> int:
        return len(self.me)

    def target_weights(self) -> torch.Tensor:
        w = torch.zeros_like(self.activation)
        w[:, int(np.flatnonzero(self.kind == TARGET)[0])] = 1.0
        return w

    def total_effects(self) -> torch.Tensor:
        return total_effects(self.adjacency, unit_scale(self), self.target_weights())

    def graph(self, b: int) -> AttributionGraph:
        keep = self.present[b]
        idx = keep.nonzero().squeeze(1)
        t = int(self.targets[b])
        return AttributionGraph(
            adjacency=self.adjacency[b][idx][:, idx],
            kind=self.kind[keep.cpu().numpy()],
            layer=self.layer[keep.cpu().numpy()],
            feature=self.feature[b][idx].cpu().numpy(),
            activation=self.activation[b][idx],
            me=int(self.me[b]),
            opp=int(self.opp[b]),
            board_size=self.board_size,
            n_blocks=self.n_blocks,
            target=VALUE if t < 0 else t,
            prob=float(self.probs[b]),
            value=float(self.values[b]),
        )


# -- building -----------------------------------------------------------------------------
def check_layers(net: AlphaZeroNet, layers) -> list[Dictionary]:
    """The per-block transcoders as a list (a TranscoderSet's `.layers` or the set itself),
    checked against the net: one per block, mlp_in -> mlp_out of that block, widths."""
    layers = list(getattr(layers, "layers", layers))
    n, d = net.cfg.n_blocks, net.cfg.d_model
    if len(layers) != n:
        raise AttributionError(f"{len(layers)} transcoders for a net of {n} blocks")
    for i, t in enumerate(layers):
        if t is None:
            raise AttributionError(f"block {i} has no transcoder (every MLP must be replaced)")
        want = (f"blocks.{i}.mlp_in", f"blocks.{i}.mlp_out", d, d)
        got = (t.cfg.in_site, t.cfg.out_site, t.cfg.d_in, t.cfg.d_out)
        if got != want:
            raise AttributionError(
                f"transcoder {i} maps {got[0]} ({got[2]}) -> {got[1]} ({got[3]}); block {i} "
                f"needs {want[0]} ({d}) -> {want[1]} ({d})"
            )
    return layers


def resolve_targets(target, legal: torch.Tensor, logits: torch.Tensor, over) -> np.ndarray:
    """Per position the action to attribute (-1: the value). None: the agent's raw-policy
    move; an int or [B] ints: those actions, which must be legal; "value". `over`: [B] bool,
    positions where the game has ended (only the value can be attributed there)."""
    rows = len(legal)
    legal_np = legal.cpu().numpy()
    if isinstance(target, str):
        if target != VALUE:
            raise AttributionError(f"target must be an action, {VALUE!r} or None, got {target!r}")
        return np.full(rows, -1, np.int64)
    over = np.asarray(over, bool)
    if target is None:
        if over.any():
            raise AttributionError(
                f"{int(over.sum())} position(s) are over (no legal action): there is no move "
                f"to attribute; use target='value'"
            )
        return logits.argmax(1).cpu().numpy().astype(np.int64)
    actions = np.broadcast_to(np.asarray(target, np.int64), (rows,)).copy()
    n_actions = legal_np.shape[1]
    bad = (actions < 0) | (actions >= n_actions)
    bad[~bad] = ~legal_np[np.flatnonzero(~bad), actions[~bad]]
    bad |= over
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise AttributionError(f"action {int(actions[b])} is not legal in position {b}")
    return actions


def _active(d: Dictionary, m: torch.Tensor, dtype):
    """(latent ids [B, K], fired [B, K], pre-activations [B, K] in `dtype`): the latents
    the dictionary's own selection fires, padded to the most any row has."""
    with torch.no_grad():
        f = d.encode(m)
    k = max(int((f > 0).sum(1).max()) if len(f) else 0, 1)
    vals, idx = f.topk(k, dim=1)
    W_enc, b_enc = d.W_enc.to(dtype), d.b_enc.to(dtype)
    pre = d.in_scale.to(dtype) * torch.einsum("bkd,bd->bk", W_enc[idx], m) + b_enc[idx]
    return idx, vals > 0, pre


def _layout(ks: list[int], n_features: int) -> dict:
    """Node index ranges of the padded layout: latents (block-major), target, errors,
    inputs, biases (stem, blocks, head)."""
    n = len(ks)
    starts = np.concatenate([[0], np.cumsum(ks)]).astype(np.int64)
    t = int(starts[-1])
    err = t + 1 + np.arange(n)
    inputs = t + 1 + n + np.arange(n_features)
    bias = t + 1 + n + n_features + np.arange(n + 2)
    kind = np.concatenate(
        [
            np.full(t, LATENT),
            [TARGET],
            np.full(n, ERROR),
            np.full(n_features, INPUT),
            np.full(n + 2, BIAS),
        ]
    ).astype(np.int8)
    layer = np.concatenate(
        [
            np.repeat(np.arange(n), ks),
            [n + 1],
            np.arange(n),
            np.full(n_features, -1),
            np.arange(-1, n + 1),
        ]
    ).astype(np.int64)
    return dict(starts=starts, target=t, err=err, inputs=inputs, bias=bias, kind=kind, layer=layer)


@torch.no_grad()
def local_model(net: AlphaZeroNet, layers, me, opp, target=None) -> LocalModel:
    """Freeze one forward pass of the real net on B positions (canonical uint64 boards), in
    the net's dtype and on its device. `target`: None (the agent's raw-policy move), an
    action index or [B] of them (each legal), or "value"."""
    layers = check_layers(net, layers)
    me = batch.as_bitboards(me).reshape(-1)
    opp = batch.as_bitboards(opp).reshape(-1)
    if len(me) == 0:
        raise AttributionError("no positions given")
    dtype, n = net.stem.weight.dtype, net.cfg.n_blocks
    x, legal = net.encode(me, opp)
    x = x.to(dtype)
    sites = [f"blocks.{i}.{s}" for i in range(n) for s in ("resid_pre", "mlp_in", "mlp_out")]
    out, cache = net.run_with_cache(x, legal, sites + ["ln_final", f"blocks.{n - 1}.resid_post"])
    over = batch.is_terminal(me, opp, net.cfg.board_size)
    targets = resolve_targets(target, legal, out.policy_logits, over)

    idx, fired, pre, err, inv = [], [], [], [], []
    for i, (t, block) in enumerate(zip(layers, net.blocks, strict=True)):
        m = cache[f"blocks.{i}.mlp_in"]
        ids, on, a = _active(t, m, dtype)
        y_hat = torch.einsum("bk,bkd->bd", a * on, t.W_dec.to(dtype)[ids]) + t.b_dec.to(dtype)
        if t.W_skip is not None:
            y_hat = y_hat + t.in_scale.to(dtype) * m @ t.W_skip.to(dtype).T
        err.append(cache[f"blocks.{i}.mlp_out"] - y_hat / t.out_scale.to(dtype))
        idx.append(ids), fired.append(on), pre.append(a)
        inv.append(inverse_scale(cache[f"blocks.{i}.resid_pre"], block.ln))

    value = targets < 0
    pick = np.where(value, 0, targets)
    vt = torch.as_tensor(value, device=x.device)
    head_w = torch.where(
        vt[:, None], net.value_head.weight.to(dtype)[0], net.policy_head.weight.to(dtype)[pick]
    )
    head_b = torch.where(vt, net.value_head.bias.to(dtype)[0], net.policy_head.bias.to(dtype)[pick])
    rows = torch.arange(len(me), device=x.device)
    probs = torch.softmax(out.policy_logits.float(), 1)[
        rows, torch.as_tensor(pick, device=x.device)
    ]
    return LocalModel(
        x=x,
        legal=legal,
        idx=idx,
        fired=fired,
        pre=pre,
        err=err,
        inv=inv,
        inv_f=inverse_scale(cache[f"blocks.{n - 1}.resid_post"], net.ln_final),
        targets=targets,
        head_w=head_w,
        head_b=head_b,
        target_value=(cache["ln_final"].to(dtype) * head_w).sum(1) + head_b,
        probs=np.where(value, 1.0, probs.cpu().numpy()),
        values=out.value.float().cpu().numpy(),
    )


@torch.no_grad()
def batch_graphs(net: AlphaZeroNet, layers, me, opp, target=None) -> GraphBatch:
    """Unpruned attribution graphs of B positions (arguments as `local_model`)."""
    layers = check_layers(net, layers)
    lm = local_model(net, layers, me, opp, target)
    x, dtype, n = lm.x, lm.x.dtype, len(layers)
    lay = _layout([ids.shape[1] for ids in lm.idx], x.shape[1])
    N, B = len(lay["kind"]), len(x)
    A = torch.zeros(B, N, N, dtype=dtype, device=x.device)

    # the target reads the top of the stream through the final LN; its constant: head bias
    g_f, beta_f = net.ln_final.weight.to(dtype), net.ln_final.bias.to(dtype)
    R = read_through_ln(lm.head_w, g_f, lm.inv_f[:, None])[:, None, :]  # [B, readers, d]
    reader_rows = torch.tensor([lay["target"]], device=x.device)
    A[:, lay["target"], lay["bias"][-1]] = lm.head_w @ beta_f + lm.head_b

    for j in reversed(range(n)):
        t, block, ids = layers[j], net.blocks[j], lm.idx[j]
        lat = torch.arange(lay["starts"][j], lay["starts"][j + 1], device=x.device)
        in_s, out_s = t.in_scale.to(dtype), t.out_scale.to(dtype)
        W_enc, W_dec = t.W_enc.to(dtype)[ids], t.W_dec.to(dtype)[ids]
        g, beta = block.ln.weight.to(dtype), block.ln.bias.to(dtype)
        # sources block j writes into the stream after it, read by every reader above
        write = (lm.pre[j] * lm.fired[j])[..., None] * W_dec / out_s
        A[:, reader_rows[:, None], lat[None, :]] = torch.einsum("btd,bkd->btk", R, write)
        A[:, reader_rows, lay["err"][j]] = torch.einsum("btd,bd->bt", R, lm.err[j])
        const = t.b_dec.to(dtype)
        if t.W_skip is not None:
            const = const + in_s * (t.W_skip.to(dtype) @ beta)
        A[:, reader_rows, lay["bias"][j + 1]] = R @ (const / out_s)
        # block j's own latents: their constant part (b_enc and LN beta_j through W_enc)
        A[:, lat, lay["bias"][j + 1]] = t.b_enc.to(dtype)[ids] + in_s * (W_enc @ beta)
        # move the readers below block j, then add block j's latents as readers
        inv = lm.inv[j][:, None, None]
        R = skip_back(R, t, g, inv)
        R = torch.cat([in_s * read_through_ln(W_enc, g, inv), R], dim=1)
        reader_rows = torch.cat([lat, reader_rows])

    stem_w, stem_b = net.stem.weight.to(dtype), net.stem.bias.to(dtype)
    inputs = torch.as_tensor(lay["inputs"], device=x.device)
    A[:, reader_rows[:, None], inputs[None, :]] = (R @ stem_w) * x[:, None, :]
    A[:, reader_rows, lay["bias"][0]] = R @ stem_b

    # activations, latent ids and which padded nodes exist
    act = torch.full((B, N), float("nan"), dtype=dtype, device=x.device)
    present = torch.ones(B, N, dtype=torch.bool, device=x.device)
    feature = torch.full((B, N), -1, dtype=torch.long, device=x.device)
    for j in range(n):
        lat = slice(int(lay["starts"][j]), int(lay["starts"][j + 1]))
        act[:, lat], present[:, lat], feature[:, lat] = lm.pre[j], lm.fired[j], lm.idx[j]
    act[:, lay["target"]] = lm.target_value
    value_id = np.where(lm.targets < 0, net.cfg.n_actions, lm.targets)
    feature[:, lay["target"]] = torch.as_tensor(value_id, device=x.device)
    act[:, lay["err"]] = torch.stack([e.norm(dim=1) for e in lm.err], 1)
    act[:, lay["inputs"]] = x
    present[:, lay["inputs"]] = x > 0
    feature[:, lay["inputs"]] = inputs - int(lay["inputs"][0])
    A *= (present[:, :, None] & present[:, None, :]).to(dtype)
    return GraphBatch(
        adjacency=A,
        activation=act,
        present=present,
        feature=feature,
        kind=lay["kind"],
        layer=lay["layer"],
        me=batch.as_bitboards(me).reshape(-1),
        opp=batch.as_bitboards(opp).reshape(-1),
        targets=lm.targets,
        probs=lm.probs,
        values=lm.values,
        board_size=net.cfg.board_size,
        n_blocks=n,
        local=lm,
    )


def build_graph(net: AlphaZeroNet, layers, me, opp, target=None) -> AttributionGraph:
    """The unpruned attribution graph of one position (`me`, `opp`: a canonical board, as
    ints or arrays of one). `target`: a legal action index, "value", or None for the
    agent's raw-policy move."""
    me, opp = batch.as_bitboards(me).reshape(-1), batch.as_bitboards(opp).reshape(-1)
    if len(me) != 1 or len(opp) != 1:
        raise AttributionError(f"build_graph takes one position, got {len(me)}; use batch_graphs")
    return batch_graphs(net, layers, me, opp, target).graph(0)
