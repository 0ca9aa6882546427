"""Small exact programs over boolean predicates, searched for every latent at once.

A program is a disjunction of conjunctions of literals (a literal: a predicate or its
negation), e.g. `(mine@a1 & empty@b2) | !legal_theirs@b1`, predicting "the latent fires".
For each latent, on the rows of the fitting half:

1. Candidate literals. From the exact counts of every (latent, predicate) pair (one bitset
   AND + POPCNT per 64 rows, `bits.pair_counts`), each latent keeps `candidates` literals:
   a third with the best F1 alone, a third with the best recall among those positively
   associated (precision above the latent's base rate: the conjuncts that narrow a term),
   and a third with the best precision among those covering enough of its firings (the
   disjuncts that add a term).
2. Beam search over programs, one literal at a time (`beam` programs kept per size): a step
   either ANDs a literal into the open term or opens a new term with it, up to
   `max_literals` literals in all, `max_terms` terms of at most `max_term_literals` each.
   Every expansion is scored exactly on all fitting rows (bitset popcounts); the best
   program of each size is kept.
3. Simplicity: among the best programs of each size, the one with the fewest literals whose
   fitting F1 is within `margin` of the best of any size.

The search runs in one compiled loop, parallel over latents; nothing is scored on the half
it was chosen on (`sae.explain.stats` scores the chosen programs on the other half).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from sae.explain.bits import ctpop


@dataclass
class SearchConfig:
    max_literals: int = 6
    max_terms: int = 3
    max_term_literals: int = 3
    beam: int = 4
    candidates: int = 48
    margin: float = 0.02  # fitting F1 given up for a shorter program


@dataclass
class Programs:
    """The chosen program of each latent: literal codes (c: predicate c, c + C: its negation,
    -1: unused), the term each literal belongs to, and fitting counts."""

    literals: np.ndarray  # int32 [L, M]
    terms: np.ndarray  # int8 [L, M]
    size: np.ndarray  # int32 [L]: literals used (0: no program)
    fit_f1: np.ndarray  # float64 [L]
    best_fit_f1: np.ndarray  # float64 [L]: best fitting F1 of any size


def candidate_literals(
    tp: np.ndarray, pred_pos: np.ndarray, fires: np.ndarray, valid: int, k: int, usable
) -> np.ndarray:
    """int32 [L, k] literal codes per latent (see the module docstring, step 1).
    tp [L, C]: rows where latent and predicate are both true; pred_pos [C]: rows where the
    predicate holds; fires [L]: rows where the latent fires; valid: rows in use;
    usable [C]: predicates that may be used (constant ones never are)."""
    n_latents, n_preds = tp.shape
    tp = tp.astype(np.float64)
    lit_tp = np.concatenate([tp, fires[:, None] - tp], 1)  # [L, 2C]: the predicate, its negation
    lit_pp = np.concatenate([pred_pos, valid - pred_pos]).astype(np.float64)[None, :]
    ok = np.concatenate([usable, usable])[None, :] & (lit_pp > 0) & (lit_pp < valid)
    f = fires[:, None].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(ok, 2 * lit_tp / (lit_pp + f), -1.0)
        precision = lit_tp / np.maximum(lit_pp, 1)
        recall = lit_tp / np.maximum(f, 1)
    lift = precision > (f / valid) * 1.05
    recall_score = np.where(ok & lift, recall, -1.0)
    covers = lit_tp >= np.maximum(5, 0.05 * f)
    precision_score = np.where(ok & covers, precision + 1e-6 * recall, -1.0)
    third = max(1, k // 3)
    ranked = [_top(score, k) for score in (f1, recall_score, precision_score)]
    out = np.full((n_latents, k), -1, np.int32)
    for latent in range(n_latents):
        chosen: dict[int, None] = {}
        for (idx, val), take in zip(ranked, (third, third, k), strict=True):
            for c, v in zip(idx[latent], val[latent], strict=True):
                if len(chosen) >= k or take == 0 or v < 0:
                    break
                if c not in chosen:
                    chosen[int(c)] = None
                    take -= 1
        out[latent, : len(chosen)] = list(chosen)
    return out


def _top(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the indices and values of the k largest entries, best first."""
    k = min(k, score.shape[1])
    part = np.argpartition(-score, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(score, part, 1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)


@nb.njit(cache=True, nogil=True, inline="always")
def _literal_word(preds, valid, n_preds, lit, w):
    if lit < n_preds:
        return preds[lit, w]
    return ~preds[lit - n_preds, w] & valid[w]


@nb.njit(parallel=True, cache=True, nogil=True)
def beam_search(preds, valid, fires, cand, beam, max_lits, max_terms, max_term_lits):
    """Best program of each size 1..max_lits per latent (module docstring, step 2).
    Returns (literals int32 [L, M+1, M], terms int8 [L, M+1, M], tp, pp int64 [L, M+1])."""
    n_preds, n_words = preds.shape
    n_latents, k = cand.shape
    m = max_lits
    out_lits = np.full((n_latents, m + 1, m), -1, np.int32)
    out_terms = np.zeros((n_latents, m + 1, m), np.int8)
    out_tp = np.zeros((n_latents, m + 1), np.int64)
    out_pp = np.zeros((n_latents, m + 1), np.int64)
    for l in nb.prange(n_latents):
        y = fires[l]
        pos = 0
        for w in range(n_words):
            pos += ctpop(y[w])
        if pos == 0:
            continue
        prog = np.zeros((beam, n_words), np.uint64)  # closed terms, OR'd
        term = np.zeros((beam, n_words), np.uint64)  # the open term
        lits = np.full((beam, m), -1, np.int32)
        tids = np.zeros((beam, m), np.int8)
        n_terms = np.zeros(beam, np.int32)
        term_len = np.zeros(beam, np.int32)
        n_prog = np.zeros((beam, n_words), np.uint64)
        n_term = np.zeros((beam, n_words), np.uint64)
        n_lits = np.full((beam, m), -1, np.int32)
        n_tids = np.zeros((beam, m), np.int8)
        n_n_terms = np.zeros(beam, np.int32)
        n_term_len = np.zeros(beam, np.int32)
        size = beam * k * 2
        c_state = np.empty(size, np.int32)
        c_lit = np.empty(size, np.int32)
        c_new = np.empty(size, np.bool_)
        c_tp = np.empty(size, np.int64)
        c_pp = np.empty(size, np.int64)
        c_f1 = np.empty(size, np.float64)
        states = 1
        for depth in range(m):
            found = 0
            for s in range(states):
                can_and = n_terms[s] > 0 and term_len[s] < max_term_lits
                can_new = n_terms[s] < max_terms
                for j in range(k):
                    lit = cand[l, j]
                    if lit < 0:
                        continue
                    neg = lit + n_preds if lit < n_preds else lit - n_preds
                    used = False
                    clash = False
                    for q in range(depth):
                        if lits[s, q] == lit:
                            used = True
                        if lits[s, q] == neg and tids[s, q] == n_terms[s] - 1:
                            clash = True
                    if used:
                        continue
                    tp_and = 0
                    pp_and = 0
                    tp_new = 0
                    pp_new = 0
                    for w in range(n_words):
                        lw = _literal_word(preds, valid, n_preds, lit, w)
                        t_and = prog[s, w] | (term[s, w] & lw)
                        t_new = prog[s, w] | term[s, w] | lw
                        tp_and += ctpop(t_and & y[w])
                        pp_and += ctpop(t_and)
                        tp_new += ctpop(t_new & y[w])
                        pp_new += ctpop(t_new)
                    if can_and and not clash:
                        c_state[found] = s
                        c_lit[found] = lit
                        c_new[found] = False
                        c_tp[found] = tp_and
                        c_pp[found] = pp_and
                        c_f1[found] = 2.0 * tp_and / (pp_and + pos)
                        found += 1
                    if can_new:
                        c_state[found] = s
                        c_lit[found] = lit
                        c_new[found] = True
                        c_tp[found] = tp_new
                        c_pp[found] = pp_new
                        c_f1[found] = 2.0 * tp_new / (pp_new + pos)
                        found += 1
            if found == 0:
                break
            # keep the best `beam` expansions, one per distinct (tp, pp)
            kept = 0
            for b in range(beam):
                best = -1
                for i in range(found):
                    if c_f1[i] < 0:
                        continue
                    if best < 0 or c_f1[i] > c_f1[best]:
                        best = i
                if best < 0:
                    break
                for i in range(found):  # drop its duplicates (same counts: same rows)
                    if c_tp[i] == c_tp[best] and c_pp[i] == c_pp[best] and i != best:
                        c_f1[i] = -1.0
                c_f1[best] = -1.0
                s = c_state[best]
                lit = c_lit[best]
                for q in range(m):
                    n_lits[b, q] = lits[s, q]
                    n_tids[b, q] = tids[s, q]
                n_lits[b, depth] = lit
                if c_new[best]:
                    for w in range(n_words):
                        n_prog[b, w] = prog[s, w] | term[s, w]
                        n_term[b, w] = _literal_word(preds, valid, n_preds, lit, w)
                    n_n_terms[b] = n_terms[s] + 1
                    n_term_len[b] = 1
                else:
                    for w in range(n_words):
                        n_prog[b, w] = prog[s, w]
                        n_term[b, w] = term[s, w] & _literal_word(preds, valid, n_preds, lit, w)
                    n_n_terms[b] = n_terms[s]
                    n_term_len[b] = term_len[s] + 1
                n_tids[b, depth] = n_n_terms[b] - 1
                if b == 0:  # the best program with depth + 1 literals
                    for q in range(m):
                        out_lits[l, depth + 1, q] = n_lits[b, q]
                        out_terms[l, depth + 1, q] = n_tids[b, q]
                    out_tp[l, depth + 1] = c_tp[best]
                    out_pp[l, depth + 1] = c_pp[best]
                kept += 1
            states = kept
            prog, n_prog = n_prog, prog
            term, n_term = n_term, term
            lits, n_lits = n_lits, lits
            tids, n_tids = n_tids, tids
            n_terms, n_n_terms = n_n_terms, n_terms
            term_len, n_term_len = n_term_len, term_len
    return out_lits, out_terms, out_tp, out_pp


def choose(lits, terms, tp, pp, fires, margin: float) -> Programs:
    """The simplest program within `margin` of the best fitting F1 (module docstring, 3)."""
    n_latents, sizes, m = lits.shape
    f = fires[:, None].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where((tp > 0) & (f > 0), 2 * tp / (pp + f), 0.0)
    f1[:, 0] = 0.0
    best = f1.max(1)
    size = np.argmax(f1 >= best[:, None] - margin, axis=1).astype(np.int32)
    size[best <= 0] = 0
    pick = np.arange(n_latents)
    return Programs(
        literals=lits[pick, size].copy(),
        terms=terms[pick, size].copy(),
        size=size,
        fit_f1=f1[pick, size],
        best_fit_f1=best,
    )


@nb.njit(parallel=True, cache=True, nogil=True)
def evaluate(preds, valid, literals, terms, size):
    """uint64 [L, W]: where each latent's program holds (rows outside `valid` are 0)."""
    n_preds, n_words = preds.shape
    n_latents = literals.shape[0]
    out = np.zeros((n_latents, n_words), np.uint64)
    for l in nb.prange(n_latents):
        if size[l] == 0:
            continue
        term = valid.copy()
        current = terms[l, 0]
        for q in range(size[l]):
            if terms[l, q] != current:
                for w in range(n_words):
                    out[l, w] |= term[w]
                    term[w] = valid[w]
                current = terms[l, q]
            for w in range(n_words):
                term[w] &= _literal_word(preds, valid, n_preds, literals[l, q], w)
        for w in range(n_words):
            out[l, w] |= term[w]
    return out


def to_text(literals: np.ndarray, terms: np.ndarray, size: int, names: list[str]) -> str:
    """`a & b | !c`, terms in brackets when there are several."""
    if size == 0:
        return ""
    n = len(names)
    groups: dict[int, list[str]] = {}
    for q in range(size):
        code = int(literals[q])
        text = names[code] if code < n else negate(names[code - n])
        groups.setdefault(int(terms[q]), []).append(text)
    parts = [" & ".join(g) for g in groups.values()]
    if len(parts) == 1:
        return parts[0]
    return " | ".join(f"({p})" if " & " in p else p for p in parts)


def negate(name: str) -> str:
    """`!name`, or `x<v` for a threshold `x>=v`."""
    return name.replace(">=", "<", 1) if ">=" in name else "!" + name


def used_predicates(literals: np.ndarray, size: int, n_preds: int) -> list[int]:
    return [int(c) % n_preds for c in literals[:size]]
