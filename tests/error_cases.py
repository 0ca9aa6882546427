"""Bad input for every command line, each with the one line it must end in: the cases of
tests/test_errors.py and of the table in docs/errors.md.

A case runs one command line on a tiny world (`build_world`: a 2-block agent with d_model 16
and another one, a 3-block agent for pipeline.py, a store of 400 positions, two TopK SAEs in
a sweep folder with scaling.json, a 2-block transcoder set and a concepts report) after its
`setup` made the damaged copy it needs in a scratch folder. In a case's arguments `{W}` is
the world's folder, `{T}` the scratch folder, `{LONG}` a 5,000-character path.

    python tests/error_cases.py --world /tmp/w          # build the world only
    python tests/error_cases.py --table docs/errors.md  # run every case as a real command
                                                        # line and write the table
    python tests/error_cases.py --killed docs/errors.md # SIGTERM a running pipeline.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = "blocks.1.resid_post"
SITES = [SITE] + [f"blocks.{i}.{k}" for i in range(2) for k in ("mlp_in", "mlp_out")]
LONG = "/tmp/" + "x" * 5000
UNWRITABLE = "/sys/kernel"  # even root cannot create files here (a read-only sysfs folder)
# how each command is run from the repository root
COMMANDS = {
    "train_alphazero.py": ["train_alphazero.py"],
    "train_sae.py": ["train_sae.py"],
    "train_transcoder.py": ["train_transcoder.py"],
    "pipeline.py": ["pipeline.py"],
    "play.py": ["play.py"],
}


def command_line(cli: str) -> list[str]:
    return COMMANDS.get(cli, ["-m", cli])


# -- the world -----------------------------------------------------------------------------------
def build_world(root: Path) -> Path:
    """The tiny world every case reads (a few seconds)."""
    import torch

    import sae.activations.collect as acts_mod
    from alphazero.model import AlphaZeroNet, NetConfig, save_agent
    from common.io import read_json
    from sae.activations.batches import Pairs
    from sae.dictionary.model import DictConfig, Dictionary, save_dictionary
    from sae.dictionary.train import RunSpec, TrainConfig, train
    from transcoder.set import write_set_config

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval(), root / "agent")
    torch.manual_seed(1)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=2)).eval(), root / "other")
    # pipeline.py's SAE site is blocks.2.resid_post: an agent with a third block for its runs
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=3)).eval(), root / "agent3")
    store = acts_mod.collect(
        root / "agent.json",
        SITES,
        400,
        root / "store",
        games_per_chunk=8,
        progress=False,
        heldout_fraction=0.3,
    )
    specs = [  # the twin: the same width and site, other weights
        RunSpec(name, DictConfig("topk", d_in=16, n_latents=32, k=k, in_site=SITE))
        for name, k in (("topk", 4), ("twin", 8))
    ]
    train(
        specs,
        Pairs.from_store(store, SITE),
        TrainConfig(batch_size=32, steps=5, progress=False),
        root / "sae",
    )
    scaling = {n: {"architecture": "topk", "fvu": 0.5, "l0": 4.0} for n in ("topk", "twin")}
    (root / "sae" / "scaling.json").write_text(json.dumps(scaling))
    # the twin's concepts report (only its "dictionary" section is read before any work)
    twin = read_json(root / "sae/twin/dictionary.json")
    report = {
        "schema_version": 1,
        "kind": "concepts_report",
        "dictionary": {
            "path": str(root / "sae/twin/dictionary.json"),
            "sha256": twin["weights_sha256"],
            "site": SITE,
            "n_latents": 32,
        },
        "concepts": {},
        "latents": {},
    }
    (root / "sae/twin/concepts.json").write_text(json.dumps(report))
    data = {"store": str(store.root), "checkpoint": store.manifest["checkpoint"]}
    for i in range(2):
        torch.manual_seed(10 + i)
        cfg = DictConfig(
            "topk",
            d_in=16,
            n_latents=32,
            k=4,
            in_site=f"blocks.{i}.mlp_in",
            out_site=f"blocks.{i}.mlp_out",
            skip=True,
        )
        save_dictionary(Dictionary(cfg), root / "set" / f"blocks.{i}" / "dictionary", data=data)
    store_info = {"path": str(store.root), "hash": store.hash}
    write_set_config(root / "set", 2, store.manifest["checkpoint"], store_info)
    return root


# -- what the setups make in the scratch folder T -------------------------------------------------
def a_file(name="file"):
    def setup(w: Path, t: Path):
        (t / name).write_text("a user's file\n")

    return setup


def a_folder(name="folder"):
    def setup(w: Path, t: Path):
        (t / name).mkdir()
        (t / name / "notes.txt").write_text("a user's notes\n")

    return setup


def copy(src: str, dst: str, edit: Callable[[Path], None] | None = None):
    """W/src copied to T/dst, then `edit(T/dst)`."""

    def setup(w: Path, t: Path):
        (shutil.copytree if (w / src).is_dir() else shutil.copy)(w / src, t / dst)
        if edit:
            edit(t / dst)

    return setup


def json_edit(rel: str, change: Callable[[dict], None]):
    def edit(folder: Path):
        path = folder / rel
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return edit


def replace_by_folder(rel: str):
    def edit(folder: Path):
        (folder / rel).unlink()
        (folder / rel).mkdir()

    return edit


def set_layers(layers):
    return copy("set", "set", json_edit("transcoders.json", lambda c: c.update(layers=layers)))


def edited_in_site(w: Path, t: Path):
    """A copy of the SAE whose config says it reads another site of the same width."""
    shutil.copytree(w / "sae/topk", t / "sae")
    path = t / "sae/dictionary.json"
    config = json.loads(path.read_text())
    config["dictionary"].update(in_site="blocks.0.mlp_in", out_site="blocks.0.mlp_in")
    path.write_text(json.dumps(config))


def npy_header(old: bytes, new: bytes):
    """A copy of the store whose SITE file's header says `new` where it said `old`."""

    def setup(w: Path, t: Path):
        shutil.copytree(w / "store", t / "store")
        path = t / "store/acts" / f"{SITE}.npy"
        data = path.read_bytes()
        end = data.index(b"\n") + 1
        header = data[:end].replace(old, new)
        header = header[: end - 1].ljust(end - 1, b" ")[: end - 1] + b"\n"  # same length
        path.write_bytes(header + data[end:])

    return setup


def recorded_store_truncated(w: Path, t: Path):
    """A dictionary recording a store whose manifest was cut in half."""
    shutil.copytree(w / "store", t / "store")
    text = (t / "store/manifest.json").read_text()
    (t / "store/manifest.json").write_text(text[: len(text) // 2])
    shutil.copytree(w / "sae/topk", t / "d")
    json_edit("dictionary.json", lambda c: c["data"].update(store=str(t / "store")))(t / "d")


def stages(content: str | None):
    def setup(w: Path, t: Path):
        (t / "p").mkdir()
        if content is None:
            (t / "p/stages.json").mkdir()
        else:
            (t / "p/stages.json").write_text(content)

    return setup


def bad_run_name(w: Path, t: Path):
    shutil.copytree(w / "sae", t / "sweep")
    (t / "sweep/scaling.json").write_text(json.dumps({"../../outside": {"fvu": 0.1}}))


def user_page(w: Path, t: Path):
    (t / "site").mkdir()
    (t / "site/index.html").write_text("<h1>my own page</h1>\n")


def export_world(w: Path, t: Path):
    (t / "here").mkdir()
    (t / "here/notes.txt").write_text("a user's notes\n")


# -- the cases -------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    what: str  # the bad input, in words (the table's first column)
    cli: str
    args: str  # split on spaces; {W}, {T}, {LONG} substituted
    code: int
    needle: str  # in the one line the command ends with
    setup: Callable[[Path, Path], None] | None = None
    group: str = ""
    cwd: str = ""  # relative to T ("" = the repository root)
    extra: list[str] = field(default_factory=list)  # arguments with spaces
    notes: bool = False  # the command prints what it does first (vis.ship); the error is last

    def argv(self, w: Path, t: Path) -> list[str]:
        fill = {"{W}": str(w), "{T}": str(t), "{LONG}": LONG, "{UNWRITABLE}": UNWRITABLE}
        out = []
        for a in self.args.split():
            for k, v in fill.items():
                a = a.replace(k, v)
            out.append(START if a == "{START}" else a)
        return out + self.extra


DICT = "{W}/sae/topk/dictionary.json"
FAST_CONCEPTS = "--positions 60 --solver-positions 0 --no-baselines --quiet"
PROBES = "--store {W}/store --checkpoint {W}/agent --positions 40 --solver-positions 0 --quiet"
STEER = f"{DICT} --store {{W}}/store --concepts mine@c3 --positions 20 --games 0"
SKILL = "--store {W}/store --levels-dir {W}/sae --agent {W}/agent --weak {W}/agent"
EXPORT = "{W}/sae/topk --store {W}/store --quiet --positions 20"
START = "------/------/--OX--/--XO--/------/------ X"
EVALUATE = "--games 0 --positions 16"

CASES: list[Case] = [
    # -- output paths, checked when the command line is read (a kind per command) --
    Case("out-json-folder", "--json names a folder", "sae.dictionary.evaluate",
         f"{DICT} {EVALUATE} --json {{W}}/sae", 2, "is a folder; name a file", group="out"),
    Case("out-json-empty", "--json is empty", "sae.dictionary.evaluate",
         f"{DICT} {EVALUATE}", 2, "an empty path", group="out", extra=["--json", ""]),
    Case("out-concepts-unwritable", "--out in a folder nobody can write", "sae.concepts",
         f"{DICT} {FAST_CONCEPTS} --out {{UNWRITABLE}}/c.json", 2, "cannot write in",
         group="out"),
    Case("out-probes-file", "--out (a folder) names a file", "sae.probes",
         f"{PROBES} --out {{T}}/file", 2, "is a file; name a folder", a_file(), "out"),
    Case("out-steer-parent-file", "--json under a file", "sae.steering",
         f"{STEER} --latents 1 --json {{T}}/file/r.json", 2, "is a file, not a folder",
         a_file(), "out"),
    Case("out-steer-plot-folder", "--plot names a folder", "sae.steering",
         f"{STEER} --sweep --plot {{T}}", 2, "is a folder; name a file", group="out"),
    Case("out-skill-unwritable", "--out in a folder nobody can write", "sae.skill",
         f"{SKILL} --out {{UNWRITABLE}}/skill", 2, "cannot write in", group="out"),
    Case("out-skill-json-folder", "--json names a folder", "sae.skill",
         f"{SKILL} --json {{T}}", 2, "is a folder; name a file", group="out"),
    Case("out-skill-plots", "--plot-prefix in a folder nobody can write", "sae.skill",
         f"{SKILL} --plot-prefix {{UNWRITABLE}}/p", 2, "cannot write in", group="out"),
    Case("out-attribute-folder", "--json names a folder", "transcoder.attribute",
         "{W}/set {START} --json {T}", 2, "is a folder; name a file", group="out"),
    Case("out-fidelity-long", "--json of 5,000 characters", "transcoder.evaluate",
         "{W}/set --json {LONG}", 2, "the path is too long (5005 characters)", group="out"),
    Case("out-heatmap-unwritable", "--heatmap in a folder nobody can write",
         "transcoder.evaluate", "{W}/set --heatmap {UNWRITABLE}/h.png", 2, "cannot write in",
         group="out"),
    Case("out-clamps-parent-file", "--json under a file", "transcoder.interventions",
         "{W}/set --store {W}/store --json {T}/file/c.json", 2, "is a file, not a folder",
         a_file(), "out"),
    Case("out-vw-unwritable", "--json in a folder nobody can write",
         "transcoder.virtual_weights", "{W}/set --store {W}/store --json {UNWRITABLE}/v.json",
         2, "cannot write in", group="out"),
    Case("out-train-tc-file", "--out (a folder) names a file", "train_transcoder.py",
         "--store {W}/store --all-layers --out {T}/file", 2, "is a file; name a folder",
         a_file(), "out"),
    Case("out-train-sae-unwritable", "--out in a folder nobody can write", "train_sae.py",
         "--store {W}/store --site blocks.1.resid_post --out {UNWRITABLE}/sae", 2,
         "cannot write in", group="out"),
    Case("out-train-az-file", "--out (a folder) names a file", "train_alphazero.py",
         "--preset tiny --out {T}/file", 2, "is a file; name a folder", a_file(), "out"),
    Case("out-activations-file", "--out (a folder) names a file", "sae.activations",
         "--checkpoint {W}/agent --positions 10 --out {T}/file", 2, "is a file; name a folder",
         a_file(), "out"),
    Case("out-export-file", "--out (a folder) names a file", "vis.export",
         f"{EXPORT} --out {{T}}/file", 2, "is a file; name a folder", a_file(), "out"),
    Case("out-pipeline-file", "--out (a folder) names a file", "pipeline.py",
         "--agent {W}/agent --out {T}/file", 2, "is a file; name a folder", a_file(), "out"),
    Case("out-az-eval-folder", "--json names a folder", "alphazero.evaluate",
         "{W}/agent --games 0 --positions 0 --json {T}", 2, "is a folder; name a file",
         group="out"),
    Case("out-az-plot-long", "--out of 5,000 characters", "alphazero.plot",
         "{W} --out {LONG}", 2, "the path is too long", group="out"),
    Case("out-browser-file", "--out (a folder) names a file", "vis.browser",
         "--out {T}/file", 2, "is a file; name a folder", a_file(), "out"),
    Case("out-explain-folder", "--summary names a folder", "sae.explain",
         f"{DICT} --summary {{T}}", 2, "is a folder; name a file", group="out"),
    Case("out-ship-file", "--out (a folder) names a file", "vis.ship",
         "--sweep {W}/sae --out {T}/file", 2, "is a file; name a folder", a_file(), "out"),
    # -- a dictionary.json or transcoders.json that is a folder --
    *[
        Case(f"dir-dict-{cli.split('.')[-1]}", "dictionary.json is a folder", cli,
             f"{{T}}/d/dictionary.json {rest}", 1, "is a folder, not a JSON file",
             copy("sae/topk", "d", replace_by_folder("dictionary.json")), "folder")
        for cli, rest in (
            ("sae.concepts", FAST_CONCEPTS),
            ("sae.dictionary.evaluate", EVALUATE),
            ("sae.steering", STEER.split(" ", 1)[1] + " --latents 1"),
            ("sae.explain", "--quiet"),
        )
    ],
    Case("dir-dict-export", "dictionary.json is a folder", "vis.export",
         "{T}/d --store {W}/store --quiet --out {T}/o", 1, "is a folder, not a JSON file",
         copy("sae/topk", "d", replace_by_folder("dictionary.json")), "folder"),
    Case("dir-dict-steer-spec", "dictionary.json is a folder (+steer: spec)", "play.py",
         "--games 2 --p2 random --p1 az:{W}/agent:0+steer:{T}/d/dictionary.json:1:scale:2", 2,
         "is a folder, not a JSON file",
         copy("sae/topk", "d", replace_by_folder("dictionary.json")), "folder"),
    *[
        Case(f"dir-set-{cli.split('.')[-1]}", "transcoders.json is a folder", cli,
             f"{{T}}/set {rest}", 1, "is a folder, not a JSON file",
             copy("set", "set", replace_by_folder("transcoders.json")), "folder")
        for cli, rest in (
            ("transcoder.attribute", "{START}"),
            ("transcoder.evaluate", "--games 0"),
            ("transcoder.interventions", "--store {W}/store"),
            ("transcoder.virtual_weights", "--store {W}/store"),
        )
    ],
    Case("dir-set-export", "transcoders.json is a folder", "vis.export",
         "{T}/set --store {W}/store --quiet --out {T}/o", 1, "is a folder, not a JSON file",
         copy("set", "set", replace_by_folder("transcoders.json")), "folder"),
    # -- --device bogus --
    *[
        Case(f"device-{cli.replace('.', '-')}", "--device bogus", cli, f"{rest} --device bogus",
             2, "unknown device 'bogus'", group="device")
        for cli, rest in (
            ("sae.concepts", DICT),
            ("sae.probes", ""),
            ("sae.steering", STEER),
            ("sae.explain", DICT),
            ("transcoder.attribute", "{W}/set --store {W}/store"),
            ("transcoder.evaluate", "{W}/set"),
            ("transcoder.interventions", "{W}/set --store {W}/store"),
            ("transcoder.virtual_weights", "{W}/set --store {W}/store"),
            ("vis.export", EXPORT),
            ("play.py", "--games 2 --p1 random --p2 greedy"),
            ("pipeline.py", ""),
            ("alphazero.evaluate", "{W}/agent"),
            ("train_alphazero.py", "--preset tiny"),
        )
    ],
    # -- transcoders.json layers --
    *[
        Case(f"layers-{name}-{cli.split('.')[-1]}", f"layers holds {shown}", cli,
             f"{{T}}/set {rest}", 1, needle, set_layers(layers), "layers")
        for name, shown, layers, needle in (
            ("int", "an integer", [0, "blocks.1/dictionary"], "layers[0] is 0"),
            ("null", "null (no transcoder for a block)", [None, "blocks.1/dictionary"],
             "no transcoder for block(s) [0]"),
        )
        for cli, rest in (
            ("transcoder.attribute", "{START}"),
            ("transcoder.evaluate", "--games 0"),
            ("transcoder.interventions", "--store {W}/store"),
            ("transcoder.virtual_weights", "--store {W}/store"),
        )
    ],
    Case("layers-int-export", "layers holds an integer", "vis.export",
         "{T}/set --store {W}/store --quiet --out {T}/o", 1, "layers[0] is 0",
         set_layers([0, "blocks.1/dictionary"]), "layers"),
    Case("layers-outside-abs", "layers names an absolute path", "transcoder.attribute",
         "{T}/set {START}", 1, "points outside the set's folder",
         set_layers(["/tmp/elsewhere/dictionary", "blocks.1/dictionary"]), "inside"),
    Case("layers-outside-up", "layers names ../", "transcoder.evaluate", "{T}/set", 1,
         "points outside the set's folder",
         set_layers(["../elsewhere/dictionary", "blocks.1/dictionary"]), "inside"),
    Case("layers-outside-export", "layers names ../", "vis.export",
         "{T}/set --store {W}/store --quiet --out {T}/o", 1, "points outside the set's folder",
         set_layers(["../../sae/topk/dictionary", "blocks.1/dictionary"]), "inside"),
    Case("run-name-outside", "scaling.json names a run ../../outside", "vis.ship",
         "--sweep {T}/sweep --transcoders {T}/none --store {W}/store --out {T}/o", 1,
         "is not a folder name inside the sweep", bad_run_name, "inside", notes=True),
    # -- seeds, counts, numbers --
    *[
        Case(f"seed-{cli.replace('.', '-')}", "--seed -1", cli, f"{rest} --seed -1", 2,
             "must be between 0 and 4294967295", group="numbers")
        for cli, rest in (
            ("sae.probes", ""),
            ("sae.skill", ""),
            ("vis.export", EXPORT),
            ("sae.concepts", DICT),
            ("transcoder.attribute", "{W}/set --store {W}/store"),
        )
    ],
    Case("empty-position", 'POSITION ""', "transcoder.attribute", "{W}/set", 2,
         "POSITION is empty", group="numbers", extra=[""]),
    Case("latents-huge", "--latents 99999999999999999999", "sae.steering",
         f"{STEER} --latents 99999999999999999999", 2, "is too large", group="numbers"),
    Case("latents-arabic", "--latents in Arabic-Indic digits (١٢)", "sae.steering",
         f"{STEER} --latents ١٢", 2, "latents must be ids like 12,40", group="numbers"),
    Case("latents-huge-spec", "+steer: with latent 99999999999999999999", "play.py",
         "--games 2 --p2 random --p1 az:{W}/agent:0+steer:" + DICT + ":99999999999999999999"
         ":scale:2", 2, "is too large", group="numbers"),
    Case("train-latents-huge", "--latents 99999999999999999999", "train_sae.py",
         "--store {W}/store --site blocks.1.resid_post --latents 99999999999999999999", 2,
         "must be below 2**31", group="numbers"),
    Case("skill-sae-latents", "--sae-latents 0", "sae.skill", "--sae-latents 0", 2,
         "must be >= 16", group="numbers"),
    Case("skill-finetune", "--finetune-positions 0", "sae.skill", "--finetune-positions 0", 2,
         "must be >= 2", group="numbers"),
    # -- damaged files --
    *[
        Case(f"stages-{name}", f"OUT/stages.json {shown}", "pipeline.py",
             "--agent {W}/agent --out {T}/p", 1, needle, stages(content), "damaged")
        for name, shown, content, needle in (
            ("truncated", "truncated", '{"agent": {"inp', "is not valid JSON"),
            ("list", "a JSON list", "[1, 2]", "is damaged (not an object of stages)"),
            ("folder", "a folder", None, "is a folder, not a JSON file"),
        )
    ],
    Case("npy-object", "a store .npy header with an object dtype", "train_sae.py",
         "--store {T}/store --site blocks.1.resid_post --steps 1 --no-eval --out {T}/o", 1,
         "not rows of numbers", npy_header(b"'<f2'", b"'|O'"), "damaged"),
    Case("npy-shape", "a store .npy header with the wrong shape", "sae.concepts",
         f"{DICT} {FAST_CONCEPTS} --store {{T}}/store --out {{T}}/c.json", 1,
         "the manifest implies", npy_header(b"(400, 16)", b"(400, 15)"), "damaged"),
    Case("manifest-recorded", "the manifest of a recorded store, truncated", "sae.concepts",
         f"{{T}}/d/dictionary.json {FAST_CONCEPTS}", 1, "manifest.json is not valid JSON",
         recorded_store_truncated, "damaged"),
    Case("long-input", "a dictionary path of 5,000 characters", "sae.concepts",
         "{LONG}/dictionary.json --out {T}/c.json", 1, "File name too long", group="damaged"),
    # -- silent wrong results (exit 0 before) --
    Case("l2-nan", "--l2 nan", "sae.probes", f"{PROBES} --l2 nan", 2,
         "expected a finite number", group="silent"),
    Case("l2-inf", "--l2 inf", "sae.probes", f"{PROBES} --l2 inf", 2,
         "expected a finite number", group="silent"),
    Case("latents-empty-range", "--latents 5-3 (an empty range)", "sae.steering",
         f"{STEER} --latents 5-3", 2, "the latent range 5-3 is empty", group="silent"),
    Case("report-other", "--report of another dictionary of the same width", "sae.steering",
         f"{STEER} --report {{W}}/sae/twin/concepts.json", 1, "is the report of",
         group="silent"),
    Case("skill-agent-missing", "--agent MISSING", "sae.skill", "--agent {T}/missing", 2,
         "no checkpoint", group="silent"),
    *[
        Case(f"other-agent-{cli.split('.')[-1]}", "--checkpoint another agent", cli,
             f"{{W}}/set --checkpoint {{W}}/other {rest}", 1, "is not the agent", group="silent")
        for cli, rest in (
            ("transcoder.attribute", "{START}"),
            ("transcoder.interventions", "--store {W}/store"),
            ("transcoder.virtual_weights", "--store {W}/store"),
        )
    ],
    Case("scale-nan", "--scale nan", "transcoder.interventions",
         "{W}/set --store {W}/store --scale nan", 2, "expected a finite number", group="silent"),
    Case("concepts-missing", "--concepts MISSING", "transcoder.attribute",
         "{W}/set {START} --concepts {T}/missing", 2, "no blocks.I/concepts.json there",
         group="silent"),
    Case("in-site-concepts", "dictionary.in_site edited to another site of the same width",
         "sae.concepts", f"{{T}}/sae/dictionary.json {FAST_CONCEPTS} --store {{W}}/store", 1,
         "the config was edited", edited_in_site, "silent"),
    Case("in-site-spec", "dictionary.in_site edited (+steer: spec)", "play.py",
         "--games 2 --p2 random --p1 az:{W}/agent:0+steer:{T}/sae/dictionary.json:1:scale:2",
         2, "the config was edited", edited_in_site, "silent"),
    Case("port", "--port -5", "pipeline.py", "--port -5", 2, "must be between 1 and 65535",
         group="silent"),
    # -- nothing deleted that the toolkit did not write --
    Case("export-foreign", "--out a folder holding a user's files", "vis.export",
         f"{EXPORT} --out {{T}}/folder", 1, "holds files that python -m vis.export did not write",
         a_folder(), "foreign"),
    Case("export-run-folder", "--out a dictionary's run folder", "vis.export",
         f"{EXPORT} --out {{T}}/run", 1, "holds files that python -m vis.export did not write",
         copy("sae/topk", "run"), "foreign"),
    Case("export-store", "--out an activation store", "vis.export",
         f"{EXPORT} --out {{T}}/store", 1, "holds files that python -m vis.export did not write",
         copy("store", "store"), "foreign"),
    Case("ship-foreign", "--out a folder holding a user's files", "vis.ship",
         "--sweep {W}/sae --transcoders {T}/none --store {W}/store --out {T}/folder --quiet "
         "--positions 20", 1, "holds files that python -m vis.export did not write",
         a_folder(), "foreign", notes=True),
    Case("export-dot", "--out .", "vis.export", f"{EXPORT} --out .", 2,
         "is the working folder or holds it", export_world, "foreign", cwd="here"),
    Case("export-viewer", "--with-viewer next to a user's index.html", "vis.export",
         f"{EXPORT} --out {{T}}/site/data --with-viewer", 1, "was not written by --with-viewer",
         user_page, "foreign"),
]  # fmt: skip
BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"


# -- the table ----------------------------------------------------------------------------------
def one_line(output: str) -> str:
    """The line a failed command ended with (argparse's usage lines skipped)."""
    lines = [x for x in output.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    return lines[-1] if lines else ""


def run_real(case: Case, world: Path) -> tuple[Case, int, str, float]:
    """The case as a real command line from the repository root (or its cwd)."""
    with tempfile.TemporaryDirectory() as t:
        t = Path(t)
        if case.setup:
            case.setup(world, t)
        cmd = [sys.executable, *command_line(case.cli), *case.argv(world, t)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        r = subprocess.run(
            cmd, cwd=t / case.cwd if case.cwd else ROOT, env=env, capture_output=True, text=True
        )
        line = one_line(r.stdout + r.stderr).replace(str(world), "W").replace(str(t), "T")
        line = re.sub("x{20,}", "xxx...x", line.replace(LONG, "/tmp/xxx...x"))
        if "Traceback" in r.stderr:
            line = "TRACEBACK: " + line
        return case, r.returncode, line, time.perf_counter() - t0


def shown_command(case: Case) -> str:
    import shlex

    argv = case.argv(Path("W"), Path("T"))
    argv = [a.replace(LONG, "/tmp/xxx...x") for a in argv]
    return " ".join(["python", *command_line(case.cli), *map(shlex.quote, argv)])


def write_table(path: Path, world: Path, workers: int = 2) -> None:
    """Run every case for real; write the markdown rows between the table markers of `path`."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda c: run_real(c, world), CASES))
    rows = ["| # | input | command | exit | the one line |", "|---|---|---|---|---|"]
    bad = []
    for i, (case, code, line, _) in enumerate(results, 1):
        if code != case.code or case.needle not in line or line.startswith("TRACEBACK"):
            bad.append(f"{case.id}: exit {code}: {line}")
        cell = line.replace("|", "\\|")
        cmd = shown_command(case).replace("|", "\\|")
        rows.append(f"| {i} | {case.what} | `{cmd}` | {code} | `{cell}` |")
    stamp = (
        f"{len(CASES)} rows, measured by `python tests/error_cases.py --table docs/errors.md` "
        f"in {time.perf_counter() - t0:.0f} s ({workers} at a time).\n"
    )
    write_between(path, "table", stamp + "\n" + "\n".join(rows))
    print(f"{len(CASES)} cases in {time.perf_counter() - t0:.0f} s; wrote {path}")
    for b in bad:
        print("MISMATCH", b)


def _children(pid: int) -> list[int]:
    """Child processes of `pid` (Linux /proc)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _state(pid: int) -> str:
    """The process state letter (R, S, Z, ...) or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except FileNotFoundError:
        return "?"


def killed_pipeline(world: Path, signum: int = 15) -> str:
    """Run pipeline.py on the world, SIGTERM (or `signum`) its pid alone during the
    activations stage, and report what is left: a markdown transcript."""
    with tempfile.TemporaryDirectory() as t:
        cmd = [sys.executable, "pipeline.py", "--agent", str(world / "agent3")]
        cmd += ["--positions", "1000000", "--out", f"{t}/p"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline, kids = time.time() + 60, []
        while not kids and time.time() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            time.sleep(0.1)
        time.sleep(3.0)  # the child is collecting
        child = kids[0]
        before = f"{child} {_state(child)} {_cmdline(child)}"
        t0 = time.perf_counter()
        os.kill(proc.pid, signum)
        out, _ = proc.communicate(timeout=60)
        seconds = time.perf_counter() - t0
        after = _state(child)
        try:
            os.killpg(child, 0)
            group = "still has processes"
        except ProcessLookupError:
            group = "is empty"
    shown = " ".join(cmd).replace(str(world), "W").replace(t, "T").replace(sys.executable, "python")
    tail = "\n".join(out.strip().splitlines()[-4:]).replace(str(world), "W").replace(t, "T")
    return "\n".join(
        [
            f"Measured by `python tests/error_cases.py --killed docs/errors.md`: `{shown}`,"
            f" then `kill -{signum} PID` of the pipeline alone (not its group) while its"
            " activations child ran.",
            "",
            "```text",
            f"child before: pid {before}".replace(str(world), "W").replace(t, "T"),
            f"pipeline exit code: {proc.returncode} ({seconds:.1f} s after the signal)",
            f"child after: {after}; its process group {group}",
            "last lines of the pipeline's output:",
            tail,
            "```",
        ]
    )


def write_between(path: Path, name: str, text: str) -> None:
    """Replace what lies between <!-- NAME: begin --> and <!-- NAME: end --> in `path`."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    head, rest = path.read_text().split(begin)
    _, tail = rest.split(end)
    path.write_text(head + begin + "\n" + text + "\n" + end + tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", help="build the world here (default: a temporary folder)")
    ap.add_argument("--table", help="markdown file whose table to rewrite (docs/errors.md)")
    ap.add_argument("--killed", help="markdown file whose killed-pipeline transcript to rewrite")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(args.world or tmp) / "w")
        print(f"world: {world}")
        if args.table:
            write_table(Path(args.table), world)
        if args.killed:
            text = killed_pipeline(world)
            write_between(Path(args.killed), "killed", text)
            print(text)


if __name__ == "__main__":
    main()
