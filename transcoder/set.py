"""A set of per-block transcoders: one `Dictionary` per MLP, together a replacement network.

Folder layout (what `train_transcoder.py` writes; the training engine writes each run):

    FOLDER/transcoders.json                  {"kind": "transcoder_set", "n_blocks", "layers":
                                              ["blocks.0/dictionary", ...], "agent": {"path",
                                              "sha256"}, "store": {"path", "hash"}}
    FOLDER/blocks.{i}/dictionary.{json,safetensors}   the transcoder of block i
                                              (blocks.{i}.mlp_in -> blocks.{i}.mlp_out)

A layer is null in `layers` while its block has no transcoder yet (`--layer I` trains one
block at a time); loading such a set fails unless `partial=True`. A layer entry names a stem
inside FOLDER: an absolute path, a `..` or anything but a string or null is refused
(`layer_stem`), so a set never reads (nor makes a command write) outside its folder. Loading
checks that layer i reads `blocks.{i}.mlp_in` and writes `blocks.{i}.mlp_out`, so a dictionary
in the wrong slot fails with a clear message instead of silently replacing the wrong MLP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from common.io import (
    CheckpointError,
    atomic_write_json,
    bundle_paths,
    read_json,
    remove_stale_temp,
)
from sae.dictionary.model import Dictionary, load_dictionary

KIND = "transcoder_set"
CONFIG_NAME = "transcoders.json"


def layer_name(block: int) -> str:
    """The engine's run name for block i's transcoder (its subfolder)."""
    return f"blocks.{block}"


def block_sites(block: int) -> tuple[str, str]:
    """(input site, output site) a transcoder of block i maps between."""
    return f"blocks.{block}.mlp_in", f"blocks.{block}.mlp_out"


@dataclass
class TranscoderSet:
    layers: list[Dictionary | None]  # index = block; None where a partial set lacks one
    config: dict
    folder: Path = field(default_factory=Path)

    @property
    def n_blocks(self) -> int:
        return len(self.layers)

    @property
    def blocks(self) -> list[int]:
        """Blocks that have a transcoder."""
        return [i for i, d in enumerate(self.layers) if d is not None]

    @property
    def agent_path(self) -> str | None:
        return (self.config.get("agent") or {}).get("path")

    def check_net(self, net) -> None:
        """Raise CheckpointError unless this set fits `net` (block count and widths)."""
        if net.cfg.n_blocks != self.n_blocks:
            raise CheckpointError(
                f"{self.folder}: {self.n_blocks} transcoders but the net has "
                f"{net.cfg.n_blocks} blocks"
            )
        for i in self.blocks:
            cfg = self.layers[i].cfg
            if (cfg.d_in, cfg.d_out) != (net.cfg.d_model, net.cfg.d_model):
                raise CheckpointError(
                    f"{self.folder}: block {i}'s transcoder is {cfg.d_in}->{cfg.d_out}, the "
                    f"net's d_model is {net.cfg.d_model}"
                )


def layer_stem(folder: Path, entry, config_path: Path, block: int) -> Path:
    """FOLDER/entry for a `layers` entry, which must stay inside FOLDER."""
    if not isinstance(entry, str) or not entry.strip():
        raise CheckpointError(
            f"{config_path}: layers[{block}] is {entry!r}; each entry is a dictionary stem "
            f'inside the set\'s folder (e.g. "{layer_name(block)}/dictionary") or null'
        )
    rel = Path(entry)
    if rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(
            f"{config_path}: layers[{block}] = {entry!r} points outside the set's folder "
            f"{folder}; entries are relative paths inside it (e.g. {layer_name(block)}/dictionary)"
        )
    return folder / rel


def write_set_config(
    folder: str | os.PathLike, n_blocks: int, agent: dict | None, store: dict | None
) -> dict:
    """Write FOLDER/transcoders.json (atomically) naming every block whose dictionary exists
    in the folder (null for the others); returns what was written."""
    folder = Path(folder)
    layers = []
    for i in range(n_blocks):
        stem = f"{layer_name(i)}/dictionary"
        present = all(p.exists() for p in bundle_paths(folder / stem))
        layers.append(stem if present else None)
    config = {
        "kind": KIND,
        "n_blocks": n_blocks,
        "layers": layers,
        "agent": agent or {},
        "store": store or {},
    }
    remove_stale_temp(folder)  # e.g. this file's temporary, from a write killed mid-rename
    atomic_write_json(folder / CONFIG_NAME, config)
    return config


def load_transcoder_set(
    folder: str | os.PathLike, device: str = "cpu", partial: bool = False
) -> TranscoderSet:
    """Load every block's transcoder of a set folder (or its transcoders.json path)."""
    folder = Path(folder)
    if folder.name == CONFIG_NAME:
        folder = folder.parent
    path = folder / CONFIG_NAME
    if not path.exists():
        raise CheckpointError(
            f"{folder} is not a transcoder set (no {CONFIG_NAME}); train one with "
            f"python train_transcoder.py --all-layers --out {folder}"
        )
    config = read_json(path, "transcoder set")
    if not isinstance(config, dict) or config.get("kind") != KIND:
        kind = config.get("kind") if isinstance(config, dict) else None
        raise CheckpointError(f"{path} holds a {kind!r}, expected {KIND!r}")
    layers_cfg, n_blocks = config.get("layers"), config.get("n_blocks")
    if (
        not isinstance(layers_cfg, list)
        or not isinstance(n_blocks, int)
        or isinstance(n_blocks, bool)
        or n_blocks != len(layers_cfg)
        or n_blocks < 1
    ):
        raise CheckpointError(f"{path}: 'layers' must list one entry per block ({n_blocks!r})")
    for i, stem in enumerate(layers_cfg):
        if stem is not None:
            layer_stem(folder, stem, path, i)
    missing = [i for i, stem in enumerate(layers_cfg) if stem is None]
    if missing and not partial:
        raise CheckpointError(
            f"{folder} has no transcoder for block(s) {missing}; train them with "
            f"python train_transcoder.py --layer I --out {folder} (or --all-layers)"
        )
    layers: list[Dictionary | None] = []
    for i, stem in enumerate(layers_cfg):
        if stem is None:
            layers.append(None)
            continue
        dictionary, _ = load_dictionary(layer_stem(folder, stem, path, i), device)
        want = block_sites(i)
        got = (dictionary.cfg.in_site, dictionary.cfg.out_site)
        if got != want:
            raise CheckpointError(
                f"{folder / stem}: maps {got[0]} -> {got[1]}, but layer {i} of a transcoder "
                f"set must map {want[0]} -> {want[1]}"
            )
        layers.append(dictionary)
    return TranscoderSet(layers, config, folder)
