// The glossary page (#glossary): every concept family and the viewer's terms, from the
// export's glossary.json (written by vis.glossary).
import { el, clear, message, section } from "./dom.js";
import { DataError, glossary } from "./data.js";

export async function renderGlossary(app) {
  let data;
  try {
    data = await glossary();
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    clear(app);
    app.append(el("h1", { class: "title", text: "Glossary" }), message("note",
      `${e.message}. This export has no glossary: re-export it with python -m vis.export (python -m vis.ship for the shipped data).`));
    document.body.dataset.view = "glossary";
    return;
  }
  clear(app);
  app.append(el("h1", { class: "title", text: "Glossary" }),
    el("p", { class: "muted", text: "What the concept names in labels, explanations and search mean, and what the viewer's numbers measure." }));
  for (const s of data.sections) {
    app.append(section(s.title, s.note ? el("p", { class: "muted", text: s.note }) : null,
      el("dl", { class: "glossary" }, ...s.terms.flatMap((t) => [
        el("dt", { id: `g-${t.name.replace(/[^a-z0-9_-]+/gi, "-")}`, dataset: { term: t.name } },
          el("strong", { text: t.name }), t.pattern && t.pattern !== t.name ? el("code", { text: ` ${t.pattern}` }) : null),
        el("dd", { text: t.definition }),
      ]))));
  }
  document.body.dataset.view = "glossary";
}
