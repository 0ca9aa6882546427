// The dictionary page: what it is, its metrics, scaling plots, concepts summary, and the
// latent list (sortable, searchable, keyboard navigable).
import { el, clear, hashLink, message, num, pct, section, signed } from "./dom.js";
import { drawScatter } from "./draw.js";
import { summary, DATA } from "./data.js";
import { matchConcepts, parseQuery } from "./search.js";

const PAGE = 100;

export const SORTS = {
  id: { label: "latent", key: (c, i) => i, desc: false },
  density: { label: "density", key: (c, i) => c.density[i], desc: true },
  auc: { label: "best concept AUC", key: (c, i) => c.auc[i], desc: true },
  f1: { label: "held-out F1", key: (c, i) => (c.f1 ? c.f1[i] : null), desc: true },
  effect: { label: "policy effect", key: (c, i) => c.effect[i], desc: true },
};

const METRICS = [
  ["l0", "L0"], ["fvu", "FVU"], ["explained_variance", "explained variance"], ["cosine", "cosine"],
  ["kl", "KL, spliced"], ["kl_score", "KL score"], ["agreement", "top-1 agreement"],
  ["agreement_score", "top-1 score"], ["value_mse", "value MSE"], ["value_mse_score", "value score"],
  ["dead_fraction", "dead (sweep's evaluation)"], ["dense_fraction", "dense (>10%)"], ["win_rate", "spliced vs clean"],
];

function dl(pairs) {
  return el("dl", { class: "facts" }, ...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
}

function describe(index, dict, cols) {
  const live = `${dict.live.toLocaleString("en-US")} of ${dict.width.toLocaleString("en-US")} fired in ` +
    `${index.store.rows.toLocaleString("en-US")} sampled positions`;
  const shape = dict.kind === "transcoder" ? `${dict.site} → ${dict.out_site}${dict.skip ? " (+ skip)" : ""}` : dict.site;
  return section("Dictionary", dl([
    ["kind", dict.kind === "sae" ? "sparse autoencoder" : `transcoder (block ${dict.block})`],
    ["site", shape],
    ["architecture", dict.architecture],
    ["latents", dict.width.toLocaleString("en-US")],
    ["k", dict.k],
    ["L1 coefficient", dict.l1_coeff],
    ["live", live],
    ["source", dict.path ? el("code", { text: dict.path }) : null],
  ]), ...dict.notes.map((n) => message("note", n)));
}

function metrics(index, dict) {
  const rows = METRICS.filter(([k]) => dict.metrics[k] !== undefined);
  if (!rows.length) return null;
  const never = dict.width - dict.live;
  // the two "dead" counts come from different positions: say which is which
  const dead = dict.metrics.dead_fraction === undefined ? null : el("p", { class: "muted dead-note", text:
    `dead: the share of latents that never fired in the sweep's held-out evaluation. In this export's sample of ` +
    `${index.store.rows.toLocaleString("en-US")} positions ${never.toLocaleString("en-US")} of ` +
    `${dict.width.toLocaleString("en-US")} (${pct(never / dict.width)}) never fired: other positions, another count.` });
  return section("Metrics (held-out)", el("dl", { class: "facts two" },
    ...rows.flatMap(([k, label]) => [el("dt", { text: label }), el("dd", { text: num(dict.metrics[k], 4) })])), dead);
}

function scaling(index, dict) {
  const sweep = index.sweeps.find((s) => s.id === dict.sweep);
  const tset = index.transcoder_sets.find((s) => s.id === dict.set);
  const owner = sweep || tset;
  if (!owner) return null;
  const parts = [];
  if (sweep) {
    const exported = new Map(index.dictionaries.filter((d) => d.sweep === sweep.id).map((d) => [d.id, d]));
    const points = Object.entries(sweep.scaling).map(([run, m]) => ({
      x: m.l0, y: m.fvu, label: run, group: m.k ? "topk" : "relu", current: run === dict.id,
      href: exported.has(run) ? hashLink({ dict: run }) : null,
    }));
    parts.push(el("figure", { class: "scatter-fig" }, drawScatter(points, { xlabel: "L0", ylabel: "FVU" }),
      el("figcaption", { text: `${sweep.id}: every run of the sweep (red: L1, blue: TopK; large: this one; click an exported run)` })));
  }
  if (tset && Object.keys(tset.metrics).length) {
    parts.push(el("p", { text: `All ${tset.layers.length} blocks replaced at once: ` +
      METRICS.filter(([k]) => tset.metrics[k] !== undefined).map(([k, l]) => `${l} ${num(tset.metrics[k], 4)}`).join(", ") }));
  }
  for (const p of owner.plots) {
    parts.push(el("a", { href: `${DATA}/${p}`, class: "plot", title: "open at full size" },
      el("img", { src: `${DATA}/${p}`, alt: p.split("/").pop(), loading: "lazy" })));
  }
  return section(sweep ? "Scaling" : "Transcoder set", el("div", { class: "plots" }, ...parts));
}

function concepts(dict, sum) {
  const c = sum.concepts;
  if (!c) {
    return section("Concepts", el("p", { class: "muted", text:
      "No concepts report for this dictionary: python -m sae.concepts DICT --store STORE writes one, then re-export." }));
  }
  const fams = Object.entries(c.families || {}).sort((a, b) => (b[1].best_auc ?? 0) - (a[1].best_auc ?? 0));
  const row = ([name, f]) => el("tr", {},
    el("td", { text: name }), el("td", { text: num(f.best_auc) }),
    el("td", {}, f.best_latent === null || f.best_latent === undefined ? "–" :
      el("a", { href: hashLink({ dict: dict.id, latent: f.best_latent }), text: `#${f.best_latent}` })),
    el("td", { text: f.best_concept || "" }));
  const head = el("thead", {}, el("tr", {}, ...["family", "best AUC", "latent", "concept"].map((t) => el("th", { text: t }))));
  return section("Concepts",
    dl([
      ["one concept", c.explained_fraction === null || c.explained_fraction === undefined ? null :
        `${pct(c.explained_fraction)} of live latents match a single concept at F1 ≥ ${c.explained_f1} ` +
        "on the report's own positions (in-sample; the held-out explanations are above)"],
      ["coverage", c.coverage ? `board ${num(c.coverage.board)}, legal moves ${num(c.coverage.legal)}` : null],
      ["reconstruction", c.reconstruction ? `board ${num(c.reconstruction.board)}, legal moves ${num(c.reconstruction.legal)}` : null],
      ["positions", c.positions],
    ]),
    el("details", {}, el("summary", { text: `${fams.length} concept families, best latent of each` }),
      el("div", { class: "table-wrap" }, el("table", { class: "families" }, head, el("tbody", {}, ...fams.map(row)))),
      el("p", { class: "muted" }, "Families are defined in the ", el("a", { href: "#glossary", text: "glossary" }), ".")));
}

function share(s) {
  return s ? `${pct(s.explained_fraction)} (${s.explained} of ${s.live} live)` : null;
}

// The held-out explanations (python -m sae.explain): fractions beside the baselines.
function explanations(sum) {
  const x = sum.explanations;
  if (!x) {
    return section("Explanations", el("p", { class: "muted", text:
      "No held-out explanations for this dictionary: python -m sae.explain DICT --store STORE writes them, then re-export. " +
      "Until then every latent reads unexplained." }));
  }
  const b = x.baselines || {};
  const pos = x.positions || {};
  return section("Explanations (held-out)",
    dl([
      ["explained", share(x.summary)],
      ["neurons", b.neurons ? `${share(b.neurons)} of ${b.neurons.site}` : null],
      ["random net", share(b.random_net)],
      ["endgame only", x.summary ? `${x.summary.endgame_only} more within the solved endgames` : null],
      ["rule", x.rule ? `${x.rule.explained}; support ≥ ${x.rule.min_support}; ${x.rule.interval}` : null],
      ["positions", pos.rows ? `${pos.fit} to choose programs, ${pos.score} from other games to judge them` : null],
    ]));
}

function labelCell(c, i) {
  if (c.label[i]) return el("td", { class: "label", text: c.label[i] });
  if (!c.guess || !c.guess[i]) return el("td", { class: "label unexplained", text: c.density[i] ? "unexplained" : "" });
  return el("td", { class: "label unexplained" }, "unexplained · ",
    el("span", { class: "guess", text: c.guess[i] }), ` (F1 ${num(c.f1[i])})`);
}

function matchCell(m) {
  if (!m) return el("td");
  return el("td", { class: "match" }, el("span", { class: "label", text: m.name }), el("span", { class: "muted", text: ` (${m.via})` }));
}

export class LatentList {
  constructor(app, index, dict, state) {
    Object.assign(this, { app, index, dict, state, selected: 0 });
  }

  async render() {
    const { app, index, dict } = this;
    const sum = await summary(dict);
    this.cols = sum.columns;
    clear(app);
    app.append(el("h1", { class: "title", text: dict.id }),
      el("div", { class: "overview" }, describe(index, dict, this.cols), metrics(index, dict), explanations(sum), concepts(dict, sum)));
    this.table = el("tbody");
    this.count = el("p", { class: "count", role: "status" });
    this.pager = el("div", { class: "pager" });
    const only = this.state.only === "explained";
    const sorts = el("div", { class: "sorts" }, "sort by ", ...Object.entries(SORTS).map(([k, s]) =>
      el("a", { href: hashLink({ dict: dict.id, sort: k, q: this.state.q, only: this.state.only }), class: k === this.sortKey() ? "on" : "", text: s.label })),
      " · ", el("a", { href: hashLink({ dict: dict.id, sort: this.state.sort, q: this.state.q, only: only ? null : "explained" }),
        class: only ? "on" : "", id: "only-explained", text: "explained only" }));
    // a column with nothing in it (no concepts report: no AUC) is left out, not shown empty
    this.hasAuc = this.cols.auc.some((v) => v !== null && v !== undefined);
    this.query = parseQuery(this.state.q);
    this.matching = this.query && this.query.kind === "concept";
    const names = ["latent", "density", "max act", "policy effect", "value Δ",
      this.hasAuc ? "best AUC" : null, "explanation (held-out)", this.matching ? "matched" : null].filter(Boolean);
    const head = el("thead", {}, el("tr", {}, ...names.map((t) => el("th", { text: t }))));
    const badSort = this.state.sort && !SORTS[this.state.sort] ? message("note",
      `Unknown sort “${this.state.sort}”: sorted by ${SORTS[this.sortKey()].label}. ` +
      `Sorts: ${Object.keys(SORTS).join(", ")}.`) : null;
    app.append(section("Latents", badSort, sorts, this.count,
      el("div", { class: "table-wrap" }, el("table", { class: "latents" }, head, this.table)), this.pager));
    const plots = scaling(index, dict);
    if (plots) app.append(plots);
    this.filter();
    document.body.dataset.view = "list";
  }

  sortKey() {
    return SORTS[this.state.sort] ? this.state.sort : "density";
  }

  filter() {
    const c = this.cols;
    const q = this.query;
    let ids;
    this.matches = new Map();
    if (q && q.kind === "concept") {
      const found = matchConcepts(c, q.words, this.index.board_size);
      for (const m of found) this.matches.set(m.id, m);
      ids = found.map((m) => m.id);
    } else ids = [...Array(c.density.length).keys()];
    if (this.state.only === "explained") ids = ids.filter((i) => c.label[i]);
    const s = SORTS[this.sortKey()];
    const key = (i) => s.key(c, i);
    ids.sort((a, b) => {
      const ka = key(a), kb = key(b);
      if (ka === null || ka === undefined) return kb === null || kb === undefined ? a - b : 1;
      if (kb === null || kb === undefined) return -1;
      return (s.desc ? kb - ka : ka - kb) || a - b;
    });
    this.ids = ids;
    this.page = 0;
    this.selected = 0;
    const noLabels = q && q.kind === "concept" && !c.label.some(Boolean) && !(c.guess || []).some(Boolean);
    const which = this.state.only === "explained" ? "explained latents" : "latents";
    this.count.textContent = q && q.kind === "concept"
      ? `${ids.length} ${which} match “${this.state.q}”` + (noLabels ? " (this dictionary has no concept labels)" : "")
      : `${ids.length} ${which}, by ${s.label}`;
    this.draw();
  }

  draw() {
    const c = this.cols;
    clear(this.table);
    const start = this.page * PAGE;
    const shown = this.ids.slice(start, start + PAGE);
    shown.forEach((i, row) => {
      const href = hashLink({ dict: this.dict.id, latent: i });
      const tr = el("tr", { class: row === this.selected ? "selected" : "", dataset: { latent: i },
        on: { click: (e) => { if (e.target.tagName !== "A") location.hash = href; } } },
        el("td", {}, el("a", { href, text: `#${i}` })),
        el("td", { text: c.density[i] ? pct(c.density[i]) : "never" }),
        el("td", { text: num(c.max[i]) }),
        el("td", { text: c.effect[i] === null ? "–" : pct(c.effect[i]) }),
        el("td", { text: signed(c.value[i]) }),
        this.hasAuc ? el("td", { text: num(c.auc[i]) }) : null,
        labelCell(c, i),
        this.matching ? matchCell(this.matches.get(i)) : null);
      this.table.append(tr);
    });
    clear(this.pager);
    const pages = Math.max(1, Math.ceil(this.ids.length / PAGE));
    this.pager.append(
      el("button", { type: "button", disabled: this.page === 0 ? "" : null, on: { click: () => this.turn(-1) }, text: "‹ previous" }),
      ` page ${this.page + 1} of ${pages} `,
      el("button", { type: "button", disabled: this.page + 1 >= pages ? "" : null, on: { click: () => this.turn(1) }, text: "next ›" }));
  }

  turn(step) {
    const pages = Math.ceil(this.ids.length / PAGE);
    const page = Math.min(Math.max(0, this.page + step), pages - 1);
    if (page !== this.page) {
      this.page = page;
      this.selected = 0;
      this.draw();
    }
  }

  move(step) {
    const rows = this.table.children;
    if (!rows.length) return;
    const next = this.selected + step;
    if (next < 0 && this.page > 0) { this.turn(-1); this.selected = rows.length - 1; this.draw(); return; }
    if (next >= rows.length && (this.page + 1) * PAGE < this.ids.length) { this.turn(1); return; }
    rows[this.selected]?.classList.remove("selected");
    this.selected = Math.min(Math.max(0, next), rows.length - 1);
    rows[this.selected].classList.add("selected");
    rows[this.selected].scrollIntoView({ block: "nearest" });
  }

  key(e) {
    if (e.key === "j" || e.key === "ArrowDown") this.move(1);
    else if (e.key === "k" || e.key === "ArrowUp") this.move(-1);
    else if (e.key === "n" || e.key === "PageDown") this.turn(1);
    else if (e.key === "p" || e.key === "PageUp") this.turn(-1);
    else if (e.key === "Enter") {
      const row = this.table.children[this.selected];
      if (row) location.hash = hashLink({ dict: this.dict.id, latent: row.dataset.latent });
    } else return false;
    return true;
  }
}
