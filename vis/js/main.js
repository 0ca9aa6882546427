// The viewer's entry point: routing on the URL fragment, the header controls, the keys.
//   #dict=ID                      a dictionary and its latent list (&sort=, &q=, &only=)
//   #dict=ID&latent=N             a latent's page (&scale=latent: the heatmap's own scale)
//   #set=ID  /  #set=ID&graph=I   a transcoder set's attribution graphs (&pinnedIds=,
//                                 &supernodes=, &clickedId=: circuit-tracer's names)
//   #glossary                     what every concept family and number means
import { el, clear, hashLink, message } from "./dom.js";
import { DataError, findDict, landingDict, loadIndex } from "./data.js";
import { LatentList } from "./list.js";
import { latentKeys, renderLatent } from "./latent.js";
import { GraphView, renderGraphList } from "./graph.js";
import { renderGlossary } from "./glossary.js";
import { parseQuery } from "./search.js";

const app = document.getElementById("app");
const select = document.getElementById("dict-select");
const search = document.getElementById("search");
const graphsLink = document.getElementById("nav-graphs");
const timings = (window.visTimings = {});
let index = null;
let view = null; // {kind, dict, id, list, graph, back}
let lastList = null; // the list state a latent page returns to (`u`, "←")

function params() {
  return new URLSearchParams(location.hash.slice(1));
}

function fail(e) {
  clear(app);
  app.append(message("error", e instanceof DataError ? e.message : `Error: ${e.message}`));
  document.body.dataset.view = "error";
  if (!(e instanceof DataError)) console.error(e);
}

// The header's dictionary select shows the dictionary of the page, or "—" on pages that have
// none (graphs, glossary), so it never claims a dictionary the page is not about.
function showDict(dict) {
  select.value = dict ? dict.id : "";
}

function fillHeader() {
  select.append(el("option", { value: "", text: "— choose a dictionary —", disabled: "" }));
  for (const d of index.dictionaries) {
    const text = d.kind === "sae" ? `${d.id} (SAE, ${d.width})` : `${d.id} (transcoder, ${d.width})`;
    select.append(el("option", { value: d.id, text }));
  }
  select.addEventListener("change", () => { if (select.value) location.hash = hashLink({ dict: select.value }); });
  const set = index.transcoder_sets[0];
  if (set) graphsLink.setAttribute("href", hashLink({ set: set.id }));
  else graphsLink.remove();
  search.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { search.blur(); return; }
    if (e.key !== "Enter") return;
    if (view && view.kind === "graph" && view.graph) { // on a graph: find nodes, stay on the page
      view.graph.find(search.value);
      search.blur();
      return;
    }
    const q = parseQuery(search.value);
    const dict = (view && view.dict) || landingDict(index);
    if (!q) location.hash = hashLink({ dict: dict.id });
    else if (q.kind === "id") location.hash = hashLink({ dict: dict.id, latent: q.id });
    else location.hash = hashLink({ dict: dict.id, q: search.value.trim(), sort: params().get("sort"), only: params().get("only") });
    search.blur();
  });
}

async function route() {
  const t0 = performance.now();
  const hash = location.hash;
  const p = params();
  document.body.dataset.view = "loading";
  try {
    if (p.has("glossary")) {
      view = { kind: "glossary" };
      showDict(null);
      search.placeholder = "latent id or concept, e.g. 1234, threat c3, stable corner";
      await renderGlossary(app);
      return;
    }
    if (p.has("set")) {
      const set = index.transcoder_sets.find((s) => s.id === p.get("set"));
      if (!set) throw new DataError(`No transcoder set “${p.get("set")}” in this export.`);
      showDict(null);
      search.value = "";
      if (p.has("graph")) {
        search.placeholder = "find nodes: a latent id, a label word, an input (mine@c3)";
        view = { kind: "graph", dict: null, set, graph: new GraphView(app, index, set, Number(p.get("graph"))) };
        await view.graph.render(p);
        timings.graph = performance.now() - t0;
      } else {
        view = { kind: "graphs", dict: null, set };
        renderGraphList(app, index, set);
      }
      return;
    }
    search.placeholder = "latent id or concept, e.g. 1234, threat c3, stable corner";
    const id = p.get("dict") || landingDict(index).id;
    const dict = findDict(index, id);
    if (!dict) {
      throw new DataError(`No dictionary “${id}” in this export; it holds ${index.dictionaries.map((d) => d.id).join(", ")}.`);
    }
    showDict(dict);
    if (p.has("latent")) {
      const raw = p.get("latent");
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      const back = lastList && lastList.dict === dict.id ? lastList : { dict: dict.id };
      view = { kind: "latent", dict, id: n, back };
      if (!Number.isInteger(n)) throw new DataError(`“${raw}” is not a latent id (a whole number 0–${dict.width - 1}).`);
      await renderLatent(app, index, dict, n, { scale: p.get("scale"), back });
      timings.latent = performance.now() - t0;
    } else {
      search.value = p.get("q") || "";
      const state = { sort: p.get("sort"), q: p.get("q") || "", only: p.get("only") };
      lastList = { dict: dict.id, ...state };
      const list = new LatentList(app, index, dict, state);
      view = { kind: "list", dict, list };
      await list.render();
      timings.list = performance.now() - t0;
    }
    window.scrollTo(0, 0);
  } catch (e) {
    fail(e);
  } finally {
    // which URL the page now shows: a page of the same kind from the previous URL is not it
    // (a test or a script waits for both the view and this)
    document.body.dataset.routed = hash;
  }
}

// Keys aimed at a control are the control's: Enter on a link follows that link, arrows in
// the select change the dictionary, Enter / Space on a button press it.
function ownedByControl(e) {
  const t = e.target;
  if (!(t instanceof Element)) return false;
  if (t.closest("select, input, textarea, [contenteditable=true]")) return true;
  const control = t.closest("a[href], button, summary");
  return Boolean(control) && ["Enter", " ", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"].includes(e.key);
}

function onKey(e) {
  if (e.target === search || e.ctrlKey || e.metaKey || e.altKey || ownedByControl(e)) return;
  if (e.key === "/") { e.preventDefault(); search.focus(); search.select(); return; }
  if (e.key === "?") { document.getElementById("keys").classList.toggle("closed"); return; }
  if (e.key === "g" && index && index.transcoder_sets[0]) { location.hash = hashLink({ set: index.transcoder_sets[0].id }); return; }
  if (!view) return;
  let used = false;
  if (view.kind === "list") used = view.list.key(e);
  else if (view.kind === "latent" && Number.isInteger(view.id)) used = latentKeys(e, view.dict, view.id, view.back);
  else if (view.kind === "graph" && view.graph) used = view.graph.key(e);
  // app-level "back": up one level of the viewer, never out of it through the browser history
  if (!used && (e.key === "u" || e.key === "Escape")) {
    if (view.kind === "graph") location.hash = hashLink({ set: view.set.id });
    else if (view.kind === "graphs" || view.kind === "glossary") location.hash = hashLink(lastList || { dict: landingDict(index).id });
    else if (view.kind === "latent") location.hash = hashLink(view.back || { dict: view.dict.id });
    used = true;
  }
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
  // one route at a time: a page still drawing when the URL changes again finishes first, so
  // it cannot draw over the newer one
  let routing = route();
  window.addEventListener("hashchange", () => { routing = routing.then(route); });
  document.addEventListener("keydown", onKey);
  await routing;
  timings.first = performance.now();
}

start();
