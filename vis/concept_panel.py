"""The concepts report of a dictionary (`python -m sae.concepts`), as the viewer shows it.

The report lives at `<folder of DICT>/concepts.json` (schema: docs/concepts_report.md). A
report for another width, or of another schema version, is left out with a warning rather
than shown against the wrong latents. Per latent the viewer gets its explanation (the label
with F1, precision, recall, AUC and threshold) and its top concepts by AUC; per dictionary
the families table, the explained fraction and Karvonen coverage / reconstruction.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.io import bundle_paths

REPORT_NAME = "concepts.json"
SCHEMA_VERSION = 1
EXPLANATION = ("label", "auc", "f1", "precision", "recall", "threshold")


def load_report(dict_path, n_latents: int) -> tuple[dict | None, str | None]:
    """(report, None) or (None, why it is left out); (None, None) when there is none."""
    path = Path(bundle_paths(dict_path)[1]).parent / REPORT_NAME
    if not path.exists():
        return None, None
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return None, f"{path}: not readable JSON ({e})"
    if not isinstance(report, dict) or report.get("kind") != "concepts_report":
        return None, f"{path} is not a concepts report"
    if report.get("schema_version") != SCHEMA_VERSION:
        return None, f"{path} has schema version {report.get('schema_version')}, not 1"
    width = (report.get("dictionary") or {}).get("n_latents")
    if width != n_latents:
        return None, f"{path} describes {width} latents, the dictionary has {n_latents}"
    return report, None


def latent_concepts(report: dict | None, latent: int) -> dict | None:
    """{"explanation": {label, auc, f1, ...} or None, "top": [[name, auc], ...]}."""
    entry = (report or {}).get("latents", {}).get(str(latent))
    if not entry:
        return None
    explanation = {k: entry.get(k) for k in EXPLANATION} if entry.get("label") else None
    return {"explanation": explanation, "top": entry.get("top_concepts") or []}


def dictionary_concepts(report: dict | None) -> dict | None:
    if report is None:
        return None
    keys = ("families", "explained_fraction", "explained_f1", "coverage", "reconstruction")
    out = {k: report.get(k) for k in keys}
    out["positions"] = (report.get("positions") or {}).get("auc")
    out["sparse_probing"] = (report.get("sparse_probing") or {}).get("mean_f1")
    return out
