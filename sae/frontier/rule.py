"""The rule that names a sweep's best dictionary: meaning first, within fidelity.

1. Eligible: the agent still plays through it (spliced top-1 agreement >= `min_agreement`)
   and it is sparse enough to read (L0 <= `max_l0`). If none is, the choice says so and
   falls back to the most faithful of the sparse ones: those (L0 <= `max_l0`, or all when
   none is) whose agreement is within `fallback_slack` of the best agreement among them. A
   dictionary whose latents mostly died can explain its few survivors well; it must not
   win because nothing passed the gate.
2. Among the eligible, the highest held-out explained fraction (`sae.explain`: live latents
   with an exact program whose F1 interval's lower bound is >= 0.7 on other games).
3. Among those within `margin` of that fraction (relative: at least (1 - margin) times it),
   the lowest held-out FVU.

FVU alone would pick the widest, densest dictionary; explained fraction alone could pick one
the agent cannot play through, or one of input-like latents (the random-net row beside it in
every table says how much of the fraction an untrained net's dictionary reaches too).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Rule:
    min_agreement: float = 0.95
    max_l0: float = 64.0
    margin: float = 0.1  # relative: fractions of a few percent differ by ratios, not points
    fallback_slack: float = 0.05  # top-1 agreement, absolute

    def describe(self) -> dict:
        return {
            **asdict(self),
            "text": (
                f"among dictionaries with spliced top-1 agreement >= {self.min_agreement:g} and "
                f"L0 <= {self.max_l0:g}, the highest explained fraction; among those within "
                f"{100 * self.margin:g}% of it, the lowest FVU (when none is eligible: among "
                f"those with L0 <= {self.max_l0:g} and top-1 agreement within "
                f"{self.fallback_slack:g} of their best)"
            ),
        }


def _num(x) -> float:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else math.nan


def choose(records: dict[str, dict], rule: Rule = Rule()) -> dict:
    """{"best": name, "eligible": [names], "fallback": bool, "best_by_fvu": name}."""
    measured = {
        n: r for n, r in records.items() if math.isfinite(_num(r.get("explained_fraction")))
    }
    if not measured:
        raise ValueError("no dictionary has an explained fraction to choose by")
    eligible = [
        n
        for n, r in measured.items()
        if _num(r.get("agreement")) >= rule.min_agreement and _num(r.get("l0")) <= rule.max_l0
    ]
    pool = eligible or _most_faithful(measured, rule)
    top = max(_num(measured[n]["explained_fraction"]) for n in pool)
    bar = top * (1 - rule.margin)
    near = [n for n in pool if _num(measured[n]["explained_fraction"]) >= bar]
    best = min(near, key=lambda n: (_fvu(measured[n]), n))
    by_fvu = min(records, key=lambda n: (_fvu(records[n]), n))
    return {"best": best, "eligible": eligible, "fallback": not eligible, "best_by_fvu": by_fvu}


def _most_faithful(measured: dict[str, dict], rule: Rule) -> list[str]:
    sparse = [n for n, r in measured.items() if _num(r.get("l0")) <= rule.max_l0] or list(measured)
    agreement = {n: _num(measured[n].get("agreement")) for n in sparse}
    known = [a for a in agreement.values() if math.isfinite(a)]
    if not known:
        return sparse
    return [n for n in sparse if agreement[n] >= max(known) - rule.fallback_slack]


def _fvu(r: dict) -> float:
    v = _num(r.get("fvu"))
    return v if math.isfinite(v) else math.inf
