// Runs before the app (a classic script: a file:// page cannot load ES modules, so main.js
// never starts there and the page would wait on "Loading…" forever). Opened from a file, the
// page says how to serve it instead.
document.addEventListener("DOMContentLoaded", () => {
  if (location.protocol !== "file:") return;
  const app = document.getElementById("app");
  const box = document.createElement("div");
  box.className = "message error";
  box.setAttribute("role", "alert");
  const dir = decodeURIComponent(location.pathname.replace(/\/[^/]*$/, "")) || "vis";
  const lines = [
    "This page was opened from a file. Browsers do not run its scripts from file:// URLs, so it has to be served over HTTP:",
    `python -m http.server 8000 -d ${dir}`,
    "then open http://localhost:8000/ (the folder is the one holding this index.html and its data/).",
  ];
  lines.forEach((text, i) => {
    const p = document.createElement(i === 1 ? "pre" : "p");
    p.textContent = text;
    box.append(p);
  });
  app.replaceChildren(box);
  document.body.dataset.view = "file";
});
