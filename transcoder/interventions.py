"""Does the graph predict what clamping a latent does? Clamp nodes, rerun the net, compare.

For every active latent of every position (no selection by size), the graph predicts the
change of the target when the latent's activation a goes to `scale` * a (0: ablate):
(scale - 1) * a * e, with e its total effect per unit along every path of the local model
(`AttributionGraph.total_effects`). The real change comes from rerunning the agent with every
MLP replaced by its transcoder plus the clean run's error vector (which reproduces the clean
net exactly), the latent clamped, and everything downstream recomputed by the real network:
LayerNorm scales and the transcoders' TopK selections respond to the edit. `freeze` keeps
the clean run's LN scales ("ln"), its active sets with each latent linear in its
pre-activation ("active"), or both ("both": the local model itself, where prediction and
rerun agree to float rounding; the tests check that): the gaps between the modes say which
freezing costs what.

    python -m transcoder.interventions runs/transcoders --store data/acts/agent --positions 200

Everything runs through the hook API (`net.hooks`); the splice hooks of sae.dictionary.metrics only
read mlp_in, while freezing the LN scales must also replace mlp_in and ln_final, so the hooks
are built here.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from common import cli
from common.io import atomic_write_json
from othello import batch
from sae.activations.store import ActivationStore
from transcoder.attribute import open_set, parse, set_parser
from transcoder.attribution import (
    LATENT,
    LocalModel,
    batch_graphs,
    check_layers,
)
from transcoder.fidelity import heldout_positions

FREEZE = ("none", "ln", "active", "both")
MODES = {
    "none": "real network",
    "ln": "real network with the LN scales frozen",
    "active": "real network with the active sets frozen (latents linear)",
    "both": "local model (LN scales and active sets frozen)",
}


@dataclass
class ClampConfig:
    scale: float = 0.0  # new activation = scale * old (0 ablates the latent)
    freeze: str = "none"  # what the rerun keeps from the clean run: none, ln, active, both
    positions_per_chunk: int = 32  # positions whose graphs are built together
    rows_per_rerun: int = 2048  # (position, latent) reruns per forward pass


def _rows(lm: LocalModel) -> dict[str, torch.Tensor]:
    """One row per active latent of every position: position, block, slot, latent id."""
    cols: dict[str, list] = {"position": [], "block": [], "slot": [], "latent": []}
    for j, (ids, on) in enumerate(zip(lm.idx, lm.fired, strict=True)):
        b, s = on.nonzero(as_tuple=True)
        cols["position"].append(b), cols["slot"].append(s), cols["latent"].append(ids[b, s])
        cols["block"].append(torch.full_like(b, j))
    return {k: torch.cat(v) for k, v in cols.items()}


def _frozen_ln(x, ln, inv):
    h = x * inv[:, None]
    return (h - h.mean(-1, keepdim=True)) * ln.weight + ln.bias


def rerun_hooks(net, layers, lm: LocalModel, pos, block, slot, latent, new, freeze, seen):
    """Hooks for one rerun of rows (position `pos`, edit: latent `latent` / `slot` of block
    `block` set to `new`); the final LN output lands in seen["h"]."""
    if freeze not in FREEZE:
        raise ValueError(f"freeze must be one of {FREEZE}, got {freeze!r}")
    frozen_ln, frozen_active = freeze in ("ln", "both"), freeze in ("active", "both")
    n, rows = len(layers), torch.arange(len(pos), device=pos.device)
    hooks = {}
    for j, t in enumerate(layers):
        mine = block == j

        def mlp_out(_, j=j, t=t, mine=mine):
            m = seen.pop("m")
            if frozen_active:  # the clean active set, each latent linear in its pre-activation
                ids = lm.idx[j][pos]
                f = t.in_scale * torch.einsum("bkd,bd->bk", t.W_enc[ids], m) + t.b_enc[ids]
                f = f * lm.fired[j][pos]
                f[rows[mine], slot[mine]] = new[mine]
                y = torch.einsum("bk,bkd->bd", f, t.W_dec[ids]) + t.b_dec
                if t.W_skip is not None:
                    y = y + t.in_scale * m @ t.W_skip.T
                y = y / t.out_scale
            else:
                f = t.encode(m)
                f[rows[mine], latent[mine]] = new[mine]
                y = t.decode(f, m)
            return y.to(m.dtype) + lm.err[j][pos]

        hooks[f"blocks.{j}.mlp_out"] = mlp_out
        if frozen_ln:
            hooks[f"blocks.{j}.resid_pre"] = lambda x: seen.__setitem__("x", x)

            def mlp_in(_, j=j):
                seen["m"] = _frozen_ln(seen.pop("x"), net.blocks[j].ln, lm.inv[j][pos])
                return seen["m"]
        else:

            def mlp_in(m):
                seen["m"] = m

        hooks[f"blocks.{j}.mlp_in"] = mlp_in
    if frozen_ln:
        hooks[f"blocks.{n - 1}.resid_post"] = lambda x: seen.__setitem__("x", x)

        def ln_final(_):
            seen["h"] = _frozen_ln(seen.pop("x"), net.ln_final, lm.inv_f[pos])
            return seen["h"]
    else:

        def ln_final(h):
            seen["h"] = h

    hooks["ln_final"] = ln_final
    return hooks


@torch.no_grad()
def rerun_targets(net, layers, lm: LocalModel, pos, block, slot, latent, new, freeze):
    """The target's value in reruns of rows of (position, edit) (see `rerun_hooks`)."""
    seen: dict[str, torch.Tensor] = {}
    hooks = rerun_hooks(net, layers, lm, pos, block, slot, latent, new, freeze, seen)
    net.run_with_hooks(lm.x[pos], lm.legal[pos], hooks)
    return (seen["h"] * lm.head_w[pos]).sum(1) + lm.head_b[pos]


@torch.no_grad()
def clamp_check(
    net, layers, me, opp, target=None, cfg: ClampConfig | None = None, progress: bool = False
) -> dict[str, np.ndarray]:
    """Predicted and real target changes for every active latent of every position."""
    cfg = cfg or ClampConfig()
    layers = check_layers(net, layers)
    me, opp = batch.as_bitboards(me).reshape(-1), batch.as_bitboards(opp).reshape(-1)
    out: dict[str, list] = {}
    step = cfg.positions_per_chunk
    for s in tqdm(range(0, len(me), step), desc="clamps", unit="chunk", disable=not progress):
        tgt = target if target is None or np.ndim(target) == 0 else target[s : s + step]
        gb = batch_graphs(net, layers, me[s : s + step], opp[s : s + step], tgt)
        lm, effect = gb.local, gb.total_effects()
        r = _rows(lm)
        starts = np.concatenate([[0], np.cumsum([ids.shape[1] for ids in lm.idx])])
        node = torch.as_tensor(starts[r["block"].cpu().numpy()], device=r["slot"].device)
        node = node + r["slot"]
        assert (gb.kind[node.cpu().numpy()] == LATENT).all()
        act = gb.activation[r["position"], node]
        new = cfg.scale * act
        predicted = (new - act) * effect[r["position"], node]
        real = []
        for lo in range(0, len(act), cfg.rows_per_rerun):
            part = {k: v[lo : lo + cfg.rows_per_rerun] for k, v in r.items()}
            edited = rerun_targets(
                net, layers, lm, part["position"], part["block"], part["slot"],
                part["latent"], new[lo : lo + cfg.rows_per_rerun], cfg.freeze,
            )  # fmt: skip
            real.append(edited - lm.target_value[part["position"]])
        for key, v in (
            ("predicted", predicted),
            ("real", torch.cat(real)),
            ("activation", act),
            ("position", r["position"] + s),
            ("block", r["block"]),
            ("latent", r["latent"]),
        ):
            out.setdefault(key, []).append(v.cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def agreement(result: dict[str, np.ndarray], top: int = 10) -> dict:
    """Pearson r, least-squares slope and sign agreement of real vs predicted changes, over
    all rows and over each position's `top` rows by |predicted|."""
    pred, real, pos = result["predicted"], result["real"], result["position"]
    order = np.lexsort((-np.abs(pred), pos))
    rank = np.empty(len(pred), np.int64)
    first = np.r_[0, np.flatnonzero(np.diff(pos[order])) + 1]
    rank[order] = np.arange(len(pred)) - np.repeat(first, np.diff(np.r_[first, len(pred)]))

    def stats(mask):
        p, r = pred[mask].astype(np.float64), real[mask].astype(np.float64)
        big = np.abs(p) > 1e-3 * np.abs(p).max()
        return {
            "n": int(mask.sum()),
            "pearson": float(np.corrcoef(p, r)[0, 1]),
            "slope": float((p @ r) / (p @ p)),
            "sign_agreement": float((np.sign(p[big]) == np.sign(r[big])).mean()),
            "mean_abs_predicted": float(np.abs(p).mean()),
            "mean_abs_error": float(np.abs(r - p).mean()),
        }

    return {"all": stats(np.ones(len(pred), bool)), f"top{top}": stats(rank < top)}


@cli.command
def main(argv: list[str] | None = None) -> dict:
    ap = set_parser("python -m transcoder.interventions", __doc__)
    ap.add_argument("--store", required=True, help="activation store (held-out positions)")
    ap.add_argument("--positions", type=int, default=200)
    ap.add_argument("--scale", type=cli.finite, default=0.0, help="clamp to scale x activation")
    ap.add_argument(
        "--freeze",
        choices=FREEZE,
        default="none",
        help="keep the clean run's LN scales, active sets or both (both: the local model)",
    )
    ap.add_argument("--json", type=cli.out_file, help="write the summary here")
    args = parse(ap, argv)
    if args.positions < 2:
        ap.error("--positions must be at least 2")
    try:
        tset, net = open_set(args.transcoders, args.checkpoint, args.device)
        store = ActivationStore(args.store)
        me, opp = heldout_positions(store, args.positions, args.seed)
        t0 = time.perf_counter()
        cfg = ClampConfig(scale=args.scale, freeze=args.freeze)
        result = clamp_check(net, tset.layers, me, opp, cfg=cfg, progress=True)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    summary = {
        "kind": "clamp_check",
        "set": str(tset.folder),
        "store": str(store.root),
        "positions": len(me),
        "scale": args.scale,
        "freeze": args.freeze,
        "seconds": round(time.perf_counter() - t0, 2),
        **agreement(result),
    }
    mode = MODES[args.freeze]
    print(f"clamp every active latent to {args.scale} x its activation, rerun the {mode}; "
          f"{len(me)} held-out positions, {summary['seconds']} s")  # fmt: skip
    for key in ("all", "top10"):
        r = summary[key]
        print(
            f"{key:>5}: {r['n']} clamps  pearson {r['pearson']:.4f}  slope {r['slope']:.3f}  "
            f"sign agreement {r['sign_agreement']:.3f}  mean |predicted| "
            f"{r['mean_abs_predicted']:.4f}  mean |real - predicted| {r['mean_abs_error']:.2e}"
        )
    if args.json:
        atomic_write_json(args.json, summary)
        print(f"wrote {args.json}")
    return summary


if __name__ == "__main__":
    main()
