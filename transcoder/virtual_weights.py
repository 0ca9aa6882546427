"""Input-invariant virtual weights between the latents of different blocks.

Per unit of activation, latent m of block a writes W_dec_a[m] / out_scale_a into the residual
stream; latent l of block b > a reads it through LN_b, after the skip terms of the blocks in
between (linear paths; the latents between are other routes, not part of this weight). The
attribution graph's edge of one position, per unit of m, is exactly

    E[l, m] = in_scale_b * W_enc_b[l] . L_b P (W_dec_a[m] / out_scale_a),
    L_i = diag(gamma_i / sigma_i) C,   P = prod_{a<i<b} (I + S_i L_i),   S_i = W_skip_i scaled

and depends on the position only through the LN scales sigma_i. The virtual weight V[l, m]
replaces each 1/sigma_i by a constant: its mean over positions (unbiased for the dominant
term, which is linear in 1/sigma_b). `ln_inverse_means` estimates the constants from any
positions; `top_connections` uses 4,096 positions of seeded random play by default (it is
called without data), `--store` the agent's own games. `ln_error` measures V against the exact
per-position edges between all pairs of active latents of held-out positions.

    python -m transcoder.virtual_weights runs/transcoders --store data/acts/agent
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from common import cli
from common.io import atomic_write_json
from othello import batch
from sae.activations.store import ActivationStore
from transcoder.attribute import open_set, parse, set_parser
from transcoder.attribution import (
    batch_graphs,
    check_layers,
    inverse_scale,
    read_through_ln,
    skip_back,
)
from transcoder.fidelity import heldout_positions


def random_play_positions(n: int, count: int = 4096, seed: int = 0):
    """(me, opp) of `count` non-terminal positions from seeded uniformly random games."""
    rng = np.random.default_rng(seed)
    me_all, opp_all = [], []
    while sum(len(m) for m in me_all) < count:
        me, opp = batch.start(256, n)
        while True:
            moves = batch.legal_moves(me, opp, n)
            live = ~batch.is_terminal(me, opp, n, moves)
            if not live.any():
                break
            me, opp = me[live], opp[live]
            me_all.append(me), opp_all.append(opp)
            mask = batch.legal_action_mask(me, opp, n, moves[live])
            me, opp = batch.play(me, opp, batch.sample_actions(mask, rng), n)
    pick = np.random.default_rng(seed + 1).permutation(sum(len(m) for m in me_all))[:count]
    return np.concatenate(me_all)[pick], np.concatenate(opp_all)[pick]


@torch.no_grad()
def ln_inverse_scales(net, me, opp, chunk: int = 4096) -> np.ndarray:
    """1/sigma of every block's LN, then the final LN's, per position: [P, n_blocks + 1]."""
    n = net.cfg.n_blocks
    sites = [f"blocks.{i}.resid_pre" for i in range(n)] + [f"blocks.{n - 1}.resid_post"]
    lns = [b.ln for b in net.blocks] + [net.ln_final]
    out = []
    for s in range(0, len(me), chunk):
        x, legal = net.encode(me[s : s + chunk], opp[s : s + chunk])
        _, cache = net.run_with_cache(x.to(net.stem.weight.dtype), legal, sites)
        cols = [inverse_scale(cache[site], ln) for site, ln in zip(sites, lns, strict=True)]
        out.append(torch.stack(cols, 1).double().cpu().numpy())
    return np.concatenate(out)


def ln_inverse_means(net, me, opp) -> list[float]:
    """Mean 1/sigma over the positions of every block's LN, then the final LN's."""
    return ln_inverse_scales(net, me, opp).mean(0).tolist()


def ln_spread(net, me, opp) -> list[dict]:
    """Per LN: 1/sigma's 5th / 50th / 95th percentiles over the positions, and its correlation
    with the number of empty squares (why one constant per LN is a rough approximation)."""
    inv = ln_inverse_scales(net, me, opp)
    empties = net.cfg.squares - batch.popcount(batch.as_bitboards(me) | batch.as_bitboards(opp))
    return [
        {
            "quantiles": np.quantile(col, [0.05, 0.5, 0.95]).tolist(),
            "corr_empties": float(np.corrcoef(col, empties)[0, 1]),
        }
        for col in inv.T
    ]


@torch.no_grad()
def virtual_weights(net, layers, a: int, b: int, inv: list[float]) -> torch.Tensor:
    """V [n_latents of block b, n_latents of block a]: b's pre-activation per unit of each
    latent of a, with 1/sigma of every LN frozen at `inv` (see the module docstring)."""
    if not 0 <= a < b < len(layers):
        raise ValueError(f"need blocks a < b, got {a}, {b}")
    tb = layers[b]
    dtype = tb.W_enc.dtype
    R = tb.in_scale * read_through_ln(tb.W_enc, net.blocks[b].ln.weight.to(dtype), inv[b])
    for k in range(b - 1, a, -1):
        R = skip_back(R, layers[k], net.blocks[k].ln.weight.to(dtype), inv[k])
    ta = layers[a]
    return R @ (ta.W_dec.to(dtype) / ta.out_scale).T


def _merge(cands: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], k: int):
    """Top-k by |weight| of candidate (weights, blocks, latents) lists, each [L, k_i]."""
    w = torch.cat([c[0] for c in cands], 1)
    blocks = torch.cat([c[1] for c in cands], 1)
    ids = torch.cat([c[2] for c in cands], 1)
    top = w.abs().topk(min(k, w.shape[1]), dim=1).indices
    return w.gather(1, top), blocks.gather(1, top), ids.gather(1, top)


@torch.no_grad()
def top_connections(net, layers, k: int = 10, inv: list[float] | None = None) -> dict:
    """{block: {latent: {"upstream": [[block, latent, weight], ...], "downstream": [...]}}}:
    per latent the k latents of earlier (upstream) and later (downstream) blocks with the
    largest |virtual weight|, largest first. `inv`: the LN constants (default: from random
    play, `ln_inverse_means`)."""
    layers = check_layers(net, layers)
    n = len(layers)
    if inv is None:
        inv = ln_inverse_means(net, *random_play_positions(net.cfg.board_size))
    up: dict[int, list] = {b: [] for b in range(n)}
    down: dict[int, list] = {a: [] for a in range(n)}
    for b in range(1, n):
        for a in range(b):
            V = virtual_weights(net, layers, a, b, inv).float().cpu()
            kk = min(k, V.shape[1])
            rows = V.abs().topk(kk, dim=1).indices
            up[b].append((V.gather(1, rows), torch.full_like(rows, a), rows))
            kk = min(k, V.shape[0])
            cols = V.abs().topk(kk, dim=0).indices.T  # [n_a, kk]
            down[a].append((V.T.gather(1, cols), torch.full_like(cols, b), cols))
    out: dict[int, dict[int, dict]] = {}
    for block in range(n):
        sides = {
            name: _merge(c, k)
            for name, c in (("upstream", up[block]), ("downstream", down[block]))
            if c
        }
        per_latent: dict[int, dict] = {}
        for name, (w, blocks, ids) in sides.items():
            w, blocks, ids = w.tolist(), blocks.tolist(), ids.tolist()
            for latent in range(len(w)):
                per_latent.setdefault(latent, {})[name] = [
                    [blocks[latent][j], ids[latent][j], w[latent][j]] for j in range(len(w[latent]))
                ]
        out[block] = per_latent
    return out


@torch.no_grad()
def ln_error(net, layers, me, opp, inv: list[float], chunk: int = 64) -> dict:
    """Virtual weights against the exact per-position edges (per unit of the source)
    between every pair of active latents of blocks a < b on the positions. Also the error
    left once each receiving latent's row (all its upstream weights in one position) gets its
    best scale: what a per-position LN factor alone cannot explain."""
    layers = check_layers(net, layers)
    n = len(layers)
    V = {(a, b): virtual_weights(net, layers, a, b, inv) for b in range(n) for a in range(b)}
    exact, approx, rows = [], [], []
    for s in range(0, len(me), chunk):
        gb = batch_graphs(net, layers, me[s : s + chunk], opp[s : s + chunk])
        starts = np.concatenate([[0], np.cumsum([ids.shape[1] for ids in gb.local.idx])])
        per_row = torch.zeros(3, *gb.present.shape, dtype=torch.float64)  # e.v, e.e, v.v
        for (a, b), v in V.items():
            sa, sb = slice(starts[a], starts[a + 1]), slice(starts[b], starts[b + 1])
            e = gb.adjacency[:, sb, sa] / gb.activation[:, None, sa].clamp_min(1e-30)
            va = v[gb.feature[:, sb, None], gb.feature[:, None, sa]]
            on = gb.present[:, sb, None] & gb.present[:, None, sa]
            e, va = (e * on).double().cpu(), (va * on).double().cpu()
            per_row[:, :, sb] += torch.stack([(e * va).sum(2), (e * e).sum(2), (va * va).sum(2)])
            exact.append(e[on.cpu()]), approx.append(va[on.cpu()])
        rows.append(per_row.flatten(1))
    e, v = torch.cat(exact), torch.cat(approx)
    ev, ee, vv = torch.cat(rows, 1)
    left = (ee - ev**2 / vv.clamp_min(1e-300)).clamp_min(0)
    return {
        "pairs": len(e),
        "relative_rms_error": float((v - e).norm() / e.norm()),
        "relative_rms_error_best_row_scale": float((left.sum() / ee.sum()).sqrt()),
        "pearson": float(torch.corrcoef(torch.stack([e, v]))[0, 1]),
        "median_relative_error": float(((v - e).abs() / e.abs().clamp_min(1e-12)).median()),
    }


@cli.command
def main(argv: list[str] | None = None) -> dict:
    ap = set_parser("python -m transcoder.virtual_weights", __doc__)
    ap.add_argument(
        "--store",
        required=True,
        help="activation store (constants from its training rows, error on held-out rows)",
    )
    ap.add_argument("--positions", type=int, default=500, help="held-out positions for the error")
    ap.add_argument("--k", type=int, default=10, help="top connections per latent (with --json)")
    ap.add_argument(
        "--json", type=cli.out_file, help="write the error report and top connections here"
    )
    args = parse(ap, argv)
    if args.positions < 2 or args.k < 1:
        ap.error("--positions must be at least 2 and --k positive")
    try:
        tset, net = open_set(args.transcoders, args.checkpoint, args.device)
        store = ActivationStore(args.store)
        train = store.rows("train")
        pick = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:8192])
        store_inv = ln_inverse_means(
            net, store.read("me", train[pick]), store.read("opp", train[pick])
        )
        me, opp = heldout_positions(store, args.positions, args.seed)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    random_inv = ln_inverse_means(net, *random_play_positions(net.cfg.board_size))
    spread = ln_spread(net, me, opp)
    report = {
        "kind": "virtual_weight_error",
        "set": str(tset.folder),
        "positions": len(me),
        "ln_spread": spread,
        "approximations": {},
    }
    names = [f"LN of block {i}" for i in range(net.cfg.n_blocks)] + ["final LN"]
    print(f"1/sigma on the {len(me)} held-out positions (5th / 50th / 95th percentile, "
          "correlation with the number of empties):")  # fmt: skip
    for name, r in zip(names, spread, strict=True):
        q = r["quantiles"]
        print(f"   {name:<14} {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}   {r['corr_empties']:+.2f}")
    for name, inv in (
        ("mean 1/sigma, random play (top_connections' default)", random_inv),
        ("mean 1/sigma, the store's training rows", store_inv),
    ):
        r = ln_error(net, tset.layers, me, opp, inv)
        report["approximations"][name] = {"inv_sigma": inv, **r}
        print(
            f"{name}: 1/sigma per LN {', '.join(f'{x:.4f}' for x in inv)}\n"
            f"   {r['pairs']} active pairs of {len(me)} held-out positions: relative RMS error "
            f"{r['relative_rms_error']:.4f} ({r['relative_rms_error_best_row_scale']:.4f} with "
            f"the best scale per receiving latent and position), pearson {r['pearson']:.4f}, "
            f"median relative error {r['median_relative_error']:.4f}"
        )
    if args.json:
        report["top_connections"] = top_connections(net, tset.layers, args.k, random_inv)
        atomic_write_json(args.json, report)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
