"""The viewer in a real browser (Debian's Chromium driven by Playwright) on data exported from
a tiny store: picking a dictionary, deep links, search, keys, every panel's numbers against
the JSON, labels shown as text, and the messages for an old export and a missing latent.

Timings (time to first screen, to a latent page) are printed, not asserted: run with -s.

OLD_VIEWER=DIR runs the same tests against the page files (index.html, style.css, js/) of
another checkout, e.g. `git worktree add /tmp/old <commit>` then OLD_VIEWER=/tmp/old/vis: how
the tests of the issue-21 defects were seen to fail on the page before them."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from tests.test_vis_export import FAST, RUN, XSS, build_inputs, run_export
from vis.browser import CHROMIUM, chromium, hash_timed, open_timed, serve, wait_view
from vis.export import copy_viewer

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Chromium is not installed at {CHROMIUM} (.ci/run installs it with apt-get)",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("vis_browser")
    inputs = build_inputs(root)
    _plot(inputs["sae"].parent / "scaling_topk.png")
    site = root / "site"
    run_export(inputs, site / "data", FAST)
    if os.environ.get("OLD_VIEWER"):  # another version of the page over the same data
        old_page = Path(os.environ["OLD_VIEWER"])
        for name in ("index.html", "style.css", "js"):
            src = old_page / name
            (shutil.copytree if src.is_dir() else shutil.copyfile)(src, site / name)
    else:
        copy_viewer(site)
    old = site / "old"
    shutil.copytree(site / "data", old)
    index = json.loads((old / "index.json").read_text())
    (old / "index.json").write_text(json.dumps({**index, "schema_version": 0}))
    # an export whose boards.json is gone, and one listing the transcoders (no reports) first
    shutil.copytree(site / "data", site / "noboards")
    (site / "noboards" / "boards.json").unlink()
    shutil.copytree(site / "data", site / "tcfirst")
    index = json.loads((site / "tcfirst" / "index.json").read_text())
    index["dictionaries"] = index["dictionaries"][1:] + index["dictionaries"][:1]
    (site / "tcfirst" / "index.json").write_text(json.dumps(index))
    return site


def _plot(path: Path) -> None:
    """A sweep plot as wide as the sweep's real ones (the page once showed them 382 px wide)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3), dpi=80)  # 720 x 240 px
    ax.plot([1, 2, 3], [3, 1, 2])
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture(scope="module")
def browser(site):
    with serve(site) as base, chromium() as context:
        yield base, context


@pytest.fixture
def page(browser):
    base, context = browser
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield base, page
    page.close()
    assert not errors, errors


def data(site, rel):
    return json.loads((site / "data" / rel).read_text())


def latent_record(site, dict_id, latent):
    index = data(site, "index.json")
    entry = next(d for d in index["dictionaries"] if d["id"] == dict_id)
    shard = data(site, f"{entry['folder']}/latents/{latent // entry['shard_size']}.json")
    return shard["latents"][latent - shard["first"]]


def test_pick_a_dictionary_and_browse_the_list(site, page, tmp_path):
    base, page = page
    ms = open_timed(page, f"{base}/index.html", "list")
    own = page.evaluate("visTimings.first")
    print(f"\ntime to first screen: {ms:.0f} ms (page clock {own:.0f} ms)")
    options = page.locator("#dict-select option:not([disabled])")
    assert options.all_text_contents()[0].startswith(RUN) and options.count() == 3
    assert page.locator("h1.title").text_content() == RUN
    summary = data(site, f"dicts/{RUN}/summary.json")["columns"]
    rows = page.locator("table.latents tbody tr")
    assert rows.count() == 64  # one page holds them all
    # sorted by density: the first row is the densest latent, its density as a percentage
    first = max(range(64), key=lambda i: (summary["density"][i], -i))
    assert rows.first.get_attribute("data-latent") == str(first)
    # the sweep's frontier: one point per run of scaling.json, this run highlighted
    assert page.locator("svg.scatter circle.pt").count() == 2
    assert page.locator("svg.scatter circle.pt.current").count() == 1
    page.select_option("#dict-select", "tc-blocks.1")
    page.wait_for_selector("h1.title:text-is('tc-blocks.1')")
    wait_view(page, "list")
    assert "#dict=tc-blocks.1" in page.url
    assert page.locator("table.latents tbody tr").count() == 48
    page.screenshot(path=tmp_path / "list.png")


def test_latent_page_draws_the_json_numbers(site, page, tmp_path):
    base, page = page
    summary = data(site, f"dicts/{RUN}/summary.json")["columns"]
    latent = max(range(64), key=lambda i: (summary["density"][i], -i))
    rec = latent_record(site, RUN, latent)
    boards = data(site, "boards.json")["boards"]
    open_timed(page, f"{base}/index.html", "list")
    ms = hash_timed(page, f"dict={RUN}&latent={latent}", "latent")
    own = page.evaluate("visTimings.latent")
    print(f"\ntime to a latent page: {ms:.0f} ms (page clock {own:.0f} ms)")
    # boards: every top and quantile example, with its activation and its discs
    figs = page.locator("figure.board-fig")
    n_quantile = sum(len(ex) for _, _, ex in rec["quantiles"])
    assert figs.count() == len(rec["top"]) + n_quantile
    for j in (0, len(rec["top"]) - 1):
        board, act = rec["top"][j]
        fig = figs.nth(j)
        assert fig.get_attribute("data-board") == str(board)
        assert float(fig.get_attribute("data-activation")) == act
        text = boards[board][0]
        assert int(fig.get_attribute("data-black")) == text[:36].count("X")
        assert fig.locator("circle.disc.black").count() == text[:36].count("X")
        assert fig.locator("circle.disc.white").count() == text[:36].count("O")
        assert fig.locator("circle.legal").count() == text[:36].count("+")
    # histogram: one bar per bin, carrying the JSON's counts
    bars = page.locator("svg.histogram rect.bar")
    assert [int(b.get_attribute("data-count")) for b in bars.all()] == rec["hist"]
    heights = [float(b.get_attribute("height")) for b in bars.all()]
    assert heights.index(max(heights)) == rec["hist"].index(max(rec["hist"]))
    # heatmap: 36 squares, each the policy change of its move
    cells = page.locator("svg.heatmap rect.hm")
    assert cells.count() == 36
    drawn = [float(c.get_attribute("data-value")) for c in cells.all()]
    assert drawn == rec["effect"]["policy"][:36]
    assert page.locator("svg.heatmap rect.hm").nth(0).get_attribute("data-square") == "a1"
    value = rec["effect"]["value"]
    assert page.get_by_text("value change").locator("..").locator(".stat-value").text_content() in (
        f"{'+' if value > 0 else ''}{float(f'{value:.3g}')}",
        f"{'+' if value > 0 else ''}{value:.1e}",
    )
    # related latents link to their pages
    similar = page.locator(".related ol.neighbours").first.locator("a")
    assert similar.count() == len(rec["similar"])
    assert similar.first.get_attribute("href") == f"#dict={RUN}&latent={rec['similar'][0][0]}"
    page.screenshot(path=tmp_path / "latent.png", full_page=True)


def shown_latents(page) -> set[int]:
    return {
        int(r.get_attribute("data-latent"))
        for r in page.locator("table.latents tr[data-latent]").all()
    }


def test_search_by_id_and_by_concept(site, page):
    base, page = page
    open_timed(page, f"{base}/index.html#dict={RUN}", "list")
    page.fill("#search", "5")
    page.press("#search", "Enter")
    wait_view(page, "latent")
    assert page.url.endswith(f"#dict={RUN}&latent=5")
    assert "latent #5" in page.locator("h1.title").text_content()
    page.fill("#search", "threat c3")
    page.press("#search", "Enter")
    wait_view(page, "list")
    # every even latent is labelled threat_defensive@c3 in the tiny concepts report
    assert page.locator("p.count").text_content().startswith("32 latents match")
    ids = shown_latents(page)
    assert ids == set(range(0, 64, 2))
    page.fill("#search", "stable corner")  # stable_mine@a1: a1 is a corner
    page.press("#search", "Enter")
    wait_view(page, "list")
    ids = shown_latents(page)
    assert ids == set(range(3, 64, 2))  # the odd ones but latent 1 (its label is the XSS one)


SLOW_HASHCHANGE = """
const add = window.addEventListener.bind(window);
window.addEventListener = (type, fn, ...rest) => add(
  type, type === "hashchange" ? (e) => setTimeout(() => fn(e), 400) : fn, ...rest);
"""


def test_a_list_after_a_list_is_waited_for(site, page):
    """A new search from a list: the old list must not pass for the new one, however late
    the page handles the URL change (here 400 ms late)."""
    base, page = page
    page.add_init_script(SLOW_HASHCHANGE)
    open_timed(page, f"{base}/index.html#dict={RUN}&q=threat%20c3", "list")
    assert shown_latents(page) == set(range(0, 64, 2))
    page.fill("#search", "stable corner")
    page.press("#search", "Enter")
    wait_view(page, "list")
    assert page.locator("p.count").text_content().startswith("31 latents match")
    assert shown_latents(page) == set(range(3, 64, 2))


def test_keyboard_moves_opens_and_steps_between_latents(site, page):
    base, page = page
    open_timed(page, f"{base}/index.html#dict={RUN}&sort=id", "list")
    rows = page.locator("table.latents tbody tr")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert rows.nth(1).get_attribute("class") == "selected"
    assert page.locator("table.latents tbody tr.selected").count() == 1
    page.keyboard.press("Enter")
    wait_view(page, "latent")
    assert page.url.endswith(f"#dict={RUN}&latent=1")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**#dict={RUN}&latent=2")
    wait_view(page, "latent")
    page.keyboard.press("[")
    page.wait_for_url(f"**#dict={RUN}&latent=1")
    page.keyboard.press("u")
    page.wait_for_url(f"**#dict={RUN}&sort=id")  # the list as it was left
    wait_view(page, "list")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    wait_view(page, "graphs")


def test_labels_from_files_are_shown_as_text(site, page):
    base, page = page
    open_timed(page, f"{base}/index.html#dict={RUN}&latent=1", "latent")
    assert page.locator("h1.title .title-label").text_content().strip() == XSS
    assert page.locator(".explanation .label").text_content() == XSS
    open_timed(page, f"{base}/index.html#dict={RUN}&sort=id", "list")
    assert page.locator("table.latents tbody tr").nth(1).locator("td.label").text_content() == XSS
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("window.__xss") is None


def test_old_schema_and_missing_latent_say_so(site, page):
    base, page = page
    open_timed(page, f"{base}/index.html?data=old#dict={RUN}", "error")
    text = page.locator(".message.error").text_content()
    assert "schema version 0" in text and "reads version 1" in text
    assert page.locator("table.latents").count() == 0
    open_timed(page, f"{base}/index.html#dict={RUN}&latent=99999", "missing")
    text = page.locator(".message.error").text_content()
    assert "Latent 99999 does not exist in topk_k4_n64: it has 64 latents (0–63)" in text
    open_timed(page, f"{base}/index.html#dict=nope", "error")
    assert "No dictionary “nope”" in page.locator(".message.error").text_content()


def test_graph_page_nodes_open_their_latents(site, page, tmp_path):
    base, page = page
    open_timed(page, f"{base}/index.html#set=tc&graph=0", "graph")
    assert page.locator("svg.graph circle.node").count() == 5
    assert page.locator("svg.graph circle.node.feature").count() == 2
    assert page.locator("svg.graph line.link").count() == 4
    page.screenshot(path=tmp_path / "graph.png", full_page=True)
    # node 0_3_0 is block 0's latent 3, its `feature` the Cantor pairing 9: the side panel
    # links to latent 3, and the page stays on the graph
    page.locator("svg.graph g.node-g[data-node='0_3_0'] .node").click()
    link = page.locator(".graph-panel a.open-latent")
    assert link.get_attribute("href") == "#dict=tc-blocks.0&latent=3"
    assert "clickedId=0_3_0" in page.url and page.evaluate("document.body.dataset.view") == "graph"
    link.click()
    wait_view(page, "latent")
    assert page.url.endswith("#dict=tc-blocks.0&latent=3")


# -- issue 21: a viewer a researcher can trust --------------------------------------------
def _densest(site):
    summary = data(site, f"dicts/{RUN}/summary.json")["columns"]
    return max(range(64), key=lambda i: (summary["density"][i], -i))


def _fill(v: float, scale: float) -> str:
    """The heatmap's colour of a change v under saturation `scale` (the page's formula)."""
    t = min(1.0, abs(v) / scale)
    rgb = (178, 24, 43) if v >= 0 else (33, 102, 172)
    return "rgb({},{},{})".format(*(math.floor(255 + (c - 255) * t + 0.5) for c in rgb))


def test_effect_heatmap_has_a_colour_bar_and_a_fixed_scale(site, page):
    """1: colours saturate at a fixed ±10 pp unless asked for the latent's own scale, a colour
    bar says so, and a cell's text is its value (no -0.1 for -0.05)."""
    base, page = page
    latent = _densest(site)
    policy = latent_record(site, RUN, latent)["effect"]["policy"][:36]
    open_timed(page, f"{base}/index.html#dict={RUN}&latent={latent}", "latent")
    bar = page.locator("svg.colorbar")
    assert bar.count() == 1 and float(bar.get_attribute("data-scale")) == 0.1
    assert bar.locator("text").all_text_contents() == ["+10 pp", "0 pp", "-10 pp"]
    cells = page.locator("svg.heatmap rect.hm").all()
    assert [c.get_attribute("fill") for c in cells] == [_fill(v, 0.1) for v in policy]
    squares = [c.get_attribute("data-square") for c in cells]
    for text in page.locator("svg.heatmap text.hm-text").all():
        v = policy[squares.index(text.get_attribute("data-square"))]
        assert float(text.text_content()) == float(f"{100 * v:.2g}")  # 2 significant digits
    page.locator("a", has_text="this latent's largest change").click()
    wait_view(page, "latent")
    own = max(abs(v) for v in policy)
    assert "scale=latent" in page.url
    assert float(page.locator("svg.colorbar").get_attribute("data-scale")) == pytest.approx(own)
    cells = page.locator("svg.heatmap rect.hm").all()
    assert [c.get_attribute("fill") for c in cells] == [_fill(v, own) for v in policy]


def test_concept_search_matches_within_one_name_and_shows_it(site, page):
    """2: words must meet in one concept name; the list says which name matched."""
    base, page = page
    open_timed(page, f"{base}/index.html#dict={RUN}&q=stable%20corner", "list")
    assert shown_latents(page) == set(range(3, 64, 2))
    row = page.locator("table.latents tbody tr").first
    assert row.locator("td.match .label").text_content() == "stable_mine@a1"
    # the even latents hold threat_defensive@c3 and mobility_mine>=5: "threat" and
    # "mobility" are in two different names, so they do not match
    open_timed(page, f"{base}/index.html#dict={RUN}&q=threat%20mobility", "list")
    assert shown_latents(page) == set()
    assert page.locator("p.count").text_content().startswith("0 latents match")
    open_timed(page, f"{base}/index.html#dict={RUN}&q=mobility_mine", "list")
    assert len(shown_latents(page)) == 64  # a family name matches whole


def test_opened_from_a_file_the_page_says_how_to_serve_it(site, browser):
    """3: from file:// the module scripts cannot run; the page says to run http.server."""
    _, context = browser
    page = context.new_page()
    try:
        page.goto((site / "index.html").as_uri())
        wait_view(page, "file", 10_000)
        text = page.locator(".message.error").text_content()
        assert "python -m http.server 8000 -d " + str(site) in text
    finally:
        page.close()


def test_keys_respect_focus_and_back_stays_in_the_app(site, page):
    """4: Enter on a focused link opens that link, Enter on a button presses it, arrows in
    the select stay there; u on a graph opened in a fresh tab goes up to the graph list."""
    base, page = page
    open_timed(page, f"{base}/index.html#dict={RUN}&sort=id", "list")
    page.locator("table.latents tbody tr").nth(5).locator("a").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**#dict={RUN}&latent=5")
    open_timed(page, f"{base}/index.html#dict=tc-blocks.0&sort=id", "list")
    page.locator("#dict-select").focus()
    page.keyboard.press("ArrowDown")  # the select's own: the next dictionary, not the next row
    page.wait_for_url("**#dict=tc-blocks.1")
    wait_view(page, "list")
    assert page.locator("table.latents tbody tr").first.get_attribute("class") == "selected"
    open_timed(page, f"{base}/index.html#dict={RUN}&sort=id", "list")
    page.locator(".sorts a", has_text="density").focus()
    page.keyboard.press("Enter")  # follows the sort link, opens no latent
    page.wait_for_url(f"**#dict={RUN}&sort=density")
    wait_view(page, "list")
    fresh = page.context.new_page()
    try:
        open_timed(fresh, f"{base}/index.html#set=tc&graph=0", "graph")
        fresh.keyboard.press("u")
        fresh.wait_for_url("**#set=tc")
        wait_view(fresh, "graphs")
    finally:
        fresh.close()


def test_without_boards_the_other_panels_still_show(site, page):
    """5: a missing boards.json costs the boards only."""
    base, page = page
    latent = _densest(site)
    open_timed(page, f"{base}/index.html?data=noboards#dict={RUN}&latent={latent}", "latent")
    assert "boards.json" in page.locator(".message.note").first.text_content()
    assert page.locator("svg.histogram rect.bar").count() == 20
    assert page.locator("svg.heatmap rect.hm").count() == 36
    assert page.locator("figure.board-fig").count() == 0
    open_timed(page, f"{base}/index.html?data=noboards#set=tc&graph=1", "graph")
    assert page.locator("svg.graph .node").count() > 3


def test_graph_page_reads_circuits(site, page, tmp_path):
    """6: labels drawn, hover lights a node's edges and lists its strongest inputs with their
    weights, pins and supernodes in the URL (circuit-tracer's names), biases off the row,
    influence explained, per-layer latents named so, the header claims no dictionary."""
    base, page = page
    open_timed(page, f"{base}/index.html#set=tc&graph=1", "graph")  # a graph the export built
    slug = data(site, "index.json")["transcoder_sets"][0]["graphs"][1]["file"]
    graph = data(site, slug)
    nodes = {n["node_id"]: n for n in graph["nodes"]}
    labels = page.locator("svg.graph text.node-label").all_text_contents()
    assert len(labels) == len(graph["nodes"]) and all(labels)
    assert page.locator("#dict-select").input_value() == ""
    # biases sit off their rows: no bias link is horizontal
    for line in page.locator("svg.graph line.link").all():
        if nodes[line.get_attribute("data-source")]["feature_type"] == "bias":
            assert line.get_attribute("y1") != line.get_attribute("y2")
    # hover the target: its inputs light up and the panel lists the strongest with weights
    target = next(n for n in graph["nodes"] if n["is_target_logit"])
    ins = sorted(
        (lk for lk in graph["links"] if lk["target"] == target["node_id"]),
        key=lambda lk: -abs(lk["weight"]),
    )
    page.keyboard.press("?")
    page.locator(f"svg.graph g.node-g[data-node='{target['node_id']}'] .node").hover()
    page.wait_for_selector(f"body[data-hovered='{target['node_id']}']")
    assert page.locator("svg.graph .hot-links line").count() == len(ins)
    listed = page.locator(".graph-panel ol.edges.inputs li")
    assert listed.count() == min(8, len(ins))
    assert listed.first.get_attribute("data-node") == ins[0]["source"]
    assert float(listed.first.get_attribute("data-weight")) == ins[0]["weight"]
    # pin two latents and group them: the URL carries pinnedIds and supernodes
    latents = [n["node_id"] for n in graph["nodes"] if n["feature_type"].endswith("transcoder")]
    for nid in latents[:2]:
        page.locator(f"svg.graph g.node-g[data-node='{nid}'] .node").click()
        page.locator(".graph-panel button.pin").click()
    page.fill("input.supernode-name", "pair")
    page.locator("button.group").click()
    assert "pinnedIds=" in page.url and "supernodes=" in page.url
    page.screenshot(path=tmp_path / "graph_read.png", full_page=True)
    page.reload()
    wait_view(page, "graph")
    assert page.locator("ul.pins li.supernode").get_attribute("data-members") == ",".join(
        latents[:2]
    )
    assert page.locator("svg.subgraph rect.node.supernode").count() == 1
    table = page.locator("table.nodes")
    assert "smaller = more important" in table.locator("thead").text_content()
    assert "cross layer" not in table.locator("tbody").text_content()
    # searching on a graph finds nodes there and stays on the graph
    page.fill("#search", "3")
    page.press("#search", "Enter")
    assert page.evaluate("document.body.dataset.view") == "graph"


def test_phone_width_fits_the_screen(site, browser):
    """7: at 390 x 844 the header and key line take little height, nothing is wider than
    the screen, and the graph's target text reads on one line."""
    base, context = browser
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        open_timed(page, f"{base}/index.html#dict={RUN}", "list")
        fixed = page.evaluate(
            """() => [...document.querySelectorAll('header, footer')]
                 .filter(e => ['sticky', 'fixed'].includes(getComputedStyle(e).position)
                              && getComputedStyle(e).display !== 'none')
                 .reduce((s, e) => s + e.getBoundingClientRect().height, 0)"""
        )
        assert fixed < 844 * 0.15
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        panel = page.locator("table.latents").locator("xpath=ancestor::section").first
        assert panel.bounding_box()["width"] <= 390
        open_timed(page, f"{base}/index.html#set=tc&graph=0", "graph")
        box = page.locator(".graph-facts dd.target").bounding_box()
        assert box["height"] < 40 and box["width"] > 60
    finally:
        page.close()


def test_smaller_defects_of_the_list_and_latent_pages(site, page):
    """8: landing on a dictionary with reports; no link past the last latent; an unknown
    sort says so; u keeps the list's filter; readable plots; no overflowing tables; the
    glossary; the dead count explained."""
    base, page = page
    open_timed(page, f"{base}/index.html?data=tcfirst", "list")
    assert page.locator("h1.title").text_content() == RUN  # the one with explanations
    open_timed(page, f"{base}/index.html#dict=tc-blocks.0", "list")
    assert "best AUC" not in page.locator("table.latents thead").text_content()
    open_timed(page, f"{base}/index.html#dict={RUN}&latent=99999", "missing")
    assert page.locator(".latent-nav a", has_text="99998").count() == 0
    open_timed(page, f"{base}/index.html#dict={RUN}&sort=bogus", "list")
    assert "Unknown sort “bogus”" in page.locator(".message.note").first.text_content()
    open_timed(page, f"{base}/index.html#dict={RUN}&q=stable%20corner&sort=id", "list")
    page.keyboard.press("Enter")
    wait_view(page, "latent")
    page.keyboard.press("u")
    wait_view(page, "list")
    assert "q=stable%20corner" in page.url and "sort=id" in page.url
    # the sweep's PNG at its own size (720 px) within the panel, not squeezed
    img = page.locator(".plot img").first
    img.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('.plot img').complete")
    shown = img.bounding_box()["width"]
    assert shown >= min(720, page.locator(".plots").bounding_box()["width"]) - 2
    # the scatter's axis label clear of every tick label
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('svg.scatter text')].map(t => {
             const b = t.getBBox();
             return [t.classList.contains('axis-label'), b.x, b.y, b.width, b.height]; })"""
    )
    labels = [b for b in boxes if b[0]]
    ticks = [b for b in boxes if not b[0]]
    for _, x, y, w, h in labels:
        for _, x2, y2, w2, h2 in ticks:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
    # tables scroll inside their panels
    page.locator("details summary", has_text="concept families").click()
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('section.panel')]
             .filter(p => p.scrollWidth > p.clientWidth + 1).length"""
    )
    assert overflow == 0
    # the glossary defines the families the page names
    page.locator("#nav-glossary").click()
    wait_view(page, "glossary")
    terms = set(page.locator("dl.glossary dt").evaluate_all("ds => ds.map(d => d.dataset.term)"))
    assert {"mine", "theirs", "keeps_outcome", "flips", "quadrant_odd", "agent_policy"} <= terms
