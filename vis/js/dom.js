// DOM helpers. Everything from the data files reaches the page through textContent and
// setAttribute only (never innerHTML): labels come from files anyone can edit.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") Object.assign(node.style, v); // CSSOM: allowed by the page's CSP
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// el("a", {href: "#x", text: "label"}, child, ...): an HTML element.
export function el(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

// svg("rect", {x: 1, ...}): an SVG element.
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Numbers as the page shows them.
export function num(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a < 1e-3) return x.toExponential(1);
  return Number(x.toPrecision(digits)).toString();
}

export function pct(x, digits = 2) {
  if (x === null || x === undefined) return "–";
  return `${num(100 * x, digits)}%`;
}

export function signed(x, digits = 3) {
  if (x === null || x === undefined) return "–";
  return (x > 0 ? "+" : "") + num(x, digits);
}

export function hashLink(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return "#" + parts.join("&");
}

export function section(title, ...children) {
  return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
}

export function message(kind, text, ...extra) {
  return el("div", { class: `message ${kind}`, role: "alert" }, el("p", { text }), ...extra);
}
