"""The commit protocol's primitives (common.io) on the states a kill can leave: a torn weights
pair, an uncommitted generation, a half-swapped folder, a failed write; and the helpers
resume uses (settings differences, recorded paths)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from common.io import (
    CheckpointError,
    atomic_dir,
    atomic_write_bytes,
    atomic_write_text,
    load_bundle,
    load_state,
    remove_stale_generations,
    remove_stale_temp,
    resolve_recorded,
    save_bundle,
    save_state,
    settings_diff,
)


def test_a_torn_or_non_finite_bundle_fails_naming_the_file(tmp_path):
    save_bundle(tmp_path / "m", {"w": torch.ones(3)}, {"kind": "k"})
    tensors, config = load_bundle(tmp_path / "m", "k")
    assert torch.equal(tensors["w"], torch.ones(3)) and len(config["weights_sha256"]) == 64
    # a kill between the two renames of the next save: new tensors, old config
    atomic_write_bytes(tmp_path / "m.safetensors", safetensors_bytes({"w": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match=r"m\.safetensors does not match the SHA-256"):
        load_bundle(tmp_path / "m", "k")
    save_bundle(tmp_path / "m", {"w": torch.tensor([1.0, float("inf")])}, {"kind": "k"})
    with pytest.raises(CheckpointError, match="tensor 'w' holds NaN or infinite values"):
        load_bundle(tmp_path / "m", "k")
    with pytest.raises(CheckpointError, match="holds a 'k' checkpoint, expected 'other'"):
        load_bundle(tmp_path / "m", "other")


def test_a_state_is_the_generation_its_json_names(tmp_path):
    stem = tmp_path / "state"
    assert load_state(stem, "s") is None
    save_state(stem, {"w": torch.ones(2)}, {"kind": "s", "step": 1}, generation=1)
    save_state(stem, {"w": 2 * torch.ones(2)}, {"kind": "s", "step": 2}, generation=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "state.00000002.safetensors",
        "state.json",
    ]
    # a kill after the next generation's file, before its JSON: generation 2 stays committed
    atomic_write_bytes(
        tmp_path / "state.00000003.safetensors", safetensors_bytes({"w": 0 * torch.ones(2)})
    )
    tensors, config = load_state(stem, "s")
    assert config["step"] == 2 and torch.equal(tensors["w"], 2 * torch.ones(2))
    assert [p.name for p in remove_stale_generations(stem)] == ["state.00000003.safetensors"]
    # the JSON naming a file that is gone (or another file) is refused, naming both
    (tmp_path / "state.00000002.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"state\.00000002\.safetensors not found"):
        load_state(stem, "s")


def test_a_state_written_as_a_plain_bundle_still_loads_and_is_replaced(tmp_path):
    save_bundle(tmp_path / "state", {"w": torch.ones(2)}, {"kind": "s", "step": 5})
    tensors, config = load_state(tmp_path / "state", "s")
    assert config["step"] == 5 and torch.equal(tensors["w"], torch.ones(2))
    save_state(tmp_path / "state", {"w": torch.zeros(2)}, {"kind": "s", "step": 6}, generation=6)
    assert not (tmp_path / "state.safetensors").exists()
    assert load_state(tmp_path / "state", "s")[1]["step"] == 6


def test_stale_temporaries_go_and_a_half_swapped_folder_comes_back(tmp_path):
    with atomic_dir(tmp_path / "view", "test") as d:
        (d / "a.txt").write_text("v1")
    # a kill between the swap's two renames of the next version: the old one is set aside,
    # the new one not yet in place
    (tmp_path / "view").rename(tmp_path / ".view.tmp-old")
    (tmp_path / ".view.tmp-999").mkdir()
    (tmp_path / ".x.json.abcd_123.tmp").write_text("half")  # mkstemp's 8 random characters
    removed = remove_stale_temp(tmp_path)
    assert sorted(p.name for p in removed) == [".view.tmp-999", ".x.json.abcd_123.tmp"]
    assert (tmp_path / "view" / "a.txt").read_text() == "v1"
    assert sorted(os.listdir(tmp_path)) == ["view"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "r.json", "old")

    def fail(tmp):
        with open(tmp, "w") as f:
            f.write("partial")
        raise OSError("disk full")

    from common.io import atomic_write

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "r.json", fail)
    assert os.listdir(tmp_path) == ["r.json"] and (tmp_path / "r.json").read_text() == "old"


def test_settings_diff_names_exactly_what_changed():
    saved = {"run": {"k": 3, "sites": ["a", "b"]}, "lr": 0.001, "old": 1}
    now = {"run": {"k": 4, "sites": ("a", "b")}, "lr": 0.001, "new": 2}
    assert settings_diff(saved, now) == [
        "new: '(unset)' -> 2",
        "old: 1 -> '(unset)'",
        "run.k: 3 -> 4",
    ]
    assert settings_diff(now, now) == []


def test_recorded_paths_resolve_beside_the_file_then_from_the_working_directory(
    tmp_path, monkeypatch
):
    (tmp_path / "store").mkdir()
    (tmp_path / "agent.json").write_text("{}")
    base = tmp_path / "dicts"
    assert resolve_recorded(tmp_path / "store", base) == tmp_path / "store"  # absolute
    assert resolve_recorded("../store", base) == base / "../store"
    assert resolve_recorded("../agent", base) == base / "../agent"  # a bundle's stem
    monkeypatch.chdir(tmp_path)  # an older file: relative to where it was written from
    assert resolve_recorded("store", base) == Path("store")


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os

    from common.io import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
