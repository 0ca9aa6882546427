"""Collect the agent's activations on positions of real games into an activation store.

Games are played in chunks of `games_per_chunk`, each chunk from one source of the game mix
(drawn per chunk from a seeded generator, so a resumed collection replays exactly the chunks
it would have played):

    selfplay      the agent against itself, temperature 1 for the first plies, root noise
    vs_random     the agent against the random player
    vs_greedy     the agent against the greedy (most flips) player
    vs_alphabeta  the agent against alpha-beta at depth 2

Every match starts from seeded random openings (arena's paired openings, colours swapped).
Every position before a move of every game is kept, once per occurrence: the store is a
frequency-weighted sample of positions as played, not a set of distinct network queries.
The float32 net then evaluates each chunk's positions in batches, caching all requested hook
sites in one pass, with its policy and value. See sae.activations.store for the format.

    python -m sae.activations --checkpoint pretrained/agent.json \
        --sites blocks.2.resid_post --positions 1000000 --out data/acts/agent

With --ray [ADDRESS] Ray workers play the chunks and the store is committed here, the same
byte for byte (sae.activations.sharded, docs/ray.md).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from alphazero.agent import AlphaZeroPlayer
from alphazero.model import AlphaZeroNet, load_agent
from common import cli, cluster
from common.io import CheckpointError, bundle_paths, settings_diff, sha256_file
from common.threads import ThreadChooser
from othello.arena import play_match
from othello.players import make_player
from sae.activations.store import DTYPES, ActivationStore, StoreError, StoreWriter

# Raw-policy play (simulations 0) by default: collection needs realistic positions, not deep
# search, and on 2 cores MCTS would cost far more than the activations themselves.
DEFAULT_MIX = "selfplay:0.5,vs_random:0.2,vs_greedy:0.2,vs_alphabeta:0.1"
SOURCES = ("selfplay", "vs_random", "vs_greedy", "vs_alphabeta")
OPPONENTS = {"vs_random": "random", "vs_greedy": "greedy", "vs_alphabeta": "alphabeta:2"}


def parse_mix(text: str) -> dict[str, float]:
    """'selfplay:0.5,vs_random:0.5' -> normalised weights; errors name the valid sources."""
    mix = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        if name not in SOURCES:
            raise ValueError(f"unknown game source {name!r}; valid: {', '.join(SOURCES)}")
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"weight of {name} must be a number, got {weight!r}") from None
        if mix[name] < 0:
            raise ValueError(f"weight of {name} must be >= 0")
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("the game mix needs a positive weight")
    return {k: v / total for k, v in mix.items()}


def file_hash(path: Path) -> str:
    return sha256_file(path)[:16]


def _players(net, source: str, simulations: int, temperature_plies: int, seed: int):
    def agent(s, plies):
        return AlphaZeroPlayer(
            net,
            simulations,
            root_noise=simulations > 0,
            temperature=1.0,
            temperature_plies=plies,
            seed=s,
            dtype="float32",
        )

    if source == "selfplay":
        return agent(seed, temperature_plies), agent(seed + 1, temperature_plies)
    # against baselines the agent plays its best move; the openings give the variety
    return agent(seed, 0), make_player(OPPONENTS[source], net.cfg.board_size, seed=seed + 1)


_EVAL_THREADS = ThreadChooser()  # one or all torch threads, whichever measures faster


@torch.inference_mode()
def evaluate_positions(
    net: AlphaZeroNet,
    me: np.ndarray,
    opp: np.ndarray,
    sites: list[str],
    dtype: str,
    batch_size: int = 4096,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """(activations per site, legal mask, policy, value) of canonical boards, in one pass."""
    acts = {s: [] for s in sites}
    legal_parts, policy_parts, value_parts = [], [], []
    for start in range(0, len(me), batch_size):
        x, legal = net.encode(me[start : start + batch_size], opp[start : start + batch_size])
        with _EVAL_THREADS(len(x)):
            out, cache = net.run_with_cache(x, legal, sites)
        for s in sites:
            acts[s].append(cache[s].float().cpu().numpy().astype(dtype))
        legal_parts.append(legal.cpu().numpy())
        policy_parts.append(torch.softmax(out.policy_logits.float(), -1).cpu().numpy())
        value_parts.append(out.value.float().cpu().numpy())
    return (
        {s: np.concatenate(v) for s, v in acts.items()},
        np.concatenate(legal_parts),
        np.concatenate(policy_parts).astype(dtype),
        np.concatenate(value_parts).astype(np.float32),
    )


def _chunk_rows(records, first_game: int, source_id: int) -> dict[str, np.ndarray]:
    """Metadata of every position before a move, in game order."""
    me, opp, black, ply, game = [], [], [], [], []
    for i, rec in enumerate(records):
        for t, pos in enumerate(rec.positions[:-1]):
            me.append(pos.me)
            opp.append(pos.opp)
            black.append(pos.black_to_move)
            ply.append(t)
            game.append(first_game + i)
    return {
        "me": np.array(me, np.uint64),
        "opp": np.array(opp, np.uint64),
        "black_to_move": np.array(black, bool),
        "ply": np.array(ply, np.int16),
        "game": np.array(game, np.int64),
        "source": np.full(len(me), source_id, np.uint8),
    }


@dataclass(frozen=True)
class ChunkPlan:
    """Everything a chunk's games and activations depend on, besides the net and its number."""

    sites: tuple[str, ...]
    dtype: str
    sources: tuple[str, ...]  # the mix's sources ...
    weights: tuple[float, ...]  # ... and their probabilities
    simulations: int
    games_per_chunk: int
    opening_plies: int
    temperature_plies: int
    seed: int


def play_chunk(net: AlphaZeroNet, plan: ChunkPlan, chunk: int):
    """(activations per site, metadata) of chunk number `chunk`: its games are seeded by
    (seed, chunk) alone and its positions evaluated in the same batches wherever it runs, so
    chunks can be played anywhere and appended in order (sae.activations.sharded). Game ids
    count from 0 within the chunk."""
    rng = np.random.default_rng([plan.seed, chunk])
    source = plan.sources[int(rng.choice(len(plan.sources), p=np.array(plan.weights)))]
    match_seed = int(rng.integers(2**31))
    p1, p2 = _players(net, source, plan.simulations, plan.temperature_plies, match_seed)
    result = play_match(
        p1,
        p2,
        plan.games_per_chunk,
        net.cfg.board_size,
        plan.opening_plies,
        match_seed,
        progress=False,
        record=True,
    )
    meta = _chunk_rows(result.records, 0, SOURCES.index(source))
    acts, legal, policy, value = evaluate_positions(
        net, meta["me"], meta["opp"], list(plan.sites), plan.dtype
    )
    meta.update(legal=legal, policy=policy, value=value)
    return acts, meta


def chunks_here(net: AlphaZeroNet, plan: ChunkPlan, first: int) -> Iterator:
    """Chunks first, first + 1, ... played in this process."""
    for chunk in itertools.count(first):
        yield play_chunk(net, plan, chunk)


def collect(
    checkpoint: str | Path,
    sites: list[str],
    positions: int,
    out: str | Path,
    *,
    dtype: str = "float16",
    mix: str = DEFAULT_MIX,
    simulations: int = 0,
    games_per_chunk: int = 256,
    opening_plies: int = 4,
    temperature_plies: int = 10,
    heldout_fraction: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    chunks=chunks_here,
) -> ActivationStore:
    """Create (or resume, or just open when complete) the store at `out`. `chunks(net, plan,
    first)` yields the chunks from number `first` on, in order (on Ray: sae.activations.sharded)."""
    weights, _ = bundle_paths(checkpoint)
    net, _ = load_agent(checkpoint)
    net._check_sites(sites)
    weights_mix = parse_mix(mix)
    settings = {
        "checkpoint": {"path": str(Path(checkpoint).absolute()), "sha256": file_hash(weights)},
        "collection": {
            "mix": weights_mix,
            "simulations": simulations,
            "games_per_chunk": games_per_chunk,
            "opening_plies": opening_plies,
            "temperature_plies": temperature_plies,
            "seed": seed,
            "heldout_fraction": heldout_fraction,
        },
        "sources": list(SOURCES),
    }
    out = Path(out)
    sites_dims = {s: net.site_dim(s) for s in sites}
    if (out / "manifest.json").exists():
        writer = StoreWriter.resume(out)
        m = writer.manifest
        # the checkpoint is compared by content: the same file named another way is fine
        keys = ("collection", "sources", "sites", "dtype", "capacity")
        now = dict(settings, sites=sites_dims, dtype=dtype, capacity=positions)
        changed = settings_diff(
            {"checkpoint.sha256": (m.get("checkpoint") or {}).get("sha256")}
            | {k: m.get(k) for k in keys},
            {"checkpoint.sha256": settings["checkpoint"]["sha256"]} | {k: now[k] for k in keys},
        )
        if changed:
            raise StoreError(
                f"{out} holds a collection with other settings ({'; '.join(changed)}); "
                "use another --out, or delete it to start over"
            )
        if m.get("complete"):
            return ActivationStore(out)
        if progress:
            print(
                f"resuming {out} at row {writer.count} of {writer.capacity} (chunk "
                f"{m['chunks']}) from {out / 'manifest.json'}"
            )
    else:
        info = {**settings, "chunks": 0}
        writer = StoreWriter.create(out, sites_dims, positions, dtype, net.cfg.board_size, info)

    plan = ChunkPlan(
        tuple(sites),
        dtype,
        tuple(weights_mix),
        tuple(weights_mix.values()),
        simulations,
        games_per_chunk,
        opening_plies,
        temperature_plies,
        seed,
    )
    bar = tqdm(total=positions, initial=writer.count, desc="positions", disable=not progress)
    first = int(writer.manifest["chunks"])
    nothing = (c for c in ())  # a resumed store may be full, only not finalised
    with contextlib.closing(chunks(net, plan, first) if not writer.full else nothing) as played:
        for chunk, (acts, meta) in zip(itertools.count(first), played):
            meta["game"] = meta["game"] + int(writer.manifest["games"])  # (Ray: read-only)
            writer.manifest["chunks"] = chunk + 1
            bar.update(writer.append(acts, meta, games_per_chunk))
            if writer.full:
                break
    bar.close()
    return writer.finalize(heldout_fraction, seed)


def _ray_chunks(ray_cluster):
    from sae.activations.sharded import chunks_on_ray  # imports Ray: only with --ray

    return chunks_on_ray(ray_cluster.cpus, play_chunk)


def default_checkpoint() -> Path | None:
    """pretrained/agent.json if present, else the newest runs/*/agent.json."""
    shipped = Path("pretrained/agent.json")
    if shipped.exists():
        return shipped
    found = sorted(Path("runs").glob("*/agent.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(
        prog="python -m sae.activations",
        description="Play games with the agent and store its activations at hook sites.",
    )
    ap.add_argument(
        "--checkpoint",
        help="agent checkpoint (.json/.safetensors stem); default: "
        "pretrained/agent.json, else the newest runs/*/agent.json",
    )
    ap.add_argument(
        "--sites",
        default="blocks.2.resid_post",
        help="comma-separated hook sites (default: blocks.2.resid_post)",
    )
    ap.add_argument("--positions", type=cli.count(1), default=1_000_000, help="rows to collect")
    ap.add_argument(
        "--out", type=cli.out_dir, help="store folder (default: data/acts/<checkpoint name>)"
    )
    ap.add_argument("--dtype", choices=DTYPES, default="float16")
    ap.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help=f"game sources and weights (default {DEFAULT_MIX}); sources: {', '.join(SOURCES)}",
    )
    ap.add_argument(
        "--simulations",
        type=int,
        default=0,
        help="MCTS simulations per move (0: raw policy, the fast default)",
    )
    ap.add_argument("--games-per-chunk", type=int, default=256)
    ap.add_argument("--opening-plies", type=int, default=4, help="seeded random opening plies")
    ap.add_argument(
        "--temperature-plies",
        type=int,
        default=10,
        help="self-play samples moves at temperature 1 for this many plies",
    )
    ap.add_argument("--heldout", type=float, default=0.1, help="fraction of games held out")
    ap.add_argument("--seed", type=cli.seed, default=0)
    cluster.add_argument(ap)  # chunks played by Ray workers, committed here
    args = ap.parse_args(argv)
    checkpoint = args.checkpoint or default_checkpoint()
    if checkpoint is None:
        ap.error("no --checkpoint given and none found in pretrained/ or runs/*/")
    sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    if args.positions < 1 or args.games_per_chunk < 1 or args.simulations < 0:
        ap.error("--positions and --games-per-chunk must be positive, --simulations >= 0")
    if not 0 <= args.heldout < 1:
        ap.error("--heldout must be in [0, 1)")
    try:
        parse_mix(args.mix)
    except ValueError as e:
        ap.error(str(e))
    out = args.out or f"data/acts/{Path(checkpoint).with_suffix('').name}"
    cli.check_out_dir(out, "--out")
    try:
        with cluster.session(args.ray) as ray_cluster:
            store = collect(
                checkpoint,
                sites,
                args.positions,
                out,
                dtype=args.dtype,
                mix=args.mix,
                simulations=args.simulations,
                games_per_chunk=args.games_per_chunk,
                opening_plies=args.opening_plies,
                temperature_plies=args.temperature_plies,
                heldout_fraction=args.heldout,
                seed=args.seed,
                chunks=_ray_chunks(ray_cluster) if ray_cluster else chunks_here,
            )
    except (CheckpointError, StoreError, ValueError) as e:
        sys.exit(f"error: {e}")
    split = store.manifest["split"]
    print(
        f"{store.root}: {store.count} positions from {store.manifest['games']} games; "
        f"train {split['train_rows']} rows / held-out {split['heldout_rows']} rows "
        f"({split['heldout_games']} games)"
    )


if __name__ == "__main__":
    main()
