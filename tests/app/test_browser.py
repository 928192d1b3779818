"""The review app in a real browser (Playwright driving Debian Chromium) on a small real-MNIST workspace.

Screenshots go to ``test-artifacts/`` (gitignored) so a person can look at what the test saw.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian Chromium at "
                                 "/usr/bin/chromium (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'greyzone[test]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A page on the live server that records console errors and saves screenshots."""

    def __init__(self, browser, url: str) -> None:
        self.errors: list[str] = []
        # bypass_csp: Playwright's wait_for_function polls string expressions with eval, which the page's CSP
        # (script-src 'self') forbids; it also lets the HTML-injection test see a handler that would run.
        self.page = browser.new_page(viewport={"width": 1500, "height": 920}, bypass_csp=True)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: d.accept())
        self.url = url

    def load(self) -> None:
        self.page.goto(self.url)
        self.page.wait_for_selector('body[data-ready="map"][data-started="1"]', timeout=60_000)

    def js(self, expr: str):
        return self.page.evaluate(expr)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name))

    def settle(self) -> None:
        """Wait until every queued decision was acknowledged."""
        self.page.wait_for_function("document.querySelectorAll('.cell.pending').length === 0")
        self.page.wait_for_timeout(150)


def human(ws):
    d = ws.decisions.history()
    return d[d.source == "human"].sort_values("id")


def wait_rows(ws, n: int, timeout: float = 10.0):
    """The human decision rows once there are at least ``n`` (read straight from the database)."""
    deadline = time.monotonic() + timeout
    while len(rows := human(ws)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


def box_select(p: Page, frac=(0.2, 0.2, 0.8, 0.8)) -> None:
    """A real mouse drag over the plot area with the Box tool."""
    p.page.click('#drag button[data-mode="select"]')
    box = p.page.locator("#map canvas.overlay").bounding_box()
    x0, y0 = box["x"] + box["width"] * frac[0], box["y"] + box["height"] * frac[1]
    x1, y1 = box["x"] + box["width"] * frac[2], box["y"] + box["height"] * frac[3]
    p.page.mouse.move(x0, y0)
    p.page.mouse.down()
    p.page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    p.page.mouse.move(x1, y1, steps=5)
    p.page.mouse.up()


def test_select_decide_undo_reload_export(browser, live_server, ws):
    p = Page(browser, live_server.url)
    p.load()
    scores = ws.scores()
    n_queue = int(scores.idk_proposed.sum())
    assert p.js("window.gz.A.list.length") == n_queue
    assert p.page.locator("#grid .cell").count() == min(n_queue, 200)
    p.page.wait_for_function("window.gzTimings.grid !== undefined")
    assert p.page.locator("#progress .txt").inner_text().startswith(f"Queue 0 / {n_queue}")
    assert p.page.locator('#proj button[data-proj="umap"]').is_disabled()  # the fixture has no UMAP
    p.shot("01-loaded.png")

    # box-select on the map: the grid lists exactly the selected points
    box_select(p)
    p.page.wait_for_function("window.gz.A.source === 'selection'")
    selected = p.js("Array.from(window.gz.A.selection)")
    assert 20 < len(selected) < 600
    listed = p.js("Array.from(window.gz.A.list)")
    assert sorted(listed) == sorted(selected)
    assert p.page.locator("#grid .cell").count() == min(len(listed), 200)
    assert "selected" in p.page.locator("#sel-info").inner_text()
    pca = scores[["pca_x", "pca_y"]].to_numpy()
    inside, outside = pca[selected], np.delete(pca, selected, axis=0)
    lo, hi = inside.min(0), inside.max(0)  # everything in the selected box's data range was selected
    assert not ((outside >= lo) & (outside <= hi)).all(axis=1).any()
    p.page.wait_for_timeout(300)
    p.shot("02-box-selection.png")

    # keyboard decisions on the first three listed samples: i, a digit, k; then u undoes the k
    first = listed[:3]
    p.page.click("#grid .cell >> nth=0")
    label1 = int(scores.label[first[1]])
    digit = (label1 + 1) % 10
    p.page.keyboard.press("i")
    p.page.keyboard.press(str(digit))
    p.page.keyboard.press("k")
    p.settle()
    rows = wait_rows(ws, 3)
    assert [(r.sid, r.action, r.label if r.action == "relabel" else None) for r in rows.itertuples()] == [
        (first[0], "idk", None), (first[1], "relabel", digit), (first[2], "keep", None)]
    assert set(rows.author) == {"tester"}
    cell0 = p.page.locator("#grid .cell >> nth=0")
    assert "s-3" in cell0.get_attribute("class") and cell0.locator(".st").inner_text() == "IDK"
    assert p.page.locator("#grid .cell >> nth=1").locator(".st").inner_text() == f"→{digit}"
    p.page.keyboard.press("u")
    p.settle()
    rows = wait_rows(ws, 4)
    assert rows.action.iloc[-1] == "undo" and rows.sid.iloc[-1] == first[2]
    p.page.wait_for_function(f"window.gz.S.status[{first[2]}] < 2")
    p.page.wait_for_function("document.querySelector('#history-list').innerText.includes('IDK')")
    p.page.wait_for_function("window.gz.map.groups().some((name) => name.startsWith('IDK ('))")
    p.shot("03-decided.png")

    # navigation keys
    start = p.js("window.gz.A.cursor")
    for key, want in (("l", start + 1), ("j", start), ("ArrowRight", start + 1), ("ArrowLeft", start),
                      ("Home", 0), ("]", min(200, len(listed) - 1)), ("[", 0), ("End", len(listed) - 1)):
        p.page.keyboard.press(key)
        assert p.js("window.gz.A.cursor") == want, key
    assert p.js("window.gz.A.page") == (len(listed) - 1) // 200
    p.page.keyboard.press("Home")

    # one-at-a-time view
    p.page.keyboard.press("f")
    p.page.wait_for_selector("#single .big")
    p.shot("04-one-at-a-time.png")
    p.page.keyboard.press("f")

    # colour by a score, hover a point: its thumbnail appears
    p.page.select_option("#colour", "idk_score")
    p.page.wait_for_timeout(500)
    sid = first[0]
    assert p.page.locator("#map .colourbar").is_visible()
    xy = p.js(f"(() => {{ const at = window.gz.map.sidOnScreen({sid}); return [at.x, at.y]; }})()")
    p.page.mouse.move(xy[0] + 1, xy[1] + 1)
    p.page.mouse.move(xy[0], xy[1])
    p.page.wait_for_selector("#hover-thumb:not([hidden])", timeout=5000)
    p.shot("05-score-colour-hover.png")

    # reload: the decisions are still there
    p.load()
    status = p.js(f"[{first[0]}, {first[1]}, {first[2]}].map(s => window.gz.S.status[s])")
    assert status[0] == 3 and status[1] == 4 and status[2] < 2
    assert p.js(f"window.gz.S.curated[{first[1]}]") == digit

    # export from the page
    p.page.click("#export-btn")
    p.page.wait_for_selector("#export-dialog[open] table", timeout=60_000)
    text = p.page.locator("#export-body").inner_text()
    assert "export" in text and "IDK" in text
    p.shot("06-export.png")
    root = ws.path / "export"
    idx = scores["index"]
    split = scores.split
    assert (root / split[first[0]] / "IDK" / f"{idx[first[0]]:05d}.png").is_file()
    assert (root / split[first[1]] / str(digit) / f"{idx[first[1]]:05d}.png").is_file()
    manifest = (root / "manifest.csv").read_text().splitlines()
    assert len(manifest) == len(scores) + 1
    assert p.errors == []


def test_two_tabs_see_each_others_decisions(browser, live_server, ws):
    a, b = Page(browser, live_server.url), Page(browser, live_server.url)
    a.load()
    b.load()
    sid = a.js("window.gz.A.list[0]")
    a.page.keyboard.press("i")
    a.settle()
    b.page.wait_for_function(f"window.gz.S.status[{sid}] === 3", timeout=10_000)  # picked up by polling
    cell = f"document.querySelector('#grid .cell[data-sid=\"{sid}\"]')"
    b.page.wait_for_function(f"{cell}.classList.contains('s-3')")
    b.page.keyboard.press("k")  # b's cursor is on the same sample: its keep replaces a's IDK
    b.settle()
    a.page.wait_for_function(f"window.gz.S.status[{sid}] === 2", timeout=10_000)
    assert list(human(ws).action) == ["idk", "keep"]
    assert a.errors == [] and b.errors == []


def test_bulk_idk_on_a_selection(browser, live_server, ws):
    p = Page(browser, live_server.url)
    p.load()
    box_select(p, (0.45, 0.45, 0.6, 0.6))
    p.page.wait_for_function("window.gz.A.source === 'selection'")
    listed = p.js("Array.from(window.gz.A.list)")
    assert listed
    p.page.click("#bulk-idk")  # the confirm() dialog is accepted
    p.page.wait_for_function(f"window.gz.S.status[{listed[-1]}] === 3")
    rows = wait_rows(ws, len(listed))
    assert sorted(rows.sid) == sorted(listed) and set(rows.action) == {"idk"}
    assert rows.created_at.nunique() == 1  # one transaction
    p.page.keyboard.press("u")  # undo takes back the whole bulk action
    p.page.wait_for_function(f"window.gz.S.status[{listed[-1]}] < 2")
    assert (human(ws).action == "undo").sum() == len(listed)
    assert p.errors == []


def test_enter_accepts_the_suggested_action(browser, live_server, ws):
    s = ws.scores()
    fix = int(s.sid[(s.split == "train") & ~s.idk_proposed].iloc[0])
    label = int(s.label[fix])
    new = (label + 1) % 10
    ws.decisions.append([fix], "relabel", label=new, source="auto", author="greyzone",
                        reason="confident correction")
    idk = int(s.sid[s.idk_proposed].iloc[0])
    p = Page(browser, live_server.url)
    p.load()
    assert fix in p.js("Array.from(window.gz.A.list)")  # a relabel proposal is in the review queue
    assert p.js(f"window.gz.S.status[{fix}]") == 5 and p.js(f"window.gz.S.suggested[{fix}]") == new
    cell = p.page.locator(f'#grid .cell[data-sid="{fix}"]')
    assert "s-5" in cell.get_attribute("class")
    cell.click()
    p.page.wait_for_function(
        f"document.querySelector('#detail .suggest')?.innerText.includes('relabel → {new}')")
    p.shot("07-suggested-relabel.png")
    p.page.keyboard.press("Enter")
    p.settle()
    rows = wait_rows(ws, 1)
    assert [(r.sid, r.action, int(r.label), r.author) for r in rows.itertuples()] == [
        (fix, "relabel", new, "tester")]
    p.page.wait_for_function(f"window.gz.S.status[{fix}] === 4 && window.gz.S.curated[{fix}] === {new}")

    p.page.locator(f'#grid .cell[data-sid="{idk}"]').click()
    p.page.wait_for_function("document.querySelector('#detail .suggest')?.innerText.includes('IDK')")
    p.page.keyboard.press("Enter")
    p.settle()
    rows = wait_rows(ws, 2)
    assert (rows.sid.iloc[-1], rows.action.iloc[-1]) == (idk, "idk")

    p.page.select_option("#source", "all")  # a sample without a proposal: Enter records nothing
    other = p.js("Array.from(window.gz.A.list).slice(0, 200).find((i) => window.gz.S.suggested[i] < 0)")
    p.page.locator(f'#grid .cell[data-sid="{other}"]').click()
    p.page.keyboard.press("Enter")
    p.page.wait_for_function("document.getElementById('toast').innerText.includes('No suggested action')")
    assert len(human(ws)) == 2
    assert p.errors == []
