"""The viewer in a real browser (Debian's Chromium driven by Playwright) on data exported from
a tiny store: picking a dictionary, deep links, search, keys, every panel's numbers against
the JSON, labels shown as text, and the messages for an old export and a missing latent.

Timings (time to first screen, to a latent page) are printed, not asserted: run with -s."""

from __future__ import annotations

import json
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
    site = root / "site"
    run_export(inputs, site / "data", FAST)
    copy_viewer(site)
    old = site / "old"
    shutil.copytree(site / "data", old)
    index = json.loads((old / "index.json").read_text())
    (old / "index.json").write_text(json.dumps({**index, "schema_version": 0}))
    return site


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
    options = page.locator("#dict-select option")
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
    page.wait_for_url(f"**#dict={RUN}")
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
    page.locator("svg.graph a.node-link").first.click()  # node 0_3_0: block 0, latent 3
    wait_view(page, "latent")
    assert page.url.endswith("#dict=tc-blocks.0&latent=3")
