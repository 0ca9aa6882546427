"""Atomic writes and the one on-disk format for weights: `<stem>.safetensors` + `<stem>.json`.

Every checkpoint in the project (agent, SAE, transcoder) is a pair of files: the tensors in
safetensors (no pickle, safe to load from anyone) and a JSON config holding everything needed
to rebuild the module. Writes go to a temporary file in the same folder and are renamed into
place, so an interrupted run never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or does not fit what the caller expects."""


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (same folder, so rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def bundle_paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """`runs/x/model` or `runs/x/model.safetensors` or `.json` -> (tensors path, config path)."""
    stem = Path(stem)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_bundle(stem: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict) -> Path:
    """Write tensors then config, each atomically. The config is written last: a bundle whose
    JSON exists is complete."""
    weights_path, config_path = bundle_paths(stem)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(weights_path, lambda tmp: save_file(tensors, tmp))
    atomic_write_json(config_path, {"format_version": FORMAT_VERSION, **config})
    return weights_path


def load_bundle(stem: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a bundle and check that its config says it is a `kind` (e.g. "alphazero")."""
    weights_path, config_path = bundle_paths(stem)
    for p in (weights_path, config_path):
        if not p.exists():
            raise CheckpointError(f"{p} not found (a checkpoint is a .safetensors + .json pair)")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_path} is not valid JSON: {e}") from e
    if config.get("kind") != kind:
        raise CheckpointError(
            f"{config_path} holds a {config.get('kind')!r} checkpoint, expected {kind!r}"
        )
    try:
        tensors = load_file(str(weights_path))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{weights_path} is not a readable safetensors file: {e}") from e
    return tensors, config


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
