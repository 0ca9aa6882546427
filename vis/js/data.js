// Loading the export (format: vis/README.md). Files are fetched once and kept.

export const SCHEMA_VERSION = 1;

const params = new URLSearchParams(location.search);
export const DATA = (params.get("data") || "data").replace(/\/+$/, "");

export class DataError extends Error {}

const cache = new Map();

export function fetchJSON(path) {
  if (!cache.has(path)) {
    const url = `${DATA}/${path}`;
    cache.set(
      path,
      fetch(url).then(async (r) => {
        if (!r.ok) throw new DataError(`${url}: HTTP ${r.status}`);
        try {
          return await r.json();
        } catch (e) {
          throw new DataError(`${url} is not valid JSON (${e.message})`);
        }
      }),
    );
    cache.get(path).catch(() => cache.delete(path)); // a failed fetch may be retried
  }
  return cache.get(path);
}

export async function loadIndex() {
  let index;
  try {
    index = await fetchJSON("index.json");
  } catch (e) {
    throw new DataError(
      `No viewer data at ${DATA}/index.json (${e.message}). Export some with ` +
        "python -m vis.export DICT --store STORE --out vis/data",
    );
  }
  const version = index && index.schema_version;
  if (version !== SCHEMA_VERSION) {
    throw new DataError(
      `This data folder (${DATA}/) was written with schema version ${version}; this viewer ` +
        `reads version ${SCHEMA_VERSION}. Re-export it with python -m vis.export ` +
        "(python -m vis.ship for the shipped data).",
    );
  }
  return index;
}

export function findDict(index, id) {
  return index.dictionaries.find((d) => d.id === id) || null;
}

export function summary(dict) {
  return fetchJSON(`${dict.folder}/summary.json`);
}

// The latent's record, or null when the id is outside the dictionary.
export async function latent(dict, id) {
  if (!Number.isInteger(id) || id < 0 || id >= dict.width) return null;
  const shard = Math.floor(id / dict.shard_size);
  const data = await fetchJSON(`${dict.folder}/latents/${shard}.json`);
  return data.latents[id - data.first] || null;
}

export async function boards(index) {
  const data = await fetchJSON(index.boards);
  return data.boards;
}

// The boards, or {error} when boards.json cannot be read: panels that need no board (stats,
// histogram, effect, graph) are drawn all the same, and the page says what is missing.
export async function boardsOrError(index) {
  try {
    return { boards: await boards(index) };
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    return { boards: null, error: `${e.message}: the example boards cannot be shown (re-export to restore them).` };
  }
}

export function glossary() {
  return fetchJSON("glossary.json");
}

// The dictionary a bare URL opens: the first with held-out explanations, else the first with
// a concepts report, else the first (a landing page with empty label columns tells nothing).
export function landingDict(index) {
  const ds = index.dictionaries;
  return ds.find((d) => d.explanations) || ds.find((d) => d.concepts) || ds[0];
}

// Latent labels of another dictionary (for neighbour lists), or null.
export async function labelsOf(index, id) {
  const d = findDict(index, id);
  if (!d) return null;
  return (await summary(d)).columns.label;
}
