"""The whole chain on its quick default, ending in the feature viewer on what it made.

    python pipeline.py                      # the shipped agent; 4.5-8 minutes on 2 CPU cores
    python pipeline.py --from-scratch       # train a quick agent first (+ ~1 minute)
    python pipeline.py --out runs/p2 --positions 100000

With --ray [ADDRESS] the agent, activations, SAE and transcoder stages run on Ray (one local
instance that every stage joins, or the cluster at ADDRESS; docs/ray.md).

Stages (each one of the documented commands, run as a child process with its own progress
bars; outputs under --out):
  agent        the shipped agent (pretrained/agent), or --from-scratch: train_alphazero.py
               --preset quick
  activations  python -m sae.activations: blocks.2.resid_post (the SAEs) and every block's
               mlp_in / mlp_out (the transcoders) from the agent's games
  saes         python train_sae.py --sweep --quick: a small L1 + TopK grid with held-out
               metrics (scaling.json) and plots
  transcoders  python train_transcoder.py --all-layers --skip (quick settings), then
               python -m transcoder.evaluate (fidelity.json)
  concepts     python -m sae.concepts per dictionary (quick settings: concepts.json)
  explain      python -m sae.explain on every dictionary (explanations.json beside each,
               the table of all with the neuron and random-net baselines in OUT/explanations.json)
  export       python -m vis.export ... --with-viewer: the viewer and its data in OUT/vis

A stage is skipped when its outputs exist and its inputs (the command, the hashes of the
files it reads) are those it last finished with (OUT/stages.json); otherwise it runs, and
every command resumes what a killed run left. The end prints a table (stage, status,
seconds, output) and the `python -m http.server` line that opens the viewer. Each child runs
in its own process group: interrupting or terminating the pipeline (Ctrl-C, SIGTERM, SIGHUP)
stops the running child first, and a child also stops if the pipeline is killed outright.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import cli, cluster
from common.io import CheckpointError, atomic_write_json, bundle_paths, read_json
from sae.dictionary.sweep import run_folders
from transcoder.set import CONFIG_NAME, layer_stem

SAE_SITE = "blocks.2.resid_post"
STAMPS = "stages.json"
# quick settings: small enough for minutes on 2 cores, enough to exercise every panel
QUICK_TRANSCODERS = ["--latents", "1024", "--steps", "300", "--batch-size", "2048"]
QUICK_CONCEPTS = ["--positions", "5000", "--solver-positions", "300", "--no-baselines"]
# held-out programs for every dictionary on one sample; the random-net control trained once
QUICK_EXPLAIN = ["--positions", "20000", "--solver-positions", "2000", "--random-net", "first"]


@dataclass
class Stage:
    name: str
    commands: list[list[str]]
    inputs: list[Path]  # files whose content the stage depends on
    outputs: list[Path]  # what it leaves behind (all present = done)
    shown: str = ""  # output named in the summary table
    status: str = ""
    seconds: float = 0.0


def file_digest(path: Path) -> str:
    if not path.exists():
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def fingerprint(stage: Stage) -> str:
    # --resume only says how a rerun continues, --ray where it runs: the same stage either way
    commands = [_without_ray([c for c in cmd if c != "--resume"]) for cmd in stage.commands]
    parts = [commands, [(str(p), file_digest(p)) for p in stage.inputs]]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _without_ray(cmd: list[str]) -> list[str]:
    if "--ray" not in cmd:
        return cmd
    i = cmd.index("--ray")
    return cmd[:i] + cmd[i + 2 :]


class Pipeline:
    def __init__(self, out: Path, py: str):
        self.out, self.py, self.stages = out, py, []
        path = out / STAMPS
        self.stamps = read_json(path, "pipeline stamps") if path.exists() else {}
        if not isinstance(self.stamps, dict) or not all(
            isinstance(v, dict) for v in self.stamps.values()
        ):
            raise CheckpointError(
                f"{path} is damaged (not an object of stages); delete it and rerun: every "
                f"stage then runs again and resumes what its outputs hold"
            )

    def run(self, stage: Stage, number: int, total: int) -> None:
        title = f"[{number}/{total}] {stage.name}"
        self.stages.append(stage)
        key = fingerprint(stage)
        if self.stamps.get(stage.name, {}).get("inputs") == key and all(
            p.exists() for p in stage.outputs
        ):
            stage.status = "up to date"
            print(f"\n== {title}: up to date ({stage.shown})", flush=True)
            return
        print(f"\n== {title}", flush=True)
        t0 = time.perf_counter()
        for cmd in stage.commands:
            print("$ " + " ".join(cmd), flush=True)
            code = cli.run_child(cmd)  # stopped with us if we are interrupted or killed
            if code != 0:
                sys.exit(
                    f"pipeline stopped at {stage.name}: `{' '.join(cmd)}` exited with {code}; "
                    f"rerun the same `python pipeline.py` to resume"
                )
        stage.seconds = time.perf_counter() - t0
        stage.status = "ran"
        # inputs are read again: a stage may write what it also reads (none does today)
        self.stamps[stage.name] = {"inputs": fingerprint(stage), "seconds": stage.seconds}
        atomic_write_json(self.out / STAMPS, self.stamps)
        print(f"== {stage.name}: done in {stage.seconds:.0f} s", flush=True)

    def table(self) -> str:
        rows = [("stage", "status", "seconds", "output")]
        for s in self.stages:
            rows.append((s.name, s.status, f"{s.seconds:.0f}" if s.seconds else "-", s.shown))
        total = sum(s.seconds for s in self.stages)
        rows.append(("total", "", f"{total:.0f}", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
        )


def sae_runs(folder: Path) -> list[Path]:
    """Run folders of a finished sweep, in scaling.json's order (names stay inside it)."""
    return run_folders(folder)


def transcoder_dicts(folder: Path) -> list[Path]:
    """The folders of a set's transcoders (entries stay inside the set's folder)."""
    path = folder / CONFIG_NAME
    config = read_json(path, "transcoder set") if path.exists() else {}
    layers = config.get("layers") if isinstance(config, dict) else None
    if path.exists() and not isinstance(layers, list):
        raise CheckpointError(f"{path}: 'layers' must list one entry per block")
    return [layer_stem(folder, stem, path, i).parent for i, stem in enumerate(layers or []) if stem]


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(
        prog="pipeline.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    ap.add_argument("--out", type=cli.out_dir, default="runs/pipeline", help="output folder")
    ap.add_argument("--agent", default="pretrained/agent", help="agent checkpoint to study")
    ap.add_argument(
        "--from-scratch", action="store_true", help="train a quick agent instead of --agent"
    )
    ap.add_argument(
        "--positions", type=cli.count(1), default=200_000, help="activation rows to collect"
    )
    ap.add_argument(
        "--device", type=cli.device, default="cpu", help="torch device for the trainers (cpu)"
    )
    ap.add_argument(
        "--port", type=cli.count(1, 65535), default=8000, help="port in the printed server line"
    )
    cluster.add_argument(ap)  # passed to the agent, activations, SAE and transcoder stages
    args = ap.parse_args(argv)
    if args.positions < 1000:
        ap.error("--positions must be at least 1000")
    # one local Ray instance for every stage (each child joins it) instead of one per stage
    with cluster.session(args.ray if args.ray == cluster.LOCAL else None) as local:
        ray = cluster.passthrough(local.address if local else args.ray)
        _run(ap, args, ray)


def _run(ap, args, ray: list[str]) -> None:
    py, out = sys.executable, Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = Pipeline(out, py)
    total = 7

    # 1. agent
    if args.from_scratch:
        run_dir = out / "agent"
        cmd = [py, "train_alphazero.py", "--preset", "quick", "--out", str(run_dir)]
        cmd += ["--device", args.device, *ray]
        if (run_dir / "state" / "state.json").exists():
            cmd.append("--resume")
        agent = run_dir / "agent"
        pipe.run(Stage("agent", [cmd], [], [bundle_paths(agent)[1]], shown=str(agent)), 1, total)
    else:
        agent = Path(args.agent)
        if not bundle_paths(agent)[1].exists():
            ap.error(f"agent checkpoint {bundle_paths(agent)[1]} not found")
        stage = Stage("agent", [], [], [], shown=f"{agent} (shipped)")
        pipe.stages.append(stage)
        stage.status = "given"
        print(f"\n== [1/{total}] agent: {agent}", flush=True)
    agent_json = bundle_paths(agent)[1]
    try:
        n_blocks = int(read_json(agent_json, "agent checkpoint")["net"]["n_blocks"])
    except (CheckpointError, KeyError, TypeError, ValueError) as e:
        sys.exit(f"error: {agent_json}: no network settings ({e})")

    # 2. activations
    store = out / "acts"
    blocks = [f"blocks.{i}.{k}" for i in range(n_blocks) for k in ("mlp_in", "mlp_out")]
    sites = ",".join([SAE_SITE, *blocks])
    cmd = [py, "-m", "sae.activations", "--checkpoint", str(agent), "--sites", sites]
    cmd += ["--positions", str(args.positions), "--out", str(store), *ray]
    manifest = store / "manifest.json"
    pipe.run(Stage("activations", [cmd], [agent_json], [manifest], shown=str(store)), 2, total)

    # 3. the quick SAE grid
    sae_dir = out / "sae"
    cmd = [py, "train_sae.py", "--sweep", "--quick", "--store", str(store), "--site", SAE_SITE]
    cmd += ["--out", str(sae_dir), *ray]
    scaling = sae_dir / "scaling.json"
    pipe.run(Stage("saes", [cmd], [manifest], [scaling], shown=str(scaling)), 3, total)

    # 4. a transcoder per block (quick settings), and their fidelity
    tc_dir = out / "transcoders"
    train_tc = [py, "train_transcoder.py", "--store", str(store), "--all-layers", "--skip"]
    train_tc += [*QUICK_TRANSCODERS, "--out", str(tc_dir), *ray]
    evaluate = [py, "-m", "transcoder.evaluate", str(tc_dir), "--store", str(store)]
    evaluate += ["--positions", "2048", "--solver-positions", "300", "--games", "0"]
    stage = Stage(
        "transcoders",
        [train_tc, evaluate],
        [manifest],
        [tc_dir / "transcoders.json", tc_dir / "fidelity.json"],
        shown=str(tc_dir),
    )
    pipe.run(stage, 4, total)
    tc_ready = stage.status in ("ran", "up to date")

    # 5. the concepts report of every dictionary
    dicts = sae_runs(sae_dir) + (transcoder_dicts(tc_dir) if tc_ready else [])
    report = [py, "-m", "sae.concepts", "--store", str(store), *QUICK_CONCEPTS, "--quiet"]
    cmds = [[*report, str(d / "dictionary.json")] for d in dicts]
    inputs = [manifest] + [d / "dictionary.json" for d in dicts]
    outputs = [d / "concepts.json" for d in dicts]
    stage = Stage("concepts", cmds, inputs, outputs, shown=f"{len(dicts)} reports")
    pipe.run(stage, 5, total)

    # 6. held-out explanations of every dictionary, with the neuron and random-net baselines
    table = out / "explanations.json"
    explain = [py, "-m", "sae.explain", *(str(d / "dictionary.json") for d in dicts)]
    explain += ["--store", str(store), *QUICK_EXPLAIN, "--summary", str(table), "--quiet"]
    explained = [d / "explanations.json" for d in dicts]
    stage = Stage("explain", [explain], inputs, [*explained, table], shown=str(table))
    pipe.run(stage, 6, total)
    outputs += explained

    # 7. export for the viewer
    site = out / "vis"
    sources = [str(d) for d in sae_runs(sae_dir)] + ([str(tc_dir)] if tc_ready else [])
    cmd = [py, "-m", "vis.export", *sources, "--store", str(store)]
    cmd += ["--out", str(site / "data"), "--with-viewer"]
    reads = inputs + outputs + [scaling, tc_dir / "transcoders.json", tc_dir / "fidelity.json"]
    code = Path(__file__).resolve().parent / "vis"
    viewer = sorted(p for p in code.rglob("*") if p.suffix in (".py", ".js", ".html", ".css"))
    stage = Stage("export", [cmd], reads + viewer, [site / "data" / "index.json"], shown=str(site))
    pipe.run(stage, 7, total)

    print("\n" + pipe.table())
    print(f"\nOpen the viewer:\n    python -m http.server {args.port} -d {site}")
    print(f"    then browse http://localhost:{args.port}/")


if __name__ == "__main__":
    main()
