"""A dictionary's held-out explanations (`python -m sae.explain`), as the viewer shows them.

The report lives at `<folder of DICT>/explanations.json` (schema: docs/explanations.md). A
report for another width or schema version is left out with a note. The viewer titles a
latent with its program only when the explanation holds (judged with enough support, F1
interval's lower bound at the threshold); every other latent is "unexplained", shown with
its best guess and that guess's held-out F1.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.io import bundle_paths

REPORT_NAME = "explanations.json"
SCHEMA_VERSION = 1
LATENT_KEYS = (
    "explained", "judged", "program", "literals", "scope", "scope_text", "precision", "recall",
    "f1", "fit_f1", "r2", "support", "does",
)  # fmt: skip


def load_explanations(dict_path, n_latents: int) -> tuple[dict | None, str | None]:
    """(report, None) or (None, why it is left out); (None, None) when there is none."""
    path = Path(bundle_paths(dict_path)[1]).parent / REPORT_NAME
    if not path.exists():
        return None, None
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return None, f"{path}: not readable JSON ({e})"
    if not isinstance(report, dict) or report.get("kind") != "explanations":
        return None, f"{path} is not an explanations report"
    if report.get("schema_version") != SCHEMA_VERSION:
        return None, f"{path} has schema version {report.get('schema_version')}, not 1"
    width = (report.get("dictionary") or {}).get("n_latents")
    if width != n_latents:
        return None, f"{path} describes {width} latents, the dictionary has {n_latents}"
    return report, None


def latent_explanation(report: dict | None, latent: int) -> dict | None:
    entry = (report or {}).get("latents", {}).get(str(latent))
    if not entry:
        return None
    return {k: entry.get(k) for k in LATENT_KEYS}


def explanation_columns(report: dict | None, n: int) -> dict[str, list]:
    """List columns: `label` (the program, only where it holds), `guess` (the program of an
    unexplained latent), `f1` and `f1_low` (held-out F1 and its interval's lower bound)."""
    out = {k: [None] * n for k in ("label", "guess", "f1", "f1_low")}
    for key, entry in ((report or {}).get("latents") or {}).items():
        i = int(key)
        if not 0 <= i < n or not entry.get("program"):
            continue
        out["label" if entry.get("explained") else "guess"][i] = entry["program"]
        f1 = entry.get("f1") or [None, None, None]
        out["f1"][i], out["f1_low"][i] = f1[0], f1[1]
    return out


def dictionary_explanations(report: dict | None) -> dict | None:
    if report is None:
        return None
    keys = ("summary", "endgame_summary", "baselines", "rule", "positions", "vocabulary")
    return {k: report.get(k) for k in keys}
