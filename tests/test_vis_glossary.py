"""The viewer's glossary names every concept family the explainer and the concepts report can
use, so no label on a page is left undefined."""

from sae.concepts.labels import SOLVER_FAMILIES, board_names, family_of
from sae.explain.vocabulary import GROUPS
from vis.glossary import glossary


def test_every_family_of_the_vocabulary_is_defined():
    families = {family_of(n) for n in board_names(6)} | set(SOLVER_FAMILIES)
    for group in GROUPS.values():
        families |= set(group or ())
    terms = {t["name"]: t for s in glossary()["sections"] for t in s["terms"]}
    assert families - set(terms) == set()
    for name in families:
        t = terms[name]
        assert len(t["definition"]) > 20 and t["pattern"].startswith(name), t
    assert {"mine", "theirs", "influence", "explained"} <= set(terms)
