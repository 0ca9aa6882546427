// Search by latent id or by concept: "1234", "threat c3", "stable corner", "keeps_outcome".
// A latent matches when ONE of its concept names matches every word of the query: the
// literals of its explanation (or of its best guess) and its top concepts by AUC. Words are
// matched whole against a name's pieces (family, the family's parts split at "_", the
// square, the threshold, the full name), and a square also answers to its region (corner,
// edge, x-square, c-square); so "stable corner" finds stable_mine@a1 but not a latent with
// best_reply@f6 beside stable_theirs@b6. The list shows which name matched.

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
      if (nearR && nearC) words.push("x-square", "xsquare"); // diagonal neighbours of corners
      if ((edgeR && nearC) || (edgeC && nearR)) words.push("c-square", "csquare");
      names[at(r, c)] = words;
    }
  }
  return names;
}

// The pieces a query word may equal: "stable_mine@a1" -> stable_mine@a1, stable_mine, stable,
// mine, a1, corner; "mobility_mine>=5" -> .., >=5, 5; "flips@c4>d4" -> .., c4, d4.
export function nameTokens(name, n) {
  const reg = regions(n);
  const lit = name.toLowerCase().replace(/^!/, "");
  const tokens = new Set([lit]);
  const m = lit.match(/^([^@<>=]+)(.*)$/);
  const family = m ? m[1] : lit;
  const rest = m ? m[2] : "";
  tokens.add(family);
  for (const part of family.split("_")) tokens.add(part);
  if (rest.startsWith("@")) {
    for (const part of rest.slice(1).split(/[>-]/)) {
      tokens.add(part);
      for (const w of reg[part] || []) tokens.add(w);
    }
    const thr = rest.match(/(>=|<)[\d.-]+$/);
    if (thr) tokens.add(thr[0]);
  } else if (rest) {
    tokens.add(rest);
    tokens.add(rest.replace(/^(>=|<|=)/, ""));
  }
  tokens.delete("");
  return tokens;
}

function wordMatches(word, tokens) {
  if (tokens.has(word)) return true;
  // plural and singular alike: "corner" finds corners_mine, "threats" finds threat_*
  return tokens.has(`${word}s`) || (word.endsWith("s") && tokens.has(word.slice(0, -1)));
}

// The literals of an explanation program ("a & !b | c" -> a, !b, c).
export function literals(program) {
  return (program || "").split(/[\s&|()]+/).filter(Boolean);
}

// {kind: "id", id} for a number, {kind: "concept", words} otherwise, null when empty.
export function parseQuery(q) {
  const t = (q || "").trim().toLowerCase();
  if (!t) return null;
  const m = t.match(/^#?(\d+)$/);
  if (m) return { kind: "id", id: Number(m[1]) };
  return { kind: "concept", words: t.split(/\s+/) };
}

// Each latent's names with where they come from, tokenised once per summary.
const cache = new WeakMap();

function latentNames(columns, n) {
  if (!cache.has(columns)) {
    const guess = columns.guess || [];
    cache.set(columns, columns.density.map((_, i) => {
      const out = [];
      const add = (name, via) => out.push({ name, via, tokens: nameTokens(name, n) });
      if (columns.label[i]) for (const l of literals(columns.label[i])) add(l, "explanation");
      else if (guess[i]) for (const l of literals(guess[i])) add(l, "guess");
      for (const c of (columns.concepts || [])[i] || []) add(c, "top concept");
      return out;
    }));
  }
  return cache.get(columns);
}

// [{id, name, via}] of the latents with a name matching every word, in id order.
export function matchConcepts(columns, words, n) {
  const all = latentNames(columns, n);
  const out = [];
  all.forEach((names, id) => {
    const hit = names.find((x) => words.every((w) => wordMatches(w, x.tokens)));
    if (hit) out.push({ id, name: hit.name, via: hit.via });
  });
  return out;
}
