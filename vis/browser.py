"""Drive the viewer in a real browser: screenshots for the docs and timings of its pages.

    python -m vis.browser           # serves vis/, writes docs/vis_{list,latent,graph}.png
    python -m vis.browser --site runs/pipeline/vis --out /tmp/shots

The site folder is served by `http.server` on a free loopback port in a thread; Debian's
Chromium (`apt-get install -y chromium`) is driven by Playwright for Python
(requirements-dev.txt; Playwright's own browser download does not work here) with a new,
empty profile. tests/test_vis_browser.py uses the same helpers. Timings: "first screen" is
from navigation to the dictionary list drawn, "latent page" from a deep link's hash change to
the latent's page drawn (the page's own clock, `window.visTimings`, and the wall clock).
"""

from __future__ import annotations

import functools
import http.server
import json
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from common import cli
from common.io import atomic_write_bytes

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test output stays readable
        pass


@contextmanager
def serve(folder: str | Path):
    """Yield the base URL of `folder` served on a free loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium():
    """A Playwright browser context of the system Chromium with a new, empty profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


def wait_view(page, view: str, timeout_ms: float = 20_000) -> None:
    """Wait until the app has drawn `view` for the URL it is on now.

    The app sets <body data-view=...> when a page is drawn and data-routed to the URL
    fragment it drew; the view alone would match the previous page of the same kind (a
    list after a new search) before the hashchange has been handled.
    """
    page.wait_for_function(
        """view => {
            const b = document.body;
            return b.dataset.view === view
                && (b.dataset.routed === undefined || b.dataset.routed === location.hash);
        }""",
        arg=view,
        timeout=timeout_ms,
    )


def open_timed(page, url: str, view: str) -> float:
    """Go to `url`, wait for `view`; wall-clock milliseconds."""
    t0 = time.perf_counter()
    page.goto(url)
    wait_view(page, view)
    return (time.perf_counter() - t0) * 1000


def hash_timed(page, fragment: str, view: str) -> float:
    """Change the URL fragment (a deep link inside the app), wait for `view`; milliseconds."""
    page.evaluate("document.body.dataset.view = 'loading'")
    t0 = time.perf_counter()
    page.evaluate("f => { location.hash = f; }", fragment)
    wait_view(page, view)
    return (time.perf_counter() - t0) * 1000


def _ms(v) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def measure(page, base: str, where: dict, out: Path | None) -> dict:
    """Wall-clock ms: first screen (navigation to the drawn list), latent page and graph page
    (a deep link's hash change to the page drawn), hover (pointer on the target node to the
    side panel showing it; n/a on a page without hover). Screenshots into `out` if given."""
    q, d, set_id = where["query"], where["dict"], where["set"]
    times = {"first screen": open_timed(page, f"{base}/index.html{q}#dict={d}", "list")}
    if out:
        atomic_write_bytes(out / "vis_list.png", page.screenshot())
    times["latent page"] = hash_timed(page, f"dict={d}&latent={where['latent']}", "latent")
    page.keyboard.press("?")  # the fixed key line would sit across a full-page shot
    if out:
        atomic_write_bytes(out / "vis_latent.png", page.screenshot(full_page=True))
        effect = page.locator("svg.colorbar").locator("xpath=ancestor::section")
        if effect.count():
            atomic_write_bytes(out / "vis_latent_colorbar.png", effect.first.screenshot())
    times["graph page"] = times["hover"] = None
    if set_id is None:
        return times
    times["graph page"] = hash_timed(page, f"set={set_id}&graph={where['graph']}", "graph")
    target = page.locator("svg.graph g.node-g.logit .node")
    if target.count():
        target.first.scroll_into_view_if_needed()
        node = target.first.evaluate("e => e.parentNode.dataset.node")
        t0 = time.perf_counter()
        target.first.hover()
        page.wait_for_selector(f"body[data-hovered='{node}']")
        times["hover"] = (time.perf_counter() - t0) * 1000
    if out:
        atomic_write_bytes(out / "vis_graph.png", page.screenshot(full_page=True))
    return times


def shots_of_issue_21(context, base: str, where: dict, site: Path, out: Path) -> None:
    """docs/vis_graph_hover.png (a hovered latent, two pinned and grouped into a supernode),
    vis_phone.png (390 x 844), vis_file_message.png (the page opened from a file)."""
    page = context.new_page()
    if where["set"] is not None:
        graph = f"set={where['set']}&graph={where['graph']}"
        open_timed(page, f"{base}/index.html{where['query']}#{graph}", "graph")
        page.keyboard.press("?")
        latents = page.locator("svg.graph g.node-g.feature .node")
        for i in range(min(2, latents.count())):
            latents.nth(i).click()
            page.locator(".graph-panel button.pin").click()
        if latents.count() >= 2:
            page.fill("input.supernode-name", "first two")
            page.locator("button.group").click()
        if latents.count() > 2:
            latents.nth(2).scroll_into_view_if_needed()
            latents.nth(2).hover()
        # the drawing, panel and subgraph: the sticky header and the long node table left out
        page.evaluate("document.querySelector('header').style.position = 'static'")
        page.locator("table.nodes").evaluate("t => { t.closest('section').hidden = true; }")
        atomic_write_bytes(out / "vis_graph_hover.png", page.screenshot(full_page=True))
    page.set_viewport_size({"width": 390, "height": 844})
    open_timed(page, f"{base}/index.html{where['query']}#dict={where['dict']}", "list")
    atomic_write_bytes(out / "vis_phone.png", page.screenshot())
    page.set_viewport_size(VIEWPORT)
    page.goto((site / "index.html").resolve().as_uri())
    wait_view(page, "file", 10_000)
    atomic_write_bytes(out / "vis_file_message.png", page.screenshot())
    page.close()


def busiest_latent(site: Path, data: str, dict_id: str) -> int:
    """The latent of `dict_id` that fires most often (a page with every panel)."""
    index = json.loads((site / data / "index.json").read_text())
    entry = next(d for d in index["dictionaries"] if d["id"] == dict_id)
    cols = json.loads((site / data / entry["folder"] / "summary.json").read_text())["columns"]
    labelled = [i for i, label in enumerate(cols["label"]) if label and cols["density"][i]]
    pool = labelled or range(len(cols["density"]))
    return max(pool, key=lambda i: (cols["auc"][i] or 0, cols["density"][i] or 0))


@cli.command
def main(argv: list[str] | None = None) -> None:
    ap = cli.parser(
        prog="python -m vis.browser",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    ap.add_argument(
        "--site", default="vis", help="folder holding index.html and data/ (default vis)"
    )
    ap.add_argument("--data", default="data", help="data folder inside --site (default data)")
    ap.add_argument(
        "--out", type=cli.out_dir, default="docs", help="folder for vis_{list,latent,graph}.png"
    )
    ap.add_argument("--dict", help="dictionary id to show (default: the first exported)")
    ap.add_argument("--latent", type=int, help="latent to show (default: best labelled, busiest)")
    ap.add_argument("--graph", type=int, default=0, help="graph of the first set to show (0)")
    ap.add_argument(
        "--compare",
        metavar="SITE",
        help="also time another page folder over the same data (e.g. a checkout before a change)",
    )
    args = ap.parse_args(argv)
    site, out = Path(args.site), Path(args.out)
    index_path = site / args.data / "index.json"
    if not index_path.exists():
        sys.exit(f"error: {index_path} not found: export data first (python -m vis.export)")
    if not Path(CHROMIUM).exists():
        sys.exit(f"error: {CHROMIUM} not found: apt-get install -y chromium")
    index = json.loads(index_path.read_text())
    dict_id = args.dict or index["dictionaries"][0]["id"]
    latent = args.latent if args.latent is not None else busiest_latent(site, args.data, dict_id)
    query = "" if args.data == "data" else f"?data={args.data}"
    out.mkdir(parents=True, exist_ok=True)
    sets = [s for s in index["transcoder_sets"] if s["graphs"]]
    where = {"query": query, "dict": dict_id, "latent": latent, "graph": args.graph}
    where["set"] = sets[0]["id"] if sets else None
    with serve(site) as base, chromium() as context:
        page = context.new_page()
        times = measure(page, base, where, out)
        shots_of_issue_21(context, base, where, site, out)
    if args.compare:  # the same steps on another page over the same data, right after
        with serve(Path(args.compare)) as base, chromium() as context:
            before = measure(context.new_page(), base, where, None)
        print(f"{'':14}{'--compare':>12}{'--site':>12}")
        for k in times:
            print(f"{k:14}{_ms(before.get(k)):>12}{_ms(times.get(k)):>12}")
    else:
        for k, v in times.items():
            print(f"{k:14}{_ms(v):>12}")
    print(f"screenshots in {out}/")


if __name__ == "__main__":
    main()
