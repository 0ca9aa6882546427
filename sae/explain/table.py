"""The printed summary of explanation reports: explained fractions of every dictionary and
baseline on the same positions, by firing rate, and a few explained latents of each."""

from __future__ import annotations

from pathlib import Path

from sae.explain.explainer import THRESHOLDS

SHOWN_LATENTS = 5


def _name(report: dict) -> str:
    path = Path(report["dictionary"]["path"])
    return path.parent.name if path.name == "dictionary.json" else path.stem


def _row(name: str, s: dict) -> str:
    curve = " ".join(f"{s['curve'][f'{t:g}']:.3f}" for t in THRESHOLDS)
    bins = " ".join(f"{b['explained']}/{b['live']}" for b in s["by_rate"])
    return (
        f"{name:<28} {s['live']:>5} {s['judged']:>6} {s['explained']:>9} "
        f"{s['explained_fraction']:>8.3f}   {curve}   {bins}"
    )


def format_table(reports: list[dict]) -> str:
    first = reports[0]
    pos, rule = first["positions"], first["rule"]
    heads = " ".join(f"{t:g}" for t in THRESHOLDS)
    bins = " ".join(b["bin"] for b in first["summary"]["by_rate"])
    lines = [
        f"positions: {pos['rows']} distinct held-out boards of {pos.get('drawn', pos['rows'])} "
        f"sampled ({pos['fit']} to choose programs from "
        f"{pos['fit_games']} games, {pos['score']} to judge them from {pos['score_games']} "
        f"other games; {pos['solved']} solved endgames)",
        f"explained: {rule['explained']}; support >= {rule['min_support']}; {rule['interval']}",
        "",
        f"{'features':<28} {'live':>5} {'judged':>6} {'explained':>9} {'fraction':>8}   "
        f"F1 lower bound >= {heads}   explained/live by firing rate {bins}",
    ]
    seen_baselines = set()
    for r in reports:
        lines.append(_row(_name(r), r["summary"]))
        for kind, b in r["baselines"].items():
            key = (kind, b.get("site"), _name(r) if kind == "random_net" else "")
            if key in seen_baselines:
                continue
            seen_baselines.add(key)
            label = f"  neurons {b['site']}" if kind == "neurons" else "  random net"
            lines.append(_row(label, b))
    for r in reports:
        lines += ["", *latent_lines(r)]
    return "\n".join(lines)


def latent_lines(r: dict) -> list[str]:
    """What stops the rest, and the best explained latents of one report."""
    s, u = r["summary"], r["summary"]["unexplained"]
    gap = u["mean_fit_minus_heldout_f1"]
    lines = [
        f"{_name(r)}: {s['explained']} of {s['live']} live latents explained on all positions, "
        f"{s['endgame_only']} more only within the solved endgames",
        f"  unexplained: too rare {u['too_rare']}, too dense {u['too_dense']}, no program "
        f"splitting the positions {u['no_splitting_program']}, below the bar "
        f"{u['below_threshold']} ({u['below_threshold_near']} within 0.1 of it); F1 where "
        f"chosen minus held-out: {'-' if gap is None else f'{gap:.3f}'}",
    ]
    shown = [(k, v) for k, v in r["latents"].items() if v["scope"] == "all" and v["explained"]]
    shown.sort(key=lambda kv: -(kv[1]["f1"][1] or 0))
    for k, v in shown[:SHOWN_LATENTS]:
        f1 = v["f1"]
        lines.append(
            f"  latent {k} (fires on {100 * v['rate']:.1f}%): {v['program']}  "
            f"F1 {f1[0]:.3f} [{f1[1]:.3f}, {f1[2]:.3f}], R^2 {v['r2']}, "
            f"{v['support']['fires']} firings judged; {v.get('does', '')}"
        )
    return lines
