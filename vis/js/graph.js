// Attribution graphs of a transcoder set (circuit-tracer's JSON schema): a list per set and a
// page per graph for reading circuits: labelled nodes by layer, hover to light a node's edges
// and list its strongest inputs and outputs, click for the side panel, pin nodes and group
// them into supernodes. The view state lives in the URL under circuit-tracer's qParams names
// (pinnedIds, supernodes, clickedId), so a link reopens the same reading.
import { el, clear, hashLink, message, num, section, svg } from "./dom.js";
import { drawBoard } from "./draw.js";
import { boardsOrError, fetchJSON, labelsOf } from "./data.js";

const IN_LINKS = 6; // incoming links drawn per node at rest; hover draws all of a node's
const LIST = 8; // strongest inputs / outputs listed in the side panel
const LABEL_CHARS = 26;

function kindOf(node) {
  const t = node.feature_type || "";
  if (/transcoder/i.test(t)) return "feature";
  if (/error/i.test(t)) return "error";
  if (/logit/i.test(t)) return "logit";
  if (/bias/i.test(t)) return "bias";
  return "input";
}

const KIND_NAMES = {
  feature: "transcoder latent",
  error: "MLP error (what the transcoder misses)",
  logit: "target (logit)",
  bias: "bias (constant input)",
  input: "input feature",
};

// circuit-tracer's feature index: under schema_version >= 1 it is the Cantor pairing of
// (layer, index). Our files also carry the raw index as `latent`; a file whose `feature`
// does not unpair to its own layer predates the pairing and holds the raw index.
export function cantorUnpair(z) {
  const w = Math.floor((Math.sqrt(8 * z + 1) - 1) / 2);
  const y = z - (w * w + w) / 2;
  return [w - y, y];
}

export function latentOf(node, schema) {
  if (Number.isInteger(node.latent)) return node.latent;
  const f = Number(node.feature);
  if (!Number.isInteger(f) || f < 0) return null;
  if (schema >= 1) {
    const [layer, idx] = cantorUnpair(f);
    if (layer === Number(node.layer)) return idx;
  }
  return f;
}

// Row of a node: inputs at the bottom, logits at the top, the rest by layer.
function rowOf(node, nLayers) {
  const k = kindOf(node);
  if (k === "input") return 0;
  if (k === "logit") return nLayers + 1;
  const layer = Number(node.layer);
  return Number.isFinite(layer) ? Math.min(nLayers, Math.max(0, layer)) + 1 : 0;
}

function short(text, n = LABEL_CHARS) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function weight(w) {
  return `${w > 0 ? "+" : ""}${num(w)}`;
}

export function renderGraphList(app, index, set) {
  clear(app);
  app.append(el("h1", { class: "title", text: `${set.id}: attribution graphs` }));
  if (!set.graphs.length) {
    app.append(message("note", index.notes.find((n) => n.includes("attribution")) ||
      "This transcoder set has no attribution graphs in this export."));
  }
  const rows = set.graphs.map((g, i) => el("tr", {},
    el("td", {}, el("a", { href: hashLink({ set: set.id, graph: i }), text: g.slug })),
    el("td", { text: g.target ?? "–" }), el("td", { text: g.nodes }), el("td", { text: g.links }),
    el("td", { text: num(g.scores.replacement) }), el("td", { text: num(g.scores.completeness) })));
  app.append(section("Graphs", el("div", { class: "table-wrap" }, el("table", { class: "graphs" },
    el("thead", {}, el("tr", {}, ...["graph", "target", "nodes", "links", "replacement", "completeness"].map((t) => el("th", { text: t })))),
    el("tbody", {}, ...rows)))));
  document.body.dataset.view = "graphs";
}

export class GraphView {
  constructor(app, index, set, i) {
    Object.assign(this, { app, index, set, i, entry: set.graphs[i] });
  }

  // -- state in the URL (circuit-tracer's qParams names) ---------------------------------
  readState(p) {
    this.pinned = new Set((p.get("pinnedIds") || "").split(",").filter((id) => this.byId.has(id)));
    let groups = [];
    try {
      groups = JSON.parse(p.get("supernodes") || "[]");
    } catch {
      groups = [];
    }
    this.supernodes = (Array.isArray(groups) ? groups : [])
      .filter((g) => Array.isArray(g) && g.length > 1)
      .map(([label, ...ids]) => [String(label), ...ids.map(String).filter((id) => this.byId.has(id))])
      .filter((g) => g.length > 1);
    const clicked = p.get("clickedId");
    this.clicked = clicked && this.byId.has(clicked) ? clicked : null;
  }

  writeState() {
    const params = { set: this.set.id, graph: this.i };
    if (this.pinned.size) params.pinnedIds = [...this.pinned].join(",");
    if (this.supernodes.length) params.supernodes = JSON.stringify(this.supernodes);
    if (this.clicked) params.clickedId = this.clicked;
    // replaceState: the page stays (no hashchange); the URL reopens this reading
    history.replaceState(null, "", hashLink(params));
    document.body.dataset.routed = location.hash;
  }

  // -- names ------------------------------------------------------------------------------
  name(node) {
    const k = kindOf(node);
    if (k === "feature") return `L${node.layer} #${latentOf(node, this.schema)}`;
    if (k === "error") return `error, block ${node.layer}`;
    if (k === "logit") return `target ${this.graph.metadata?.target ?? ""}`.trim();
    return node.clerp || node.node_id;
  }

  label(node) {
    const k = kindOf(node);
    if (k === "feature") {
      const labels = this.labels[Number(node.layer)];
      return node.clerp || (labels ? labels[latentOf(node, this.schema)] || "" : "");
    }
    if (k === "logit") return node.clerp || "";
    return "";
  }

  href(node) {
    const dict = this.set.layers[Number(node.layer)];
    const latent = latentOf(node, this.schema);
    return kindOf(node) === "feature" && dict && latent !== null ? hashLink({ dict, latent }) : null;
  }

  // -- page -------------------------------------------------------------------------------
  async render(p) {
    const { app, index, set, entry } = this;
    clear(app);
    const back = el("nav", { class: "latent-nav" }, el("a", { href: hashLink({ set: set.id }), text: `← ${set.id} graphs` }));
    if (!entry) {
      app.append(back, message("error", `Graph ${this.i} does not exist in ${set.id} (it has ${set.graphs.length}).`));
      document.body.dataset.view = "missing";
      return;
    }
    const graph = (this.graph = await fetchJSON(entry.file));
    this.schema = Number(graph.metadata?.schema_version ?? 0);
    this.labels = await Promise.all(set.layers.map((id) => (id ? labelsOf(index, id) : null)));
    this.byId = new Map(graph.nodes.map((node) => [node.node_id, node]));
    this.inputs = new Map();
    this.outputs = new Map();
    for (const l of graph.links) {
      if (!this.byId.has(l.source) || !this.byId.has(l.target)) continue;
      if (!this.inputs.has(l.target)) this.inputs.set(l.target, []);
      if (!this.outputs.has(l.source)) this.outputs.set(l.source, []);
      this.inputs.get(l.target).push(l);
      this.outputs.get(l.source).push(l);
    }
    const byWeight = (a, b) => Math.abs(b.weight) - Math.abs(a.weight);
    for (const m of [this.inputs, this.outputs]) for (const ls of m.values()) ls.sort(byWeight);
    this.readState(p);

    app.append(back, el("h1", { class: "title", text: `${set.id} · graph ${entry.slug}` }));
    const head = [];
    if (entry.board !== null && entry.board !== undefined) {
      const got = await boardsOrError(index);
      if (got.boards) head.push(drawBoard(got.boards[entry.board], { id: entry.board }));
      else app.append(message("note", got.error));
    }
    head.push(el("dl", { class: "facts graph-facts" },
      el("dt", { text: "target" }), el("dd", { class: "target", text: entry.target ?? "–" }),
      el("dt", { text: "replacement score" }), el("dd", { text: num(entry.scores.replacement) }),
      el("dt", { text: "completeness" }), el("dd", { text: num(entry.scores.completeness) }),
      el("dt", { text: "nodes / links" }), el("dd", { text: `${entry.nodes} / ${entry.links}` })));
    head.push(el("p", { class: "muted graph-help", text:
      "Hover a node to light its edges and list its strongest inputs and outputs; click to keep it in the panel; " +
      "pin nodes (button, or p) to build a subgraph and group pinned nodes into supernodes. The URL keeps " +
      "pinnedIds, supernodes and clickedId (circuit-tracer's names). Replacement score: of the influence reaching " +
      "the target from the board and from error nodes, the share from the board; completeness: the " +
      "influence-weighted share of each node's input that is not error." }));
    app.append(el("div", { class: "graph-head" }, ...head));

    this.panel = el("aside", { class: "graph-panel panel", "aria-live": "polite" });
    this.status = el("p", { class: "muted find-status", role: "status" });
    const drawing = this.draw();
    app.append(section("Graph",
      el("p", { class: "muted", text: "Rows: input features at the bottom, each block's transcoder latents (blue) and " +
        "error (grey), the target move at the top; biases (light squares) sit below their block's row, off it. " +
        "Within a row the most influential nodes come first. Links: red excites, blue inhibits; at rest each " +
        `node's ${IN_LINKS} strongest inputs are drawn.` }),
      this.status,
      el("div", { class: "graph-layout" }, el("div", { class: "graph-wrap" }, drawing), this.panel)));
    this.pinnedSection = section("Pinned subgraph");
    app.append(this.pinnedSection, this.table());
    this.showPanel();
    this.refreshPins();
    document.body.dataset.view = "graph";
  }

  // -- the drawing --------------------------------------------------------------------------
  draw() {
    const graph = this.graph;
    const n = this.set.layers.length;
    const rows = new Map();
    const biases = [];
    for (const node of graph.nodes) {
      if (kindOf(node) === "bias") { biases.push(node); continue; }
      const r = rowOf(node, n);
      if (!rows.has(r)) rows.set(r, []);
      rows.get(r).push(node);
    }
    const widest = Math.max(1, ...[...rows.values()].map((r) => r.length));
    const padL = 70, padR = 30, rowH = 110, top = 30, bottom = 80;
    const width = Math.max(960, padL + padR + widest * 30);
    const height = top + bottom + (n + 1) * rowH;
    const rowY = (r) => height - bottom - r * rowH;
    const at = (this.at = new Map());
    for (const [r, nodes] of rows) {
      // circuit-tracer's influence is a cumulative share: the smallest is the most important
      nodes.sort((a, b) => (a.influence ?? -1) - (b.influence ?? -1));
      nodes.forEach((node, j) => at.set(node.node_id, [padL + ((j + 0.5) * (width - padL - padR)) / nodes.length, rowY(r)]));
    }
    // biases off the row: in the left margin, half-way below their block's row, so their links
    // rise to the row instead of running along it
    biases.forEach((node) => {
      const r = node.layer === "E" ? 0 : Math.min(n, Number(node.layer)) + 1;
      at.set(node.node_id, [padL - 24, rowY(r) + rowH * 0.45]);
    });
    const root = (this.svg = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph", role: "img" }));
    for (let r = 0; r <= n + 1; r++) {
      const name = r === 0 ? "input" : r === n + 1 ? "output" : `block ${r - 1}`;
      root.append(svg("line", { x1: padL - 8, x2: width - 4, y1: rowY(r), y2: rowY(r), class: "row-line" }));
      root.append(svg("text", { x: 2, y: rowY(r) - 6, class: "tick", text: name }));
    }
    const linkGroup = svg("g", { class: "links" });
    this.hot = svg("g", { class: "hot-links" });
    const shown = [...this.inputs.values()].flatMap((ls) => ls.slice(0, IN_LINKS));
    this.top = Math.max(1e-9, ...graph.links.map((l) => Math.abs(l.weight)));
    for (const l of shown) linkGroup.append(this.line(l, "link"));
    root.append(linkGroup, this.hot);
    this.dots = new Map();
    for (const node of graph.nodes) {
      const [x, y] = at.get(node.node_id);
      const k = kindOf(node);
      const g = svg("g", { class: `node-g ${k}`, dataset: { node: node.node_id }, tabindex: 0, role: "button",
        "aria-label": `${this.name(node)} ${this.label(node)}`.trim() });
      const shape = k === "bias"
        ? svg("rect", { x: x - 5, y: y - 5, width: 10, height: 10, class: `node ${k}` })
        : svg("circle", { cx: x, cy: y, r: k === "feature" ? 7 : 5.5, class: `node ${k}` });
      g.append(shape);
      g.append(svg("title", { text: `${this.name(node)} ${this.label(node)}`.trim() }));
      const text = [this.name(node), this.label(node)].filter(Boolean).join(" · ");
      g.append(svg("text", { x: x + 5, y: y + 13, class: "node-label", transform: `rotate(35 ${x + 5} ${y + 13})`, text: short(text) }));
      g.addEventListener("mouseenter", () => this.hover(node.node_id));
      g.addEventListener("mouseleave", () => this.hover(null));
      g.addEventListener("focus", () => this.hover(node.node_id));
      g.addEventListener("blur", () => this.hover(null));
      g.addEventListener("click", (e) => (e.shiftKey ? this.togglePin(node.node_id) : this.click(node.node_id)));
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.click(node.node_id); }
      });
      this.dots.set(node.node_id, g);
      root.append(g);
    }
    return root;
  }

  line(l, cls) {
    const a = this.at.get(l.source), b = this.at.get(l.target);
    if (!a || !b) return svg("g");
    return svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: `${cls} ${l.weight >= 0 ? "pos" : "neg"}`,
      "stroke-width": (0.5 + (3 * Math.abs(l.weight)) / this.top).toFixed(2), dataset: { source: l.source, target: l.target } });
  }

  // -- hover, click, panel ----------------------------------------------------------------
  hover(id) {
    this.hovered = id;
    clear(this.hot);
    for (const g of this.dots.values()) g.classList.remove("hot", "near");
    this.svg.classList.toggle("dim", Boolean(id));
    if (id) {
      const ins = this.inputs.get(id) || [], outs = this.outputs.get(id) || [];
      for (const l of [...ins, ...outs]) {
        this.hot.append(this.line(l, "link hot"));
        this.dots.get(l.source === id ? l.target : l.source)?.classList.add("near");
      }
      this.dots.get(id)?.classList.add("hot");
    }
    this.showPanel();
    document.body.dataset.hovered = id || "";
  }

  click(id) {
    this.clicked = this.clicked === id ? null : id;
    for (const [nid, g] of this.dots) g.classList.toggle("clicked", nid === this.clicked);
    this.writeState();
    this.showPanel();
  }

  edgeList(links, side) {
    if (!links.length) return el("p", { class: "muted", text: "none" });
    return el("ol", { class: `edges ${side}` }, ...links.slice(0, LIST).map((l) => {
      const other = this.byId.get(side === "inputs" ? l.source : l.target);
      return el("li", { dataset: { node: other.node_id, weight: l.weight } },
        el("span", { class: `w ${l.weight >= 0 ? "pos" : "neg"}`, text: weight(l.weight) }), " ",
        el("button", { type: "button", class: "linkish", text: this.name(other),
          on: { click: () => this.click(other.node_id) } }),
        this.label(other) ? el("span", { class: "label", text: ` ${short(this.label(other), 40)}` }) : null);
    }));
  }

  showPanel() {
    const id = this.hovered || this.clicked;
    // redraw only when what it shows changes: a focus change between a button's mousedown and
    // mouseup must not swap the button out (the click would be lost)
    const key = `${id}|${Boolean(this.hovered && this.hovered !== this.clicked)}|${this.pinned.has(id)}`;
    if (key === this.panelKey) return;
    this.panelKey = key;
    const panel = clear(this.panel);
    if (!id) {
      panel.append(el("h2", { text: "Node" }), el("p", { class: "muted", text: "Hover or click a node." }));
      return;
    }
    const node = this.byId.get(id);
    const href = this.href(node);
    const ins = this.inputs.get(id) || [], outs = this.outputs.get(id) || [];
    panel.dataset.node = id;
    panel.append(el("div", { class: "panel-body" }, // el() drops the null parts; append() would print "null"
      el("h2", {}, this.name(node), this.hovered && this.hovered !== this.clicked ? el("span", { class: "muted", text: " (hover)" }) : null),
      this.label(node) ? el("p", { class: "label panel-label", text: this.label(node) }) : null,
      el("dl", { class: "facts" },
        el("dt", { text: "kind" }), el("dd", { text: `${KIND_NAMES[kindOf(node)]}${kindOf(node) === "input" ? "" : `, layer ${node.layer}`}` }),
        el("dt", { text: "activation" }), el("dd", { text: num(node.activation ?? node.logit ?? null) }),
        el("dt", { text: "influence" }), el("dd", { text: node.influence === null || node.influence === undefined ? "– (the target)" :
          `${num(node.influence)}: the nodes ranked at or above it hold this share of all influence on the target (smaller = more important)` }),
        el("dt", { text: "node id" }), el("dd", {}, el("code", { text: id }))),
      el("div", { class: "panel-actions" },
        el("button", { type: "button", class: "pin", text: this.pinned.has(id) ? "unpin" : "pin", on: { click: () => this.togglePin(id) } }),
        href ? el("a", { href, class: "open-latent", text: `open latent page (${this.set.layers[Number(node.layer)]} #${latentOf(node, this.schema)})` }) : null),
      el("h3", { text: `Strongest inputs (${ins.length})` }), this.edgeList(ins, "inputs"),
      el("h3", { text: `Strongest outputs (${outs.length})` }), this.edgeList(outs, "outputs")));
  }

  // -- pins and supernodes ----------------------------------------------------------------
  togglePin(id) {
    if (this.pinned.has(id)) {
      this.pinned.delete(id);
      this.supernodes = this.supernodes.map((g) => g.filter((x, j) => j === 0 || x !== id)).filter((g) => g.length > 1);
    } else this.pinned.add(id);
    this.writeState();
    this.refreshPins();
    this.showPanel();
  }

  group(label, ids) {
    const free = ids.filter((id) => !this.supernodes.some((g) => g.slice(1).includes(id)));
    if (free.length < 2) return;
    this.supernodes.push([label || "supernode", ...free]);
    this.writeState();
    this.refreshPins();
  }

  refreshPins() {
    for (const [id, g] of this.dots) {
      g.classList.toggle("pinned", this.pinned.has(id) || this.supernodes.some((s) => s.slice(1).includes(id)));
      g.classList.toggle("clicked", id === this.clicked);
    }
    const sec = this.pinnedSection;
    while (sec.childNodes.length > 1) sec.removeChild(sec.lastChild);
    const members = new Set(this.supernodes.flatMap((g) => g.slice(1)));
    const loose = [...this.pinned].filter((id) => !members.has(id));
    if (!loose.length && !this.supernodes.length) {
      sec.append(el("p", { class: "muted", text: "Nothing pinned: pin nodes from the side panel (or press p over a node) to draw the subgraph they form." }));
      return;
    }
    const nameInput = el("input", { type: "text", class: "supernode-name", placeholder: "name (e.g. corner threat)", "aria-label": "supernode name" });
    sec.append(
      el("div", { class: "pin-actions" },
        nameInput,
        el("button", { type: "button", class: "group", text: `group ${loose.length} pinned into a supernode`, disabled: loose.length < 2 ? "" : null,
          on: { click: () => this.group(nameInput.value.trim(), loose) } }),
        el("button", { type: "button", class: "clear-pins", text: "clear pins and supernodes",
          on: { click: () => { this.pinned.clear(); this.supernodes = []; this.writeState(); this.refreshPins(); this.showPanel(); } } })),
      el("ul", { class: "pins" },
        ...this.supernodes.map((g) => el("li", { class: "supernode", dataset: { members: g.slice(1).join(",") } },
          el("strong", { text: g[0] }), ` (${g.length - 1}): `, g.slice(1).map((id) => this.name(this.byId.get(id))).join(", "))),
        ...loose.map((id) => el("li", { dataset: { node: id } }, this.name(this.byId.get(id)),
          this.label(this.byId.get(id)) ? el("span", { class: "label", text: ` ${short(this.label(this.byId.get(id)), 50)}` }) : null))),
      this.subgraph(loose));
  }

  // The pinned nodes and supernodes with every link between them in the file (a supernode's
  // links are the sums over its members), laid out by layer.
  subgraph(loose) {
    const groupOf = new Map();
    const items = [];
    for (const id of loose) { groupOf.set(id, id); items.push({ id, label: this.name(this.byId.get(id)), rows: [rowOf(this.byId.get(id), this.set.layers.length)] }); }
    this.supernodes.forEach((g, j) => {
      const sid = `supernode-${j}`;
      for (const id of g.slice(1)) groupOf.set(id, sid);
      items.push({ id: sid, label: g[0], rows: g.slice(1).map((id) => rowOf(this.byId.get(id), this.set.layers.length)), group: true });
    });
    const sums = new Map();
    for (const l of this.graph.links) {
      const a = groupOf.get(l.source), b = groupOf.get(l.target);
      if (!a || !b || a === b) continue;
      const key = `${a}\u0000${b}`;
      sums.set(key, (sums.get(key) || 0) + l.weight);
    }
    const byRow = new Map();
    for (const it of items) {
      it.row = Math.max(...it.rows);
      if (!byRow.has(it.row)) byRow.set(it.row, []);
      byRow.get(it.row).push(it);
    }
    const rowsUsed = [...byRow.keys()].sort((a, b) => a - b);
    const width = 720, rowH = 80, height = 40 + rowsUsed.length * rowH;
    const pos = new Map();
    rowsUsed.forEach((r, k) => byRow.get(r).forEach((it, j, all) =>
      pos.set(it.id, [40 + ((j + 0.5) * (width - 80)) / all.length, height - 30 - k * rowH])));
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "subgraph", role: "img" });
    const top = Math.max(1e-9, ...[...sums.values()].map(Math.abs));
    for (const [key, w] of sums) {
      const [a, b] = key.split("\u0000");
      const [x1, y1] = pos.get(a), [x2, y2] = pos.get(b);
      const line = svg("line", { x1, y1, x2, y2, class: `link ${w >= 0 ? "pos" : "neg"}`, "stroke-width": (0.8 + (4 * Math.abs(w)) / top).toFixed(2),
        dataset: { source: a, target: b, weight: w } });
      line.append(svg("title", { text: `weight ${weight(w)}` }));
      root.append(line);
      root.append(svg("text", { x: (x1 + x2) / 2 + 3, y: (y1 + y2) / 2, class: "tick edge-weight", text: weight(w) }));
    }
    for (const it of items) {
      const [x, y] = pos.get(it.id);
      root.append(it.group
        ? svg("rect", { x: x - 10, y: y - 8, width: 20, height: 16, rx: 5, class: "node supernode", dataset: { node: it.id } })
        : svg("circle", { cx: x, cy: y, r: 7, class: `node ${kindOf(this.byId.get(it.id))}`, dataset: { node: it.id } }));
      root.append(svg("text", { x, y: y + 20, class: "tick mid", text: short(it.label, 22) }));
    }
    return el("div", { class: "graph-wrap" }, root);
  }

  // -- the node table -----------------------------------------------------------------------
  table() {
    const rows = this.graph.nodes.map((node) => el("tr", { dataset: { node: node.node_id } },
      el("td", {}, el("button", { type: "button", class: "linkish", text: this.name(node), on: { click: () => this.click(node.node_id) } })),
      el("td", { text: KIND_NAMES[kindOf(node)] }), el("td", { text: node.layer ?? "" }),
      el("td", { text: num(node.activation ?? node.logit ?? null) }), el("td", { text: num(node.influence) }),
      el("td", { class: "label", text: this.label(node) || (kindOf(node) === "feature" ? "" : node.clerp || "") })));
    return section("Nodes",
      el("p", { class: "muted", text: "influence: circuit-tracer's cumulative share, the fraction of all influence on " +
        "the target held by the nodes ranked at or above this one, so smaller is more important (1 = the least); the " +
        "target has none. activation: a latent's pre-activation, the target's logit." }),
      el("div", { class: "table-wrap" }, el("table", { class: "nodes" },
        el("thead", {}, el("tr", {}, ...["node", "type", "layer", "activation", "influence (smaller = more important)", "label"]
          .map((t) => el("th", { text: t })))),
        el("tbody", {}, ...rows))));
  }

  // -- search and keys ----------------------------------------------------------------------
  find(query) {
    const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let count = 0;
    for (const [id, g] of this.dots) {
      const node = this.byId.get(id);
      const latent = kindOf(node) === "feature" ? String(latentOf(node, this.schema)) : null;
      const text = `${this.name(node)} ${this.label(node)} ${node.clerp || ""} ${id}`.toLowerCase();
      const hit = words.length > 0 && words.every((w) => (/^#?\d+$/.test(w) ? latent === w.replace("#", "") : text.includes(w)));
      g.classList.toggle("found", hit);
      if (hit) count++;
    }
    this.status.textContent = words.length ? `${count} node${count === 1 ? "" : "s"} match “${query.trim()}” (outlined)` : "";
  }

  key(e) {
    const id = this.hovered || this.clicked;
    if (e.key === "p" && id) { this.togglePin(id); return true; }
    return false;
  }
}
