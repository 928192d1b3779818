"""The review page in Chromium: lasso selection on the map, data shown as text (never HTML), and a decision
whose answer was lost retried and stored once."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from greyzone.store.workspace import Workspace

from .conftest import TOKEN, LiveServer
from .test_browser import Page, browser, human, wait_rows  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser
EVIL = ['<img src=x onerror="window.pwned=1">', "<b>bold</b>", "a&amp;b", "<script>window.pwned=2</script>"]


def _edge_margin(p, a, b) -> float:
    """Signed distance of point p from the line a→b (positive on the left)."""
    (x, y), (x0, y0), (x1, y1) = p, a, b
    return ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / (((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)


def test_lasso_selects_exactly_the_points_inside(browser, live_server):  # noqa: F811
    p = Page(browser, live_server.url)
    p.load()
    box = p.page.locator("#map canvas.overlay").bounding_box()
    tri = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
           for fx, fy in ((0.2, 0.15), (0.85, 0.5), (0.25, 0.9))]
    p.page.mouse.move(*tri[0])
    p.page.mouse.down()
    for a, b in zip(tri, tri[1:] + tri[:1], strict=True):
        for k in range(1, 9):
            p.page.mouse.move(a[0] + (b[0] - a[0]) * k / 8, a[1] + (b[1] - a[1]) * k / 8)
    p.page.mouse.up()
    p.page.wait_for_function("window.gz.A.source === 'selection'")
    selected = set(p.js("Array.from(window.gz.A.selection)"))
    where = p.js("Array.from({length: window.gz.S.n}, (_, i) => window.gz.map.sidOnScreen(i))")
    orient = 1 if _edge_margin(tri[2], tri[0], tri[1]) > 0 else -1
    inside = outside = 0
    for sid, at in enumerate(where):
        margins = [orient * _edge_margin((at["x"], at["y"]), a, b)
                   for a, b in zip(tri, tri[1:] + tri[:1], strict=True)]
        if min(margins) > 2:
            assert sid in selected, sid
            inside += 1
        elif min(margins) < -2:
            assert sid not in selected, sid
            outside += 1
    assert inside > 20 and outside > 20
    assert sorted(p.js("Array.from(window.gz.A.list)")) == sorted(selected)
    p.shot("08-lasso.png")
    p.page.keyboard.press("Escape")
    p.page.wait_for_function("window.gz.A.selection === null")
    assert p.errors == []


@pytest.fixture
def evil_server(workspace_path):
    """The small workspace with class names that are HTML."""
    with sqlite3.connect(workspace_path / "greyzone.sqlite") as con:
        names = json.loads(con.execute("SELECT value FROM meta WHERE key = 'classes'").fetchone()[0])
        names[: len(EVIL)] = EVIL
        con.execute("UPDATE meta SET value = ? WHERE key = 'classes'", (json.dumps(names),))
    con.close()
    ws = Workspace.open(workspace_path)
    try:
        with LiveServer(ws, TOKEN) as server:
            yield server, ws
    finally:
        ws.close()


def test_class_names_are_shown_as_text_never_html(browser, evil_server):  # noqa: F811
    server, _ws = evil_server
    p = Page(browser, server.url)
    p.load()
    options = p.js("Array.from(document.querySelectorAll('#f-label option')).map((o) => o.textContent)")
    assert options[1:1 + len(EVIL)] == EVIL
    assert p.js("Array.from(document.querySelectorAll('#bulk-relabel option')).map((o) => o.textContent)"
                )[1:1 + len(EVIL)] == EVIL
    p.page.select_option("#colour", "label")
    p.page.wait_for_function("window.gz.map.groups().length > 0")
    assert any(g.startswith(EVIL[0]) for g in p.js("window.gz.map.groups()"))
    p.page.select_option("#source", "all")
    labels = p.js("Array.from(document.querySelectorAll('#grid .cell .lb')).map((e) => e.textContent)")
    assert set(EVIL) & set(labels)
    p.page.select_option("#f-label", "0")  # samples of class EVIL[0]
    p.page.click("#grid .cell >> nth=0")
    p.page.wait_for_function("(t) => document.querySelector('#detail .chips')?.textContent.includes(t)",
                             arg=f"label {EVIL[0]}")
    p.page.keyboard.press("f")
    p.page.wait_for_selector("#single .line")
    assert f"label {EVIL[0]}" in p.page.locator("#single .line").inner_text()
    # nothing that the names spell was parsed: no <img src=x>, <b> or <script> from data, no handler ran
    assert p.js("document.querySelectorAll('img[src=\"x\"], #grid b, #f-label b, #map script').length") == 0
    assert p.js("window.pwned === undefined")
    p.shot("09-html-class-names.png")
    assert p.errors == []  # (the page runs with its CSP bypassed: only text insertion kept the names inert)


def test_a_decision_whose_answer_was_lost_is_retried_and_stored_once(browser, live_server, ws):  # noqa: F811
    p = Page(browser, live_server.url)
    p.load()
    bodies = []

    def lose_first_answer(route):
        bodies.append(json.loads(route.request.post_data))
        if len(bodies) == 1:
            route.fetch()  # the server receives, stores and answers it …
            route.abort("connectionreset")  # … and the answer never reaches the page
        else:
            route.continue_()

    p.page.route("**/api/decisions", lose_first_answer)
    sid = p.js("window.gz.A.list[0]")
    p.page.keyboard.press("i")
    p.settle()
    p.page.wait_for_function(f"window.gz.S.status[{sid}] === 3")
    rows = wait_rows(ws, 1)
    assert len(bodies) == 2 and bodies[0]["request_id"] == bodies[1]["request_id"]
    assert [(r.sid, r.action) for r in rows.itertuples()] == [(sid, "idk")]
    p.page.keyboard.press("k")  # the next action gets a new id
    p.settle()
    assert len(wait_rows(ws, 2)) == 2 and bodies[2]["request_id"] != bodies[0]["request_id"]
    assert len(human(ws)) == 2


def test_beyond_loopback_a_browser_gets_in_with_the_token_url_only(browser, ws):  # noqa: F811
    with LiveServer(ws, TOKEN, login=True) as server:
        stranger = Page(browser, server.url)
        response = stranger.page.goto(server.url)
        assert response.status == 403 and TOKEN not in stranger.page.content()
        p = Page(browser, f"{server.url}?token={TOKEN}")
        p.load()
        assert p.page.url == server.url  # the token left the address bar for an HttpOnly cookie
        assert p.js("document.cookie") == ""
        sid = p.js("window.gz.A.list[0]")
        p.page.keyboard.press("i")  # the page's own requests (cookie) and writes (header) work
        p.settle()
        assert [(r.sid, r.action) for r in wait_rows(ws, 1).itertuples()] == [(sid, "idk")]
        assert p.errors == []


def test_zoom_pan_reset_click_and_legend(browser, live_server):  # noqa: F811
    p = Page(browser, live_server.url)
    p.load()
    n = p.js("window.gz.map.drawn()")
    box = p.page.locator("#map canvas.overlay").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    sid = p.js(f"""(() => {{ let best = 0, d = Infinity;  // the sample drawn nearest the centre
        for (let i = 0; i < window.gz.S.n; i++) {{ const a = window.gz.map.sidOnScreen(i);
            const e = Math.hypot(a.x - {cx}, a.y - {cy}); if (e < d) {{ d = e; best = i; }} }}
        return best; }})()""")
    far = p.js("window.gz.A.list[window.gz.A.list.length - 1]")
    at = lambda s: p.js(f"window.gz.map.sidOnScreen({s})")  # noqa: E731
    before = at(far)
    p.page.mouse.move(cx, cy)
    p.page.mouse.wheel(0, -300)  # zoom in around the cursor: points move away from it
    p.page.wait_for_timeout(100)
    after = at(far)
    spread = math.hypot(after["x"] - cx, after["y"] - cy) / math.hypot(before["x"] - cx, before["y"] - cy)
    assert spread == pytest.approx(2.718, rel=0.05)  # one wheel step of 300: e-fold zoom
    p.page.click('#drag button[data-mode="pan"]')
    start = at(far)
    p.page.mouse.move(cx, cy)
    p.page.mouse.down()
    p.page.mouse.move(cx + 40, cy + 25, steps=4)
    p.page.mouse.up()
    moved = at(far)
    assert (moved["x"] - start["x"], moved["y"] - start["y"]) == pytest.approx((40, 25), abs=1)
    p.page.mouse.dblclick(cx, cy)  # back to the whole map
    assert at(far)["x"] == pytest.approx(before["x"], abs=0.5)
    target = at(sid)
    p.page.mouse.click(target["x"], target["y"])  # a click opens the nearest sample
    p.page.wait_for_function(f"window.gz.A.focus === {sid}")
    assert p.js("window.gz.A.source") == "queue"  # a click is not a selection
    groups = p.js("window.gz.map.groups()")
    undecided = int(groups[0].split("(")[1].rstrip(")"))
    p.page.click("#map .legend button >> nth=0")  # hide "undecided"
    p.page.wait_for_function(f"window.gz.map.drawn() === {n - undecided}")
    p.page.click("#map .legend button >> nth=0")
    p.page.wait_for_function(f"window.gz.map.drawn() === {n}")
    assert p.errors == []


def test_the_page_runs_under_its_own_content_security_policy(browser, live_server):  # noqa: F811
    """The other browser tests bypass the CSP (for Playwright's polling); this one keeps it: nothing the page
    does needs eval, inline script or another origin."""
    page = browser.new_page(viewport={"width": 1500, "height": 920})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url)
    page.wait_for_selector('body[data-ready="map"][data-started="1"]', timeout=60_000)
    page.locator("#grid .cell >> nth=0").click()
    page.wait_for_selector("#detail .chips")
    page.select_option("#colour", "idk_score")
    page.wait_for_selector("#map .colourbar:not([hidden])")
    assert errors == []
    page.close()
