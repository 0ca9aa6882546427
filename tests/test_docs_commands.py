"""What the README and the docs show still exists under the name they show it by.

- Every command (`python -m MODULE ...`, `python SCRIPT.py ...`) in a code block or an inline
  code span answers `--help` with exit 0, and is not an old name that only forwards to a new
  one (common/moved.py).
- Every dotted name of ours in an inline code span (`sae.concepts.auc.auc_matrix`) imports,
  and every repository path in one (`sae/steering/threats.py`) exists.
- Every relative link and image resolves from the page that holds it.

The `--help` runs share one helper process (this file run as a script): it imports torch and
the project's modules once, then forks one child per command, which runs it as `python`
would (`runpy`, as `__main__`, with argv `--help`): about 0.1-0.5 s a command instead of the
~3 s of interpreter start and imports a fresh process pays.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", ROOT / "vis" / "README.md", ROOT / "pretrained" / "README.md"]
    + list((ROOT / "docs").glob("*.md"))
)
PACKAGES = ("othello", "alphazero", "sae", "transcoder", "vis", "common")
FOLDERS = (*PACKAGES, "bench", "tests", "docs", "pretrained")
# other people's commands the pages show; not run
EXTERNAL = {"http.server", "pytest", "venv", "pip"}
COMMAND = re.compile(r"\bpython3?\s+(?:-m\s+([A-Za-z_][\w.]*)|([\w./-]+\.py)\b)")
DOTTED = re.compile(rf"^((?:{'|'.join(PACKAGES)})(?:\.\w+)+)(?:\(|$)")
PATH = re.compile(rf"^(?:{'|'.join(FOLDERS)})/[\w./*-]*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
MOVED_EXIT = 3


def shown(page: Path) -> tuple[list[str], list[str]]:
    """(fenced code blocks, inline code spans) of a page; a span may wrap across lines."""
    text = page.read_text()
    blocks = FENCE.findall(text)
    prose = FENCE.sub("", text)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose)]
    return blocks, spans


def commands() -> dict[tuple[str, str], list[str]]:
    """{(kind, name): pages showing it}; kind is "module" (`-m`) or "script"."""
    found: dict[tuple[str, str], list[str]] = {}
    for page in PAGES:
        blocks, spans = shown(page)
        for text in [*blocks, *spans]:
            for module, script in COMMAND.findall(text):
                key = ("module", module) if module else ("script", script)
                if module not in EXTERNAL:
                    found.setdefault(key, []).append(str(page.relative_to(ROOT)))
    return found


# -- the helper process --------------------------------------------------------------------------
def _moved(old: str, new: list[str], argv: list[str]) -> None:
    """Stands in for common.moved.forward in a child: an old name is reported, not followed."""
    print(f"`{old}` only forwards to `python {' '.join(new)}`: show the new name", flush=True)
    os._exit(MOVED_EXIT)


def _help_child(kind: str, name: str, log: str) -> None:
    """Runs in a forked child: `python [-m] NAME --help`, output to `log`; never returns."""
    import runpy
    import signal
    import traceback

    import common.moved

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    signal.alarm(60)  # a command that ignores --help and starts working is killed, and fails
    code = 1
    try:
        common.moved.forward = _moved
        if kind == "module":
            sys.argv = [name, "--help"]
            runpy.run_module(name, run_name="__main__", alter_sys=True)
        else:
            path = ROOT / name
            sys.argv = [str(path), "--help"]
            sys.path[0] = str(path.parent)  # as `python SCRIPT` sets it
            runpy.run_path(str(path), run_name="__main__")
        code = 0
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _resolve(name: str) -> str | None:
    """None if NAME imports (a module, or attributes of the longest module prefix), else why."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is not None and module.startswith(e.name):
                continue  # this prefix is not a module: try a shorter one
            return f"importing {module}: {e}"
        except Exception as e:  # a module that fails to import is reported, not fatal here
            return f"importing {module}: {type(e).__name__}: {e}"
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return f"{module} has no {'.'.join(parts[cut:])}"
            obj = getattr(obj, attr)
        return None
    return "no such module"


def serve(job: dict) -> dict:
    """Resolve the dotted names, then run every command's --help in its own forked child."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch  # noqa: F401

    names = {name: _resolve(name) for name in job["names"]}
    runs = {}
    for i, (kind, name) in enumerate(job["commands"]):
        log = f"{job['tmp']}/{i}.log"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _help_child(kind, name, log)
        _, status = os.waitpid(pid, 0)
        runs[f"{kind}:{name}"] = [os.waitstatus_to_exitcode(status), Path(log).read_text()]
    return {"names": names, "runs": runs}


def run_helper(job: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


# -- the tests -----------------------------------------------------------------------------------
# decoys: a module and a script that do not exist, and an old name that only forwards
DECOYS = [
    ("module", "sae.no_such_module"),
    ("script", "no_such_script.py"),
    ("module", "sae.intervene"),
]
NAME_DECOY = "sae.concepts.NoSuchThing"


@pytest.fixture(scope="module")
def helped(tmp_path_factory):
    shown_commands = commands()
    names = sorted({m.group(1) for page in PAGES for s in shown(page)[1] if (m := DOTTED.match(s))})
    job = {
        "commands": [list(c) for c in [*shown_commands, *DECOYS]],
        "names": names + [NAME_DECOY],
        "tmp": str(tmp_path_factory.mktemp("help")),
    }
    return shown_commands, run_helper(job)


def test_every_command_shown_answers_help(helped):
    shown_commands, result = helped
    assert ("script", "pipeline.py") in shown_commands and len(shown_commands) >= 20
    failed = []
    for (kind, name), pages in shown_commands.items():
        rc, output = result["runs"][f"{kind}:{name}"]
        if rc != 0 or "usage:" not in output:
            tail = "\n    ".join(output.strip().splitlines()[-3:])
            where = ", ".join(sorted(set(pages)))
            failed.append(f"{name} (shown in {where}): exit {rc}\n    {tail}")
    assert not failed, "commands in the docs that do not answer --help:\n" + "\n".join(failed)


def test_the_check_fails_on_missing_and_moved_commands(helped):
    _, result = helped
    missing_module = result["runs"]["module:sae.no_such_module"]
    assert missing_module[0] == 1 and "No module named sae.no_such_module" in missing_module[1]
    missing_script = result["runs"]["script:no_such_script.py"]
    assert missing_script[0] == 1 and "No such file" in missing_script[1]
    moved = result["runs"]["module:sae.intervene"]
    assert moved[0] == MOVED_EXIT and "python -m sae.steering" in moved[1]
    assert result["names"][NAME_DECOY] == "sae.concepts has no NoSuchThing"


def test_every_dotted_name_shown_imports(helped):
    _, result = helped
    bad = {n: why for n, why in result["names"].items() if why and n != NAME_DECOY}
    assert not bad, f"names in the docs that do not import: {bad}"


def test_every_path_and_link_shown_exists():
    missing = []
    for page in PAGES:
        for span in shown(page)[1]:
            # a weights stem (`pretrained/agent`) names agent.safetensors + agent.json
            path = span.rstrip("/")
            if PATH.match(span) and not (list(ROOT.glob(path)) or list(ROOT.glob(path + ".json"))):
                missing.append(f"{page.relative_to(ROOT)}: `{span}`")
        for target in LINK.findall(page.read_text()):
            path = target.split("#")[0]
            if path and "://" not in target and not (page.parent / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: link ({target})")
    assert not missing, "paths in the docs that do not exist:\n" + "\n".join(missing)


if __name__ == "__main__":
    print(json.dumps(serve(json.load(sys.stdin))))
