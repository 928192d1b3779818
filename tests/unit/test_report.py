"""The HTML report: sections, self-containment, embedded thumbnails, atomic writes, optional inputs, the
catalogue's scores, escaping.

One small real workspace per session (first 300 samples of each split, 2 folds, 1 epoch, no UMAP, export on);
tests that add files work on a copy. ``evaluation.json`` and ``curation.json`` are written here in the layout
of :mod:`greyzone.evaluation.evaluate` (the browser test renders a real one).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from greyzone.scores.catalog import SCORES
from greyzone.store.workspace import Workspace

BUILT = "built.ok"


def report_workspace(base: Path) -> Path:
    """Build (once per pytest session and base directory) the small real workspace the report tests use."""
    from greyzone.config import RunConfig, TrainConfig
    from greyzone.pipeline import run_pipeline

    path = base / "report-ws"
    if not (path / BUILT).is_file():
        shutil.rmtree(path, ignore_errors=True)
        cfg = RunConfig(workspace=str(path), limit=300, folds=2, train=TrainConfig(epochs=1), umap=False,
                        export=True)
        run_pipeline(cfg, progress=False).close()
        (path / BUILT).write_text("ok")
    return path


def copy_workspace(src: Path, dest: Path) -> Path:
    """A copy safe with SQLite's WAL: the database goes through the backup API."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("greyzone.sqlite*", "export", BUILT))
    a, b = sqlite3.connect(src / "greyzone.sqlite"), sqlite3.connect(dest / "greyzone.sqlite")
    with a, b:
        a.backup(b)
    a.close()
    b.close()
    return dest


def _stat(*values: float) -> dict:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else None,
            "values": arr.tolist()}


def fake_evaluation(classes: list[str]) -> dict:
    """An ``evaluation.json`` in the layout documented in :mod:`greyzone.evaluation.evaluate`."""
    k = len(classes)
    grid = (np.arange(1, 21) / 20).round(6).tolist()
    models = {}
    for i, name in enumerate(("baseline", "no_idk", "idk_aware", "idk_aware_pidk")):
        cm = (np.eye(k, dtype=int) * 25 + 1).tolist()
        models[name] = {
            "description": f"model {name}", "n_outputs": k if name.startswith("idk") else k - 1,
            "abstain_score": "max_digit", "operating_point": "threshold",
            "shares_training_with": "idk_aware" if name == "idk_aware_pidk" else None, "seeds": [0, 1],
            "curated": {m: _stat(0.5 + 0.01 * i, 0.52 + 0.01 * i) for m in (
                "accuracy_non_idk", "idk_precision", "idk_recall", "idk_f1", "coverage", "aurc", "eaurc",
                "risk@95", "risk@99", "ece")},
            "original": {"error": _stat(0.02, 0.03), "error_non_idk": _stat(0.01, 0.015)},
            "train_seconds": None if name == "idk_aware_pidk" else _stat(10.0, 11.0),
            "robustness": {s: {"abstain_rate": _stat(0.3, 0.4), "auroc": _stat(0.8, 0.9)}
                           for s in ("blend", "noise")},
            "threshold": _stat(0.2, 0.25),
            "confusion_matrix": {"labels": classes, "summed_over_seeds": 2, "counts": cm},
            "risk_coverage": {"coverage": grid, "risk_mean": (np.array(grid) * (0.05 + 0.01 * i)).tolist(),
                              "risk_std": (np.array(grid) * 0.004).tolist()},
        }
    return {"format_version": "2", "created_at": "2026-01-01T00:00:00+00:00", "workspace": "x",
            "dataset": "mnist", "classes": classes,
            "config": {"seeds": 2, "train": {"epochs": 3, "batch_size": 128, "lr": 0.003},
                       "idk_class_weight": 3.2, "idk_weighting": "sqrt"},
            "data": {"n_train": 300, "n_test": 300, "n_train_idk": 6, "n_test_idk": 6,
                     "n_export_differs_from_store": 0, "export": "x"},
            "ood": {"fashion_mnist": {"skipped": "not installed"}, "blend": {"n": 50, "source": "blend"},
                    "noise": {"n": 50, "source": "noise"}},
            "models": models, "timings": {"load_seconds": 1.0, "total_seconds": 42.0}}


FAKE_CURATION = {
    "seed": 0,
    "dataset": "mnist",
    "results": {kind: {method: {"auroc": 0.9123, "ap": 0.5, "precision": 0.25, "recall": 0.75, "f1": 0.375}
                       for method in ("idk_score", "cleanlab_find_label_issues", "hardness_top2pct")}
                for kind in ("flip_uniform_1pct", "blend_1pct")},
    "timings": {"pipeline_seconds": 12.5},
}


@pytest.fixture(scope="session")
def base_ws(tmp_path_factory) -> Path:
    return report_workspace(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def report_html(base_ws) -> str:
    """The report of the untouched small workspace (no evaluation, no curation benchmark)."""
    from greyzone.report import write_report

    ws = Workspace.open(base_ws)
    try:
        path = write_report(ws)
    finally:
        ws.close()
    assert path == base_ws / "report.html"
    return path.read_text(encoding="utf-8")


@pytest.fixture
def ws_copy(base_ws, tmp_path):
    ws = Workspace.open(copy_workspace(base_ws, tmp_path / "ws"))
    yield ws
    ws.close()


def _section_ids(html: str) -> list[str]:
    return re.findall(r'<section class="card" id="([\w-]+)"', html)


def _section(html: str, sid: str) -> str:
    return html.split(f'id="{sid}"', 1)[1].split("</section>", 1)[0]


def _figures(html: str) -> list[dict]:
    """The plotly specs (data and layout) of the figures in ``html``, in page order."""
    return [json.loads(spec) for spec in re.findall(r"var f=(\{.*?\});document\.addEventListener\(", html)]


def _present(scores) -> list:
    """The catalogue's scores the score table holds with at least one finite value."""
    return [c for c in SCORES
            if c.name in scores.columns and np.isfinite(scores[c.name].to_numpy(dtype=float)).any()]


# --------------------------------------------------------------------------------------------- content
def test_report_has_the_core_sections_in_order(report_html):
    assert _section_ids(report_html) == ["maps", "scores", "idk", "by-class", "by-score", "duplicates",
                                         "confusion", "config"]
    for text in ("Embedding maps", "Score distributions", "IDK per class", "Most doubtful images per class",
                 "Most doubtful images per score", "Confusion matrices", "Run config, timings and versions"):
        assert text in report_html
    # no UMAP in this run: the page says so instead of drawing an empty map
    assert "UMAP not computed" in report_html
    assert "quantised to a 16-bit grid" in report_html  # the map caption says how points were reduced


def test_header_shows_dataset_accuracies_and_counts(report_html, base_ws):
    ws = Workspace.open(base_ws)
    try:
        run, n_prop = ws.runs.last(), int(ws.scores().idk_proposed.sum())
    finally:
        ws.close()
    header = report_html.split("<nav", 1)[0]
    assert "MNIST" in header and "held-out fold accuracy" in header
    cfg, epochs = run["config"], run["metrics"]["crossfit"]["scorer_epochs"]  # the recipe's, not "None"
    assert f"{cfg['folds']}-fold cross-fitting of the {cfg['scorer']} scorer · {epochs} epoch" in header
    fold_mean = np.mean(run["metrics"]["crossfit"]["fold_accuracy"])
    assert f"{100 * fold_mean:.2f}%" in header
    assert re.search(rf'<div class="v">{n_prop}</div><div class="l">proposed IDK', header)
    for stage in run["timings"]:
        assert f"<td>{stage}</td>" in report_html
    config = _section(report_html, "config")
    for key, value in run["config"].items():  # the run config, flattened: train.epochs etc.
        assert all(f"<code>{key}.{k}</code>" in config for k in value) if isinstance(value, dict) \
            else f"<code>{key}</code>" in config
    assert "torch" in run["versions"]
    for package, version in run["versions"].items():
        assert f"<td>{package}</td><td><code>{version}</code></td>" in config


def test_report_is_self_contained(report_html):
    # nothing is fetched: no external scripts, stylesheets, images or fonts. (The inlined plotly.js bundle
    # holds URL strings of its own, e.g. attribution links of map tiles; the page's markup must not.)
    page = re.sub(r"<script>/\* plotly\.js as bundled.*?</script>", "", report_html, count=1, flags=re.S)
    assert len(page) < len(report_html) - 4_000_000
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "@import" not in page
    # plotly.js is inlined exactly once, and every figure div gets drawn by a Plotly.newPlot call
    assert report_html.count("plotly.js as bundled with plotly.py") == 1
    assert len(re.findall(r"\* plotly\.js v\d", report_html)) == 1
    figs = re.findall(r'<div class="plot" id="(fig\d+)"', report_html)
    assert len(figs) >= 5
    assert sorted(re.findall(r'Plotly\.newPlot\("(fig\d+)"', report_html)) == sorted(figs)


def test_thumbnails_are_embedded_pngs_of_the_right_images(report_html, base_ws):
    from PIL import Image

    thumbs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="sid (\d+)"', report_html)
    assert len(thumbs) >= 10 * 12  # per-class galleries alone: 10 classes x 12
    ws = Workspace.open(base_ws)
    try:
        images = ws.images()
        for b64, sid in thumbs[:20]:
            img = Image.open(io.BytesIO(base64.b64decode(b64)))
            assert img.format == "PNG" and img.size == (28, 28)
            assert np.array_equal(255 - np.asarray(img), images[int(sid)])  # dark ink on white
    finally:
        ws.close()
    assert "image-rendering: pixelated" in report_html


def test_class_gallery_shows_the_highest_idk_scores(report_html, base_ws):
    ws = Workspace.open(base_ws)
    try:
        s = ws.scores()
    finally:
        ws.close()
    block = report_html.split('id="by-class"', 1)[1].split("</section>", 1)[0]
    rows = block.split('<div class="gallery-row">')[1:]
    assert len(rows) == 10
    sids = [int(x) for x in re.findall(r'alt="sid (\d+)"', rows[3])]
    d = s[s.label == 3]
    assert len(sids) == min(12, len(d))
    assert set(d.set_index("sid").loc[sids].idk_score) <= set(d.idk_score)
    assert d.set_index("sid").loc[sids].idk_score.min() >= d.idk_score.nlargest(len(sids)).min() - 1e-12


def test_file_size_is_reasonable(base_ws, report_html):
    from plotly.offline import get_plotlyjs

    size = (base_ws / "report.html").stat().st_size
    own = size - len(get_plotlyjs().encode())
    assert 50_000 < own < 1_000_000, own  # 600 images: figures, thumbnails and tables; plotly.js is ~4.8 MB


# ------------------------------------------------------------------------------------------ optional inputs
def test_evaluation_and_curation_sections_appear_when_their_files_exist(ws_copy):
    from greyzone.report import render_report

    classes = [*ws_copy.classes, "IDK"]
    (ws_copy.path / "evaluation").mkdir()
    (ws_copy.path / "evaluation" / "evaluation.json").write_text(json.dumps(fake_evaluation(classes)))
    (ws_copy.path / "curation.json").write_text(json.dumps(FAKE_CURATION))
    html = render_report(ws_copy)
    assert _section_ids(html) == ["maps", "scores", "idk", "by-class", "by-score", "duplicates", "confusion",
                                  "evaluation", "curation", "config"]
    ev = html.split('id="evaluation"', 1)[1].split("</section>", 1)[0]
    for text in ("Risk–coverage", "Curated test split", "Original test labels", "Robustness", "baseline",
                 "idk_aware", "IDK precision", "AURC", "fashion_mnist: not installed", "took <b>42 s",
                 "seeds <b>2</b>", "epochs <b>3</b>", "IDK class weight <b>3.20 (sqrt)</b>"):
        assert text in ev, text
    assert '<td class="best">' in ev  # the best value of a column is marked
    conf = html.split('id="confusion"', 1)[1].split("</section>", 1)[0]
    assert conf.count('class="panel-title"') == 2 + 3  # train/test + three trained models (pidk shares)
    cur = html.split('id="curation"', 1)[1].split("</section>", 1)[0]
    assert "flip_uniform_1pct" in cur and "cleanlab_find_label_issues" in cur and "0.912" in cur


def test_unreadable_optional_files_are_noted_not_fatal(ws_copy):
    from greyzone.report import write_report

    (ws_copy.path / "evaluation").mkdir()
    (ws_copy.path / "evaluation" / "evaluation.json").write_text("{not json")
    (ws_copy.path / "curation.json").write_text("[1, 2]")
    html = write_report(ws_copy).read_text(encoding="utf-8")
    assert "evaluation" not in _section_ids(html) and "curation" not in _section_ids(html)
    assert "evaluation.json could not be read" in html
    assert "curation.json holds a list, expected a JSON object" in html


def test_human_decisions_show_in_counts_and_thumbnails(ws_copy):
    from greyzone.report import render_report

    s = ws_copy.scores()
    proposed = s.sid[s.idk_proposed].to_numpy()
    others = s.sid[~s.idk_proposed].to_numpy()
    ws_copy.decisions.append(proposed[:2], "keep")  # the reviewer rejects two proposals,
    ws_copy.decisions.append(others[:3], "idk")  # marks three other images IDK
    ws_copy.decisions.append(others[3:4], "relabel", label=(int(s.label[others[3]]) + 1) % 10)  # relabels one
    html = render_report(ws_copy)
    # the store decides what "curated" means (e.g. a human keep overrides an auto proposal)
    n_idk = int((ws_copy.decisions.curated().curated_label == ws_copy.idk_label).sum())
    assert n_idk >= int(s.idk_proposed.sum()) - 2 + 3
    assert re.search(rf'<div class="v">{n_idk}</div><div class="l">curated IDK</div>'
                     rf'<div class="d">6 human decisions', html)
    idk = html.split('id="idk"', 1)[1].split("</section>", 1)[0]
    total = re.search(r'<tr class="total">(.*?)</tr>', idk).group(1)
    cells = re.findall(r"<td>(.*?)</td>", total)
    assert cells[-1] == "1"  # one relabelled image
    assert int(cells[3]) + int(cells[7]) == n_idk  # curated IDK, train + test
    # in a gallery, the relabelled image carries its new label as a human tag, a human IDK a human IDK tag
    from greyzone.report import environment, galleries
    from greyzone.report.context import ReportContext

    ctx = ReportContext.load(ws_copy)
    thumb = environment().get_template("_macros.html.j2").module.thumb
    relabelled = galleries.thumb(ctx, ctx.scores.loc[int(others[3])], 0.5)
    new = ws_copy.label_name((int(s.label[others[3]]) + 1) % 10)
    assert (relabelled.tag, relabelled.tag_human) == (f"→{new}", True)
    assert f'<span class="tag h">→{new}</span>' in thumb(relabelled)
    human_idk = galleries.thumb(ctx, ctx.scores.loc[int(others[0])], 0.5)
    assert '<span class="tag h">IDK</span>' in thumb(human_idk)


# --------------------------------------------------------------------------------------------- writing
def test_write_is_atomic_temp_file_then_rename(ws_copy, monkeypatch):
    from greyzone.report import write_report

    calls = []
    real_replace = os.replace

    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        calls.append((src, dst))
        assert src.parent == dst.parent and src != dst  # same directory: rename is atomic
        assert src.read_bytes().rstrip().endswith(b"</html>")  # complete before it is renamed
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    out = write_report(ws_copy)
    assert calls and calls[-1][1] == out == ws_copy.path / "report.html"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".report.html")]


def test_failed_render_leaves_the_previous_report(ws_copy, monkeypatch):
    from greyzone import report
    from greyzone.report import figures

    out = report.write_report(ws_copy)
    before = out.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(figures, "confusion", boom)  # a late section fails, after the early ones rendered
    with pytest.raises(RuntimeError, match="render failed"):
        report.write_report(ws_copy)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir() if "report" in p.name) == ["report.html"]


def test_custom_path(ws_copy, tmp_path):
    from greyzone.report import write_report

    out = write_report(ws_copy, path=tmp_path / "sub" / "r.html")
    assert out == tmp_path / "sub" / "r.html" and out.stat().st_size > 0


# --------------------------------------------------------------------------------------------- helpers
def test_quantise_keeps_aspect_and_range():
    from greyzone.report.figures import quantise

    xy = np.array([[0.0, 0.0], [10.0, 2.0], [5.0, 1.0], [np.nan, 3.0]])
    q, step = quantise(xy)
    assert q.dtype == np.uint16 and q.shape == (4, 2)
    assert q[1, 0] == 65535 and q[0].tolist() == [0, 0]
    assert abs(int(q[1, 1]) - round(2 / 10 * 65535)) <= 1  # one scale for both axes
    assert step == pytest.approx(10 / 65535)


def test_flatten_nested_results_into_rows():
    from greyzone.report.results import flatten

    recs = flatten({"a": {"m1": {"auroc": 0.9, "f1": 0.5}, "m2": {"auroc": 0.8}},
                     "rows": [{"kind": "x", "v": 1}, {"kind": "y", "v": 2}], "n": 3})
    assert recs == [(("a", "m1"), {"auroc": 0.9, "f1": 0.5}), (("a", "m2"), {"auroc": 0.8}),
                    (("rows",), {"kind": "x", "v": 1}), (("rows",), {"kind": "y", "v": 2})]


# ------------------------------------------------------------------------------------ catalogue scores
def test_every_catalogue_score_in_the_table_gets_a_histogram_and_a_gallery(report_html, base_ws):
    from markupsafe import escape

    ws = Workspace.open(base_ws)
    try:
        present = _present(ws.scores())
    finally:
        ws.close()
    assert "label_quality" in [c.name for c in present]  # the report's own score table had lost it
    assert len(present) >= 12
    block = _section(report_html, "scores")
    (hist,) = _figures(block)
    titles = [a["text"] for a in hist["layout"]["annotations"]]
    assert titles == [f"{c.title} {'↑' if c.doubtful == 'high' else '↓'}" for c in present]
    assert len(hist["data"]) == 2 * len(present)  # all images and proposed IDK, per score
    about = block.split("What each score measures", 1)[1]
    for c in present:  # the help line comes from the catalogue too
        assert f"<b>{escape(c.title)}</b>" in about and str(escape(c.help)) in about
    heads = re.findall(r'<div class="rowhead">(.*?)<small>', _section(report_html, "by-score"))
    assert heads == [str(escape(c.title)) for c in present]


def test_a_score_absent_or_never_finite_gets_no_histogram(base_ws):
    from greyzone.report import galleries, sections
    from greyzone.report.context import ReportContext

    ws = Workspace.open(base_ws)
    try:
        ctx = ReportContext.load(ws)
        scores = ctx.scores.drop(columns=["aum", "label_quality"]).assign(margin=np.nan)
        ctx = dataclasses.replace(ctx, scores=scores)
        expected = [c.name for c in _present(scores)]
        assert not {"aum", "label_quality", "margin"} & set(expected)
        assert [c.name for c in sections.histograms(ctx)["scores"]] == expected
        assert [r.head for r in galleries.by_score(ctx)["rows"]] == [c.title for c in _present(scores)]
    finally:
        ws.close()


# ------------------------------------------------------------------------------------- section templates
SECTION_MARKERS = {"maps": 'class="plot"', "scores": "What each score measures", "idk": '<tr class="total">',
                   "by-class": 'class="gallery-row"', "by-score": 'class="gallery-row"',
                   "confusion": 'class="panel-title"', "evaluation": "Curated test split",
                   "curation": "flip_uniform_1pct", "config": "Stage timings",
                   "duplicates": "<code>duplicate_of</code>"}


@pytest.fixture
def full_ctx(base_ws):
    """The context of the small workspace with an evaluation and a curation benchmark added."""
    from greyzone.report.context import ReportContext

    ws = Workspace.open(base_ws)
    try:
        ctx = ReportContext.load(ws)
        evaluation = fake_evaluation([*ws.classes, "IDK"])
        yield dataclasses.replace(ctx, evaluation=evaluation, curation=FAKE_CURATION)
    finally:
        ws.close()


def _sections():
    from greyzone.report import SECTIONS

    return SECTIONS


def test_every_section_has_a_marker():
    assert set(SECTION_MARKERS) == {s.id for s in _sections()}


@pytest.mark.parametrize("sid", list(SECTION_MARKERS))
def test_each_section_template_renders_alone(full_ctx, sid):
    from greyzone.report import environment

    section = next(s for s in _sections() if s.id == sid)
    data = section.build(full_ctx)
    assert data is not None
    html = environment().get_template(section.template).render(d=data)
    assert SECTION_MARKERS[sid] in html
    assert "<section" not in html and "<h2>" not in html  # the page draws the card and the heading


def _drop(*columns):
    return lambda ctx: dataclasses.replace(ctx, scores=ctx.scores.drop(columns=list(columns)))


NO_INPUTS = {
    "maps: no projections": ("maps", _drop("pca_x", "pca_y", "umap_x", "umap_y")),
    "maps: projections all NaN": ("maps", lambda ctx: dataclasses.replace(
        ctx, scores=ctx.scores.assign(pca_x=np.nan, umap_x=np.nan))),
    "scores: no score columns": ("scores", _drop(*(c.name for c in SCORES))),
    "by-score: no score columns": ("by-score", _drop(*(c.name for c in SCORES))),
    "idk: no samples": ("idk", lambda ctx: dataclasses.replace(ctx, scores=ctx.scores.iloc[:0])),
    "by-class: no samples": ("by-class", lambda ctx: dataclasses.replace(ctx, scores=ctx.scores.iloc[:0])),
    "confusion: no samples, no evaluation": ("confusion", lambda ctx: dataclasses.replace(
        ctx, scores=ctx.scores.iloc[:0], evaluation=None)),
    "evaluation: no file": ("evaluation", lambda ctx: dataclasses.replace(ctx, evaluation=None)),
    "evaluation: no models": ("evaluation", lambda ctx: dataclasses.replace(ctx, evaluation={"models": {}})),
    "curation: no file": ("curation", lambda ctx: dataclasses.replace(ctx, curation=None)),
    "curation: no tables": ("curation", lambda ctx: dataclasses.replace(ctx, curation={"seed": 0})),
    "config: no run": ("config", lambda ctx: dataclasses.replace(ctx, run={})),
}


@pytest.mark.parametrize("case", list(NO_INPUTS))
def test_a_section_without_its_inputs_is_left_out(full_ctx, case):
    sid, strip = NO_INPUTS[case]
    section = next(s for s in _sections() if s.id == sid)
    assert section.build(full_ctx) is not None
    assert section.build(strip(full_ctx)) is None


def test_page_without_projections_or_run(ws_copy, monkeypatch):
    from greyzone.report import render_report

    scores = ws_copy.scores().drop(columns=["pca_x", "pca_y", "umap_x", "umap_y"])
    monkeypatch.setattr(ws_copy, "scores", lambda: scores)
    monkeypatch.setattr(ws_copy.runs, "last", lambda: None)
    html = render_report(ws_copy)
    assert _section_ids(html) == ["scores", "idk", "by-class", "by-score", "duplicates", "confusion"]
    header = html.split("<nav", 1)[0]
    assert "held-out fold accuracy" not in header and "run #" not in header and "proposed IDK" in header
    assert '<a href="#maps">' not in html and '<a href="#config">' not in html


# ------------------------------------------------------------------------------------------- escaping
def test_text_from_the_workspace_is_escaped(base_ws, tmp_path):
    from greyzone.report import render_report

    path = copy_workspace(base_ws, tmp_path / "ws")
    evil = '<script>alert("x")</script>'
    con = sqlite3.connect(path / "greyzone.sqlite")
    with con:
        classes = json.loads(con.execute("SELECT value FROM meta WHERE key = 'classes'").fetchone()[0])
        classes[3] = evil
        con.execute("UPDATE meta SET value = ? WHERE key = 'classes'", (json.dumps(classes),))
    con.close()
    ev = fake_evaluation([*classes, "IDK"])
    ev["models"]["baseline"]["description"] = '<img src=x onerror="alert(1)">'
    (path / "evaluation").mkdir()
    (path / "evaluation" / "evaluation.json").write_text(json.dumps(ev))
    (path / "curation.json").write_text(json.dumps({"results": {"<b>kind</b>": {"m": {"auroc": 0.5}}}}))
    ws = Workspace.open(path)
    try:
        html = render_report(ws)
    finally:
        ws.close()
    page = re.sub(r"<script>/\* plotly\.js as bundled.*?</script>", "", html, count=1, flags=re.S)
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>kind</b>" not in page
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    assert escaped in page.split("<nav", 1)[0]  # the header's class list
    for sid in ("idk", "by-class"):  # the table row and the gallery row of class 3
        assert escaped in _section(page, sid)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in _section(page, "evaluation")
    assert "&lt;b&gt;kind&lt;/b&gt;" in _section(page, "curation")
    # in the figures the name is data, written by plotly's JSON encoder, which escapes '<'
    assert any(evil in (t.get("x") or []) for f in _figures(_section(page, "idk")) for t in f["data"])


def test_png_uri_inverts_grey_and_keeps_rgb():
    from PIL import Image

    from greyzone.report.format import png_uri

    def decode(uri):
        return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = np.stack([grey, grey * 2, 255 - grey], axis=-1)
    g = decode(png_uri(grey))
    c = decode(png_uri(rgb))
    assert g.mode == "L" and np.array_equal(np.asarray(g), 255 - grey)
    assert c.mode == "RGB" and np.array_equal(np.asarray(c), rgb)


def test_report_of_an_rgb_workspace_embeds_rgb_thumbnails(tmp_path):
    """(N, H, W, 3) images (issue 10, item 2): the galleries show them in colour, not inverted."""
    from PIL import Image

    import greyzone
    from greyzone.report import write_report

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 12, 12, 3), dtype=np.uint8)
    labels = np.arange(60) % 3
    probs = np.full((60, 3), 0.1)
    probs[np.arange(60), labels] = 0.8
    ws = greyzone.curate(images, labels, pred_probs=probs, embedder="none", workspace=tmp_path / "ws",
                         umap=False, folds=3, progress=False, export=False)
    html = write_report(ws).read_text()
    thumbs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="sid (\d+)"', html)
    assert len(thumbs) >= 3 * 12  # per-class galleries: 3 classes x 12
    for b64, sid in thumbs:
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert img.mode == "RGB" and np.array_equal(np.asarray(img), images[int(sid)])
