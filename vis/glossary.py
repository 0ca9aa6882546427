"""The glossary the viewer shows (`#glossary`): every concept family an explanation or a
concepts report can name, and the viewer's own terms, in words.

Definitions follow the code that computes them (`othello.concepts`, `othello.consequences`,
`othello.regions`, `sae.concepts.labels`, `sae.explain.vocabulary`; the same tables with
their tests: docs/explanations.md). Thresholds are read from those modules, so the glossary
cannot name values the vocabulary does not use; tests/test_vis_glossary.py checks that every
family the vocabulary builds has an entry. The export writes it to DATA/glossary.json.
"""

from __future__ import annotations

from sae.concepts.labels import MAX_EMPTIES, THRESHOLDS
from sae.explain.vocabulary import POLICY_MASS, VALUE_BINS
from vis.layout import SCHEMA_VERSION


def _values(family: str) -> str:
    return ", ".join(str(v) for v in THRESHOLDS[family])


# (section, [(family or term, name pattern, definition)])
SECTIONS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "Perspective and names",
        "How concept names read.",
        [
            (
                "mine",
                "mine@sq",
                "the side to move holds a disc on sq; every concept is from the "
                "view of the player to move ('mine' = the player to move, 'theirs' = the "
                "opponent), not black or white",
            ),
            ("theirs", "theirs@sq", "the opponent of the side to move holds a disc on sq"),
            ("empty", "empty@sq", "sq holds no disc of either side"),
            (
                "thresholds",
                "family>=v",
                "a count at least v; a negated threshold reads as its complement (agent_value<0.5)",
            ),
            (
                "programs",
                "a & b | c",
                "an explanation: OR (|) of terms, each an AND (&) of literals; ! negates a literal",
            ),
        ],
    ),
    (
        "Board",
        "Computed from the position alone (othello.concepts, sae.concepts.labels).",
        [
            ("legal_mine", "legal_mine@sq", "I may play on sq now (it flips at least one disc)"),
            (
                "legal_theirs",
                "legal_theirs@sq",
                "the opponent could play on sq if it were its turn",
            ),
            (
                "threat_defensive",
                "threat_defensive@sq",
                "my disc on sq can be flipped by one opponent move",
            ),
            (
                "threat_offensive",
                "threat_offensive@sq",
                "the opponent's disc on sq can be flipped by one of my moves",
            ),
            (
                "stable_mine",
                "stable_mine@sq",
                "my disc on sq can never be flipped again (a sound "
                "under-approximation: every disc marked stable truly is)",
            ),
            ("stable_theirs", "stable_theirs@sq", "the opponent's disc on sq can never be flipped"),
            (
                "frontier_mine",
                "frontier_mine@sq",
                "my disc on sq touches an empty square (of its 8 neighbours)",
            ),
            (
                "frontier_theirs",
                "frontier_theirs@sq",
                "the opponent's disc on sq touches an empty square",
            ),
            (
                "mobility_mine",
                "mobility_mine>=v",
                f"I have at least v legal moves (v = {_values('mobility_mine')})",
            ),
            (
                "mobility_theirs",
                "mobility_theirs>=v",
                f"the opponent has at least v legal moves (v = {_values('mobility_theirs')})",
            ),
            (
                "empties",
                "empties>=v",
                f"at least v empty squares: the game's phase (v = {_values('empties')})",
            ),
            (
                "corners_mine",
                "corners_mine>=v",
                f"I hold at least v corners (a1, f1, a6, f6; v = {_values('corners_mine')})",
            ),
            ("corners_theirs", "corners_theirs>=v", "the opponent holds at least v corners"),
            (
                "x_squares_mine",
                "x_squares_mine>=v",
                f"I hold at least v X-squares (b2, e2, b5, "
                f"e5: diagonal neighbours of corners; v = {_values('x_squares_mine')})",
            ),
            ("x_squares_theirs", "x_squares_theirs>=v", "the opponent holds at least v X-squares"),
            (
                "c_squares_mine",
                "c_squares_mine>=v",
                f"I hold at least v C-squares (edge "
                f"neighbours of corners: b1, a2, ...; v = {_values('c_squares_mine')})",
            ),
            ("c_squares_theirs", "c_squares_theirs>=v", "the opponent holds at least v C-squares"),
            (
                "parity_odd",
                "parity_odd",
                "an odd number of empty squares (with no passes, the "
                "side to move then plays the last move)",
            ),
        ],
    ),
    (
        "Move consequences",
        "For a square m where I may play (false where m is not legal; othello.consequences).",
        [
            ("flips", "flips@m>d", "playing m flips the disc on d"),
            ("gives_corner", "gives_corner@m", "after I play m, the opponent may play on a corner"),
            (
                "no_reply",
                "no_reply@m",
                "after I play m, the opponent has no legal move (it passes, or the game ends)",
            ),
        ],
    ),
    (
        "Lines and regions",
        "othello.regions; quadrants tl, tr, bl, br are the 3 x 3 corner blocks.",
        [
            ("row_full", "row_full@r", "row r (1 .. 6) has no empty square"),
            ("col_full", "col_full@c", "column c (a .. f) has no empty square"),
            ("diag_full", "diag_full@a1-f6", "the main (a1-f6) or anti-diagonal (a6-f1) is full"),
            (
                "edge_mine",
                "edge_mine@e",
                "the edge e (top, bottom, left, right) holds at least "
                "one of my discs and none of the opponent's",
            ),
            (
                "edge_theirs",
                "edge_theirs@e",
                "the edge holds at least one of the opponent's discs and none of mine",
            ),
            (
                "quadrant_odd",
                "quadrant_odd@q",
                "the quadrant has an odd number of empty squares (a parity region)",
            ),
            (
                "quadrant_mine",
                "quadrant_mine@q",
                "I hold more discs than the opponent in the quadrant",
            ),
            (
                "quadrant_theirs",
                "quadrant_theirs@q",
                "the opponent holds more discs than I do in the quadrant",
            ),
        ],
    ),
    (
        "The agent's own output",
        "As the activation store recorded it for the position.",
        [
            (
                "agent_move",
                "agent_move@sq",
                "the raw policy's top move is sq (agent_move@pass: passing)",
            ),
            (
                "agent_policy",
                "agent_policy@sq>=p",
                "the policy puts probability at least p on sq "
                f"(p = {', '.join(str(p) for p in POLICY_MASS)})",
            ),
            (
                "agent_value",
                "agent_value>=v",
                "the value head reads at least v, from the side to "
                f"move's view (v = {', '.join(str(v) for v in VALUE_BINS)})",
            ),
        ],
    ),
    (
        "Exact solver",
        f"Only on solved endgames (at most {MAX_EMPTIES} empty squares), where the exact solver "
        "gives perfect play; explanations use them only in their endgame scope.",
        [
            (
                "solved_outcome",
                "solved_outcome=win",
                "the position's exact outcome for the side "
                "to move under perfect play (win, draw or loss)",
            ),
            (
                "optimal_move",
                "optimal_move@sq",
                "playing sq reaches the position's exact value (the best final disc difference)",
            ),
            (
                "keeps_outcome",
                "keeps_outcome@sq",
                "playing sq keeps the exact outcome (a win stays "
                "a win, a draw a draw), though perhaps by a smaller margin",
            ),
            (
                "best_reply",
                "best_reply@sq",
                "after the agent's raw move, sq is one of the opponent's exact best replies",
            ),
        ],
    ),
    (
        "Explanations",
        "python -m sae.explain (docs/explanations.md).",
        [
            (
                "explained",
                "",
                "the program was chosen on half of the held-out games and judged "
                "on the other half, with enough support, and the lower end of its F1 interval "
                "reaches the bar; only then does the viewer show it as the latent's label",
            ),
            (
                "unexplained",
                "",
                "no program holds: the viewer shows the best guess muted, with its held-out F1",
            ),
            (
                "held-out F1",
                "",
                "F1 of 'the program holds' against 'the latent fires' on the "
                "judging half, with a game-bootstrap interval",
            ),
            (
                "support",
                "",
                "how often the latent fires / stays silent and the program holds / "
                "fails among the judging positions; too few of any means not judged",
            ),
            ("scope", "", "all positions, or only solved endgames (where solver families exist)"),
            (
                "does",
                "",
                "what adding the latent's decoder direction does to the agent's move "
                "probabilities and value",
            ),
        ],
    ),
    (
        "Viewer numbers",
        "What the columns and panels measure.",
        [
            ("density", "", "fraction of sampled positions where the latent fires (> 0)"),
            (
                "live / dead",
                "",
                "live: fired at least once in the export's sample; the "
                "'dead' metric comes from the sweep's held-out evaluation, on other positions, "
                "so the two counts can differ",
            ),
            (
                "policy effect",
                "",
                "mean total-variation change of the agent's move "
                "distribution when the latent's decoder direction is added",
            ),
            ("value Δ", "", "mean change of the value head when that direction is added"),
            ("AUC", "", "ROC AUC of the latent's activation for a concept (concepts report)"),
            (
                "influence",
                "",
                "circuit-tracer's cumulative share: the fraction of all influence "
                "on the target held by the nodes ranked at or above this one. Smaller is more "
                "important; 1 is the least",
            ),
            (
                "replacement score",
                "",
                "of the influence reaching the target from the board and "
                "from error nodes, the share from the board",
            ),
            (
                "completeness",
                "",
                "the influence-weighted share of each node's input that does "
                "not come from error nodes",
            ),
            (
                "error node",
                "",
                "what a block's transcoder misses: the true MLP output minus the transcoder's",
            ),
            ("bias node", "", "constant inputs (biases, LayerNorm offsets) of a block"),
        ],
    ),
]


def glossary() -> dict:
    """DATA/glossary.json."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "vis_glossary",
        "sections": [
            {
                "title": title,
                "note": note,
                "terms": [{"name": n, "pattern": p, "definition": d} for n, p, d in terms],
            }
            for title, note, terms in SECTIONS
        ],
    }
