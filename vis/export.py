"""Export dictionaries, transcoder sets and attribution graphs for the static feature viewer.

    python -m vis.export runs/sae_agent/l1_3_n1024 runs/transcoders --store data/acts/agent
    python -m vis.export DICT [DICT ...] --out runs/x/vis/data --with-viewer

Each DICT is a dictionary (dictionary.json, its stem or its run folder) or a transcoder set
folder (transcoders.json). All are read on one seeded sample of the store's held-out
positions, so the positions they show share one deduplicated table (`vis.boards`). Per
latent: activation statistics and examples (`vis.latents`), the decoder direction's effect on
play through the rest of the net (`sae.explain.effects`), related latents (`vis.related`), the
concepts report's explanation where `<dict folder>/concepts.json` exists
(`vis.concept_panel`), and for transcoders the virtual-weight neighbours and attribution
graphs (`vis.circuits`). Metrics come from the sweep's scaling.json (a transcoder set's
fidelity.json), and the sweep's PNG plots are copied.

The output folder (default vis/data; format in vis/README.md) is built aside and swapped in
whole (`common.io.atomic_dir`): what it held before is replaced, and a killed export leaves
it untouched. Only a folder an export wrote is replaced (it carries the marker file
`.othello-export`; an older export without one holds nothing but export files): any other
existing, non-empty folder is refused before any work. --with-viewer also copies the
viewer's page next to it, so `python -m http.server -d <parent of OUT>` serves both; a page
file already there is overwritten only when the toolkit wrote it (`.othello-viewer` records
what it wrote; a file equal to a shipped version of the viewer counts as its own).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common import cli
from common.io import (
    CheckpointError,
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    bundle_paths,
    check_replaceable,
    read_json,
    resolve_recorded,
)
from sae.activations.store import ActivationStore, StoreError
from sae.concepts.report import ReportError, check_inputs, load_net
from sae.dictionary.model import Dictionary, load_dictionary
from sae.dictionary.sweep import read_scaling
from sae.explain.effects import decoder_effects
from sae.steering.edit import SteeringError, check_fits
from transcoder.graph_json import explanation_labels
from transcoder.set import CONFIG_NAME, load_transcoder_set
from vis import layout
from vis.boards import BoardTable, sample_positions
from vis.circuits import GraphError, build_graphs, connections, graph_entry, read_graph
from vis.concept_panel import dictionary_concepts, latent_concepts, load_report
from vis.explanation_panel import (
    dictionary_explanations,
    explanation_columns,
    latent_explanation,
    load_explanations,
)
from vis.glossary import glossary
from vis.graph_files import METADATA_NAME, graph_metadata, named_graphs
from vis.latents import StatsConfig, encode_sample, latent_stats
from vis.related import cofiring_latents, similar_latents

VIS_ROOT = Path(__file__).resolve().parent
VIEWER_FILES = ("index.html", "style.css", "js")
VIEWER_MARK = ".othello-viewer"  # beside the page: {file: sha256} of what --with-viewer wrote
# sha256 prefixes of every viewer file version shipped before VIEWER_MARK existed: such a file
# was written by an older `--with-viewer` and may be replaced
SHIPPED_VIEWER = frozenset(
    {
        "0404154899e33888", "05f8f78bc55da0fa", "08778ba9704d648c", "09f653f8439e71c3",
        "1d72749741b3f8ea", "292a64c96c60863a", "309135eedc126fb4", "353b6f1744ae1748",
        "389392268acc7a2d", "3c72f34a8e160678", "3e6afce9150b1d1a", "3fd860c3d63eee0c",
        "42d46437a6360fcc", "4a58c8926e10d6b6", "4ec602a6dc70668d", "609b707301c2c334",
        "661bc967c156733f", "6b0819a172efb639", "71989b34eeb74927", "7a013bd97e6eb147",
        "7a11eb801b07a24f", "8444146bea8ca183", "92daeb81245acbb1", "a12435e0a48365ae",
        "a3cf1e97d03ef537", "af79be759e7ee473", "bb2d62c2bf8be50f", "c7d3ef7cb31a3774",
        "dbe390307d0906be", "e2ed304445a1a639", "fd2a4b0f660bf1cd", "fe55a15f1c6b9e89",
        "fe6a11ba996ee07a", "ff5cf102ef15136d",
    }
)  # fmt: skip
EXPORT_KIND = "python -m vis.export"
# what an export holds
EXPORT_NAMES = ("index.json", "boards.json", "glossary.json", "dicts", "graphs", "plots")
SUMMARY_CONCEPTS = 3  # top concept names per latent in the list view (search)
POLICY_DECIMALS = 4


@dataclass
class ExportConfig:
    positions: int = 30_000  # sampled store rows every dictionary is read on
    effect_positions: int = 64  # positions the decoder effects are averaged over
    related: int = 5  # similar / co-firing / virtual-weight neighbours per latent
    shard_size: int = 128  # latents per latent file
    graphs: int = 6  # attribution graphs per transcoder set
    stats: StatsConfig | None = None
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        self.stats = self.stats or StatsConfig(seed=self.seed)


@dataclass
class Source:
    """One dictionary to export, with what the index says about it."""

    dictionary: Dictionary
    config: dict
    path: Path
    id: str
    kind: str  # "sae" or "transcoder"
    metrics: dict
    sweep: str | None = None
    set_id: str | None = None
    block: int | None = None


class ExportError(cli.InputError):
    """Input that cannot be exported (one line says why)."""


# -- finding what to export ------------------------------------------------------------------
def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def _dict_stem(arg: str) -> Path:
    p = Path(arg)
    if p.is_dir():
        p = p / "dictionary"
    stem = bundle_paths(p)[1]
    if not stem.exists():
        raise ExportError(
            f"{arg}: no dictionary here (name a dictionary.json, its stem or its run folder, "
            f"or a transcoder set folder)"
        )
    return stem


def _unique(name: str, taken: set[str]) -> str:
    base, i = layout.safe_id(name), 2
    name = base
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def _transcoder_set(folder: Path, device: str, taken: set[str]) -> tuple[list[Source], dict]:
    """(a Source per block's transcoder, the set's index entry); `layers` lists the
    dictionary id of each block (null for a block without one)."""
    tset = load_transcoder_set(folder, device, partial=True)
    set_id = _unique(folder.name, taken)
    fidelity = folder / "fidelity.json"
    fid = read_json(fidelity, "fidelity report") if fidelity.exists() else {}
    per_layer = fid.get("layers") or {}
    sources, ids = [], [None] * tset.n_blocks
    for block in tset.blocks:
        stem = folder / tset.config["layers"][block]
        config = read_json(bundle_paths(stem)[1], "dictionary config")
        ids[block] = _unique(f"{set_id}-blocks.{block}", taken)
        metrics = _scalars(per_layer.get(f"blocks.{block}") or {})
        sources.append(
            Source(
                tset.layers[block],
                config,
                stem,
                ids[block],
                "transcoder",
                metrics,
                set_id=set_id,
                block=block,
            )
        )
    entry = {
        "id": set_id,
        "path": layout.repo_path(folder),
        "layers": ids,
        "metrics": _scalars(per_layer.get("all") or {}),
        "plots": [str(p) for p in sorted(folder.glob("*.png"))],
        "tset": tset,
    }
    return sources, entry


def find_sources(args: list[str], device: str) -> tuple[list[Source], list[dict], list[dict]]:
    """(dictionaries, sweeps, transcoder sets) named on the command line."""
    sources, sweeps, sets, taken = [], {}, [], set()
    for arg in args:
        if (Path(arg) / CONFIG_NAME).exists() or Path(arg).name == CONFIG_NAME:
            folder = Path(arg).parent if Path(arg).name == CONFIG_NAME else Path(arg)
            layer_sources, tset = _transcoder_set(folder, device, taken)
            sources += layer_sources
            sets.append(tset)
            continue
        stem = _dict_stem(arg)
        dictionary, config = load_dictionary(stem, device)
        run, sweep_dir = stem.parent.name, stem.parent.parent
        scaling = read_scaling(sweep_dir) if (sweep_dir / "scaling.json").exists() else {}
        sweep = None
        if run in scaling:
            sweep = sweep_dir.name
            entry = sweeps.setdefault(
                sweep,
                {
                    "id": sweep,
                    "path": layout.repo_path(sweep_dir),
                    "dictionaries": [],
                    "plots": [str(p) for p in sorted(sweep_dir.glob("*.png"))],
                    "scaling": {r: _scalars(m) for r, m in scaling.items()},
                },
            )
        kind = "sae" if dictionary.cfg.autoencoder else "transcoder"
        source = Source(
            dictionary,
            config,
            stem,
            _unique(run, taken),
            kind,
            _scalars(scaling.get(run) or {}),
            sweep=sweep,
        )
        if sweep:
            entry["dictionaries"].append(source.id)
        sources.append(source)
    return sources, list(sweeps.values()), sets


def default_store(sources: list[Source]) -> str:
    for s in sources:
        recorded = (s.config.get("data") or {}).get("store")
        if recorded:
            return str(resolve_recorded(recorded, s.path.parent))
    raise ExportError("no dictionary records its activation store: pass --store")


# -- the export ------------------------------------------------------------------------------
class Exporter:
    def __init__(self, store: ActivationStore, net, agent: dict, cfg: ExportConfig, out: Path):
        self.store, self.net, self.agent, self.cfg, self.out = store, net, agent, cfg, out
        t0 = time.perf_counter()
        self.sample = sample_positions(store, cfg.positions, cfg.seed)
        self.boards = BoardTable(self.sample)
        rng = np.random.default_rng([cfg.seed, 1])
        distinct = len(self.sample.me)
        self.effect_pos = np.sort(rng.permutation(distinct)[: cfg.effect_positions])
        self.sizes: dict[str, int] = {}
        self.seconds: dict[str, float] = {"sample": time.perf_counter() - t0}

    def write(self, rel: str, obj) -> None:
        self.sizes[rel] = layout.write_json(self.out / rel, obj)

    def _examples(self, pairs) -> list:
        ids = self.boards.ref([p for p, _ in pairs])
        return [[b, v] for b, (_, v) in zip(ids, pairs, strict=True)]

    def dictionary(self, src: Source, neighbours: dict | None = None) -> dict:
        """Write one dictionary's summary and latent shards; returns its index entry."""
        t0 = time.perf_counter()
        cfg, d, progress = self.cfg, src.dictionary, self.cfg.progress
        if progress:
            print(f"{src.id}: {d.cfg.n_latents} latents", file=sys.stderr, flush=True)
        acts = encode_sample(d, self.store, self.sample.rows, device=cfg.device, progress=progress)
        stats = latent_stats(acts, self.sample.pos, cfg.stats)
        strength = np.array([np.mean([v for _, v in s["top"]]) if s else 0.0 for s in stats])
        s = self.sample
        effects = decoder_effects(
            self.net,
            d,
            s.me[self.effect_pos],
            s.opp[self.effect_pos],
            strength,
            progress=progress,
        )
        sim_ids, sim = similar_latents(d.W_dec, cfg.related)
        co_ids, co = cofiring_latents(acts, cfg.related)
        report, why = load_report(src.path, d.cfg.n_latents)
        explanations, why_not = load_explanations(src.path, d.cfg.n_latents)
        notes = [w for w in (why, why_not) if w]
        n = d.cfg.n_latents
        columns = {k: [None] * n for k in ("density", "mean", "max", "effect", "value", "auc")}
        columns["concepts"] = [[] for _ in range(n)]
        columns.update(explanation_columns(explanations, n))
        latents = []
        for i in tqdm(range(n), desc="latents", disable=not progress, leave=False):
            st, entry = stats[i], {"id": i}
            if st:
                entry.update(
                    density=st["density"],
                    mean=st["mean"],
                    max=st["max"],
                    hist=st["hist"],
                    top=self._examples(st["top"]),
                    quantiles=[[lo, hi, self._examples(ex)] for lo, hi, ex in st["quantiles"]],
                    effect={
                        "strength": strength[i],
                        # probability changes below 1e-4 are noise: 4 decimals keep the files small
                        "policy": np.round(effects["policy"][i], POLICY_DECIMALS) + 0.0,
                        "value": effects["value"][i],
                        "tv": effects["tv"][i],
                    },
                )
                for k in ("density", "mean", "max"):
                    columns[k][i] = st[k]
                columns["effect"][i], columns["value"][i] = effects["tv"][i], effects["value"][i]
            else:
                entry["density"] = columns["density"][i] = 0.0
            entry["similar"] = [
                [int(j), v] for j, v in zip(sim_ids[i], sim[i], strict=True) if j >= 0
            ]
            entry["cofiring"] = [
                [int(j), v] for j, v in zip(co_ids[i], co[i], strict=True) if j >= 0
            ]
            concepts = latent_concepts(report, i)
            if concepts:
                entry["concepts"] = concepts
                top = concepts["top"]
                columns["auc"][i] = top[0][1] if top else None
                columns["concepts"][i] = [name for name, _ in top[:SUMMARY_CONCEPTS]]
            explanation = latent_explanation(explanations, i)
            if explanation:
                entry["explanation"] = explanation
            if neighbours and i in neighbours:
                entry.update(neighbours[i])
            latents.append(entry)
        size = cfg.shard_size
        for shard in range(-(-n // size)):
            chunk = latents[shard * size : (shard + 1) * size]
            self.write(layout.shard_file(src.id, shard), {"first": shard * size, "latents": chunk})
        summary = {
            "schema_version": layout.SCHEMA_VERSION,
            "kind": "vis_summary",
            "id": src.id,
            "n_latents": n,
            "rows": len(s),
            "columns": columns,
            "concepts": dictionary_concepts(report),
            "explanations": dictionary_explanations(explanations),
        }
        self.write(f"{layout.dict_folder(src.id)}/summary.json", summary)
        self.seconds[src.id] = time.perf_counter() - t0
        dc = d.cfg
        return {
            "id": src.id,
            "kind": src.kind,
            "site": dc.in_site,
            "out_site": dc.out_site,
            "architecture": dc.architecture,
            "width": n,
            "k": dc.k if dc.sparse_by_k else None,
            "l1_coeff": src.config.get("l1_coeff") if dc.architecture == "relu" else None,
            "skip": dc.skip,
            "metrics": src.metrics,
            "path": layout.repo_path(bundle_paths(src.path)[1]),
            "folder": layout.dict_folder(src.id),
            "shard_size": size,
            "live": int(sum(st is not None for st in stats)),
            "concepts": report is not None,
            "explanations": explanations is not None,
            "sweep": src.sweep,
            "set": src.set_id,
            "block": src.block,
            "notes": notes,
        }

    def copy_plots(self, owner: str, paths: list[str]) -> list[str]:
        out = []
        for p in paths:
            rel = f"plots/{owner}/{Path(p).name}"
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, self.out / rel)
            self.sizes[rel] = (self.out / rel).stat().st_size
            out.append(rel)
        return out

    def graphs(self, set_id: str, graphs: list[dict], boards: list, layers: list) -> list[dict]:
        """Graph files named by slug and graph-metadata.json (vis.graph_files)."""
        named, entries = named_graphs(graphs, layers), []
        for (slug, graph), board in zip(named, boards, strict=True):
            rel = f"graphs/{set_id}/{slug}.json"
            self.write(rel, graph)
            entries.append(graph_entry(graph, rel, board))
        self.write(f"graphs/{set_id}/{METADATA_NAME}", graph_metadata(named))
        return entries

    def graph_positions(self) -> tuple[list[int], list[tuple[int, int]]]:
        """Distinct sampled positions for graphs, spread over the game (by empty squares)."""
        s, n = self.sample, self.sample.n
        empties = n * n - np.bitwise_count(s.me | s.opp).astype(np.int64)
        pick = np.random.default_rng([self.cfg.seed, 2]).permutation(len(s.me))
        pick = pick[: self.cfg.graphs * 20]
        pick = pick[np.argsort(empties[pick], kind="stable")]
        chosen = [int(p) for p in pick[:: max(1, len(pick) // max(1, self.cfg.graphs))]]
        chosen = chosen[: self.cfg.graphs]
        return chosen, [(int(s.me[p]), int(s.opp[p])) for p in chosen]

    def finish(self, entries, sweeps, sets, notes) -> dict:
        t0 = time.perf_counter()
        self.write(
            "boards.json",
            {
                "schema_version": layout.SCHEMA_VERSION,
                "n": self.sample.n,
                "columns": ["board", "agent_move", "solved_value"],
                "boards": self.boards.entries(progress=self.cfg.progress),
            },
        )
        self.seconds["boards"] = time.perf_counter() - t0
        settings = asdict(self.cfg)
        settings.pop("progress")
        settings.pop("device")
        index = {
            "schema_version": layout.SCHEMA_VERSION,
            "kind": "vis_index",
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "board_size": self.sample.n,
            "store": {
                "path": layout.repo_path(self.store.root),
                "hash": self.store.hash,
                "split": self.sample.split,
                "rows": len(self.sample),
                "positions": len(self.sample.me),
            },
            "agent": {**self.agent, "path": layout.repo_path(self.agent.get("path"))},
            "boards": "boards.json",
            "board_count": len(self.boards),
            "dictionaries": entries,
            "sweeps": sweeps,
            "transcoder_sets": sets,
            "notes": notes,
            "settings": settings,
        }
        self.write("glossary.json", glossary())
        self.write("index.json", index)
        return index


def export(
    args: list[str],
    out: str | Path,
    store_path: str | None = None,
    checkpoint: str | None = None,
    graph_files: list[str] = (),
    cfg: ExportConfig | None = None,
) -> dict:
    """Export everything named in `args` to the data folder `out`; returns the index."""
    cfg = cfg or ExportConfig()
    sources, sweeps, sets = find_sources(args, cfg.device)
    if not sources:
        raise ExportError("nothing to export: name at least one dictionary or transcoder set")
    if graph_files and not sets:
        raise ExportError("--graph-json needs a transcoder set to link its nodes to")
    store = ActivationStore(store_path or default_store(sources))
    net, agent = load_net(store, checkpoint)
    net = net.to(cfg.device)
    for src in sources:
        try:
            check_inputs(src.config, store, src.dictionary.cfg.in_site, src.dictionary.cfg.d_in)
            check_fits(src.dictionary, src.config, net, None)
        except (ReportError, SteeringError) as e:
            raise ExportError(f"{src.path}: {e}") from None
    for tset in sets:
        tset["tset"].check_net(net)
    extra = [read_graph(p) for p in graph_files]
    notes: list[str] = []
    check_replaceable(out, EXPORT_KIND, EXPORT_NAMES, older_export)  # before the work
    remove_stale_exports(Path(out))
    with atomic_dir(out, EXPORT_KIND, EXPORT_NAMES, older_export) as tmp:
        ex = Exporter(store, net, agent, cfg, tmp)
        by_id = {s.id: s for s in sources}
        neighbours = {}
        for tset in sets:
            layers = tset.pop("tset").layers
            links = connections(net, layers, tset["layers"], cfg.related)
            for sid in filter(None, tset["layers"]):
                neighbours[sid] = links.get(by_id[sid].block, {})
            chosen, positions = ex.graph_positions()
            folders = [by_id[sid].path.parent if sid else None for sid in tset["layers"]]
            graphs = build_graphs(net, layers, positions, notes, explanation_labels(folders))
            boards = ex.boards.ref(chosen[: len(graphs)])
            if extra and tset is sets[0]:  # graph files given first, then the built ones
                graphs, boards = extra + graphs, [None] * len(extra) + boards
            tset["graphs"] = ex.graphs(tset["id"], graphs, boards, tset["layers"])
            tset["plots"] = ex.copy_plots(tset["id"], tset["plots"])
        entries = [ex.dictionary(s, neighbours.get(s.id)) for s in sources]
        for sweep in sweeps:
            sweep["plots"] = ex.copy_plots(sweep["id"], sweep["plots"])
        index = ex.finish(entries, sweeps, sets, sorted(set(notes)))
    index["sizes"], index["seconds"] = ex.sizes, ex.seconds
    return index


def older_export(folder: Path) -> bool:
    """A complete export written before exports carried their marker: an index.json of kind
    vis_index and nothing but what an export writes."""
    try:
        index = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    names = {p.name for p in folder.iterdir()}
    return isinstance(index, dict) and index.get("kind") == "vis_index" and names <= {*EXPORT_NAMES}


def remove_stale_exports(out: Path) -> None:
    """Temporary folders of exports to `out` that were killed (their process is gone)."""
    for tmp in out.parent.glob(f".{out.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue  # atomic_dir's own backup (".tmp-old") is its to restore
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def viewer_files() -> dict[str, bytes]:
    """{path relative to the site: content} of the viewer's static files."""
    out = {}
    for name in VIEWER_FILES:
        src = VIS_ROOT / name
        for f in sorted(src.rglob("*") if src.is_dir() else [src]):
            if f.is_file():
                out[f.relative_to(VIS_ROOT).as_posix()] = f.read_bytes()
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_viewer_site(site: Path) -> None:
    """Refuse (ExportError) to overwrite a page file in `site` that the toolkit did not write
    (or that was edited since): what the site's VIEWER_MARK records, a shipped version of the
    viewer, or the file about to be written are the toolkit's."""
    try:
        recorded = json.loads((site / VIEWER_MARK).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        recorded = {}
    recorded = recorded if isinstance(recorded, dict) else {}
    for rel, data in viewer_files().items():
        target = site / rel
        if not target.exists() and not target.is_symlink():
            continue
        if target.is_symlink() or not target.is_file():
            raise ExportError(f"{target} is in the way of the viewer's {rel} (not a plain file)")
        have = _sha(target.read_bytes())
        if have == _sha(data) or have == recorded.get(rel) or have[:16] in SHIPPED_VIEWER:
            continue
        raise ExportError(
            f"{target} was not written by --with-viewer (or was edited since): the viewer "
            f"would overwrite it; move it away or export to another --out"
        )


def copy_viewer(site: Path) -> None:
    """The viewer's static files into `site` (each written atomically), then VIEWER_MARK
    recording their hashes. Files the toolkit did not write are refused (check_viewer_site)."""
    check_viewer_site(site)
    files = viewer_files()
    for rel, data in files.items():
        atomic_write_bytes(site / rel, data)
    atomic_write_json(site / VIEWER_MARK, {rel: _sha(data) for rel, data in files.items()})


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(
        prog="python -m vis.export",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    d = ExportConfig()
    ap.add_argument(
        "sources",
        nargs="+",
        metavar="DICT",
        help="dictionary (json, stem or run folder) or transcoder set folder",
    )
    ap.add_argument("--store", help="activation store (default: the one the first was trained on)")
    ap.add_argument("--checkpoint", help="agent checkpoint (default: the store's)")
    ap.add_argument(
        "--out", type=cli.out_dir, default="vis/data", help="data folder (default vis/data)"
    )
    ap.add_argument(
        "--with-viewer",
        action="store_true",
        help="also copy the viewer page into the parent of --out",
    )
    for flag, what in (
        ("positions", "store rows sampled"),
        ("effect_positions", "positions decoder effects average over"),
        ("graphs", "attribution graphs per transcoder set"),
    ):
        default = getattr(d, flag)
        flag_name = "--" + flag.replace("_", "-")
        ap.add_argument(flag_name, type=int, default=default, help=f"{what} (default {default})")
    ap.add_argument(
        "--graph-json",
        action="append",
        default=[],
        metavar="FILE",
        help="add a graph in circuit-tracer's JSON schema (repeatable)",
    )
    ap.add_argument("--seed", type=cli.seed, default=0)
    ap.add_argument("--device", type=cli.device, default="cpu", help="torch device (default cpu)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if args.positions < 10 or args.effect_positions < 1 or args.graphs < 0:
        ap.error("--positions must be >= 10, --effect-positions >= 1, --graphs >= 0")
    out = Path(args.out)
    if args.with_viewer and out.parent.resolve() == VIS_ROOT:
        ap.error("--with-viewer copies the viewer next to --out; vis/ already holds it")
    if Path(os.path.abspath(out)) in (Path.cwd(), *Path.cwd().parents):
        ap.error(f"--out {args.out} is the working folder or holds it: an export replaces its "
                 "folder whole, so name a folder of its own")  # fmt: skip
    if args.with_viewer:
        try:
            check_viewer_site(out.parent)
        except ExportError as e:
            sys.exit(f"error: {e}")
    cfg = ExportConfig(
        positions=args.positions,
        effect_positions=args.effect_positions,
        graphs=args.graphs,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    t0 = time.perf_counter()
    try:
        index = export(args.sources, out, args.store, args.checkpoint, args.graph_json, cfg)
    except (CheckpointError, StoreError, ReportError, ExportError, GraphError) as e:
        sys.exit(f"error: {e}")
    if args.with_viewer:
        copy_viewer(out.parent)
    for note in index["notes"]:
        print(note)
    total = sum(index["sizes"].values())
    big = [
        f"{k} ({v / 1e6:.1f} MB)" for k, v in index["sizes"].items() if v > layout.MAX_FILE_BYTES
    ]
    print(
        f"exported {len(index['dictionaries'])} dictionaries, {index['board_count']} positions "
        f"to {out} ({total / 1e6:.1f} MB, {len(index['sizes'])} files) in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if big:
        print("warning: files over 2 MB: " + ", ".join(big))
    print(json.dumps({k: round(v, 1) for k, v in index["seconds"].items()}))


if __name__ == "__main__":
    main()
