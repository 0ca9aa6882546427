"""The printed summary of a concepts report: per family the best AUC of the dictionary and
of its baselines, coverage, reconstruction, explained fraction, L0, k-sparse probing,
absorption, and the best-explained latents."""

from __future__ import annotations


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def format_summary(report: dict, explanations: int = 5) -> str:
    base = report.get("baselines", {})
    neurons, rand = base.get("neurons", {}), base.get("random_net", {})
    p = report["positions"]
    lines = [
        f"{report['dictionary']['path']}: {report['dictionary']['architecture']} "
        f"{report['dictionary']['n_latents']} latents at {report['dictionary']['site']}; "
        f"{p['auc']} held-out positions ({p['solver']} solved)",
        "",
        f"{'family':<18} {'best AUC':>8} {'mean':>6}  {'neurons':>8} {'mean':>6}  "
        f"{'random':>8} {'mean':>6}  best concept (latent)",
    ]
    for family, v in report["families"].items():
        nf = neurons.get("families", {}).get(family, {})
        rf = rand.get("families", {}).get(family, {})
        lines.append(
            f"{family:<18} {_fmt(v['best_auc']):>8} {_fmt(v['mean_best_auc']):>6}  "
            f"{_fmt(nf.get('best_auc')):>8} {_fmt(nf.get('mean_best_auc')):>6}  "
            f"{_fmt(rf.get('best_auc')):>8} {_fmt(rf.get('mean_best_auc')):>6}  "
            f"{v['best_concept'] or '-'} ({v['best_latent']})"
        )
    lines.append("")
    for metric in ("coverage", "coverage_all", "reconstruction"):
        for fam in report.get(metric, {}):  # coverage_all: reports from before it lack it
            lines.append(
                f"{metric} {fam}: dictionary {_fmt(report[metric][fam])}, neurons "
                f"{_fmt(neurons.get(metric, {}).get(fam))}, "
                f"random net {_fmt(rand.get(metric, {}).get(fam))}"
            )
    lines.append(
        f"single-concept labels at F1 >= {report['explained_f1']} (in-sample; held-out "
        f"programs: python -m sae.explain): "
        f"dictionary {_fmt(report['explained_fraction'])} "
        f"of {report['live_latents']} live, neurons {_fmt(neurons.get('explained_fraction'))}, "
        f"random net {_fmt(rand.get('explained_fraction'))}"
    )
    lines.append(
        f"L0 (features firing per position): dictionary {_fmt(report['l0'], '.1f')}, "
        f"neurons {_fmt(neurons.get('l0'), '.1f')}, random net {_fmt(rand.get('l0'), '.1f')}"
    )
    sp = report["sparse_probing"].get("mean_f1", {})
    lines.append(
        "k-sparse probing mean F1: " + ", ".join(f"k={k} {_fmt(v)}" for k, v in sp.items())
    )
    ab = report["absorption"]
    if "mean_absorption_fraction" in ab:
        lines.append(
            f"absorption ({ab['child']} -> {ab['parent']}): mean fraction "
            f"{_fmt(ab['mean_absorption_fraction'])}, full {_fmt(ab['full_absorption_rate'])} "
            f"over {ab['probe_true_positives']} probe true positives; "
            f"main latents {ab['main_latents']}"
        )
    else:
        lines.append(f"absorption: {ab.get('skipped')}")
    best = sorted(
        ((v["f1"], int(k), v) for k, v in report["latents"].items() if v["f1"] is not None),
        key=lambda t: -t[0],
    )[:explanations]
    lines.append("")
    lines.append("best-explained latents:")
    for f1, latent, v in best:
        lines.append(
            f"  latent {latent}: {v['label']} (F1 {f1:.3f}, precision {v['precision']:.3f}, "
            f"recall {v['recall']:.3f}, AUC {v['auc']:.3f}, fires on {v['density']:.1%})"
        )
    return "\n".join(lines)
