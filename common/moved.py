"""Old command lines that moved: say the new one, then run it with the same arguments."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

REPO_ROOT = Path(__file__).resolve().parent.parent


def forward(old: str, new: list[str], argv: list[str]) -> NoReturn:
    """Replace this process by `python NEW... ARGV` after a one-line note on stderr. `new` is a
    script relative to the repository root (`["play.py"]`) or a module (`["-m", "sae.x"]`)."""
    shown = " ".join(["python", *new])
    print(f"note: `{old}` is now `{shown}`; running that", file=sys.stderr, flush=True)
    target = [str(REPO_ROOT / new[0])] if new[0].endswith(".py") else new
    # the new module must import from the repository root, wherever the user stands
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.execve(sys.executable, [sys.executable, *target, *argv], env)
