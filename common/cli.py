"""One error boundary for every command line, and the checks it runs before any work.

Every entry point's `main(argv)` is wrapped by `@command`, so a command ends one of four ways:

  - exit 0: done;
  - exit 2, argparse style (the usage line, then `PROG: error: ...`): a usage error, that is
    an option that cannot be right whatever the files hold (`ArgumentParser.error`, a
    `UsageError` raised anywhere, or an argparse `type=` below refusing a value);
  - exit 1, one line `error: ...` naming the file and what is wrong with it: an input that
    exists but does not fit (`InputError` and its subclasses: CheckpointError, StoreError,
    ReportError, ...; an OSError of the file system: a full disk, a permission refused);
  - exit 130 on Ctrl-C, 128 + N on SIGTERM / SIGHUP (raised as `Terminated`, a
    KeyboardInterrupt, so every `finally` and temporary clean-up runs, and children started
    with `run_child` are stopped first).

Anything else is a bug in the toolkit: its traceback is printed, then one line asking to
report it (exit 1).

Argparse types that check a value when the command line is read, before any computation:
`out_file` / `out_dir` (an output path whose folder can be written: checked by creating and
removing a probe file in the nearest existing folder, so a read-only mount or a root-owned
folder is caught too; a missing folder on the way is created later, as before; '-' means
stdout for a file), `device` (a torch device that exists here), `seed` (0 <= seed < 2**32),
`count(lo, hi)` (integers in [lo, hi], ASCII digits only, below 2**31), `finite` (a float
that is not NaN or infinite). `check_out_file` / `check_out_dir` check an output path a
command derives (a report beside its dictionary) the same way; a `UsageError` they raise
after parsing still prints the usage line (`ArgumentParser` remembers the last parser).

`run_child` runs a child command line in its own process group and stops that group when
this process is interrupted or terminated; the child also asks the kernel to send it SIGTERM
if this process dies without a word (`OTHELLO_PARENT_PID`, honoured by `@command`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import functools
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPORT = (
    "this is a bug in the toolkit, not in your input: please report it with the command line "
    "and the traceback above"
)
PARENT_ENV = "OTHELLO_PARENT_PID"
MAX_INT = 2**31 - 1  # counts and ids beyond this are typos (and overflow torch and numpy)


class UsageError(Exception):
    """A command line asking for something impossible: exit 2 after the usage line."""


class InputError(ValueError):
    """An input that exists but is wrong: exit 1 with one line naming it and what is wrong."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so clean-ups run as on Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# -- the parser that knows its usage line ----------------------------------------------------
_parsers: list[argparse.ArgumentParser] = []


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser; the last one that read a command line prints the usage line of a
    `UsageError` raised later."""

    def parse_known_args(self, args=None, namespace=None):
        _parsers.append(self)
        return super().parse_known_args(args, namespace)


def parser(**kwargs) -> ArgumentParser:
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    return ArgumentParser(**kwargs)


# -- the boundary ------------------------------------------------------------------------------
def _say(line: str) -> None:
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)


def describe(e: BaseException) -> str:
    """One line for an expected error."""
    if isinstance(e, OSError) and e.filename is not None:
        names = _short(e.filename)
        names += f" -> {_short(e.filename2)}" if e.filename2 is not None else ""
        return f"{names}: {e.strerror or e}"
    if isinstance(e, MemoryError):
        return f"out of memory{': ' + str(e) if str(e) else ''} (ask for fewer positions or rows)"
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 2000 else text[:1000] + " ... " + text[-500:]


def _usage_exit(message: str) -> None:
    if _parsers:
        _parsers[-1].error(message)  # usage line + "PROG: error: message", exit 2
    _say(f"error: {message}")
    raise SystemExit(2)


def _on_signal(signum, frame):
    raise Terminated(signum)


def _die_with_parent() -> None:
    """A child of `run_child`: SIGTERM when that parent dies (Linux), or stop now if it is
    already gone."""
    want = os.environ.pop(PARENT_ENV, None)
    if not want or not want.isdigit():
        return
    if os.getppid() != int(want):
        raise Terminated(signal.SIGTERM)  # the parent died while this one was starting
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent's own handlers still stop it
    if os.getppid() != int(want):
        raise Terminated(signal.SIGTERM)


def command(main: Callable) -> Callable:
    """Wrap a command line's `main(argv)` in the error boundary (module docstring)."""

    @functools.wraps(main)
    def wrapper(argv=None, *args, **kwargs):
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    handlers[sig] = signal.signal(sig, _on_signal)
        depth = len(_parsers)
        try:
            _die_with_parent()
            return main(argv, *args, **kwargs)
        except SystemExit:
            raise
        except UsageError as e:
            _usage_exit(describe(e))
        except BrokenPipeError:
            # the reader of our output went away (`| head`): nothing left to say to it
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no flush error at exit)
            raise SystemExit(1) from None
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", signal.SIGINT)
            name = signal.Signals(signum).name
            _say(f"interrupted ({name})" if signum == signal.SIGINT else f"terminated ({name})")
            raise SystemExit(128 + signum) from None
        except (InputError, OSError, MemoryError) as e:
            _say(f"error: {describe(e)}")
            raise SystemExit(1) from None
        except Exception:
            sys.stdout.flush()
            traceback.print_exc()
            _say(REPORT)
            raise SystemExit(1) from None
        finally:
            del _parsers[depth:]
            for sig, old in handlers.items():
                signal.signal(sig, old)

    return wrapper


# -- children ------------------------------------------------------------------------------------
def run_child(cmd: list[str], grace: float = 10.0) -> int:
    """Run `cmd` in its own process group and wait for it. If this process is interrupted or
    terminated meanwhile (KeyboardInterrupt, `Terminated`), the child's whole group gets the
    same signal, then SIGKILL after `grace` seconds, before the exception goes on: no child
    outlives its parent. Returns the exit code (negative: killed by that signal)."""
    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
    proc = subprocess.Popen(cmd, env=env, process_group=0)
    try:
        return proc.wait()
    except BaseException as e:
        signum = getattr(e, "signum", signal.SIGINT)
        stop_group(proc, signum if isinstance(e, KeyboardInterrupt) else signal.SIGTERM, grace)
        raise


def stop_group(proc: subprocess.Popen, signum: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Signal the process group of `proc`, wait `grace` seconds, then SIGKILL what is left."""
    for sig, wait in ((signum, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the leader is gone; what is left goes too
        return


# -- checks run when the command line is read --------------------------------------------------
def _nearest_existing(path: Path) -> Path:
    p = path
    while True:
        try:
            os.stat(p)
            return p
        except FileNotFoundError:
            if p.parent == p:
                return p
            p = p.parent
        except NotADirectoryError:
            p = p.parent


def _short(path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:50] + "..." + text[-50:]


def _lead(what: str, path) -> str:
    """How a message names the path: `what` (an option, "the report") and the path."""
    return f"{what} {_short(path)}" if what else _short(path)


def _stat(path: Path, what: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise UsageError(f"{_lead(what, path)}: a name in the path is too long") from None
        raise UsageError(f"{_lead(what, path)}: {e.strerror}") from None


def check_writable_folder(folder: Path, what: str = "", shown: Path | None = None) -> None:
    """A folder can be written, or made below its nearest existing ancestor: a probe file is
    created and removed there (permission bits alone lie for root and read-only mounts).
    Messages name `shown` (the output path) or the folder."""
    base, lead = _nearest_existing(folder), _lead(what, shown or folder)
    if not base.is_dir():
        raise UsageError(f"{lead}: {_short(base)} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=base)
    except OSError as e:
        reason = e.strerror or str(e)
        raise UsageError(f"{lead}: cannot write in {_short(base)} ({reason})") from None
    os.close(fd)
    os.unlink(probe)


def _check_name(path: Path, what: str) -> None:
    lead = f"{what}: " if what else ""
    if str(path) == "":
        raise UsageError(f"{lead}an empty path")
    if len(str(path)) > 4000:
        raise UsageError(f"{lead}the path is too long ({len(str(path))} characters)")
    for part in path.parts:
        if len(os.fsencode(part)) > 255:
            raise UsageError(f"{lead}a name in the path is too long ({len(part)} characters)")


def check_out_file(path: str | os.PathLike, what: str = "") -> Path:
    """An output file: not a folder, its folder writable (or creatable). `what` names it in
    the message ("--json", "the report"); argparse types leave it empty (argparse names the
    option)."""
    path = Path(path)
    _check_name(path, what)
    if _stat(path, what) is not None and os.path.isdir(path):
        raise UsageError(f"{_lead(what, path)} is a folder; name a file")
    check_writable_folder(path.parent, what, path)
    return path


def check_out_dir(path: str | os.PathLike, what: str = "") -> Path:
    """An output folder: not a file, writable (or creatable)."""
    path = Path(path)
    _check_name(path, what)
    if _stat(path, what) is not None and not os.path.isdir(path):
        raise UsageError(f"{_lead(what, path)} is a file; name a folder")
    check_writable_folder(path, what)
    return path


def _type(check: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse type from a check raising UsageError / ValueError."""

    def convert(text: str):
        try:
            return check(text)
        except (UsageError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name
    return convert


def _out_file(text: str) -> str:
    if text == "-":
        return text
    if not text.strip():
        raise UsageError("an empty path")
    check_out_file(text)
    return text


def _out_dir(text: str) -> str:
    if not text.strip():
        raise UsageError("an empty path")
    check_out_dir(text)
    return text


out_file = _type(_out_file, "output file")  # '-' (stdout) passes
out_dir = _type(_out_dir, "output folder")


def parse_int(text: str, lo: int = 0, hi: int = MAX_INT) -> int:
    """An integer in [lo, hi] written with ASCII digits (int() also reads '١٢' and '1_0')."""
    body = text.strip()
    digits = body[1:] if body[:1] in "+-" else body
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"expected an integer, got {text!r}")
    value = int(body)
    if lo <= value <= hi:
        return value
    shown = _short(body)
    if hi != MAX_INT:
        raise ValueError(f"must be between {lo} and {hi}, got {shown}")
    if value < lo:
        raise ValueError(f"must be >= {lo}, got {shown}")
    raise ValueError(f"must be below 2**31, got {shown}")


def count(lo: int = 0, hi: int = MAX_INT) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi]."""
    return _type(lambda t: parse_int(t, lo, hi), f"integer >= {lo}")


seed = _type(lambda t: parse_int(t, 0, 2**32 - 1), "seed")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text!r}")
    return value


finite = _type(_finite, "finite number")


def check_device(text: str) -> str:
    """A torch device name that exists on this machine."""
    import torch  # only the commands that take --device pay for it (they import it anyway)

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {text!r} (cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cpu":
        return text
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{text}: CUDA is not available here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return text
    if dev.type == "mps" and torch.backends.mps.is_available():
        return text
    raise ValueError(f"{text}: that device is not available here (cpu, cuda or mps)")


device = _type(check_device, "device")
