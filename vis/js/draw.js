// Drawings in SVG: boards, the policy-effect heatmap, histograms and the sweep's scatter.
import { el, num, svg } from "./dom.js";

const FILES = "abcdefgh";

export function squareName(sq, n) {
  return sq === n * n ? "pass" : `${FILES[sq % n]}${Math.floor(sq / n) + 1}`;
}

// One entry of boards.json: [board, agent_move, solved_value] (vis/README.md).
export function parseBoard(entry) {
  const [text, agent, value] = entry;
  const [cells, side] = text.split(" ");
  return { cells, side, agent, value, n: Math.round(Math.sqrt(cells.length)) };
}

const CELL = 22;
const EDGE = 14;

function grid(n, extra = 0) {
  const size = EDGE + n * CELL + 2;
  const root = svg("svg", {
    viewBox: `0 0 ${size} ${size + extra}`,
    width: size,
    height: size + extra,
    role: "img",
  });
  for (let i = 0; i < n; i++) {
    const at = EDGE + i * CELL + CELL / 2;
    root.append(svg("text", { x: at, y: 10, class: "coord", text: FILES[i] }));
    root.append(svg("text", { x: 6, y: at + 4, class: "coord", text: i + 1 }));
  }
  return root;
}

function cellXY(sq, n) {
  return [EDGE + (sq % n) * CELL, EDGE + Math.floor(sq / n) * CELL];
}

export function solverText(b) {
  if (b.value === null || b.value === undefined) return null;
  const best = [];
  for (let i = 0; i < b.cells.length; i++) if (b.cells[i] === "*") best.push(squareName(i, b.n));
  const outcome = b.value > 0 ? "win" : b.value < 0 ? "loss" : "draw";
  const moves = best.length ? best.join(" ") : "pass";
  return `solver: ${b.value > 0 ? "+" : ""}${b.value} (${outcome}), best ${moves}`;
}

// A board as a figure: discs, legal moves, the solver's best moves and the agent's move.
export function drawBoard(entry, { activation = null, id = null, link = null } = {}) {
  const b = parseBoard(entry);
  const n = b.n;
  const root = grid(n);
  root.classList.add("board");
  const counts = { X: 0, O: 0 };
  for (let sq = 0; sq < n * n; sq++) {
    const [x, y] = cellXY(sq, n);
    const c = b.cells[sq];
    const cell = svg("rect", { x, y, width: CELL, height: CELL, class: "sq" });
    cell.append(svg("title", { text: squareName(sq, n) }));
    root.append(cell);
    if (c === "X" || c === "O") {
      counts[c]++;
      root.append(svg("circle", {
        cx: x + CELL / 2, cy: y + CELL / 2, r: 8.5, class: c === "X" ? "disc black" : "disc white",
      }));
    } else if (c === "+" || c === "*") {
      root.append(svg("circle", {
        cx: x + CELL / 2, cy: y + CELL / 2, r: c === "*" ? 4.5 : 3, class: c === "*" ? "best" : "legal",
      }));
    }
  }
  if (b.agent < n * n) {
    const [x, y] = cellXY(b.agent, n);
    root.append(svg("rect", { x: x + 1, y: y + 1, width: CELL - 2, height: CELL - 2, class: "agent" }));
  }
  const lines = [];
  if (activation !== null) lines.push(el("span", { class: "act", text: `act ${num(activation)}` }));
  lines.push(el("span", { text: `${b.side === "X" ? "black" : "white"} to move · agent ${squareName(b.agent, n)}` }));
  const solved = solverText(b);
  if (solved) lines.push(el("span", { class: "solved", text: solved }));
  const fig = el(
    "figure",
    { class: "board-fig", dataset: { board: id ?? "", activation: activation ?? "", black: counts.X, white: counts.O } },
    root,
    el("figcaption", {}, ...lines.flatMap((l, i) => (i ? [el("br"), l] : [l]))),
  );
  if (link) return el("a", { href: link, class: "board-link" }, fig);
  return fig;
}

export function diverging(v, scale) {
  const t = Math.min(1, Math.abs(v) / (scale || 1));
  const [r, g, b] = v >= 0 ? [178, 24, 43] : [33, 102, 172];
  const mix = (c) => Math.round(255 + (c - 255) * t);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

// A probability change in percentage points, as a cell shows it (2 significant digits).
export function pp(v) {
  return `${v > 0 ? "+" : ""}${num(100 * v, 2)}`;
}

// Mean change of each action's probability as an n x n heatmap (percentage points) + pass.
// Colours saturate at ±scale (a probability, e.g. 0.1 = 10 pp): the caller picks one scale
// for every latent (comparable pages) or this latent's largest change, and draws colorBar.
export function drawHeatmap(policy, n, scale) {
  const root = grid(n, 24);
  root.classList.add("heatmap");
  for (let sq = 0; sq < n * n; sq++) {
    const [x, y] = cellXY(sq, n);
    const v = policy[sq];
    const cell = svg("rect", {
      x, y, width: CELL, height: CELL, fill: diverging(v, scale), class: "hm",
      dataset: { square: squareName(sq, n), value: v },
    });
    cell.append(svg("title", { text: `${squareName(sq, n)}: ${pp(v)} pp` }));
    root.append(cell);
    if (Math.abs(100 * v) >= 0.01) {
      root.append(svg("text", { x: x + CELL / 2, y: y + CELL / 2 + 3, class: "hm-text", text: pp(v), dataset: { square: squareName(sq, n) } }));
    }
  }
  const pass = policy[n * n] ?? 0;
  root.append(svg("text", { x: EDGE, y: EDGE + n * CELL + 16, class: "hm-pass", text: `pass ${pp(pass)} pp` }));
  return root;
}

// The heatmap's colour scale: a vertical bar from -scale (blue) to +scale (red), in pp.
export function colorBar(scale, { height = 150 } = {}) {
  const w = 14, top = 8, steps = 20;
  const root = svg("svg", { viewBox: `0 0 70 ${height + 16}`, width: 70, height: height + 16, class: "colorbar", role: "img",
    dataset: { scale } });
  root.append(svg("title", { text: `colour scale: ±${num(100 * scale, 2)} pp` }));
  for (let i = 0; i < steps; i++) {
    const v = scale * (1 - (2 * (i + 0.5)) / steps);
    root.append(svg("rect", { x: 2, y: top + (i * height) / steps, width: w, height: height / steps + 0.5, fill: diverging(v, scale) }));
  }
  root.append(svg("rect", { x: 2, y: top, width: w, height, class: "cb-frame" }));
  const tick = (v, y) => root.append(svg("text", { x: w + 6, y: y + 3, class: "tick cb-tick", text: `${pp(v)} pp` }));
  tick(scale, top);
  tick(0, top + height / 2);
  tick(-scale, top + height);
  return root;
}

// Bars of `counts` over equal bins of [lo, hi].
export function drawHistogram(counts, lo, hi, { width = 360, height = 120, xlabel = "" } = {}) {
  const pad = { l: 34, r: 8, t: 6, b: 30 };
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "histogram", role: "img" });
  const top = Math.max(1, ...counts);
  const w = (width - pad.l - pad.r) / counts.length;
  const h = height - pad.t - pad.b;
  counts.forEach((c, i) => {
    const bh = (c / top) * h;
    const from = lo + ((hi - lo) * i) / counts.length;
    const to = lo + ((hi - lo) * (i + 1)) / counts.length;
    const bar = svg("rect", {
      x: pad.l + i * w + 0.5, y: pad.t + h - bh, width: Math.max(1, w - 1), height: bh, class: "bar",
      dataset: { count: c, bin: i },
    });
    bar.append(svg("title", { text: `${num(from)}–${num(to)}: ${c}` }));
    root.append(bar);
  });
  const axisY = pad.t + h;
  root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: axisY, y2: axisY, class: "axis" }));
  root.append(svg("text", { x: pad.l, y: axisY + 12, class: "tick", text: num(lo) }));
  root.append(svg("text", { x: width - pad.r, y: axisY + 12, class: "tick end", text: num(hi) }));
  root.append(svg("text", { x: pad.l - 4, y: pad.t + 8, class: "tick end", text: top }));
  if (xlabel) root.append(svg("text", { x: (pad.l + width) / 2, y: height - 4, class: "tick mid", text: xlabel }));
  return root;
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

// Scatter of points {x, y, label, group, current} on log-log axes (the sweep's frontier).
export function drawScatter(points, { width = 380, height = 220, xlabel = "", ylabel = "" } = {}) {
  const pad = { l: 46, r: 12, t: 22, b: 34 }; // t: room for the y label above the ticks
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "scatter", role: "img" });
  const ok = points.filter((p) => p.x > 0 && p.y > 0);
  if (!ok.length) return root;
  const range = (vals) => {
    const lo = Math.min(...vals) / 1.3;
    const hi = Math.max(...vals) * 1.3;
    return [Math.log10(lo), Math.log10(hi)];
  };
  const [x0, x1] = range(ok.map((p) => p.x));
  const [y0, y1] = range(ok.map((p) => p.y));
  const X = (v) => pad.l + ((Math.log10(v) - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const Y = (v) => height - pad.b - ((Math.log10(v) - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  for (const t of logTicks(10 ** x0, 10 ** x1)) {
    root.append(svg("line", { x1: X(t), x2: X(t), y1: pad.t, y2: height - pad.b, class: "gridline" }));
    root.append(svg("text", { x: X(t), y: height - pad.b + 12, class: "tick mid", text: num(t) }));
  }
  for (const t of logTicks(10 ** y0, 10 ** y1)) {
    root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: Y(t), y2: Y(t), class: "gridline" }));
    root.append(svg("text", { x: pad.l - 4, y: Y(t) + 3, class: "tick end", text: num(t) }));
  }
  root.append(svg("text", { x: (pad.l + width) / 2, y: height - 4, class: "tick mid axis-label", text: xlabel }));
  root.append(svg("text", { x: 4, y: 10, class: "tick axis-label", text: `${ylabel} ↑` }));
  for (const p of ok) {
    const dot = svg("circle", {
      cx: X(p.x), cy: Y(p.y), r: p.current ? 6 : 4,
      class: `pt ${p.group}${p.current ? " current" : ""}`,
    });
    dot.append(svg("title", { text: `${p.label}: ${xlabel} ${num(p.x)}, ${ylabel} ${num(p.y)}` }));
    root.append(p.href ? svg("a", { href: p.href }, dot) : dot);
  }
  return root;
}
