"""The frontier's table: one row per dictionary and per baseline, on the same positions."""

from __future__ import annotations

import math

FAMILY = {"relu": "L1", "topk": "TopK", "batchtopk": "BatchTopK", "matryoshka": "Matryoshka"}
HEAD = (
    "| dictionary | family | latents | L0 | FVU | dead | spliced KL | spliced top-1 | "
    "coverage board / legal (ours) | coverage board / legal (all concepts) | "
    "reconstruction board / legal | absorption | explained |"
)


def _f(x, fmt=".3f") -> str:
    return format(x, fmt) if isinstance(x, int | float) and math.isfinite(x) else "-"


def _pair(d) -> str:
    d = d or {}
    return f"{_f(d.get('board'))} / {_f(d.get('legal'))}"


def family(r: dict) -> str:
    name = FAMILY.get(r.get("architecture"), r.get("architecture") or "-")
    p_end = r.get("p_end")
    return f"{name}, p 1 -> {p_end:g}" if p_end not in (None, 1.0) else name


def row(name: str, r: dict, bold: bool = False) -> str:
    label = f"**{name}**" if bold else name
    return (
        f"| {label} | {family(r)} | "
        f"{r.get('n_latents') or '-'} | {_f(r.get('l0'), '.1f')} | {_f(r.get('fvu'), '.4f')} | "
        f"{_f(r.get('dead_fraction'))} | {_f(r.get('kl'), '.4f')} | {_f(r.get('agreement'))} | "
        f"{_pair(r.get('coverage'))} | {_pair(r.get('coverage_all'))} | "
        f"{_pair(r.get('reconstruction'))} | {_f(r.get('absorption'))} | "
        f"{_f(r.get('explained_fraction'))} |"
    )


def best_over(records: dict) -> dict:
    """Each Karvonen metric's best over the sweep, as the published anchors are (each the best
    of many SAEs, possibly a different one per metric)."""
    out = {}
    for key in ("coverage", "coverage_all", "reconstruction"):
        out[key] = {}
        for fam in ("board", "legal"):
            vals = [(r.get(key) or {}).get(fam) for r in records.values()]
            vals = [v for v in vals if isinstance(v, int | float) and math.isfinite(v)]
            out[key][fam] = max(vals) if vals else None
    return out


def format_table(result: dict) -> str:
    choice = result["choice"]
    lines = [HEAD, "|---" * (HEAD.count("|") - 1) + "|"]
    for name, r in sorted(result["records"].items(), key=lambda kv: kv[1].get("fvu") or 0):
        lines.append(row(name, r, bold=name == choice["best"]))
    best = best_over(result["records"])
    lines.append(
        "| best over the sweep (each column's own best) | | | | | | | | "
        f"{_pair(best['coverage'])} | {_pair(best['coverage_all'])} | "
        f"{_pair(best['reconstruction'])} | | |"
    )
    for site, kinds in result.get("baselines", {}).items():
        for kind, b in kinds.items():
            label = f"{'neurons' if kind == 'neurons' else 'random net'} ({b.get('site') or site})"
            lines.append(row(label, b))
    pos = result["positions"]
    lines += [
        "",
        f"{pos['rows']} held-out positions (seed {pos['seed']}), {pos['solver']} of them solved; "
        f"best by the rule (bold): **{choice['best']}** ({result['rule']['text']}"
        f"{'; no dictionary was eligible, chosen by the fallback' if choice['fallback'] else ''}); "
        f"best by FVU alone: {choice['best_by_fvu']}.",
    ]
    return "\n".join(lines)
