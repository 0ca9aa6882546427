// Search by latent id or by concept: "1234", "threat c3", "stable corner", "mobility".
// A latent matches when every word of the query is found in its searchable text: its label
// and top concept names (sae.concepts.labels names, e.g. threat_defensive@c3), with underscores as
// spaces and each square also named by its region (corner, x-square, c-square, edge).

function regions(n) {
  const names = {};
  const last = n - 1;
  const at = (r, c) => `${"abcdefgh"[c]}${r + 1}`;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const edgeR = r === 0 || r === last;
      const edgeC = c === 0 || c === last;
      const words = [];
      if (edgeR && edgeC) words.push("corner");
      else if (edgeR || edgeC) words.push("edge");
      const nearR = r === 1 || r === last - 1;
      const nearC = c === 1 || c === last - 1;
      if (nearR && nearC) words.push("x-square xsquare"); // diagonal neighbours of corners
      if ((edgeR && nearC) || (edgeC && nearR)) words.push("c-square csquare");
      names[at(r, c)] = words.join(" ");
    }
  }
  return names;
}

export function searchText(names, n) {
  const reg = regions(n);
  return names
    .filter(Boolean)
    .map((name) => {
      const sq = name.match(/@([a-h][1-8])$/);
      const words = name.replace(/[_@=]/g, " ").replace(/>=/g, " >= ");
      return (words + " " + name + (sq ? " " + (reg[sq[1]] || "") : "")).toLowerCase();
    })
    .join(" | ");
}

// {kind: "id", id} for a number, {kind: "concept", words} otherwise, null when empty.
export function parseQuery(q) {
  const t = (q || "").trim().toLowerCase();
  if (!t) return null;
  const m = t.match(/^#?(\d+)$/);
  if (m) return { kind: "id", id: Number(m[1]) };
  return { kind: "concept", words: t.split(/\s+/) };
}

// Latent ids whose label / top concepts match every word, in id order.
const texts = new WeakMap();

export function matchConcepts(columns, words, n) {
  if (!texts.has(columns)) {
    const guess = columns.guess || [];
    texts.set(columns, columns.label.map((label, i) => searchText([label || guess[i], ...(columns.concepts[i] || [])], n)));
  }
  const all = texts.get(columns);
  const out = [];
  for (let i = 0; i < all.length; i++) if (all[i] && words.every((w) => all[i].includes(w))) out.push(i);
  return out;
}
