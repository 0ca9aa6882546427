// Attribution graphs of a transcoder set (circuit-tracer's JSON schema): a list per set and
// a page per graph, where a transcoder node links to its latent's page.
import { el, clear, hashLink, message, num, section, svg } from "./dom.js";
import { drawBoard } from "./draw.js";
import { boards, fetchJSON, labelsOf } from "./data.js";

const IN_LINKS = 6; // incoming links drawn per node; the node table lists every node

function isTranscoder(node) {
  return /transcoder/i.test(node.feature_type || "");
}

// Row of a node: embeddings at the bottom, logits at the top, the rest by layer.
function rowOf(node, nLayers) {
  const t = node.feature_type || "";
  if (/embedding/i.test(t)) return 0;
  if (/logit/i.test(t)) return nLayers + 1;
  const layer = Number(node.layer);
  return Number.isFinite(layer) ? Math.min(nLayers, Math.max(0, layer)) + 1 : 0;
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
  app.append(section("Graphs", el("table", { class: "graphs" },
    el("thead", {}, el("tr", {}, ...["graph", "target", "nodes", "links", "replacement", "completeness"].map((t) => el("th", { text: t })))),
    el("tbody", {}, ...rows))));
  document.body.dataset.view = "graphs";
}

export async function renderGraph(app, index, set, i) {
  const entry = set.graphs[i];
  clear(app);
  const back = el("nav", { class: "latent-nav" }, el("a", { href: hashLink({ set: set.id }), text: `← ${set.id} graphs` }));
  if (!entry) {
    app.append(back, message("error", `Graph ${i} does not exist in ${set.id} (it has ${set.graphs.length}).`));
    document.body.dataset.view = "missing";
    return;
  }
  const graph = await fetchJSON(entry.file);
  const n = set.layers.length;
  const labels = await Promise.all(set.layers.map((id) => labelsOf(index, id)));
  const nodeLabel = (node) => {
    if (node.clerp) return node.clerp;
    const layer = Number(node.layer);
    return isTranscoder(node) && labels[layer] ? labels[layer][node.feature] || "" : "";
  };
  const nodeHref = (node) => {
    const dict = set.layers[Number(node.layer)];
    return isTranscoder(node) && dict ? hashLink({ dict, latent: node.feature }) : null;
  };
  app.append(back, el("h1", { class: "title", text: `${set.id} · graph ${entry.slug}` }));
  const head = [];
  if (entry.board !== null && entry.board !== undefined) head.push(drawBoard((await boards(index))[entry.board], { id: entry.board }));
  head.push(el("dl", { class: "facts" },
    el("dt", { text: "target" }), el("dd", { text: entry.target ?? "–" }),
    el("dt", { text: "replacement score" }), el("dd", { text: num(entry.scores.replacement) }),
    el("dt", { text: "completeness" }), el("dd", { text: num(entry.scores.completeness) }),
    el("dt", { text: "nodes / links" }), el("dd", { text: `${entry.nodes} / ${entry.links}` })));
  app.append(el("div", { class: "graph-head" }, ...head));

  // layout: one row per layer, nodes spread evenly, links as lines
  const rows = new Map();
  for (const node of graph.nodes) {
    const r = rowOf(node, n);
    if (!rows.has(r)) rows.set(r, []);
    rows.get(r).push(node);
  }
  const width = 960, rowH = 90, pad = 30;
  const height = pad * 2 + (n + 1) * rowH;
  const at = new Map();
  for (const [r, nodes] of rows) {
    // circuit-tracer's influence is a cumulative share: the smallest is the most important
    nodes.sort((a, b) => (a.influence ?? Infinity) - (b.influence ?? Infinity));
    nodes.forEach((node, j) => at.set(node.node_id, [pad + ((j + 0.5) * (width - 2 * pad)) / nodes.length, height - pad - r * rowH]));
  }
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph", role: "img" });
  for (let r = 0; r <= n + 1; r++) {
    const name = r === 0 ? "input" : r === n + 1 ? "output" : `block ${r - 1}`;
    root.append(svg("text", { x: 2, y: height - pad - r * rowH - 8, class: "tick", text: name }));
  }
  // each node's strongest incoming links, so every node (the target too) shows its inputs
  const byTarget = new Map();
  for (const l of graph.links) {
    if (!byTarget.has(l.target)) byTarget.set(l.target, []);
    byTarget.get(l.target).push(l);
  }
  const links = [...byTarget.values()].flatMap((ls) =>
    ls.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, IN_LINKS));
  const top = Math.max(1e-9, ...links.map((l) => Math.abs(l.weight)));
  for (const l of links) {
    const a = at.get(l.source), b = at.get(l.target);
    if (!a || !b) continue;
    root.append(svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: l.weight >= 0 ? "link pos" : "link neg",
      "stroke-width": (0.5 + (3 * Math.abs(l.weight)) / top).toFixed(2) }));
  }
  for (const node of graph.nodes) {
    const [x, y] = at.get(node.node_id);
    const t = node.feature_type || "";
    const kind = isTranscoder(node) ? "feature" : /error/i.test(t) ? "error" : /logit/i.test(t) ? "logit" : /bias/i.test(t) ? "bias" : "input";
    const dot = svg("circle", { cx: x, cy: y, r: kind === "feature" ? 7 : 5, class: `node ${kind}`, dataset: { node: node.node_id } });
    dot.append(svg("title", { text: `${node.node_id} ${nodeLabel(node)}`.trim() }));
    const href = nodeHref(node);
    root.append(href ? svg("a", { href, class: "node-link" }, dot) : dot);
  }
  app.append(section("Graph (click a feature to open its latent)",
    el("p", { class: "muted", text: "Rows: input features at the bottom, each block's transcoder latents (blue), errors " +
      "(grey) and biases (light), the target move at the top; within a row the most influential nodes first. " +
      `Links: red excites, blue inhibits; each node's ${IN_LINKS} strongest inputs are drawn.` }),
    el("div", { class: "graph-wrap" }, root)));
  const tableRows = graph.nodes.map((node) => {
    const href = nodeHref(node);
    return el("tr", {},
      el("td", {}, href ? el("a", { href, text: node.node_id }) : node.node_id),
      el("td", { text: node.feature_type }), el("td", { text: node.layer ?? "" }),
      el("td", { text: num(node.activation) }), el("td", { text: num(node.influence) }),
      el("td", { class: "label", text: nodeLabel(node) }));
  });
  app.append(section("Nodes", el("table", { class: "nodes" },
    el("thead", {}, el("tr", {}, ...["node", "type", "layer", "activation", "influence", "label"].map((t) => el("th", { text: t })))),
    el("tbody", {}, ...tableRows))));
  document.body.dataset.view = "graph";
}
