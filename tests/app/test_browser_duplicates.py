"""The duplicates filter and the "duplicate of" link in Chromium, on a workspace with planted duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from greyzone.app.columnar import decode

from .conftest import LEAK, TOKEN, TRAIN_DUP, LiveServer
from .test_browser import Page, browser  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser


def listed(p: Page) -> set[int]:
    return set(p.js("Array.from(window.gz.A.list)"))


def grid_sids(p: Page) -> set[int]:
    cells = p.page.locator("#grid .cell")
    return {int(s) for s in cells.evaluate_all("(cs) => cs.map((c) => c.dataset.sid)")}


def test_filter_duplicates_and_leaks_then_follow_the_link(browser, dup_ws):  # noqa: F811
    with LiveServer(dup_ws, TOKEN) as server:
        from fastapi.testclient import TestClient

        from greyzone.app.server import create_app

        with TestClient(create_app(dup_ws, token=TOKEN), base_url="http://127.0.0.1") as c:
            _, cols = decode(c.get("/api/columns").content)
        dups = set(np.flatnonzero(cols["duplicate"]).tolist())
        leaks = set(np.flatnonzero(cols["cross_split_duplicate"]).tolist())
        p = Page(browser, server.url)
        p.load()
        p.page.select_option("#source", "all")
        assert len(listed(p)) == len(dup_ws.samples())

        p.page.select_option("#f-dup", "dup")
        p.page.wait_for_function(f"window.gz.A.list.length === {len(dups)}")
        assert listed(p) == dups and grid_sids(p) == dups  # only duplicates, in the grid too (< one page)
        assert set(LEAK) | set(TRAIN_DUP) <= dups

        p.page.select_option("#f-dup", "leak")
        p.page.wait_for_function(f"window.gz.A.list.length === {len(leaks)}")
        assert grid_sids(p) == leaks and set(LEAK) <= leaks and not set(TRAIN_DUP) & leaks

        p.page.locator(f'#grid .cell[data-sid="{LEAK[1]}"]').click()
        p.page.wait_for_function("document.querySelector('#detail h2')?.innerText === 'test #4'")
        link = p.page.locator("#detail .dup a.dup-link")
        assert p.page.locator("#detail .dup").first.inner_text().startswith("duplicate of train:0")
        assert "train/test leak" in p.page.locator("#detail .dup").first.inner_text()
        link.click()
        p.page.wait_for_function("document.querySelector('#detail h2')?.innerText === 'train #0'")
        assert str(LEAK[1]) in p.page.locator("#detail .dup a").evaluate_all(
            "(as) => as.map((a) => a.dataset.sid)")  # train:0 lists the copies that name it
        p.shot("duplicates-filter.png")

        p.page.click("#reset")
        p.page.wait_for_function(f"window.gz.A.list.length === {len(dup_ws.samples())}")
        assert p.page.locator("#f-dup").input_value() == "any"
        assert p.errors == []
