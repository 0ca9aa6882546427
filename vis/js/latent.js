// A latent's page: statistics, explanation, histogram, effect on play, example boards,
// related latents and (transcoders) virtual-weight neighbours.
import { el, clear, hashLink, message, num, pct, section, signed } from "./dom.js";
import { colorBar, drawBoard, drawHeatmap, drawHistogram, pp, squareName } from "./draw.js";
import { boardsOrError, labelsOf, latent, summary } from "./data.js";

// Effect heatmaps share one colour scale by default, so a faint effect looks faint on every
// page; `&scale=latent` stretches the colours to this latent's largest change instead.
export const FIXED_SCALE = 0.1; // 10 percentage points

const LEGEND = () => el("p", { class: "muted legend", text:
  "Discs as on the board; small dots: legal moves of the side to move; gold dots: moves the exact solver finds " +
  "optimal (positions with ≤ 14 empty squares); red square: the agent's move (raw policy)." });

function stat(label, value) {
  return el("div", { class: "stat" }, el("span", { class: "stat-label", text: label }), el("span", { class: "stat-value", text: value }));
}

function boardGrid(index, list, allBoards, cls = "") {
  if (!allBoards) return el("p", { class: "muted", text: "(boards not available)" });
  return el("div", { class: `boards ${cls}` }, ...list.map(([b, act]) =>
    drawBoard(allBoards[b], { activation: act, id: b })));
}

async function neighbourList(index, dictId, pairs, scoreLabel) {
  if (!pairs || !pairs.length) return el("p", { class: "muted", text: "none" });
  const items = [];
  for (const p of pairs) {
    const [target, id, score] = p.length === 3 ? p : [dictId, p[0], p[1]];
    const labels = await labelsOf(index, target);
    const label = labels ? labels[id] : null;
    const name = target === dictId ? `#${id}` : `${target} #${id}`;
    items.push(el("li", {},
      el("a", { href: hashLink({ dict: target, latent: id }), text: name }),
      el("span", { class: "score", text: ` ${scoreLabel} ${num(score)}` }),
      label ? el("span", { class: "label", text: ` ${label}` }) : null));
  }
  return el("ol", { class: "neighbours" }, ...items);
}

function interval([v, lo, hi]) {
  return v === null || v === undefined ? "–" : `${num(v)} [${num(lo)}, ${num(hi)}]`;
}

// The held-out explanation (python -m sae.explain): the program shown as the latent's meaning
// only when it holds; otherwise "unexplained" with the best guess and its held-out scores.
function heldOut(entry, sum) {
  const x = entry.explanation;
  const rule = sum.explanations && sum.explanations.rule;
  if (!x) {
    const why = sum.explanations ? "The latent never fired on the explained positions." :
      "No held-out explanations for this dictionary (python -m sae.explain DICT, then re-export).";
    return section("Explanation (held-out)", el("p", { class: "muted unexplained", text: `Unexplained. ${why}` }));
  }
  const s = x.support || {};
  const head = x.explained
    ? el("p", { class: "explanation" }, "Fires when ", el("strong", { class: "label program", text: x.program }),
      ` (on ${x.scope_text})`)
    : el("p", { class: "explanation unexplained" }, "Unexplained. Best guess: ",
      el("span", { class: "label program", text: x.program || "none" }),
      x.judged ? ` — held-out F1 ${num(x.f1[0])}, below the bar` :
        " — not judged: too few firings, silences or program matches among the scoring positions");
  const facts = el("dl", { class: "facts two" },
    ...[["held-out F1", interval(x.f1)], ["precision", interval(x.precision)], ["recall", interval(x.recall)],
      ["R² of the size", num(x.r2)], ["F1 where chosen", num(x.fit_f1)], ["literals", x.literals],
      ["support", `fires ${s.fires}, silent ${s.silent}; program holds ${s.holds}, fails ${s.fails}`]]
      .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  return section("Explanation (held-out)", head,
    el("p", { class: "muted" }, "Names such as mine@c3 or keeps_outcome@b2 are defined in the ",
      el("a", { href: "#glossary", text: "glossary" }), "."),
    x.does ? el("p", { class: "does" }, el("strong", { text: "Does: " }), x.does) : null, facts,
    rule ? el("p", { class: "muted", text: `Chosen on half of the held-out games, judged on the other; ${rule.explained}. ` +
      `Intervals: ${rule.interval}.` }) : null);
}

function explanation(entry) {
  const c = entry.concepts;
  if (!c) return section("Top concepts", el("p", { class: "muted", text: "No concepts report for this dictionary." }));
  const parts = [];
  if (c.top.length) {
    parts.push(el("table", { class: "top-concepts" }, el("tbody", {}, ...c.top.map(([name, auc]) =>
      el("tr", {}, el("td", { class: "label", text: name }), el("td", { text: num(auc) }),
        el("td", {}, el("span", { class: "aucbar", style: { width: `${Math.max(0, (auc - 0.5) * 200).toFixed(0)}px` } })))))));
  }
  if (!parts.length) parts.push(el("p", { class: "muted", text: "The latent never fired on the report's positions." }));
  return section("Top concepts by AUC (concepts report)", ...parts);
}

function effectPanel(index, dict, e, scaleMode, back) {
  const biggest = e.policy.reduce((b, v, i) => (Math.abs(v) > Math.abs(e.policy[b]) ? i : b), 0);
  const own = Math.max(1e-9, Math.abs(e.policy[biggest]));
  const scale = scaleMode === "latent" ? own : FIXED_SCALE;
  const here = (mode) => hashLink({ ...back.params, latent: back.id, scale: mode });
  const toggle = el("p", { class: "scale-toggle" }, "colour scale: ",
    scaleMode === "latent" ? el("a", { href: here(null), text: `fixed ±${num(100 * FIXED_SCALE)} pp` }) :
      el("strong", { text: `fixed ±${num(100 * FIXED_SCALE)} pp` }), " · ",
    scaleMode === "latent" ? el("strong", { text: `this latent's largest change (±${num(100 * own, 2)} pp)` }) :
      el("a", { href: here("latent"), text: `this latent's largest change (±${num(100 * own, 2)} pp)` }));
  return section("Effect on play (decoder direction through the rest of the net)",
    el("div", { class: "effect" }, drawHeatmap(e.policy, index.board_size, scale), colorBar(scale),
      el("div", {},
        stat("value change", signed(e.value)),
        stat("policy change (TV)", pct(e.tv)),
        stat("added strength", num(e.strength)),
        el("p", { class: "muted", text: `Mean change of each move's probability (percentage points) when the latent's decoder ` +
          `direction × ${num(e.strength)} is added at ${dict.out_site}, over ${index.settings.effect_positions} positions. ` +
          `Red: played more, blue: less. Largest change: ${squareName(biggest, index.board_size)} ${pp(e.policy[biggest])} pp.` }),
        toggle)));
}

// back: {params, id} where params is the list state (`u` and "←" return to it).
export async function renderLatent(app, index, dict, id, { scale = null, back = null } = {}) {
  const entry = await latent(dict, id);
  const sum = await summary(dict);
  clear(app);
  const list = back || { dict: dict.id };
  const inRange = (i) => Number.isInteger(i) && i >= 0 && i < dict.width;
  const nav = el("nav", { class: "latent-nav" },
    el("a", { href: hashLink(list), text: `← ${dict.id}`, class: "back" }),
    inRange(id - 1) && inRange(id) ? el("a", { href: hashLink({ dict: dict.id, latent: id - 1 }), text: `‹ #${id - 1}` }) : null,
    inRange(id + 1) ? el("a", { href: hashLink({ dict: dict.id, latent: id + 1 }), text: `#${id + 1} ›` }) : null);
  if (!entry) {
    app.append(nav, message("error",
      `Latent ${id} does not exist in ${dict.id}: it has ${dict.width.toLocaleString("en-US")} latents (0–${dict.width - 1}).`));
    document.body.dataset.view = "missing";
    return;
  }
  const label = sum.columns.label[id];  // set only where the held-out explanation holds
  app.append(nav, el("h1", { class: "title" }, `${dict.id} · latent #${id}`,
    label ? el("span", { class: "label title-label", text: ` ${label}` })
      : el("span", { class: "muted title-unexplained", text: " unexplained" })));
  const got = entry.top ? await boardsOrError(index) : { boards: null };
  const all = got.boards;
  const stats = el("div", { class: "stats" },
    stat("density", entry.density ? pct(entry.density, 3) : "never fired"),
    stat("mean when firing", num(entry.mean)),
    stat("max", num(entry.max)),
    stat("positions sampled", index.store.rows.toLocaleString("en-US")));
  app.append(stats);
  if (got.error) app.append(message("note", got.error));
  if (!entry.top) {
    app.append(message("note", `Latent ${id} never fired in the ${index.store.rows.toLocaleString("en-US")} sampled positions: no examples, histogram or effect.`));
  }
  app.append(heldOut(entry, sum), explanation(entry));
  if (entry.hist) {
    app.append(section("Activation histogram (where it fires)",
      drawHistogram(entry.hist, 0, entry.max, { xlabel: "activation" })));
  }
  if (entry.effect) app.append(effectPanel(index, dict, entry.effect, scale, { params: { dict: dict.id }, id }));
  if (entry.top) {
    app.append(section(`Top activations (${entry.top.length} distinct positions)`, LEGEND(), boardGrid(index, entry.top, all, "top")));
    app.append(section("Quantile bins (distinct positions ranked by activation, lowest first)",
      el("div", { class: "qbins" }, ...entry.quantiles.map(([lo, hi, ex], i) =>
        el("div", { class: "qbin" }, el("h3", { text: `bin ${i + 1}: ${num(lo)} – ${num(hi)}` }), boardGrid(index, ex, all))))));
  }
  const related = el("div", { class: "related" },
    el("div", {}, el("h3", { text: "Similar (decoder cosine)" }), await neighbourList(index, dict.id, entry.similar, "cos")),
    el("div", {}, el("h3", { text: "Co-firing (Jaccard)" }), await neighbourList(index, dict.id, entry.cofiring, "J")));
  app.append(section("Related latents", related));
  if (entry.upstream || entry.downstream) {
    app.append(section("Virtual weights (transcoder circuit)", el("div", { class: "related" },
      el("div", {}, el("h3", { text: "Upstream" }), await neighbourList(index, dict.id, entry.upstream, "w")),
      el("div", {}, el("h3", { text: "Downstream" }), await neighbourList(index, dict.id, entry.downstream, "w")))));
  }
  document.body.dataset.view = "latent";
}

export function latentKeys(e, dict, id, back = null) {
  const go = (i) => { if (i >= 0 && i < dict.width) location.hash = hashLink({ dict: dict.id, latent: i }); };
  if (e.key === "ArrowRight" || e.key === "]") go(id + 1);
  else if (e.key === "ArrowLeft" || e.key === "[") go(id - 1);
  else if (e.key === "u" || e.key === "Escape") location.hash = hashLink(back || { dict: dict.id });
  else return false;
  return true;
}
