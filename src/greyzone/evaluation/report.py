"""``greyzone report``: one self-contained HTML page that shows what the run found.

Sections, each present only when its inputs exist: overview (dataset, accuracies, IDK counts), PCA and UMAP
maps, score distributions, IDK per class, the most doubtful images per class and per score, confusion
matrices, the evaluation of the models trained on the export (``evaluation/evaluation.json``), the curation
benchmark (``curation.json``), and the run's config, timings and package versions.

Self-contained: plotly.js is inlined once in ``<head>``; every figure is a ``<div>`` plus a
``Plotly.newPlot`` call with its data inline; thumbnails are base64 PNG data URIs; the CSS is inline. The page
loads nothing from the network and works from ``file://``.

Size: the maps keep every sample. Their coordinates are quantised to a 16-bit grid (1/65,535 of the map's
extent, below a pixel) and sent as base64 typed arrays, with ``sid, pred, idk_score`` as float32 for the
hover; histograms are binned here, not in the browser. Full MNIST gives about 9 MB, 4.8 MB of which is
plotly.js.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from greyzone.store.workspace import Workspace

REPORT_NAME = "report.html"
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
CURATION_FILE = "curation.json"
GALLERY_SIZE = 12
HIST_BINS = 40
_Q = 65535  # quantisation steps of the map coordinates (uint16)

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#79706e")
MODEL_COLOURS = {"baseline": "#868e96", "no_idk": "#4e79a7", "idk_aware": "#e8590c",
                 "idk_aware_pidk": "#e8590c"}
ALL_COLOUR, DOUBT_COLOUR = "#a5b4c8", "#c92a2a"
FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


@dataclass(frozen=True)
class ScoreSpec:
    """A per-sample score shown in histograms and galleries; ``doubtful`` is the direction of doubt."""

    name: str
    title: str
    doubtful: str  # "high" or "low"
    about: str


SCORES: tuple[ScoreSpec, ...] = (
    ScoreSpec("idk_score", "IDK score", "high", "1 − support·(1 − ½·H/ln C); support = mean of p(label), "
              "cartography confidence and kNN agreement"),
    ScoreSpec("p_label", "p(label)", "low", "out-of-fold probability of the given label"),
    ScoreSpec("margin", "margin", "low", "p(label) − the largest other probability"),
    ScoreSpec("mistakenness", "mistakenness", "high", "confidence in a class other than the label"),
    ScoreSpec("hardness", "hardness", "high", "entropy of the out-of-fold probabilities"),
    ScoreSpec("confidence", "confidence", "low", "largest out-of-fold probability"),
    ScoreSpec("knn_agreement", "kNN agreement", "low",
              "share of the 10 nearest neighbours with the same label"),
    ScoreSpec("uniqueness", "uniqueness", "high", "distance to the 3 nearest neighbours (embedding)"),
    ScoreSpec("representativeness", "representativeness", "low", "closeness to its cluster centre"),
    ScoreSpec("aum", "AUM", "low", "area under the margin over training epochs (train only)"),
    ScoreSpec("cart_confidence", "cartography confidence", "low", "mean p(label) over epochs (train only)"),
    ScoreSpec("cart_variability", "cartography variability", "high",
              "std of p(label) over epochs (train only)"),
)

CURATED_HEADS = {"accuracy_non_idk": ("accuracy non-IDK", "high"), "idk_precision": ("IDK precision", "high"),
                 "idk_recall": ("IDK recall", "high"), "idk_f1": ("IDK F1", "high"),
                 "coverage": ("coverage", None), "aurc": ("AURC", "low"), "eaurc": ("E-AURC", "low"),
                 "risk@95": ("risk@95%", "low"), "risk@99": ("risk@99%", "low"), "ece": ("ECE", "low")}
ORIGINAL_HEADS = {"error": ("error (all test)", "low"), "error_non_idk": ("error (non-IDK test)", "low")}


@dataclass
class Section:
    id: str
    title: str
    body: str
    nav: str = ""


# ============================================================================================== public
def write_report(ws: Workspace, *, path: str | Path | None = None) -> Path:
    """Render the report of ``ws`` and write it atomically (temp file + rename) to ``path``.

    ``path`` defaults to ``<workspace>/report.html``. Returns the path written. Raises
    :class:`~greyzone.errors.WorkspaceError` when the workspace has no scores yet.
    """
    from greyzone.store.workspace import atomic_write_bytes

    out = Path(path) if path is not None else ws.path / REPORT_NAME
    atomic_write_bytes(out, render_report(ws).encode("utf-8"))
    return out


def render_report(ws: Workspace) -> str:
    """The report of ``ws`` as one HTML string (see the module docstring for the sections)."""
    start = time.perf_counter()
    ctx = _Context.load(ws)
    builders: list[Callable[[_Context], Section | None]] = [
        _maps_section, _histograms_section, _idk_section, _class_gallery_section, _score_gallery_section,
        _confusion_section, _evaluation_section, _curation_section, _config_section]
    sections = [s for s in (b(ctx) for b in builders) if s is not None]
    return _page(ctx, sections, seconds=time.perf_counter() - start)


# ============================================================================================== inputs
@dataclass
class _Context:
    ws: Workspace
    scores: pd.DataFrame  # ws.scores() plus curated_label, decided_by, curated_idk, human
    run: dict[str, Any]
    evaluation: dict[str, Any] | None
    curation: dict[str, Any] | None
    notes: list[str]
    _figures: int = 0

    @classmethod
    def load(cls, ws: Workspace) -> _Context:
        notes: list[str] = []
        scores = ws.scores()
        run = ws.last_run() or {}
        include_proposals = bool(run.get("config", {}).get("include_proposals", True))
        cur = ws.curated(include_proposals=include_proposals).set_index("sid").reindex(scores.sid)
        scores = scores.copy()
        scores["curated_label"] = cur.curated_label.to_numpy()
        scores["decided_by"] = cur.decided_by.to_numpy()
        scores["curated_idk"] = scores.curated_label.to_numpy() == ws.idk_label
        scores["human"] = scores.decided_by.to_numpy() == "human"
        evaluation = _read_json(ws.path / "evaluation" / "evaluation.json", notes)
        curation = _read_json(ws.path / CURATION_FILE, notes)
        return cls(ws=ws, scores=scores, run=run, evaluation=evaluation, curation=curation, notes=notes)

    def name(self, label: int) -> str:
        return self.ws.label_name(int(label))

    def figure(self, fig: go.Figure, *, height: int, caption: str = "") -> str:
        """A plotly figure as a ``<div>`` and a script that draws it with the page's one plotly.js."""
        import plotly.io as pio

        self._figures += 1
        fid = f"fig{self._figures}"
        fig.update_layout(height=height)
        # plotly escapes '/' as \u002f against '</script>'; '<' stays escaped, so base64 may keep its '/'.
        spec = pio.to_json(fig, validate=False, engine="json").replace("\\u002f", "/")
        cap = f'<p class="caption">{caption}</p>' if caption else ""
        return (f'<div class="plot" id="{fid}" style="height:{height}px"></div>'
                f'<script>(function(){{var f={spec};Plotly.newPlot("{fid}",f.data,f.layout,'
                f'{json.dumps(PLOT_CONFIG)});}})();</script>{cap}')


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        notes.append(f"{path} could not be read ({e}); its section is left out.")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path} holds a {type(data).__name__}, expected a JSON object; its section is left "
                     f"out.")
        return None
    return data


# ============================================================================================== helpers
def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _layout(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        template="none", font=dict(family=FONT, size=12, color="#1d2430"), paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#ffffff", margin=dict(l=52, r=16, t=30, b=44),
        hoverlabel=dict(font=dict(family=FONT, size=12)), legend=dict(font=dict(size=11.5)))
    base.update(kw)
    return base


def _axis(**kw: Any) -> dict[str, Any]:
    base = dict(showgrid=True, gridcolor="#eef0f3", zeroline=False, linecolor="#c9d0da", showline=True,
                ticks="outside", tickcolor="#c9d0da", ticklen=4)
    base.update(kw)
    return base


def _fmt_num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return esc(v)


def _pct(v: Any, digits: int = 2) -> str:
    if v is None or not isinstance(v, int | float) or not math.isfinite(v):
        return "—"
    return f"{100 * v:.{digits}f}%"


Cell = str | tuple[str, str]  # HTML, or (HTML, CSS class of the cell)


def _table(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, cls: str = "t",
           total: bool = False) -> str:
    """An HTML table of already-escaped HTML cells; ``total`` styles the last row as a total."""
    def td(c: Cell) -> str:
        return f'<td class="{c[1]}">{c[0]}</td>' if isinstance(c, tuple) else f"<td>{c}</td>"

    rows = list(rows)
    total_cls = ' class="total"'
    body = "".join(f"<tr{total_cls if total and i == len(rows) - 1 else ''}>" + "".join(td(c) for c in r)
                   + "</tr>" for i, r in enumerate(rows))
    th = "".join(f"<th>{h}</th>" for h in header)
    return f'<div class="tablewrap"><table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody>' \
           f'</table></div>'


def _png_uri(img: np.ndarray) -> str:
    """A data URI of ``img`` as PNG, inverted to dark ink on white for greyscale."""
    from PIL import Image

    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        pil = Image.fromarray(255 - a, mode="L")
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        pil = Image.fromarray(a[..., :3], mode="RGB")
    else:
        pil = Image.fromarray(255 - a.reshape(a.shape[0], -1), mode="L")
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ============================================================================================== page
def _page(ctx: _Context, sections: list[Section], *, seconds: float) -> str:
    import plotly
    import plotly.offline

    from greyzone import __version__

    css = resources.files("greyzone.evaluation").joinpath("templates/report.css").read_text(encoding="utf-8")
    nav = "".join(f'<a href="#{s.id}">{esc(s.nav or s.title)}</a>' for s in sections)
    notes = "".join(f'<div class="note">{esc(n)}</div>' for n in ctx.notes)
    body = "".join(f'<section class="card" id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    title = f"greyzone report · {DATASET_NAMES.get(ctx.ws.dataset, ctx.ws.dataset)}"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="greyzone {esc(__version__)}">
<title>{esc(title)}</title>
<style>{css}</style>
<script>/* plotly.js as bundled with plotly.py {esc(plotly.__version__)}, inlined once (works offline) */
{plotly.offline.get_plotlyjs()}</script>
</head><body>
{_header(ctx)}
<nav class="toc"><div class="wrap">{nav}</div></nav>
<main><div class="wrap">{notes}{body}</div></main>
<footer>greyzone {esc(__version__)} · written {esc(stamp)} in {seconds:.1f} s · plotly.js inline, no network
access</footer>
</body></html>
"""


def _header(ctx: _Context) -> str:
    ws, s, run = ctx.ws, ctx.scores, ctx.run
    m = run.get("metrics", {})
    cf, emb = m.get("crossfit", {}) or {}, m.get("embed", {}) or {}
    n_by_split = s.split.value_counts()
    kpis: list[tuple[str, str, str]] = [
        (f"{len(s):,}", "images", " · ".join(f"{k} {n_by_split[k]:,}" for k in ws.splits if k in n_by_split))]
    folds = cf.get("fold_accuracy") or []
    if folds:
        kpis.append((_pct(float(np.mean(folds))), "held-out fold accuracy",
                     f"{len(folds)} folds, {_pct(min(folds), 1)} – {_pct(max(folds), 1)}"))
    if cf.get("test_accuracy_fold_mean") is not None:
        kpis.append((_pct(cf["test_accuracy_fold_mean"]), "test accuracy", "fold models, averaged"))
    if emb.get("full_model_test_accuracy") is not None:
        kpis.append((_pct(emb["full_model_test_accuracy"]), "test accuracy", "embedding model (all train)"))
    n_prop, n_idk = int(s.idk_proposed.sum()), int(s.curated_idk.sum())
    kpis.append((f"{n_prop:,}", "proposed IDK", f"{_pct(n_prop / max(len(s), 1), 2)} of all images"))
    kpis.append((f"{n_idk:,}", "curated IDK", f"{int(s.human.sum()):,} human decisions in force"))
    if "label_issue" in s:
        kpis.append((f"{int(s.label_issue.sum()):,}", "label issues", "flagged by confident learning"))
    cards = "".join(f'<div class="kpi"><div class="v">{v}</div><div class="l">{esc(lbl)}</div>'
                    f'<div class="d">{esc(d)}</div></div>' for v, lbl, d in kpis)
    cfg = run.get("config", {})
    train = cfg.get("train", {}) or {}
    bits = [f"workspace <code>{esc(ws.path)}</code>"]
    if run:
        bits.append(f"run #{esc(run.get('id'))} finished {esc(str(run.get('finished_at', ''))[:16])}")
    if cfg:
        epochs = train.get("epochs")
        plural = "" if epochs == 1 else "s"
        bits.append(f"{esc(cfg.get('folds'))}-fold cross-fitting · {esc(epochs)} epoch{plural} · "
                    f"seed {esc(cfg.get('seed'))}")
    classes = ", ".join(ws.classes)
    return f"""<header class="top"><div class="wrap">
<div class="brand">greyzone report</div>
<h1>{esc(DATASET_NAMES.get(ws.dataset, ws.dataset))}: the grey zone</h1>
<p class="sub">{' · '.join(bits)}</p>
<p class="sub">classes: {esc(classes)} + <b>IDK</b></p>
<div class="kpis">{cards}</div>
</div></header>"""


# ============================================================================================== maps
def _quantise(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """``(N, 2)`` float → uint16 on one grid for both axes (keeps the aspect ratio); also the step."""
    finite = np.isfinite(xy).all(axis=1)
    lo = xy[finite].min(axis=0)
    span = float((xy[finite].max(axis=0) - lo).max()) or 1.0
    q = np.round((np.where(finite[:, None], xy, lo) - lo) / span * _Q).astype(np.uint16)
    return q, span / _Q


def _map_figure(ctx: _Context, xy: np.ndarray, title: str) -> go.Figure:
    import plotly.graph_objects as go

    s = ctx.scores
    q, _ = _quantise(xy)
    drawn = np.isfinite(xy).all(axis=1)  # a sample without coordinates is left off the map
    labels = s.label.to_numpy()
    custom = np.column_stack([s.sid.to_numpy(), s.pred.to_numpy(), s.idk_score.to_numpy()]).astype(np.float32)
    names = [ctx.name(i) for i in range(len(ctx.ws.classes))]
    size = 3.0 if len(s) > 20000 else 4.5 if len(s) > 3000 else 6.0
    traces = []
    for c, name in enumerate(names):
        m = (labels == c) & drawn
        if not m.any():
            continue
        traces.append(go.Scattergl(
            x=q[m, 0], y=q[m, 1], customdata=custom[m], mode="markers", name=name, legendgroup=name,
            marker=dict(size=size, color=PALETTE[c % len(PALETTE)], opacity=0.55, line=dict(width=0)),
            hovertemplate=f"label {esc(name)} · pred %{{customdata[1]}}<br>sid %{{customdata[0]}}"
                          f"<br>IDK score %{{customdata[2]:.3f}}<extra></extra>"))
    lab_custom = np.column_stack([custom, labels.astype(np.float32)])
    big = len(s) > 20000
    ink = "rgba(17,17,17,0.7)" if big else "#111111"
    for mask, name, marker in (
            (s.idk_proposed.to_numpy(dtype=bool), "proposed IDK",
             dict(symbol="circle-open", size=size + (3.5 if big else 6), color=ink,
                  line=dict(width=0.9 if big else 1.4))),
            (s.curated_idk.to_numpy(dtype=bool), "curated IDK",
             dict(symbol="x-thin-open", size=size + (1.5 if big else 3), color=ink,
                  line=dict(width=1.0 if big else 1.6)))):
        mask = mask & drawn  # a new array: to_numpy may be a view of the scores
        if not mask.any():
            continue
        traces.append(go.Scattergl(
            x=q[mask, 0], y=q[mask, 1], customdata=lab_custom[mask], mode="markers", name=name, marker=marker,
            hovertemplate=f"<b>{name}</b><br>label %{{customdata[3]}} · pred %{{customdata[1]}}"
                          f"<br>sid %{{customdata[0]}}<br>IDK score %{{customdata[2]:.3f}}<extra></extra>"))
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, showline=True, linecolor="#d5dae2",
                  mirror=True, ticks="", title=None)
    return go.Figure(traces, layout=_layout(
        title=dict(text=title, x=0.01, font=dict(size=14)), xaxis=hidden,
        yaxis=dict(hidden, scaleanchor="x", scaleratio=1), margin=dict(l=10, r=10, t=36, b=10),
        legend=dict(orientation="h", y=-0.02, yanchor="top", x=0, itemsizing="constant"),
        hovermode="closest", dragmode="zoom"))


def _maps_section(ctx: _Context) -> Section | None:
    s = ctx.scores
    panels, missing = [], []
    for key, title in (("pca", "PCA"), ("umap", "UMAP")):
        cols = [f"{key}_x", f"{key}_y"]
        if not set(cols) <= set(s.columns):
            missing.append(title)
            continue
        xy = s[cols].to_numpy(dtype=np.float64)
        if not np.isfinite(xy).all(axis=1).any():
            missing.append(title)
            continue
        panels.append(ctx.figure(_map_figure(ctx, xy, f"{title} of the LeNet-5 embeddings"), height=620))
    if not panels:
        return None
    n_hi = int((s.idk_proposed | s.curated_idk).sum())
    note = ""
    if missing:
        note = f'<p class="caption">{" and ".join(missing)} not computed for this run' \
               f'{" (run without --no-umap to get it)" if "UMAP" in missing else ""}.</p>'
    caption = (f"All {len(s):,} images (train and test), coloured by their given label; {n_hi:,} proposed or "
               f"curated IDK images are drawn on top: ring = proposed by greyzone, cross = IDK in the "
               f"curated labels (proposal accepted or human decision). Coordinates are quantised to a 16-bit "
               f"grid (1/65,535 of the map's extent) to keep the file small; no points are dropped. Click a "
               f"legend entry to hide it, double-click to isolate it; drag to zoom.")
    body = (f'<p class="lead">Where the doubtful images sit in the embedding space of the LeNet-5 trained on '
            f'all train images. Grey-zone images lie between clusters or inside the wrong one.</p>'
            f'<div class="grid2">{"".join(panels)}</div><p class="caption">{caption}</p>{note}')
    return Section("maps", "Embedding maps", body, nav="Maps")


# ============================================================================================== histograms
def _present_scores(s: pd.DataFrame) -> list[ScoreSpec]:
    out = []
    for spec in SCORES:
        if spec.name in s.columns and np.isfinite(s[spec.name].to_numpy(dtype=np.float64)).any():
            out.append(spec)
    return out


def _bins(v: np.ndarray, flag: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Bar centres, bar width, counts of all values and of the flagged ones. A score with few distinct values
    (kNN agreement steps by 1/k) gets one bar per value; otherwise ``HIST_BINS`` equal-width bins."""
    values = np.unique(v)
    if len(values) <= 25:
        one = 0.05 * max(abs(float(values[0])), 1.0)  # a constant score: one narrow bar
        width = 0.8 * float(np.diff(values).min()) if len(values) > 1 else one
        idx = np.searchsorted(values, v)
        return (values, width, np.bincount(idx, minlength=len(values)),
                np.bincount(idx[flag], minlength=len(values)))
    edges = np.linspace(float(values[0]), float(values[-1]), HIST_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    return (centres, float(edges[1] - edges[0]), np.histogram(v, bins=edges)[0],
            np.histogram(v[flag], bins=edges)[0])


def _histograms_section(ctx: _Context) -> Section | None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s = ctx.scores
    specs = _present_scores(s)
    if not specs:
        return None
    cols = 4
    rows = math.ceil(len(specs) / cols)
    titles = [f"{sp.title} {'↑' if sp.doubtful == 'high' else '↓'}" for sp in specs]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=min(0.3 / rows, 0.12))
    prop = s.idk_proposed.to_numpy(dtype=bool)
    for i, sp in enumerate(specs):
        r, c = i // cols + 1, i % cols + 1
        v = s[sp.name].to_numpy(dtype=np.float64)
        ok = np.isfinite(v)
        centres, width, all_counts, prop_counts = _bins(v[ok], prop[ok])
        for counts, name, colour in ((all_counts, "all images", ALL_COLOUR), (prop_counts, "proposed IDK",
                                                                             DOUBT_COLOUR)):
            fig.add_trace(go.Bar(x=centres.astype(np.float32), y=counts.astype(np.int32), width=width,
                                 name=name, showlegend=False, marker=dict(color=colour),
                                 opacity=1.0 if name == "all images" else 0.85,
                                 hovertemplate=f"{esc(sp.title)} %{{x:.3g}}: %{{y}} {name}<extra></extra>"),
                          row=r, col=c)
        fig.update_yaxes(type="log", row=r, col=c, **_axis(ticks="", dtick=1, tickfont=dict(size=10)))
        fig.update_xaxes(row=r, col=c, **_axis(tickfont=dict(size=10), nticks=5))
    fig.update_layout(**_layout(barmode="overlay", bargap=0, margin=dict(l=44, r=10, t=28, b=24)))
    fig.update_annotations(font=dict(size=12.5, family=FONT))
    about = "".join(f"<li><b>{esc(sp.title)}</b> ({'higher' if sp.doubtful == 'high' else 'lower'} = more "
                    f"doubtful): {esc(sp.about)}</li>" for sp in specs)
    body = ('<p class="lead">Each score over all images, with the proposed IDK images overlaid. Counts on a '
            'log scale, so the few doubtful images stay visible next to the many clear ones; the arrow says '
            'which direction is more doubtful.</p>'
            f'<p class="legend-inline"><span class="sw" style="background:{ALL_COLOUR}"></span>all images '
            f'<span class="sw" style="background:{DOUBT_COLOUR}"></span>proposed IDK</p>'
            f'{ctx.figure(fig, height=230 * rows + 30)}'
            f'<details><summary class="caption">What each score measures</summary>'
            f'<ul class="caption">{about}</ul></details>')
    return Section("scores", "Score distributions", body, nav="Scores")


# ============================================================================================== IDK per class
def _idk_section(ctx: _Context) -> Section | None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s, ws = ctx.scores, ctx.ws
    n_cls = len(ws.classes)
    names = [ctx.name(i) for i in range(n_cls)]
    splits = [sp for sp in ws.splits if (s.split == sp).any()]
    fig = make_subplots(rows=1, cols=len(splits), subplot_titles=[f"{sp} split" for sp in splits],
                        shared_yaxes=True, horizontal_spacing=0.05)
    rows, totals = [], np.zeros(6, dtype=np.int64)
    per: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for j, sp in enumerate(splits):
        d = s[s.split == sp]
        lab = d.label.to_numpy()
        n = np.bincount(lab, minlength=n_cls)
        prop = np.bincount(lab[d.idk_proposed.to_numpy(dtype=bool)], minlength=n_cls)
        idk = np.bincount(lab[d.curated_idk.to_numpy(dtype=bool)], minlength=n_cls)
        per[sp] = (n, prop, idk)
        for y, name, colour in ((prop, "proposed", "#f08c8c"), (idk, "curated IDK", DOUBT_COLOUR)):
            rate = 100.0 * y / np.maximum(n, 1)
            fig.add_trace(go.Bar(x=names, y=rate.astype(np.float32), name=name, legendgroup=name,
                                 showlegend=j == 0, marker=dict(color=colour),
                                 text=np.where(y > 0, y.astype(str), ""), textposition="outside",
                                 textfont=dict(size=10), cliponaxis=False, customdata=np.column_stack([y, n]),
                                 hovertemplate=f"class %{{x}} ({sp}): %{{customdata[0]}} of "
                                               f"%{{customdata[1]}} images {name} (%{{y:.2f}}%)"
                                               "<extra></extra>"),
                          row=1, col=j + 1)
        fig.update_xaxes(row=1, col=j + 1, type="category",
                         **_axis(showgrid=False, title=dict(text="given label")))
    fig.update_yaxes(**_axis(title=None), rangemode="tozero", ticksuffix="%")
    fig.update_yaxes(title=dict(text="share of the class"), row=1, col=1)
    fig.update_layout(**_layout(barmode="group", bargap=0.25, margin=dict(l=56, r=10, t=44, b=50),
                                legend=dict(orientation="h", x=1, xanchor="right", y=1.08, yanchor="bottom")))
    fig.update_annotations(font=dict(size=12.5, family=FONT), yshift=4)
    relabelled = (s.curated_label != s.label) & ~s.curated_idk
    for c in range(n_cls):
        row = [f"<b>{esc(names[c])}</b>"]
        vals = []
        for sp in splits[:2]:
            n, prop, idk = per[sp]
            vals += [n[c], prop[c], idk[c]]
            row += [f"{n[c]:,}", f"{prop[c]:,}", f"{idk[c]:,}", _pct(idk[c] / n[c], 1) if n[c] else "—"]
        rl = int((relabelled & (s.label == c)).sum())
        row.append(f"{rl:,}")
        totals[:len(vals)] += vals
        rows.append(row)
    head = ["class"]
    for sp in splits[:2]:
        head += [f"{sp} n", f"{sp} proposed", f"{sp} curated IDK", f"{sp} IDK rate"]
    head.append("relabelled")
    tot: list[Cell] = ["<b>total</b>"]
    for j, _sp in enumerate(splits[:2]):
        n_, p_, i_ = totals[3 * j: 3 * j + 3]
        tot += [f"{n_:,}", f"{p_:,}", f"{i_:,}", _pct(i_ / n_, 2) if n_ else "—"]
    tot.append(f"{int(relabelled.sum()):,}")
    rows.append(tot)
    body = (f'<p class="lead">How many images of each given label greyzone proposed as IDK, and how many '
            f'are IDK in the curated labels after review (proposals in force plus human decisions). Bars: '
            f'share of the class in that split; numbers on the bars: images.</p>'
            f'{ctx.figure(fig, height=330)}{_table(head, rows, total=True)}')
    return Section("idk", "IDK per class", body, nav="IDK per class")


# ============================================================================================== galleries
def _thumb(ctx: _Context, row: pd.Series, value: float | None, images: np.ndarray,
           cache: dict[int, str]) -> str:
    sid = int(row.sid)
    if sid not in cache:
        cache[sid] = _png_uri(images[sid])
    label, pred = ctx.name(row.label), ctx.name(row.pred)
    classes = "th prop" if bool(row.idk_proposed) else "th"
    tag = ""
    if bool(row.curated_idk):
        tag = f'<span class="tag{" h" if bool(row.human) else ""}">IDK</span>'
    elif int(row.curated_label) != int(row.label):
        tag = f'<span class="tag h">→{esc(ctx.name(row.curated_label))}</span>'
    lp = f"<b>{esc(label)}</b>" if label == pred else \
        f'<b>{esc(label)}</b>→<b class="wrong">{esc(pred)}</b>'
    val = f'<span class="sc">{value:.3g}</span>' if value is not None and math.isfinite(value) else ""
    tip = (f"sid {sid} · {row.split} #{int(row['index'])} · label {label} · pred {pred} · "
           f"IDK score {float(row.idk_score):.3f}"
           + (" · proposed IDK" if bool(row.idk_proposed) else "")
           + (f" · curated {ctx.name(row.curated_label)} ({row.decided_by})" if row.decided_by != "original"
              else ""))
    return (f'<figure class="{classes}" title="{esc(tip)}">{tag}<img src="{cache[sid]}" alt="sid {sid}" '
            f'decoding="async"><figcaption>{lp}{val}</figcaption></figure>')


def _legend_inline() -> str:
    return ('<p class="legend-inline">Under each image: <b>given label</b>→'
            '<b style="color:#c92a2a">prediction</b> (out-of-fold) and the score; hover an image to enlarge '
            'it and see its sample id. '
            '<span class="sw prop"></span>proposed IDK <span class="sw" style="background:#1d2430"></span>'
            'IDK in the curated labels <span class="sw" style="background:#3b5bdb"></span>human decision</p>')


def _most_doubtful(d: pd.DataFrame, col: str, doubtful: str, k: int) -> pd.DataFrame:
    d = d[np.isfinite(d[col].to_numpy(dtype=np.float64))]
    key = -d[col].to_numpy(dtype=np.float64) if doubtful == "high" else d[col].to_numpy(dtype=np.float64)
    order = np.lexsort((-d.idk_score.to_numpy(dtype=np.float64), key))[:k]  # ties: higher IDK score first
    return d.iloc[order]


def _class_gallery_section(ctx: _Context) -> Section | None:
    s, images = ctx.scores, ctx.ws.images()
    cache: dict[int, str] = {}
    rows = []
    for c in range(len(ctx.ws.classes)):
        d = s[s.label == c]
        if d.empty:
            continue
        top = _most_doubtful(d, "idk_score", "high", GALLERY_SIZE)
        thumbs = "".join(_thumb(ctx, r, float(r.idk_score), images, cache) for _, r in top.iterrows())
        n_idk = int(d.curated_idk.sum())
        rows.append(f'<div class="gallery-row"><div class="rowhead">{esc(ctx.name(c))}<small>{len(d):,} '
                    f'images<br>{n_idk:,} curated IDK</small></div><div class="thumbs">{thumbs}</div></div>')
    if not rows:
        return None
    body = (f'<p class="lead">The {GALLERY_SIZE} images of each given label with the highest IDK score, '
            f'train and test together.</p>{_legend_inline()}{"".join(rows)}')
    return Section("by-class", "Most doubtful images per class", body, nav="Per class")


def _score_gallery_section(ctx: _Context) -> Section | None:
    s, images = ctx.scores, ctx.ws.images()
    cache: dict[int, str] = {}
    rows = []
    for sp in _present_scores(s):
        top = _most_doubtful(s, sp.name, sp.doubtful, GALLERY_SIZE)
        thumbs = "".join(_thumb(ctx, r, float(r[sp.name]), images, cache) for _, r in top.iterrows())
        arrow = "highest" if sp.doubtful == "high" else "lowest"
        rows.append(f'<div class="gallery-row"><div class="rowhead">{esc(sp.title)}<small>{arrow} first<br>'
                    f'{esc(sp.about)}</small></div><div class="thumbs">{thumbs}</div></div>')
    if not rows:
        return None
    body = (f'<p class="lead">The {GALLERY_SIZE} most doubtful images by each score, all classes. Scores '
            f'that agree show the same images; the ones that differ show what each score is sensitive to.</p>'
            f'{_legend_inline()}{"".join(rows)}')
    return Section("by-score", "Most doubtful images per score", body, nav="Per score")


# ============================================================================================== confusion
def _confusion_figure(counts: np.ndarray, labels: list[str], *, ylabel: str) -> go.Figure:
    import plotly.graph_objects as go

    counts = np.asarray(counts, dtype=np.int64)
    z = np.log10(1.0 + counts)
    text = np.where(counts > 0, counts.astype(str), "")
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, text=text, texttemplate="%{text}", textfont=dict(size=10),
        colorscale=[[0, "#f8f9fb"], [0.25, "#c5d5ea"], [0.6, "#5b86c0"], [1, "#1c3f74"]], showscale=False,
        xgap=1, ygap=1, customdata=counts,
        hovertemplate=f"{ylabel} %{{y}} → predicted %{{x}}: %{{customdata}}<extra></extra>"))
    fig.update_layout(**_layout(
        margin=dict(l=56, r=8, t=8, b=48), plot_bgcolor="#ffffff",
        xaxis=dict(type="category", title=dict(text="predicted"), side="bottom", ticks="", showgrid=False),
        yaxis=dict(type="category", title=dict(text=ylabel), autorange="reversed", ticks="", showgrid=False,
                   scaleanchor="x", constrain="domain")))
    return fig


def _confusion_section(ctx: _Context) -> Section | None:
    s = ctx.scores
    n_cls = len(ctx.ws.classes)
    names = [ctx.name(i) for i in range(n_cls)]
    panels = []
    for sp, what in (("train", "out-of-fold predictions (each image by the fold model that did not train on "
                               "it)"), ("test", "test images, fold models averaged")):
        d = s[s.split == sp]
        if d.empty:
            continue
        cm = np.zeros((n_cls, n_cls), dtype=np.int64)
        np.add.at(cm, (d.label.to_numpy(), d.pred.to_numpy()), 1)
        acc = np.trace(cm) / max(cm.sum(), 1)
        panels.append(f'<div><p class="panel-title">{esc(sp)}: {esc(what)} · accuracy {_pct(acc)}</p>'
                      f'{ctx.figure(_confusion_figure(cm, names, ylabel="given label"), height=430)}</div>')
    eval_panels = []
    models = (ctx.evaluation or {}).get("models")
    if isinstance(models, dict):
        for name, r in models.items():
            if not isinstance(r, dict) or r.get("shares_training_with"):
                continue
            cm_d = r.get("confusion_matrix") or {}
            counts, labels = cm_d.get("counts"), cm_d.get("labels")
            try:
                arr = np.asarray(counts, dtype=np.int64)
            except (TypeError, ValueError):
                continue
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not labels or len(labels) != arr.shape[0]:
                continue
            seeds = cm_d.get("summed_over_seeds")
            panels_title = name + (f" · summed over {seeds} seed{'' if seeds == 1 else 's'}" if seeds else "")
            fig = _confusion_figure(arr, [str(x) for x in labels], ylabel="curated label")
            eval_panels.append(f'<div><p class="panel-title">{esc(panels_title)}</p>'
                               f'{ctx.figure(fig, height=390)}</div>')
    if not panels and not eval_panels:
        return None
    body = ('<p class="lead">Rows: the label; columns: the prediction. Colour on a log scale, so the rare '
            'confusions stand out next to the diagonal.</p>')
    if panels:
        body += ('<h3>Cross-fitted LeNet-5 against the given labels</h3>'
                 f'<div class="grid2">{"".join(panels)}</div>')
    if eval_panels:
        body += ('<h3>Models trained on the curated export, curated test labels (from <code>greyzone '
                 f'evaluate</code>)</h3><div class="grid3">{"".join(eval_panels)}</div>')
    return Section("confusion", "Confusion matrices", body, nav="Confusion")


# ============================================================================================== evaluation
def _stat(d: Any) -> tuple[float | None, float | None]:
    if isinstance(d, dict):
        m, sd = d.get("mean"), d.get("std")
        m = float(m) if isinstance(m, int | float) and math.isfinite(m) else None
        sd = float(sd) if isinstance(sd, int | float) and math.isfinite(sd) else None
        return m, sd
    if isinstance(d, int | float) and math.isfinite(d):
        return float(d), None
    return None, None


def _stat_cell(d: Any, *, scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` of a ``{"mean", "std"}`` dict (or a bare number), times ``scale``; "—" when missing."""
    m, sd = _stat(d)
    if m is None:
        return "—"
    pm = f' <span class="pm">± {sd * scale:.{digits}f}</span>' if sd is not None else ""
    return f"{m * scale:.{digits}f}{pm}"


def _metric_table(models: dict[str, Any], group: str, heads: dict[str, tuple[str, str | None]],
                  extra: Callable[[str, dict[str, Any]], list[str]] | None = None,
                  extra_heads: Sequence[str] = ()) -> str:
    present = [k for k in heads
               if any(isinstance(r.get(group), dict) and k in r[group] for r in models.values())]
    best: dict[str, float] = {}
    for k in present:
        direction = heads[k][1]
        vals = [_stat(r.get(group, {}).get(k))[0] for r in models.values()]
        vals = [v for v in vals if v is not None]
        if direction and len(vals) > 1 and max(vals) - min(vals) > 1e-12:  # no winner when all tie
            best[k] = max(vals) if direction == "high" else min(vals)
    rows = []
    for name, r in models.items():
        cells: list[Cell] = [f"<b>{esc(name)}</b>"]
        for k in present:
            v = _stat(r.get(group, {}).get(k))[0]
            is_best = k in best and v is not None and math.isclose(v, best[k], rel_tol=1e-9, abs_tol=1e-12)
            cell = _stat_cell(r.get(group, {}).get(k))
            cells.append((cell, "best") if is_best else cell)
        if extra:
            cells += extra(name, r)
        rows.append(cells)
    arrows = {"high": " ↑", "low": " ↓", None: ""}
    head = ["model", *[esc(heads[k][0]) + arrows[heads[k][1]] for k in present], *extra_heads]
    return _table(head, rows)


def _risk_coverage_figure(models: dict[str, Any]) -> go.Figure | None:
    import plotly.graph_objects as go

    traces = []
    for name, r in models.items():
        rc = r.get("risk_coverage") if isinstance(r, dict) else None
        if not isinstance(rc, dict):
            continue
        try:
            cov = np.asarray(rc.get("coverage"), dtype=np.float64)
            risk = np.asarray(rc.get("risk_mean"), dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if cov.ndim != 1 or cov.shape != risk.shape or cov.size == 0:
            continue
        colour = MODEL_COLOURS.get(name, PALETTE[len(traces) % len(PALETTE)])
        dash = "dot" if r.get("shares_training_with") else "solid"
        std = rc.get("risk_std")
        if std is not None:
            try:
                sd = np.nan_to_num(np.asarray(std, dtype=np.float64))
            except (TypeError, ValueError):
                sd = None
            if sd is not None and sd.shape == risk.shape:
                band_x = np.concatenate([cov, cov[::-1]]) * 100
                band_y = np.concatenate([risk + sd, (risk - sd)[::-1]]) * 100
                traces.append(go.Scatter(x=band_x, y=np.clip(band_y, 0, None), fill="toself", mode="lines",
                                         line=dict(width=0), fillcolor=_rgba(colour, 0.13), hoverinfo="skip",
                                         showlegend=False, legendgroup=name))
        traces.append(go.Scatter(x=cov * 100, y=risk * 100, mode="lines", name=name, legendgroup=name,
                                 line=dict(color=colour, width=2.2, dash=dash),
                                 hovertemplate=f"{esc(name)}: coverage %{{x:.1f}}% → risk %{{y:.3f}}%"
                                               f"<extra></extra>"))
    if not traces:
        return None
    fig = go.Figure(traces)
    for c in (95, 99):
        fig.add_vline(x=c, line=dict(color="#adb5bd", width=1, dash="dash"),
                      annotation=dict(text=f"{c}%", font=dict(size=10, color="#868e96")),
                      annotation_position="top left")
    fig.update_layout(**_layout(
        xaxis=_axis(title=dict(text="coverage (% of curated test images not abstained on)"),
                    range=[0, 100.5]),
        yaxis=_axis(title=dict(text="risk (% errors among accepted)"), rangemode="tozero"),
        legend=dict(x=0.02, y=0.98, bgcolor="rgba(255,255,255,0.85)", bordercolor="#e3e7ed", borderwidth=1),
        margin=dict(l=60, r=16, t=24, b=50), hovermode="x unified"))
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _evaluation_section(ctx: _Context) -> Section | None:
    ev = ctx.evaluation
    if not ev:
        return None
    models = {k: v for k, v in (ev.get("models") or {}).items() if isinstance(v, dict)}
    if not models:
        return None
    cfg, data = ev.get("config") or {}, ev.get("data") or {}
    seeds = next((len(r["seeds"]) for r in models.values() if isinstance(r.get("seeds"), list)), None)
    pills = []
    for label, v in (("seeds", seeds), ("epochs", cfg.get("epochs")), ("train images", data.get("n_train")),
                     ("train IDK", data.get("n_train_idk")), ("test images", data.get("n_test")),
                     ("test IDK", data.get("n_test_idk")),
                     ("IDK class weight", f"{cfg['idk_class_weight']:.2f} ({cfg.get('idk_weighting', '?')})"
                      if isinstance(cfg.get("idk_class_weight"), int | float) else None),
                     ("created", str(ev.get("created_at", ""))[:16] or None),
                     ("took", f"{ev['timings']['total_seconds']:,.0f} s"
                      if isinstance((ev.get("timings") or {}).get("total_seconds"), int | float) else None)):
        if v is not None:
            shown = esc(v) if isinstance(v, str) else _fmt_num(v)
            pills.append(f'<span class="pill">{esc(label)} <b>{shown}</b></span>')
    desc = "".join(f"<li><b>{esc(k)}</b>: {esc(r.get('description', ''))}</li>" for k, r in models.items()
                   if r.get("description"))
    body = ('<p class="lead">LeNet-5 models trained on the curated export and scored on the curated test '
            'split (a digit predicted for an IDK image is an error, abstaining on it is right). Mean ± std '
            f'over seeds, in %; the best value of each column in green.</p><p>{"".join(pills)}</p>')
    if desc:
        body += f'<ul class="caption">{desc}</ul>'
    stale = data.get("n_export_differs_from_store")
    if isinstance(stale, int) and stale > 0:
        body += (f'<div class="note">The evaluated export differs from the current curated labels on '
                 f'{stale:,} images; run <code>greyzone export</code> and <code>greyzone evaluate</code> to '
                 f'evaluate the latest curation.</div>')
    fig = _risk_coverage_figure(models)
    if fig is not None:
        body += ('<h3>Risk–coverage</h3>' + ctx.figure(fig, height=400, caption=(
            "Each model ranks the curated test images by its abstain score and accepts the most confident "
            "first; risk is the error rate among the accepted. Lower is better at every coverage; the band "
            "is ± one std over seeds; dotted = same networks ranked by p(IDK).")))
    body += "<h3>Curated test split</h3>" + _metric_table(models, "curated", CURATED_HEADS)

    def train_seconds(_name: str, r: dict[str, Any]) -> list[str]:
        ts = r.get("train_seconds")
        return [_stat_cell(ts, scale=1.0, digits=1) if ts else "shared"]

    body += ("<h3>Original test labels</h3><p class=\"caption\">Argmax over the digit outputs against the "
             "original labels, comparable with the literature (LeNet-5: 0.95% error, LeCun et al. 1998).</p>"
             + _metric_table(models, "original", ORIGINAL_HEADS, extra=train_seconds,
                             extra_heads=["train s / seed"]))
    body += _robustness_table(ev, models)
    return Section("evaluation", "Evaluation of the curated dataset", body, nav="Evaluation")


def _robustness_table(ev: dict[str, Any], models: dict[str, Any]) -> str:
    ood = ev.get("ood") if isinstance(ev.get("ood"), dict) else {}
    sets: list[str] = []
    for r in models.values():
        for k in (r.get("robustness") or {}):
            if k not in sets:
                sets.append(k)
    if not sets:
        return ""
    head = ["model"]
    for k in sets:
        n = (ood.get(k) or {}).get("n") if isinstance(ood.get(k), dict) else None
        head.append(f"{esc(k)}{f' (n={n:,})' if isinstance(n, int) else ''}<br>abstain ↑ / AUROC ↑")
    rows = []
    for name, r in models.items():
        rob = r.get("robustness") or {}
        cells = [f"<b>{esc(name)}</b>"]
        for k in sets:
            d = rob.get(k) or {}
            cells.append(f"{_stat_cell(d.get('abstain_rate'), digits=1)} / "
                         f"{_stat_cell(d.get('auroc'), digits=1)}")
        rows.append(cells)
    skipped = [f"{esc(k)}: {esc(v['skipped'])}" for k, v in ood.items()
               if isinstance(v, dict) and "skipped" in v]
    note = f'<p class="caption">Skipped: {"; ".join(skipped)}</p>' if skipped else ""
    return ("<h3>Robustness to out-of-distribution inputs</h3><p class=\"caption\">Share of each probe set "
            "the model abstains on at its operating point, and AUROC of its abstain score for separating the "
            "set from clean test digits (%).</p>" + _table(head, rows) + note)


# ============================================================================================== curation
Record = tuple[tuple[str, ...], dict[str, Any]]


def _is_stat(v: Any) -> bool:
    return isinstance(v, dict) and "mean" in v and set(v) <= {"mean", "std", "values", "n"}


def _is_leaf(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool) or _is_stat(v)


def _flatten(obj: Any, prefix: tuple[str, ...] = ()) -> list[Record]:
    """Nested JSON → ``[(path, {column: value})]``: one record per object whose values are all scalars (or
    ``{"mean", "std"}`` statistics). Objects nest into the path; list items keep their parent's path."""
    if isinstance(obj, dict):
        if obj and all(_is_leaf(v) for v in obj.values()):
            return [(prefix, dict(obj))]
        out: list[Record] = []
        for k, v in obj.items():
            if isinstance(v, dict | list):
                out += _flatten(v, (*prefix, str(k)))
        return out
    if isinstance(obj, list):
        return [r for x in obj if isinstance(x, dict) for r in _flatten(x, prefix)]
    return []


def _cell_value(v: Any) -> str:
    if _is_stat(v):
        m, sd = _stat(v)
        return "—" if m is None else f"{m:.3f}" + (f' <span class="pm">± {sd:.3f}</span>' if sd is not None
                                                   else "")
    if isinstance(v, list | dict):
        return esc(json.dumps(v)[:60])
    return _fmt_num(v)


def _tinted(v: Any) -> Cell:
    """A value cell; a fraction in [0, 1] gets a background tint in proportion (the table reads as a heat
    map)."""
    m = _stat(v)[0] if _is_stat(v) else v
    if isinstance(m, float) and 0.0 <= m <= 1.0:
        return f'<span class="tint" style="--a:{0.05 + 0.45 * m:.2f}">{_cell_value(v)}</span>'
    return _cell_value(v)


def _records_table(records: list[Record], *, limit: int = 300) -> str:
    """Records as one table: the path as leading columns (repeats left blank), then every column seen."""
    depth = max(len(p) for p, _ in records)
    keys: list[str] = []
    for _, leaves in records:
        keys += [k for k in leaves if k not in keys]
    rows: list[list[Cell]] = []
    previous: tuple[str, ...] = ()
    for path, leaves in records[:limit]:
        lead: list[Cell] = []
        for i in range(depth):
            same = i < len(path) and path[:i + 1] == previous[:i + 1]
            lead.append((f"<b>{esc(path[i])}</b>" if i < len(path) and not same else "", "l"))
        previous = path
        rows.append([*lead, *(_tinted(leaves[k]) if k in leaves else "" for k in keys)])
    more = f'<p class="caption">… {len(records) - limit} more rows in the JSON file.</p>' \
        if len(records) > limit else ""
    return _table(["" for _ in range(depth)] + [esc(k) for k in keys], rows) + more


def _curation_section(ctx: _Context) -> Section | None:
    cur = ctx.curation
    if not cur:
        return None
    scalars = {k: v for k, v in cur.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    pills = "".join(f'<span class="pill">{esc(k)} <b>{esc(v)}</b></span>' for k, v in scalars.items())
    tables, tail = [], []
    for key, value in cur.items():
        recs = _flatten(value)
        if not recs:
            continue
        part = f"<h3>{esc(str(key).replace('_', ' '))}</h3>{_records_table(recs)}"
        (tail if key in ("config", "timings", "versions") else tables).append(part)
    if not tables and not tail:
        return None
    body = ('<p class="lead">Known problems planted into clean data with a fixed seed, then the full '
            'pipeline: how well each score and flag recovers each kind of problem, next to simple baselines '
            f'(from <code>{esc(CURATION_FILE)}</code>).</p><p>{pills}</p>{"".join(tables + tail)}')
    return Section("curation", "Curation benchmark", body, nav="Benchmark")


# ============================================================================================== config
def _flat_config(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat_config(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _config_section(ctx: _Context) -> Section | None:
    run = ctx.run
    if not run:
        return None
    parts = []
    cfg = run.get("config") or {}
    if cfg:
        rows = [[f"<code>{esc(k)}</code>", esc(json.dumps(v) if not isinstance(v, str) else v)]
                for k, v in _flat_config(cfg)]
        parts.append(f"<div><h3>Run config</h3>{_table(['key', 'value'], rows, cls='t kv')}</div>")
    timings = {k: v for k, v in (run.get("timings") or {}).items() if isinstance(v, int | float)}
    if timings:
        total = sum(timings.values())
        mx = max(timings.values()) or 1.0
        rows: list[list[Cell]] = [
            [esc(k), f"{v:,.1f}", (f'<span class="bar" style="width:{max(2, 200 * v / mx):.0f}px"></span>',
                                   "l")] for k, v in timings.items()]
        rows.append(["<b>total</b>", f"{total:,.1f}", ""])
        extra = ""
        tput = (run.get("metrics") or {}).get("crossfit", {}).get("train_samples_per_s")
        if tput:
            extra = f'<p class="caption">Cross-fitting trained at {tput:,} images/s.</p>'
        table = _table(["stage", "seconds", ""], rows, total=True)
        parts.append(f"<div><h3>Stage timings (s)</h3>{table}{extra}</div>")
    versions = run.get("versions") or {}
    if versions:
        rows = [[esc(k), f"<code>{esc(v)}</code>"] for k, v in versions.items()]
        table = _table(["package", "version"], rows, cls="t kv")
        parts.append(f"<div><h3>Package versions</h3>{table}</div>")
    policy = _policy(ctx)
    if not parts:
        return None
    body = (f'<p class="lead">Run #{esc(run.get("id"))}, started {esc(str(run.get("started_at", ""))[:19])}, '
            f'finished {esc(str(run.get("finished_at", ""))[:19])} (UTC).'
            f'{f" Proposal policy: <code>{esc(policy)}</code>." if policy else ""}</p>'
            f'<div class="grid3">{"".join(parts)}</div>')
    return Section("config", "Run config, timings and versions", body, nav="Config")


def _policy(ctx: _Context) -> str | None:
    try:
        eff = ctx.ws.effective_decisions(source="auto")
        reasons = [r for r in eff.get("reason", pd.Series(dtype=object)).dropna().unique() if r]
        if reasons:
            return str(reasons[0])
        from greyzone.scores.idk import POLICY

        return POLICY
    except Exception:  # noqa: BLE001 - the policy line is decoration; never fail the report on it
        return None
