// The viewer's entry point: routing on the URL fragment, the header controls, the keys.
//   #dict=ID                      a dictionary and its latent list (&sort=, &q= search)
//   #dict=ID&latent=N             a latent's page
//   #set=ID  /  #set=ID&graph=I   a transcoder set's attribution graphs
import { el, clear, hashLink, message } from "./dom.js";
import { DataError, findDict, loadIndex } from "./data.js";
import { LatentList } from "./list.js";
import { latentKeys, renderLatent } from "./latent.js";
import { renderGraph, renderGraphList } from "./graph.js";
import { parseQuery } from "./search.js";

const app = document.getElementById("app");
const select = document.getElementById("dict-select");
const search = document.getElementById("search");
const graphsLink = document.getElementById("nav-graphs");
const timings = (window.visTimings = {});
let index = null;
let view = null; // {kind, dict, id, list}

function params() {
  return new URLSearchParams(location.hash.slice(1));
}

function fail(e) {
  clear(app);
  app.append(message("error", e instanceof DataError ? e.message : `Error: ${e.message}`));
  document.body.dataset.view = "error";
  if (!(e instanceof DataError)) console.error(e);
}

function fillHeader() {
  for (const d of index.dictionaries) {
    const text = d.kind === "sae" ? `${d.id} (SAE, ${d.width})` : `${d.id} (transcoder, ${d.width})`;
    select.append(el("option", { value: d.id, text }));
  }
  select.addEventListener("change", () => { location.hash = hashLink({ dict: select.value }); });
  const set = index.transcoder_sets[0];
  if (set) graphsLink.setAttribute("href", hashLink({ set: set.id }));
  else graphsLink.remove();
  search.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { search.blur(); return; }
    if (e.key !== "Enter") return;
    const q = parseQuery(search.value);
    const dict = (view && view.dict) || index.dictionaries[0];
    if (!q) location.hash = hashLink({ dict: dict.id });
    else if (q.kind === "id") location.hash = hashLink({ dict: dict.id, latent: q.id });
    else location.hash = hashLink({ dict: dict.id, q: search.value.trim(), sort: params().get("sort") });
    search.blur();
  });
}

async function route() {
  const t0 = performance.now();
  const p = params();
  document.body.dataset.view = "loading";
  try {
    if (p.has("set")) {
      const set = index.transcoder_sets.find((s) => s.id === p.get("set"));
      if (!set) throw new DataError(`No transcoder set “${p.get("set")}” in this export.`);
      view = { kind: "graph", dict: null };
      if (p.has("graph")) await renderGraph(app, index, set, Number(p.get("graph")));
      else renderGraphList(app, index, set);
      return;
    }
    const id = p.get("dict") || index.dictionaries[0].id;
    const dict = findDict(index, id);
    if (!dict) {
      throw new DataError(`No dictionary “${id}” in this export; it holds ${index.dictionaries.map((d) => d.id).join(", ")}.`);
    }
    select.value = dict.id;
    if (p.has("latent")) {
      const raw = p.get("latent");
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      view = { kind: "latent", dict, id: n };
      if (!Number.isInteger(n)) throw new DataError(`“${raw}” is not a latent id (a whole number 0–${dict.width - 1}).`);
      await renderLatent(app, index, dict, n);
      timings.latent = performance.now() - t0;
    } else {
      search.value = p.get("q") || "";
      const list = new LatentList(app, index, dict, { sort: p.get("sort"), q: p.get("q") || "", only: p.get("only") });
      view = { kind: "list", dict, list };
      await list.render();
      timings.list = performance.now() - t0;
    }
    window.scrollTo(0, 0);
  } catch (e) {
    fail(e);
  }
}

function onKey(e) {
  if (e.target === search || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "/") { e.preventDefault(); search.focus(); search.select(); return; }
  if (e.key === "?") { document.getElementById("keys").classList.toggle("closed"); return; }
  if (e.key === "g" && index && index.transcoder_sets[0]) { location.hash = hashLink({ set: index.transcoder_sets[0].id }); return; }
  if (!view) return;
  let used = false;
  if (view.kind === "list") used = view.list.key(e);
  else if (view.kind === "latent" && Number.isInteger(view.id)) used = latentKeys(e, view.dict, view.id);
  else if (e.key === "u" || e.key === "Escape") { history.back(); used = true; }
  if (used) e.preventDefault();
}

async function start() {
  try {
    index = await loadIndex();
  } catch (e) {
    fail(e);
    return;
  }
  if (!index.dictionaries.length) {
    fail(new DataError("This export holds no dictionaries."));
    return;
  }
  fillHeader();
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", onKey);
  await route();
  timings.first = performance.now();
}

start();
