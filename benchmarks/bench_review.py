"""Benchmark the review app in a real browser on a full workspace (70,000 MNIST samples).

    python benchmarks/bench_review.py greyzone-mnist [--decisions 200] [--pages 10] [--loads 3] [--json F]

Measures, against ``greyzone review`` started as its own process on a throwaway COPY of the workspace (so
the real decision log is never touched):

- map first paint: navigation start → the 70,000-point scattergl map drawn (cold and warm browser cache);
- a page of 200 thumbnails: "next page" click → sprite fetched, decoded and painted;
- decision round trip: ``fetch`` POST /api/decisions from the page → acknowledged after COMMIT (p50/p95);
- server RSS (current and peak) after all of the above.

Targets (issue 3): map < 2 s, thumbnail page < 300 ms, decision p95 < 50 ms, RSS < 1 GB.
Needs Debian Chromium at /usr/bin/chromium and the ``playwright`` Python package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
TARGETS = {"map": 2000.0, "thumbs": 300.0, "decision_p95": 50.0, "rss": 1024.0}


def copy_workspace(src: Path, dest: Path) -> Path:
    """Arrays and scores by file copy, the database through SQLite's backup API (consistent under WAL)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("greyzone.sqlite*", "export", ".*"))
    a, b = sqlite3.connect(src / "greyzone.sqlite"), sqlite3.connect(dest / "greyzone.sqlite")
    a.backup(b)
    a.close()
    b.close()
    return dest


def make_synthetic(path: Path, *, seed: int = 0) -> None:
    """A full-size workspace in about a minute, without training: real MNIST images and labels (70,000),
    model outputs drawn from a class-mixture (embeddings = class centre + noise, 3 % of labels flipped, probs
    a softmax of the distances to the centres), then greyzone's own kNN graph, scores, proposals and PCA.
    Only for timing the app: its scores mean nothing."""
    import numpy as np

    from greyzone.pipeline import save_neighbours, workspace_score_table
    from greyzone.projections import pca_2d
    from greyzone.sources.mnist import load_mnist
    from greyzone.store.workspace import Workspace

    ds = load_mnist(download=False)
    ws = Workspace.create(path, ds)
    try:
        ws.arrays.save("images", np.concatenate([s.images for s in ds.splits.values()]))
        labels = ws.samples().label.to_numpy()
        rng = np.random.default_rng(seed)
        n, c = len(labels), len(ds.classes)
        truth = np.where(rng.random(n) < 0.03, rng.integers(0, c, n), labels)
        centres = rng.normal(size=(c, 84)).astype(np.float32) * 3
        emb = centres[truth] + rng.normal(size=(n, 84)).astype(np.float32) * rng.uniform(0.5, 2.5, (n, 1))
        d2 = ((emb[:, None, :] - centres[None]) ** 2).sum(-1)
        logits = -(d2 - d2.min(1, keepdims=True)) / 20
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        n_train = len(ds.splits["train"])
        ws.arrays.save("probs", probs.astype(np.float32))
        ws.arrays.save("embeddings", emb.astype(np.float32))
        p_label = probs[np.arange(n_train), labels[:n_train]][:, None] * np.linspace(0.6, 1, 5)
        ws.arrays.save("dyn_p_label", p_label.astype(np.float32))
        ws.arrays.save("dyn_margin", (2 * p_label - 1).astype(np.float32))
        save_neighbours(ws)
        ws.arrays.save("pca", pca_2d(emb, random_state=seed))
        ws.arrays.save("umap", np.full((n, 2), np.nan, np.float32))
        table = workspace_score_table(ws, idk_cap=0.02, random_state=seed)
        for action in ("idk", "relabel"):
            rows = table[table.proposed_action == action]
            for label, group in rows.groupby("suggested_label") if action == "relabel" else [(None, rows)]:
                ws.decisions.append(group.sid.tolist(), action, label=None if label is None else int(label),
                                    source="auto", author="greyzone", reason="synthetic")
        ws.write_scores(table)
    finally:
        ws.close()


def start_server(workspace: Path) -> tuple[subprocess.Popen, str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "greyzone.cli", "review", "--workspace", str(workspace),
                             "--port", "0", "--author", "bench"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    m = re.search(r"(http://\S+/)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"greyzone review did not print its URL (got {line!r})")
    return proc, m.group(1), time.perf_counter() - start


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    get = lambda key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024  # noqa: E731
    return get("VmRSS"), get("VmHWM")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def measure_map(browser, url: str, loads: int) -> dict:
    """Median over fresh browser contexts of the first load (cold cache) and the second one (warm)."""
    times: dict[str, list[float]] = {"cold": [], "warm": [], "plotly_cold": [], "plotly_warm": []}
    n_points = 0
    for _ in range(loads):
        ctx = browser.new_context(viewport={"width": 1600, "height": 950})
        page = ctx.new_page()
        for kind in ("cold", "warm"):  # the second load of the context has plotly.js in the HTTP cache
            page.goto(url)
            page.wait_for_selector('body[data-map-ready="1"]', timeout=120_000)
            t = page.evaluate("window.gzTimings")
            times[kind].append(t["map"])
            times[f"plotly_{kind}"].append(t["plotly"])
        n_points = page.evaluate("window.gz.S.n")
        ctx.close()
    return {k: statistics.median(v) for k, v in times.items()} | {"points": n_points}


def measure_thumbs(page, pages: int) -> list[float]:
    page.select_option("#source", "all")
    page.wait_for_function("window.gz.A.source === 'all' && window.gz.A.list.length > 0")
    page.wait_for_timeout(500)
    times = []
    for _ in range(pages):
        ms = page.evaluate("""async () => {
            const t0 = performance.now();
            document.getElementById('next-page').click();
            while (!(window.gzTimings.grid && window.gzTimings.grid.end > t0)) {
                await new Promise((r) => setTimeout(r, 2));
            }
            return window.gzTimings.grid.end - t0;
        }""")
        times.append(ms)
    return times


def measure_decisions(page, n: int) -> list[float]:
    return page.evaluate("""async (n) => {
        const token = document.querySelector('meta[name="greyzone-token"]').content;
        const total = window.gz.S.n, times = [];
        for (let k = 0; k < n; k++) {
            const sid = (k * 7919) % total;
            const body = k % 3 === 0 ? { sids: [sid], action: 'relabel', label: k % 10 }
                : { sids: [sid], action: k % 3 === 1 ? 'idk' : 'keep' };
            const t0 = performance.now();
            const r = await fetch('/api/decisions', { method: 'POST', body: JSON.stringify(body),
                headers: { 'Content-Type': 'application/json', 'X-Greyzone-Token': token } });
            await r.json();
            if (!r.ok) throw new Error(`decision failed: ${r.status}`);
            times.push(performance.now() - t0);
        }
        return times;
    }""", n)


def row(name: str, value: str, target: str, ok: bool | None) -> str:
    mark = "" if ok is None else ("yes" if ok else "NO")
    return f"| {name:<44} | {value:>22} | {target:>12} | {mark:>4} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace", type=Path, nargs="?", default=Path("greyzone-mnist"))
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--loads", type=int, default=3, help="browser contexts for the map timing (median)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    ws = args.workspace
    if not (ws / "greyzone.sqlite").is_file() or not (ws / "scores.parquet").is_file():
        print(f"{ws}: not a finished greyzone workspace. Make a full-MNIST one first:\n"
              f"    greyzone run --workspace {ws}\n(about 3 minutes on 2 cores), then re-run this benchmark.",
              file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="gz-bench-") as tmp:
        copy = copy_workspace(ws, Path(tmp) / "ws")
        proc, url, startup = start_server(copy)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                maps = measure_map(browser, url, args.loads)
                page = browser.new_page(viewport={"width": 1600, "height": 950})
                page.goto(url)
                page.wait_for_selector('body[data-ready="1"]', timeout=120_000)
                thumbs = measure_thumbs(page, args.pages)
                decisions = measure_decisions(page, args.decisions)
                browser.close()
            rss, peak = rss_mb(proc.pid)
        finally:
            proc.kill()
            proc.wait(10)

    res = {"workspace": str(ws), "points": maps["points"], "server_start_s": round(startup, 2),
           "map_cold_ms": round(maps["cold"]), "map_warm_ms": round(maps["warm"]),
           "plotly_cold_ms": round(maps["plotly_cold"]), "plotly_warm_ms": round(maps["plotly_warm"]),
           "thumbs_p50_ms": round(pct(thumbs, 0.5), 1), "thumbs_p95_ms": round(pct(thumbs, 0.95), 1),
           "decision_p50_ms": round(pct(decisions, 0.5), 1),
           "decision_p95_ms": round(pct(decisions, 0.95), 1),
           "decisions": len(decisions), "rss_mb": round(rss), "rss_peak_mb": round(peak)}
    load = os.getloadavg()[0]
    print(f"\ngreyzone review benchmark: {ws} ({maps['points']:,} points), {os.cpu_count()} CPUs "
          f"(load average {load:.1f}), headless Chromium with software WebGL\n")
    print(f"| {'metric':<44} | {'measured':>22} | {'target':>12} |   ok |")
    print("|" + "-" * 46 + "|" + "-" * 24 + "|" + "-" * 14 + "|------|")
    print(row("server start (process → URL printed)", f"{startup:.2f} s", "", None))
    print(row(f"map first paint, {maps['points']:,} points (cold cache)", f"{maps['cold']:.0f} ms",
              "< 2000 ms", maps["cold"] < TARGETS["map"]))
    print(row("map first paint (warm cache)", f"{maps['warm']:.0f} ms", "< 2000 ms",
              maps["warm"] < TARGETS["map"]))
    plotly = f"{maps['plotly_cold']:.0f} / {maps['plotly_warm']:.0f} ms"
    print(row("  of which plotly.js loaded, cold / warm", plotly, "", None))
    print(row(f"page of 200 thumbnails p50 / p95 (n={len(thumbs)})",
              f"{res['thumbs_p50_ms']} / {res['thumbs_p95_ms']} ms", "< 300 ms",
              res["thumbs_p95_ms"] < TARGETS["thumbs"]))
    print(row(f"decision round trip p50 / p95 (n={len(decisions)})",
              f"{res['decision_p50_ms']} / {res['decision_p95_ms']} ms", "p95 < 50 ms",
              res["decision_p95_ms"] < TARGETS["decision_p95"]))
    print(row("server RSS now / peak", f"{rss:.0f} / {peak:.0f} MB", "< 1024 MB", peak < TARGETS["rss"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
