"""Every command fails in one line; recorded paths stay inside; no orphan children; nothing is
deleted that the toolkit did not write.

The bad inputs of tests/error_cases.py (the table of docs/errors.md) run in children of the
fork server (tests/test_crash_forkserver.py) as their `main(argv)`: each must end with its
exit code (2: usage, argparse style; 1: an input that exists but is wrong) and one line
holding the expected words, and never in a traceback. Then: the error boundary itself
(common.cli), the folders `atomic_dir` may replace, the viewer's page files, recorded paths,
and a pipeline killed during a stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common import cli
from common.io import ForeignFolder, atomic_dir, check_replaceable
from tests.error_cases import CASES, UNWRITABLE, build_world
from tests.test_crash_forkserver import ROOT, server


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("errors") / "w")


def _unwritable() -> bool:
    try:
        cli.check_writable_folder(Path(UNWRITABLE))
    except cli.UsageError:
        return True
    return False


def one_line(r, code: int, needle: str, notes: bool = False) -> str:
    """The run ended with `code` and one line holding `needle` (after the usage line of a
    usage error; after what the command said it does, with `notes`); no traceback."""
    assert "Traceback" not in r.output, r.output
    lines = [x for x in r.lines if not x.startswith(("usage:", " "))]
    lines = lines[-1:] if notes else lines
    assert (r.rc, len(lines)) == (code, 1), r.output
    assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_in_one_line(case, world, tmp_path):
    if UNWRITABLE in case.args and not _unwritable():
        pytest.skip(f"{UNWRITABLE} is writable here")
    if case.setup:
        case.setup(world, tmp_path)
    cwd = tmp_path / case.cwd if case.cwd else ROOT
    r = server().run(case.cli, *case.argv(world, tmp_path), cwd=cwd)
    one_line(r, case.code, case.needle, case.notes)
    if case.group == "foreign":  # refused before any work: nothing written, nothing left
        assert not list(tmp_path.rglob(".*.tmp-*")) and not list(tmp_path.rglob("*/data"))
        for p in tmp_path.rglob("*"):
            if p.name in ("notes.txt", "index.html"):
                assert "a user's" in p.read_text() or "my own page" in p.read_text()


def entry_points() -> list[str]:
    """Every module whose `main` a command line runs: a script or module with a
    `__main__` guard calling main(), or a package whose __main__.py imports it."""
    import ast

    found = set()
    files = [*ROOT.glob("*.py")]
    for pkg in ("othello", "alphazero", "sae", "transcoder", "vis", "common"):
        files += (ROOT / pkg).rglob("*.py")
    for path in files:
        tree = ast.parse(path.read_text())
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name == "__main__.py":
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and any(a.name == "main" for a in node.names):
                    found.add(node.module)
            continue
        has_main = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
        guarded = any(
            isinstance(n, ast.If)
            and "__main__" in ast.unparse(n.test)
            and "main(" in ast.unparse(n)
            for n in tree.body
        )
        if has_main and guarded:
            found.add(name)
        elif guarded:  # a thin script: `from transcoder.train_cli import main`
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and any(a.name == "main" for a in node.names):
                    found.add(node.module)
    return sorted(found)


def test_every_command_line_goes_through_the_boundary():
    """Each entry point's main is wrapped by common.cli.command (one mechanism), found by
    reading the sources, so a new command is checked too."""
    import importlib

    from tests.test_crash_forkserver import CLIS

    names = entry_points()
    assert {t.split(":")[0] for t in CLIS.values()} <= set(names), names
    for name in names:
        main = importlib.import_module(name).main
        assert getattr(main, "__wrapped__", None) is not None, f"{name}: not @cli.command"


# -- the boundary ---------------------------------------------------------------------------------
def test_boundary_exit_codes_and_the_bug_line(capsys):
    @cli.command
    def usage(argv=None):
        ap = cli.parser(prog="prog")
        ap.parse_args(argv)
        raise cli.UsageError("--x makes no sense here")

    @cli.command
    def wrong_file(argv=None):
        raise cli.InputError("/a/b.json is not what it should be")

    @cli.command
    def os_error(argv=None):
        open("/nonexistent-dir/x")  # noqa: SIM115

    @cli.command
    def bug(argv=None):
        return {}["missing"]

    @cli.command
    def fine(argv=None):
        return {"ok": 1}

    for main, code, needle in (
        (usage, 2, "prog: error: --x makes no sense here"),
        (wrong_file, 1, "error: /a/b.json is not what it should be"),
        (os_error, 1, "error: /nonexistent-dir/x: No such file or directory"),
    ):
        with pytest.raises(SystemExit) as e:
            main([])
        err = capsys.readouterr().err
        assert e.value.code == code and needle in err and "Traceback" not in err, err
    with pytest.raises(SystemExit) as e:
        bug([])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "Traceback" in err and "KeyError" in err
    assert err.strip().splitlines()[-1] == cli.REPORT
    assert fine([]) == {"ok": 1}  # a return value passes through (tests call main directly)
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)  # handlers restored


def test_argparse_types():
    assert cli.parse_int(" 12 ") == 12
    for bad, needle in (
        ("١٢", "expected an integer"),
        ("1_0", "expected an integer"),
        ("99999999999999999999", "below 2**31"),
        ("-1", ">= 0"),
    ):
        with pytest.raises(ValueError, match=re.escape(needle)):
            cli.parse_int(bad)
    for bad in ("nan", "inf", "-inf", "x"):
        with pytest.raises(Exception, match="number"):
            cli.finite(bad)
    assert cli.device("cpu") == "cpu"
    with pytest.raises(Exception, match="unknown device"):
        cli.device("bogus")


def test_output_path_checks(tmp_path):
    (tmp_path / "f").write_text("x")
    assert cli.check_out_file(tmp_path / "new" / "deeper" / "r.json")  # created later
    assert cli.check_out_dir(tmp_path / "new" / "folder")
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert not list(tmp_path.glob(".write-probe*"))
    for check, path, needle in (
        (cli.check_out_file, tmp_path, "is a folder; name a file"),
        (cli.check_out_dir, tmp_path / "f", "is a file; name a folder"),
        (cli.check_out_file, tmp_path / "f" / "x.json", "is a file, not a folder"),
        (cli.check_out_dir, tmp_path / "f" / "sub", "is a file, not a folder"),
        (cli.check_out_file, tmp_path / ("y" * 300), "a name in the path is too long"),
        (cli.check_out_file, "/tmp/" + "x/" * 2500, "the path is too long"),
    ):
        with pytest.raises(cli.UsageError, match=needle):
            check(path, "--out")


def test_a_missing_output_folder_is_created_as_before(world, tmp_path):
    out = tmp_path / "new" / "sub" / "metrics.json"
    dictionary = world / "sae/topk/dictionary.json"
    args = ["--games", "0", "--positions", "16", "--json", out]
    r = server().run("sae.dictionary.evaluate", dictionary, *args)
    assert r.rc == 0 and json.loads(out.read_text())["topk"]["l0"] > 0, r.output


# -- atomic_dir replaces only its own folders ---------------------------------------------
def test_atomic_dir_replaces_only_a_folder_it_wrote(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out, "kind-a", names=["a.txt"]) as d:
        (d / "a.txt").write_text("v1")
    assert json.loads((out / ".othello-export").read_text())["kind"] == "kind-a"
    with atomic_dir(out, "kind-a", names=["a.txt"]) as d:  # its own: replaced
        (d / "a.txt").write_text("v2")
    assert (out / "a.txt").read_text() == "v2"
    with pytest.raises(ForeignFolder, match="was written by kind-a"):
        check_replaceable(out, "kind-b")
    (out / "mine.txt").write_text("a user's")  # a user's file inside: refused, kept
    refused = pytest.raises(ForeignFolder, match="also holds mine.txt")
    with refused, atomic_dir(out, "kind-a", ["a.txt"]):
        pass
    assert (out / "mine.txt").read_text() == "a user's"
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("x")
    with pytest.raises(ForeignFolder, match=r"holds files that kind-a did not write \(thesis"):
        check_replaceable(user, "kind-a")
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty, "kind-a") as d:  # an empty folder holds nothing to lose
        (d / "a.txt").write_text("x")
    with pytest.raises(ForeignFolder, match="is the working folder or holds it"):
        check_replaceable(Path.cwd(), "kind-a")
    with pytest.raises(ForeignFolder, match="is the working folder or holds it"):
        check_replaceable(Path.cwd().parent, "kind-a")
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_export_replaces_its_own_and_older_exports_only(world, tmp_path):
    """vis.export (and vis.ship, which runs it): a rerun replaces its folder; an older export
    without the marker (only export files in it) too; the refusals are in the case table."""
    from vis.export import ExportConfig, export

    cfg = ExportConfig(positions=20, effect_positions=2, graphs=0, progress=False)
    out = tmp_path / "data"
    export([str(world / "sae/topk")], out, str(world / "store"), cfg=cfg)
    assert json.loads((out / ".othello-export").read_text())["kind"] == "python -m vis.export"
    (out / ".othello-export").unlink()  # as written by a version without markers
    export([str(world / "sae/topk")], out, str(world / "store"), cfg=cfg)
    assert (out / ".othello-export").exists()
    (out / "notes.txt").write_text("a user's")
    with pytest.raises(ForeignFolder, match="also holds notes.txt"):
        export([str(world / "sae/topk")], out, str(world / "store"), cfg=cfg)
    assert (out / "notes.txt").read_text() == "a user's"


def test_with_viewer_overwrites_only_its_own_page(world, tmp_path):
    from vis.export import VIEWER_MARK, check_viewer_site, copy_viewer

    site = tmp_path / "site"
    copy_viewer(site)
    recorded = json.loads((site / VIEWER_MARK).read_text())
    assert "index.html" in recorded and "js/main.js" in recorded
    older = b"/* an older version the toolkit wrote */"
    (site / "style.css").write_bytes(older)
    recorded["style.css"] = hashlib.sha256(older).hexdigest()
    (site / VIEWER_MARK).write_text(json.dumps(recorded))
    copy_viewer(site)  # its own files, even an older version: replaced
    (site / "index.html").write_text("<h1>edited by hand</h1>")
    with pytest.raises(Exception, match="was not written by --with-viewer"):
        check_viewer_site(site)
    assert (site / "index.html").read_text() == "<h1>edited by hand</h1>"


# -- recorded paths stay inside -------------------------------------------------------------------
def test_recorded_names_stay_inside_their_folder(world, tmp_path):
    from common.io import CheckpointError
    from pipeline import sae_runs, transcoder_dicts

    shutil.copytree(world / "set", tmp_path / "set")
    path = tmp_path / "set/transcoders.json"
    config = json.loads(path.read_text())
    for entry in ("../../elsewhere/dictionary", str(tmp_path / "x/dictionary"), 3):
        config["layers"][0] = entry
        path.write_text(json.dumps(config))
        with pytest.raises(CheckpointError, match=r"layers\[0\]"):
            transcoder_dicts(tmp_path / "set")
    (tmp_path / "sweep").mkdir()
    for name in ("..", "../x", "a/b", ""):
        (tmp_path / "sweep/scaling.json").write_text(json.dumps({name: {}}))
        with pytest.raises(CheckpointError, match="not a folder name inside the sweep"):
            sae_runs(tmp_path / "sweep")


# -- children end with their parent ------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_terminated_pipeline_leaves_no_child(world, tmp_path):
    """SIGTERM to pipeline.py alone (not its group) during the activations stage: the running
    child (python -m sae.activations) is stopped before the pipeline exits."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "pipeline.py", "--agent", str(world / "agent3")]
    cmd += ["--positions", "1000000", "--out", str(tmp_path / "p")]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline, child = time.time() + 60, None
        while child is None and time.time() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            child = kids[0] if kids else None
            time.sleep(0.1)
        assert child is not None, "the activations stage did not start"
        time.sleep(1.0)  # the child is importing or collecting
        assert _alive(child) and proc.poll() is None, "the stage ended before the signal"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert out.strip().splitlines()[-1] == "terminated (SIGTERM)", out
    assert not _alive(child), f"child {child} outlived the pipeline"
    with pytest.raises(ProcessLookupError):
        os.killpg(child, 0)  # nothing left in its process group either


def test_a_child_stops_when_its_parent_is_killed_outright(tmp_path):
    """kill -9 of a parent running a toolkit command through cli.run_child: the child asked
    the kernel for SIGTERM at its parent's death (PR_SET_PDEATHSIG) and stops."""
    script = (
        "import sys; from common import cli; "
        "cli.run_child([sys.executable, '-m', 'othello.perft', '--engine', 'scalar', "
        "'--depth', '40'])"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env)
    try:
        deadline, child = time.time() + 30, None
        while child is None and time.time() < deadline:
            kids = _children(parent.pid)
            child = kids[0] if kids else None
            time.sleep(0.05)
        assert child is not None
        time.sleep(1.0)  # importing, or past its imports with the death signal asked for
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.time() + 20
        while _alive(child) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(child), f"child {child} outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
