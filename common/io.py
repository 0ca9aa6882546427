"""The commit protocol for every file the toolkit writes, and the one weights format.

Every artefact becomes visible all at once or not at all:

  - one file: written to a hidden temporary file in the same folder, fsynced, then renamed
    into place (`atomic_write`, `atomic_write_json`);
  - a weights bundle `<stem>.safetensors` + `<stem>.json` (`save_bundle`): the tensors are
    written first, then the JSON, which records the SHA-256 of the tensors file. Loading
    (`load_bundle`) verifies that hash and that every tensor is finite, so a pair torn by a
    kill between the two renames, or a corrupted file, fails with one clear line instead of
    loading mismatched halves;
  - a resumable state (`save_state` / `load_state`): the tensors go to a new generation file
    `<stem>.<generation>.safetensors`, then `<stem>.json` naming that file (and its hash) is
    renamed into place: the commit point. Older generations are deleted only after it, so at
    every instant `<stem>.json` names a complete, matching file. What a writer derives from
    its state (exports, logs) it rewrites from the committed state, on resume too;
  - a folder (viewer exports, reports with several files): built in a hidden temporary folder
    and swapped into place (`atomic_dir`).

On resume, `remove_stale_temp` deletes the hidden temporaries a killed writer left behind
(and puts back a folder whose swap it interrupted), `remove_stale_generations` the tensor
files no committed JSON names; `settings_diff` names each setting that differs from the
saved ones. Paths a file records are absolute; `resolve_recorded` also reads older relative
ones (beside the file that names them, else from the working directory).

Fault injection: writes pass `crash_point(label)` before writing a file, before its rename,
after it, and before each deletion (other writers add their own, e.g. the activation store
between a chunk's rows and its manifest). With OTHELLO_CRASH_AT=N in the environment the
process dies (`os._exit(137)`, as a kill -9 would) at the N-th crash point it reaches; with
OTHELLO_CRASH_LOG=path each label reached is appended to that file, so a test can enumerate
every kill point of a real run (tests/test_crash_resume.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from common.cli import InputError

FORMAT_VERSION = 1
TEMP_MARK = ".tmp"  # hidden temporaries are ".<name>.<random>.tmp" files or ".<name>.tmp-*" dirs
DIR_MARKER = ".othello-export"  # in a folder `atomic_dir` wrote: {"kind": the command, ...}
MARKER_NOTE = (
    "written by the othello toolkit; the same command replaces this folder whole, and no "
    "command replaces a folder without this file"
)

_crash_count = 0
# what this module's writers name their temporaries (nothing else is ever removed as one):
# mkstemp's ".<name>.<8 of [a-z0-9_]>.tmp" files and atomic_dir's ".<name>.tmp-<pid|old>" folders
_TEMP_FILE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_TEMP_DIR = re.compile(r"\..+\.tmp-(\d+|old)")


class CheckpointError(InputError):
    """A checkpoint is missing, malformed, or does not fit what the caller expects."""


def crash_point(label: str) -> None:
    """Die here if fault injection asks for it (see the module docstring); else nothing."""
    global _crash_count
    log = os.environ.get("OTHELLO_CRASH_LOG")
    at = os.environ.get("OTHELLO_CRASH_AT")
    if not log and not at:
        return
    _crash_count += 1
    if log:
        with open(log, "a") as f:
            f.write(f"{_crash_count}\t{label}\n")
    if at and at.strip() == str(_crash_count):
        sys.stderr.write(f"fault injection: killed at crash point {_crash_count} ({label})\n")
        sys.stderr.flush()
        os._exit(137)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (same folder, so rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    crash_point(f"before write {path.name}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_MARK, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _fsync_file(tmp)  # whatever `write` did, the bytes are on disk before the rename
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a written file gets the usual mode
        crash_point(f"before rename {path.name}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(path.parent)
    crash_point(f"after rename {path.name}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """JSON from a file, or a CheckpointError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} not found")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a JSON file ({what})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({what}): {e}") from e
    except RecursionError:
        raise CheckpointError(f"{path} is not valid JSON ({what}): nested too deeply") from None


def resolve_recorded(recorded: str | os.PathLike, base: str | os.PathLike) -> Path:
    """A path (or a bundle's stem) that a file in folder `base` records: absolute as is;
    relative to `base` where that exists, else (files written before paths were recorded
    absolute) relative to the working directory."""

    def present(p: Path) -> bool:
        return p.exists() or bundle_paths(p)[1].exists()

    path = Path(recorded)
    if path.is_absolute():
        return path
    beside = Path(base) / path
    return beside if present(beside) or not present(path) else path


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_stale_temp(folder: str | os.PathLike) -> list[Path]:
    """Delete the hidden temporaries that killed writers left in `folder` (not recursive),
    after putting back a folder whose `atomic_dir` swap a kill interrupted. Returns what was
    removed. Call it only when no other writer works in the folder."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for old in folder.glob(".*.tmp-old"):
        _restore_swapped(folder / old.name[1 : -len(".tmp-old")])
    for p in folder.iterdir():
        if _TEMP_FILE.fullmatch(p.name) or _TEMP_DIR.fullmatch(p.name):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


# -- weights bundles ------------------------------------------------------------------------
def bundle_paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """`runs/x/model` or `runs/x/model.safetensors` or `.json` -> (tensors path, config path)."""
    stem = Path(stem)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> tuple[bytes, str]:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = save_bytes(tensors)
    return data, hashlib.sha256(data).hexdigest()


def _read_tensors(path: Path, sha256: str | None, config_path: Path) -> dict[str, torch.Tensor]:
    """Tensors of `path`, checked against the recorded hash and for non-finite values."""
    if not path.exists():
        raise CheckpointError(f"{path} not found (named by {config_path})")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a tensors file (named by {config_path})")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(
            f"{path} does not match the SHA-256 recorded in {config_path}: the pair was not "
            f"written together (an interrupted save?) or the file was changed"
        )
    try:
        tensors = load_bytes(data)
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from e
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values")
    return tensors


def save_bundle(stem: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict) -> Path:
    """Write tensors, then the config recording their SHA-256 (each atomically): a bundle
    loads only when both halves belong together."""
    weights_path, config_path = bundle_paths(stem)
    data, digest = _tensor_bytes(tensors)
    atomic_write_bytes(weights_path, data)
    atomic_write_json(
        config_path, {"format_version": FORMAT_VERSION, **config, "weights_sha256": digest}
    )
    return weights_path


def _check_kind(config: Any, config_path: Path, kind: str) -> None:
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} does not hold a JSON object")
    if config.get("kind") != kind:
        raise CheckpointError(
            f"{config_path} holds a {config.get('kind')!r} checkpoint, expected {kind!r}"
        )


def load_bundle(stem: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a bundle, check that its config says it is a `kind` (e.g. "alphazero"), that the
    tensors match the recorded hash (bundles written before hashes were recorded load without
    that check) and are finite."""
    weights_path, config_path = bundle_paths(stem)
    for p in (weights_path, config_path):
        if not p.exists():
            raise CheckpointError(f"{p} not found (a checkpoint is a .safetensors + .json pair)")
    config = read_json(config_path, "checkpoint config")
    _check_kind(config, config_path, kind)
    return _read_tensors(weights_path, config.get("weights_sha256"), config_path), config


# -- resumable states -----------------------------------------------------------------------
def save_state(
    stem: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict, generation: int
) -> Path:
    """Commit a resumable state: tensors to `<stem>.<generation>.safetensors`, then
    `<stem>.json` naming it (the commit point), then older generations are removed."""
    stem = _state_stem(stem)
    weights = stem.parent / f"{stem.name}.{int(generation):08d}.safetensors"
    data, digest = _tensor_bytes(tensors)
    atomic_write_bytes(weights, data)
    atomic_write_json(
        stem.with_suffix(".json"),
        {
            "format_version": FORMAT_VERSION,
            **config,
            "weights_file": weights.name,
            "weights_sha256": digest,
        },
    )
    remove_stale_generations(stem)
    return weights


def _state_stem(stem: str | os.PathLike) -> Path:
    stem = Path(stem)
    return stem.with_suffix("") if stem.suffix == ".json" else stem


def remove_stale_generations(stem: str | os.PathLike) -> list[Path]:
    """Delete the tensor files of `stem` that its committed JSON does not name: older
    generations, and one a kill left behind before its JSON was committed."""
    stem = _state_stem(stem)
    config_path = stem.with_suffix(".json")
    keep = None  # nothing committed: every tensor file is stale
    if config_path.exists():
        # a state written as a plain bundle (before generations) keeps <stem>.safetensors
        keep = read_json(config_path, "training state").get("weights_file", "")
        keep = keep or f"{stem.name}.safetensors"
    removed = []
    for old in [*stem.parent.glob(f"{stem.name}.*.safetensors"), stem.with_suffix(".safetensors")]:
        if old.name != keep and old.exists():
            crash_point(f"before delete {old.name}")
            old.unlink(missing_ok=True)
            removed.append(old)
    return removed


def settings_diff(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """'key: saved -> now' for every setting that differs (nested dicts flattened with
    dots), so a refused resume names exactly what changed."""
    if isinstance(saved, dict) and isinstance(now, dict):
        out = []
        for key in sorted(set(saved) | set(now), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            out += settings_diff(saved.get(key, "(unset)"), now.get(key, "(unset)"), name)
        return out
    # JSON round trip: a tuple saved is a list read back; compare them as JSON values
    if json.dumps(saved, sort_keys=True) == json.dumps(now, sort_keys=True):
        return []
    return [f"{prefix or 'settings'}: {saved!r} -> {now!r}"]


def load_state(stem: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The committed state at `stem` (None if nothing was ever committed there)."""
    stem = _state_stem(stem)
    config_path = stem.with_suffix(".json")
    if not config_path.exists():
        return None
    config = read_json(config_path, "training state")
    _check_kind(config, config_path, kind)
    # states written as a plain bundle (before generations) name no file: <stem>.safetensors
    name = config.get("weights_file", f"{stem.name}.safetensors")
    if not isinstance(name, str) or "/" in name or not name.startswith(stem.name + "."):
        raise CheckpointError(f"{config_path} names no valid weights file ({name!r})")
    return _read_tensors(stem.parent / name, config.get("weights_sha256"), config_path), config


# -- folders ----------------------------------------------------------------------------------
def _restore_swapped(path: Path) -> Path:
    """`atomic_dir`'s backup of `path`; renamed back first if a kill fell between the swap's
    two renames (so `path` is missing): the last complete version is kept."""
    old = path.parent / f".{path.name}.tmp-old"
    if old.exists() and not path.exists():
        old.rename(path)
    return old


class ForeignFolder(CheckpointError):
    """An output folder that holds something this kind of command did not write."""


def _marker_kind(folder: Path) -> str | None:
    try:
        data = json.loads((folder / DIR_MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data.get("kind") if isinstance(data, dict) else None


def check_replaceable(
    path: str | os.PathLike,
    kind: str,
    names: Collection[str] | None = None,
    legacy: Callable[[Path], bool] | None = None,
) -> Path:
    """Refuse (ForeignFolder, one line) to let `atomic_dir(path, kind)` replace a folder the
    toolkit did not write. Replaceable: nothing there, an empty folder, or a folder carrying
    the marker file DIR_MARKER of the same `kind` whose top-level entries are all in `names`
    (when given); a folder without the marker only where `legacy(folder)` vouches for it (a
    complete output of an older version). Never the working folder or one that holds it.
    Returns the absolute path."""
    path = Path(os.path.abspath(path))
    here = Path(os.path.abspath(os.getcwd()))
    if path == here or path in here.parents:
        raise ForeignFolder(
            f"{path} is the working folder or holds it; the output folder is replaced whole, "
            f"so name a folder of its own (e.g. {here / 'out'})"
        )
    if not path.exists() and not path.is_symlink():
        return path
    if path.is_symlink() or not path.is_dir():
        raise ForeignFolder(f"{path} exists and is not a folder; name a new or empty folder")
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return path
    marked = _marker_kind(path)
    if marked is None and legacy is not None and legacy(path):
        marked = kind
    if marked == kind:
        allowed = None if names is None else {*names, DIR_MARKER}
        foreign = [n for n in entries if allowed is not None and n not in allowed]
        if not foreign:
            return path
        why = f"also holds {', '.join(foreign[:4])}{', ...' if len(foreign) > 4 else ''}"
    elif marked is not None:
        why = f"was written by {marked}"
    else:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        why = f"holds files that {kind} did not write ({shown})"
    raise ForeignFolder(
        f"{path} {why}: {kind} replaces its output folder whole, so it only replaces one it "
        f"wrote; name a new or empty folder (nothing was changed)"
    )


@contextmanager
def atomic_dir(
    path: str | os.PathLike,
    kind: str,
    names: Collection[str] | None = None,
    legacy: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """Build a folder in a hidden temporary sibling (yielded), then swap it into place on
    success; on an exception the temporary is removed and `path` is left as it was. Between
    the two renames of the swap `path` is briefly absent (never half-written); a later call
    restores the previous version if a kill fell exactly there. The new folder carries the
    marker DIR_MARKER naming `kind`, and only a folder `check_replaceable` allows is
    replaced (checked before and again just before the swap)."""
    path = Path(os.path.abspath(path))
    old = _restore_swapped(path)  # a swap a kill interrupted is undone first
    check_replaceable(path, kind, names, legacy)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / DIR_MARKER).write_text(json.dumps({"kind": kind, "note": MARKER_NOTE}) + "\n")
        yield tmp
        check_replaceable(path, kind, names, legacy)  # nothing foreign arrived meanwhile
        crash_point(f"before swap {path.name}/")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        crash_point(f"between swap {path.name}/")
        tmp.rename(path)
    except BaseException:
        _restore_swapped(path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)
    crash_point(f"after swap {path.name}/")


def check_state_dict(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str
) -> None:
    """Fail with one clear message listing every missing, unexpected or mis-shaped tensor."""
    expected = module.state_dict()
    problems = []
    for name in sorted(set(expected) - set(tensors)):
        problems.append(f"missing {name}")
    for name in sorted(set(tensors) - set(expected)):
        problems.append(f"unexpected {name}")
    for name in sorted(set(expected) & set(tensors)):
        if tuple(expected[name].shape) != tuple(tensors[name].shape):
            problems.append(
                f"{name}: file has {tuple(tensors[name].shape)}, "
                f"config implies {tuple(expected[name].shape)}"
            )
    if problems:
        raise CheckpointError(f"{source} does not match its config: " + "; ".join(problems[:8]))
