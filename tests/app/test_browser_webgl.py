"""The map at scale: drawn by WebGL (one gl.POINTS call; forced with ``?map=webgl``, as headless Chromium
has only SwiftShader, a software WebGL that the page's 'auto' choice avoids), box selection and filters on
typed arrays in the page (checked against numpy on the same coordinates), and the canvas 2D fallback where
WebGL is missing or runs in software."""

from __future__ import annotations

import numpy as np
import pytest

from greyzone.app.columnar import decode, dequantise

from .test_browser import Page, browser  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser
NO_WEBGL = """(() => { const get = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
        return kind.includes('webgl') ? null : get.call(this, kind, ...rest); };
})();"""
# the map canvas's pixels that differ from the background (#0d1117), read through a 2D copy
PAINTED = """(() => { const src = document.querySelector('#map canvas.points');
    const c = Object.assign(document.createElement('canvas'), { width: src.width, height: src.height });
    const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] !== 13 || d[i + 1] !== 17 || d[i + 2] !== 23) n++;
    return n; })()"""


def expected_in_box(client, view: dict, box: dict, corners) -> tuple[set[int], set[int]]:
    """(sids surely inside, sids on the edge within 0.5 px) of the box ``corners`` (client px), from the
    coordinates the server sent, placed on screen as the page places them."""
    header, cols = decode(client.get("/api/points").content)
    x = dequantise(cols["pca_x"], *header["quantised"]["pca_x"]).astype(np.float64)
    y = dequantise(cols["pca_y"], *header["quantised"]["pca_y"]).astype(np.float64)
    px = box["x"] + (x - view["x0"]) / (view["x1"] - view["x0"]) * box["width"]
    py = box["y"] + (view["y1"] - y) / (view["y1"] - view["y0"]) * box["height"]
    (ax, ay), (bx, by) = corners
    margin = np.minimum.reduce([px - min(ax, bx), max(ax, bx) - px, py - min(ay, by), max(ay, by) - py])
    return set(np.flatnonzero(margin > 0.5).tolist()), set(np.flatnonzero(np.abs(margin) <= 0.5).tolist())


def box_select(p: Page, corners) -> None:
    p.page.click('#drag button[data-mode="select"]')
    (ax, ay), (bx, by) = corners
    p.page.mouse.move(ax, ay)
    p.page.mouse.down()
    p.page.mouse.move((ax + bx) / 2, (ay + by) / 2, steps=3)
    p.page.mouse.move(bx, by, steps=3)
    p.page.mouse.up()
    p.page.wait_for_function("window.gz.A.source === 'selection'")


def check_map(browser, url: str, client, *, renderer: str, init_script: str | None = None) -> Page:  # noqa: F811
    p = Page(browser, url)
    if init_script:
        p.page.add_init_script(init_script)
    p.load()
    assert p.js("window.gz.map.renderer") == renderer
    assert p.js(PAINTED) > 500  # the points are on the canvas
    box = p.page.locator("#map canvas.overlay").bounding_box()
    corners = [(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.2),
               (box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.8)]
    box_select(p, corners)
    inside, edge = expected_in_box(client, p.js("window.gz.map.view()"), box, corners)
    selected = set(p.js("Array.from(window.gz.A.selection)"))
    assert len(inside) > 30 and inside <= selected <= inside | edge
    shown = int(p.page.locator("#sel-info b").inner_text().replace(",", ""))
    assert shown == len(selected) == p.js("window.gz.A.list.length")
    # a filter narrows the listed selection on the page, without a request per interaction
    _, cols = decode(client.get("/api/columns").content)
    label = int(np.bincount(cols["label"][sorted(selected)]).argmax())
    requests = []
    p.page.on("request", lambda r: requests.append(r.url) if "/api/" in r.url else None)
    p.page.select_option("#f-label", str(label))
    want = sum(1 for s in selected if cols["label"][s] == label)
    p.page.wait_for_function(f"window.gz.A.list.length === {want}")
    assert 0 < want < len(selected)
    assert p.page.locator("#count b").inner_text().replace(",", "") == str(want)
    assert not [u for u in requests if "/api/columns" in u or "/api/points" in u or "/api/state" in u]
    return p


def test_the_map_is_drawn_by_webgl_and_selects_on_the_page(browser, live_server, client):  # noqa: F811
    p = check_map(browser, f"{live_server.url}?map=webgl", client, renderer="webgl")
    assert p.page.locator("#map .map-note").count() == 0
    p.shot("10-webgl-box-select.png")
    assert p.errors == []


def test_without_webgl_the_map_falls_back_to_canvas_2d_and_says_so(browser, live_server, client):  # noqa: F811
    p = check_map(browser, live_server.url, client, renderer="canvas", init_script=NO_WEBGL)
    assert "WebGL is not available" in p.page.locator("#map .map-note").inner_text()
    p.shot("11-canvas-fallback.png")
    assert p.errors == []


def test_auto_draws_on_the_cpu_where_webgl_runs_in_software(browser, live_server, client):  # noqa: F811
    p = Page(browser, live_server.url)
    p.load()
    support = p.js("""(() => { const g = document.createElement('canvas').getContext('webgl2');
        const i = g && g.getExtension('WEBGL_debug_renderer_info');
        return g ? String(g.getParameter(i ? i.UNMASKED_RENDERER_WEBGL : g.RENDERER)) : ''; })()""")
    if "SwiftShader" not in support:
        pytest.skip(f"this browser's WebGL is {support!r}, not SwiftShader")
    assert p.js("window.gz.map.renderer") == "canvas"
    assert "No GPU for WebGL" in p.page.locator("#map .map-note").inner_text()
    assert p.js(PAINTED) > 500 and p.errors == []


def test_pan_and_zoom_leave_the_uploaded_points_alone(browser, live_server):  # noqa: F811
    """Zoom and pan change the view uniform only: no buffer upload after the first draw."""
    p = Page(browser, f"{live_server.url}?map=webgl")
    p.page.add_init_script("""(() => { window.gzUploads = 0;
        const orig = WebGL2RenderingContext.prototype.bufferData;
        WebGL2RenderingContext.prototype.bufferData = function (...a) { window.gzUploads++;
            return orig.apply(this, a); }; })();""")
    p.load()
    before = p.js("window.gzUploads")
    box = p.page.locator("#map canvas.overlay").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    painted = p.js(PAINTED)
    p.page.mouse.move(cx, cy)
    p.page.mouse.wheel(0, -300)
    p.page.click('#drag button[data-mode="pan"]')
    p.page.mouse.down()
    p.page.mouse.move(cx + 60, cy + 30, steps=5)
    p.page.mouse.up()
    p.page.wait_for_timeout(100)
    assert p.js("window.gzUploads") == before
    assert p.js(PAINTED) != painted  # the picture did change
    assert p.errors == []


