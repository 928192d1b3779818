"""The report in a real browser: Debian Chromium opens ``report.html`` from ``file://`` with every section.

The workspace is the small real one of ``tests/unit/test_report.py`` (built once per session) plus a real
``greyzone evaluate`` (1 seed, 1 epoch, small probe sets; Fashion-MNIST skipped to stay quick) and a
curation-benchmark file, so every section renders. The full-page screenshot goes to
``test-artifacts/report.png`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from greyzone.store.workspace import Workspace
from tests.unit.test_report import FAKE_CURATION, copy_workspace, report_workspace

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ["maps", "scores", "idk", "by-class", "by-score", "duplicates", "confusion", "evaluation",
            "curation", "config"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian Chromium at "
                                 "/usr/bin/chromium (apt-get install chromium)")]


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    """A report with every section: small real workspace, real evaluation, a curation-benchmark file."""
    from greyzone.config import TrainConfig
    from greyzone.evaluation.evaluate import EvalConfig, evaluate_workspace
    from greyzone.report import write_report

    base = report_workspace(tmp_path_factory.getbasetemp())
    ws = Workspace.open(copy_workspace(base, tmp_path_factory.mktemp("report-browser") / "ws"))
    try:
        from greyzone.export.tree import write_export

        write_export(ws)  # the copy leaves the export behind; evaluate reads it
        cfg = EvalConfig(seeds=1, train=TrainConfig(epochs=1), n_blend=50, n_noise=50,
                         fashion_dir=str(ws.path / "no-fashion-mnist"))
        evaluate_workspace(ws, cfg, progress=False)
        (ws.path / "curation.json").write_text(json.dumps(FAKE_CURATION))
        return write_report(ws)
    finally:
        ws.close()


def test_report_renders_in_chromium_without_errors(full_report):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'greyzone[test]'")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            start = time.perf_counter()
            page.goto(full_report.as_uri(), wait_until="load", timeout=120_000)
            # every figure drawn (plotly adds its SVG layers to the div)
            page.wait_for_function("[...document.querySelectorAll('.plot')]"
                                   ".every(d => d.querySelector('.main-svg'))", timeout=120_000)
            seconds = time.perf_counter() - start
            ids = page.evaluate("[...document.querySelectorAll('section.card')].map(s => s.id)")
            nav = page.evaluate("[...document.querySelectorAll('nav.toc a')]"
                                ".map(a => a.getAttribute('href'))")
            n_plots = page.evaluate("document.querySelectorAll('.plot').length")
            n_gl = page.evaluate("document.querySelectorAll('.plot canvas').length")
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                                   ".map(i => i.alt)")
            n_images = page.evaluate("document.images.length")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    print(f"report {full_report.stat().st_size / 1e6:.1f} MB rendered in {seconds:.1f} s")
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert ids == SECTIONS
    assert nav == [f"#{s}" for s in SECTIONS]  # one navigation link per section, in page order
    assert n_plots == 9 and n_gl >= 1  # PCA map (WebGL), histograms, IDK bars, 5 confusions, risk–coverage
    assert n_images >= 10 * 12 and broken == []
