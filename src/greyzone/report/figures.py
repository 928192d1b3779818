"""Plotly figures of the report: embedding maps, score histograms, IDK per class, confusion matrices and
risk–coverage curves. Builders take arrays and names and return a ``go.Figure``; :class:`Plot` turns one into
the JSON the page's single plotly.js draws.

Size: the maps keep every sample, their coordinates quantised to a 16-bit grid (:func:`quantise`) and sent
as base64 typed arrays, with ``sid, pred, idk_score`` as float32 for the hover; histograms are binned here,
not in the browser.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markupsafe import Markup

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from greyzone.scores.catalog import Column

HIST_BINS = 40
HIST_COLS = 4  # histograms per row
FEW_VALUES = 25  # a score with at most this many distinct values gets one bar per value
Q = 65535  # quantisation steps of the map coordinates (uint16)
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#79706e")
MODEL_COLOURS = {"baseline": "#868e96", "no_idk": "#4e79a7", "idk_aware": "#e8590c",
                 "idk_aware_pidk": "#e8590c"}
ALL_COLOUR, PROPOSED_COLOUR, DOUBT_COLOUR = "#a5b4c8", "#f08c8c", "#c92a2a"
FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


@dataclass(frozen=True)
class Plot:
    """A figure for the page: its element id, height in px and plotly's JSON of data and layout."""

    id: str
    height: int
    spec: Markup

    @classmethod
    def of(cls, fig: go.Figure, fid: str, *, height: int) -> Plot:
        import plotly.io as pio

        fig.update_layout(height=height)
        # plotly escapes '/' as \u002f against '</script>'; '<' stays escaped, so base64 may keep its '/'.
        spec = pio.to_json(fig, validate=False, engine="json").replace("\\u002f", "/")
        return cls(fid, height, Markup(spec))  # noqa: S704 - plotly's own JSON, '<' escaped by plotly


def layout(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        template="none", font=dict(family=FONT, size=12, color="#1d2430"), paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#ffffff", margin=dict(l=52, r=16, t=30, b=44),
        hoverlabel=dict(font=dict(family=FONT, size=12)), legend=dict(font=dict(size=11.5)))
    return base | kw


def axis(**kw: Any) -> dict[str, Any]:
    base = dict(showgrid=True, gridcolor="#eef0f3", zeroline=False, linecolor="#c9d0da", showline=True,
                ticks="outside", tickcolor="#c9d0da", ticklen=4)
    return base | kw


# ============================================================================================== maps
def quantise(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """``(N, 2)`` float → uint16 on one grid for both axes (keeps the aspect ratio); also the step. Rows
    with a non-finite coordinate go to the grid's origin (the map leaves them off)."""
    finite = np.isfinite(xy).all(axis=1)
    lo = xy[finite].min(axis=0)
    span = float((xy[finite].max(axis=0) - lo).max()) or 1.0
    q = np.round((np.where(finite[:, None], xy, lo) - lo) / span * Q).astype(np.uint16)
    return q, span / Q


def embedding_map(s: pd.DataFrame, xy: np.ndarray, names: Sequence[str], title: str) -> go.Figure:
    """Every sample with finite coordinates, coloured by label; proposed and curated IDK drawn on top."""
    import plotly.graph_objects as go

    q, _ = quantise(xy)
    drawn = np.isfinite(xy).all(axis=1)
    labels = s.label.to_numpy()
    custom = np.column_stack([s.sid.to_numpy(), s.pred.to_numpy(), s.idk_score.to_numpy()]).astype(np.float32)
    big = len(s) > 20000
    size = 3.0 if big else 4.5 if len(s) > 3000 else 6.0
    traces = []
    for c, name in enumerate(names):
        m = (labels == c) & drawn
        if m.any():
            traces.append(go.Scattergl(
                x=q[m, 0], y=q[m, 1], customdata=custom[m], mode="markers", name=name, legendgroup=name,
                marker=dict(size=size, color=PALETTE[c % len(PALETTE)], opacity=0.55, line=dict(width=0)),
                hovertemplate=f"label {html.escape(name)} · pred %{{customdata[1]}}<br>sid %{{customdata[0]}}"
                              f"<br>IDK score %{{customdata[2]:.3f}}<extra></extra>"))
    lab_custom = np.column_stack([custom, labels.astype(np.float32)])
    ink = "rgba(17,17,17,0.7)" if big else "#111111"
    for mask, name, marker in (
            (s.idk_proposed.to_numpy(dtype=bool), "proposed IDK",
             dict(symbol="circle-open", size=size + (3.5 if big else 6), color=ink,
                  line=dict(width=0.9 if big else 1.4))),
            (s.curated_idk.to_numpy(dtype=bool), "curated IDK",
             dict(symbol="x-thin-open", size=size + (1.5 if big else 3), color=ink,
                  line=dict(width=1.0 if big else 1.6)))):
        mask = mask & drawn  # a new array: to_numpy may be a view of the scores
        if mask.any():
            traces.append(go.Scattergl(
                x=q[mask, 0], y=q[mask, 1], customdata=lab_custom[mask], mode="markers", name=name,
                marker=marker,
                hovertemplate=f"<b>{name}</b><br>label %{{customdata[3]}} · pred %{{customdata[1]}}"
                              f"<br>sid %{{customdata[0]}}<br>IDK score %{{customdata[2]:.3f}}"
                              "<extra></extra>"))
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, showline=True, linecolor="#d5dae2",
                  mirror=True, ticks="", title=None)
    return go.Figure(traces, layout=layout(
        title=dict(text=title, x=0.01, font=dict(size=14)), xaxis=hidden,
        yaxis=dict(hidden, scaleanchor="x", scaleratio=1), margin=dict(l=10, r=10, t=36, b=10),
        legend=dict(orientation="h", y=-0.02, yanchor="top", x=0, itemsizing="constant"),
        hovermode="closest", dragmode="zoom"))


# ============================================================================================== histograms
def bins(v: np.ndarray, flag: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Bar centres, bar width, counts of all values and of the flagged ones. A score with few distinct values
    (kNN agreement steps by 1/k) gets one bar per value; otherwise ``HIST_BINS`` equal-width bins."""
    values = np.unique(v)
    if len(values) <= FEW_VALUES:
        one = 0.05 * max(abs(float(values[0])), 1.0)  # a constant score: one narrow bar
        width = 0.8 * float(np.diff(values).min()) if len(values) > 1 else one
        idx = np.searchsorted(values, v)
        return (values, width, np.bincount(idx, minlength=len(values)),
                np.bincount(idx[flag], minlength=len(values)))
    edges = np.linspace(float(values[0]), float(values[-1]), HIST_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    return (centres, float(edges[1] - edges[0]), np.histogram(v, bins=edges)[0],
            np.histogram(v[flag], bins=edges)[0])


def arrow(c: Column) -> str:
    return "↑" if c.doubtful == "high" else "↓"


def histogram_rows(n: int) -> int:
    return math.ceil(n / HIST_COLS)


def histograms(s: pd.DataFrame, columns: Sequence[Column]) -> go.Figure:
    """One log-count histogram per score column, ``HIST_COLS`` a row, all images and the proposed IDK
    overlaid."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows, cols = histogram_rows(len(columns)), HIST_COLS
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{c.title} {arrow(c)}" for c in columns],
                        horizontal_spacing=0.06, vertical_spacing=min(0.3 / rows, 0.12))
    prop = s.idk_proposed.to_numpy(dtype=bool)
    for i, col in enumerate(columns):
        r, c = i // cols + 1, i % cols + 1
        v = s[col.name].to_numpy(dtype=np.float64)
        ok = np.isfinite(v)
        centres, width, all_counts, prop_counts = bins(v[ok], prop[ok])
        for counts, name, colour, opacity in ((all_counts, "all images", ALL_COLOUR, 1.0),
                                              (prop_counts, "proposed IDK", DOUBT_COLOUR, 0.85)):
            fig.add_trace(go.Bar(x=centres.astype(np.float32), y=counts.astype(np.int32), width=width,
                                 name=name, showlegend=False, marker=dict(color=colour), opacity=opacity,
                                 hovertemplate=f"{html.escape(col.title)} %{{x:.3g}}: %{{y}} {name}"
                                               "<extra></extra>"),
                          row=r, col=c)
        fig.update_yaxes(type="log", row=r, col=c, **axis(ticks="", dtick=1, tickfont=dict(size=10)))
        fig.update_xaxes(row=r, col=c, **axis(tickfont=dict(size=10), nticks=5))
    fig.update_layout(**layout(barmode="overlay", bargap=0, margin=dict(l=44, r=10, t=28, b=24)))
    fig.update_annotations(font=dict(size=12.5, family=FONT))
    return fig


# ============================================================================================== IDK per class
def idk_bars(per_split: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
             names: Sequence[str]) -> go.Figure:
    """Per split, the share of each class proposed and curated IDK; ``per_split[split] = (n, proposed,
    curated IDK)`` counts by class."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(per_split), subplot_titles=[f"{sp} split" for sp in per_split],
                        shared_yaxes=True, horizontal_spacing=0.05)
    for j, (sp, (n, prop, idk)) in enumerate(per_split.items()):
        for y, name, colour in ((prop, "proposed", PROPOSED_COLOUR), (idk, "curated IDK", DOUBT_COLOUR)):
            rate = 100.0 * y / np.maximum(n, 1)
            fig.add_trace(go.Bar(x=list(names), y=rate.astype(np.float32), name=name, legendgroup=name,
                                 showlegend=j == 0, marker=dict(color=colour),
                                 text=np.where(y > 0, y.astype(str), ""), textposition="outside",
                                 textfont=dict(size=10), cliponaxis=False, customdata=np.column_stack([y, n]),
                                 hovertemplate=f"class %{{x}} ({sp}): %{{customdata[0]}} of "
                                               f"%{{customdata[1]}} images {name} (%{{y:.2f}}%)"
                                               "<extra></extra>"),
                          row=1, col=j + 1)
        fig.update_xaxes(row=1, col=j + 1, type="category",
                         **axis(showgrid=False, title=dict(text="given label")))
    fig.update_yaxes(**axis(title=None), rangemode="tozero", ticksuffix="%")
    fig.update_yaxes(title=dict(text="share of the class"), row=1, col=1)
    fig.update_layout(**layout(barmode="group", bargap=0.25, margin=dict(l=56, r=10, t=44, b=50),
                               legend=dict(orientation="h", x=1, xanchor="right", y=1.08, yanchor="bottom")))
    fig.update_annotations(font=dict(size=12.5, family=FONT), yshift=4)
    return fig


# ============================================================================================== confusion
def confusion(counts: np.ndarray, labels: Sequence[str], *, ylabel: str) -> go.Figure:
    """A confusion matrix (rows ``ylabel``, columns predicted), coloured on a log scale."""
    import plotly.graph_objects as go

    counts = np.asarray(counts, dtype=np.int64)
    fig = go.Figure(go.Heatmap(
        z=np.log10(1.0 + counts), x=list(labels), y=list(labels),
        text=np.where(counts > 0, counts.astype(str), ""), texttemplate="%{text}", textfont=dict(size=10),
        colorscale=[[0, "#f8f9fb"], [0.25, "#c5d5ea"], [0.6, "#5b86c0"], [1, "#1c3f74"]], showscale=False,
        xgap=1, ygap=1, customdata=counts,
        hovertemplate=f"{ylabel} %{{y}} → predicted %{{x}}: %{{customdata}}<extra></extra>"))
    fig.update_layout(**layout(
        margin=dict(l=56, r=8, t=8, b=48), plot_bgcolor="#ffffff",
        xaxis=dict(type="category", title=dict(text="predicted"), side="bottom", ticks="", showgrid=False),
        yaxis=dict(type="category", title=dict(text=ylabel), autorange="reversed", ticks="", showgrid=False,
                   scaleanchor="x", constrain="domain")))
    return fig


# ============================================================================================== risk–coverage
def _curve(rc: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """``(coverage, risk, std or None)`` of a model's ``risk_coverage`` entry; None when it is unusable."""
    if not isinstance(rc, dict):
        return None
    try:
        cov = np.asarray(rc.get("coverage"), dtype=np.float64)
        risk = np.asarray(rc.get("risk_mean"), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if cov.ndim != 1 or cov.shape != risk.shape or cov.size == 0:
        return None
    try:  # the band is optional: a missing or malformed std draws the curve alone
        sd = np.nan_to_num(np.asarray(rc.get("risk_std"), dtype=np.float64))
    except (TypeError, ValueError):
        return cov, risk, None
    return cov, risk, sd if sd.shape == risk.shape else None


def risk_coverage(models: dict[str, dict[str, Any]]) -> go.Figure | None:
    """Each model's risk–coverage curve with a ± std band; None when no model has a usable curve."""
    import plotly.graph_objects as go

    traces = []
    for name, r in models.items():
        curve = _curve(r.get("risk_coverage"))
        if curve is None:
            continue
        cov, risk, sd = curve
        colour = MODEL_COLOURS.get(name, PALETTE[len(traces) % len(PALETTE)])
        if sd is not None:
            band_y = np.concatenate([risk + sd, (risk - sd)[::-1]]) * 100
            traces.append(go.Scatter(x=np.concatenate([cov, cov[::-1]]) * 100, y=np.clip(band_y, 0, None),
                                     fill="toself", mode="lines", line=dict(width=0),
                                     fillcolor=_rgba(colour, 0.13), hoverinfo="skip", showlegend=False,
                                     legendgroup=name))
        dash = "dot" if r.get("shares_training_with") else "solid"
        traces.append(go.Scatter(x=cov * 100, y=risk * 100, mode="lines", name=name, legendgroup=name,
                                 line=dict(color=colour, width=2.2, dash=dash),
                                 hovertemplate=f"{html.escape(name)}: coverage %{{x:.1f}}% → risk %{{y:.3f}}%"
                                               "<extra></extra>"))
    if not traces:
        return None
    fig = go.Figure(traces)
    for c in (95, 99):
        fig.add_vline(x=c, line=dict(color="#adb5bd", width=1, dash="dash"),
                      annotation=dict(text=f"{c}%", font=dict(size=10, color="#868e96")),
                      annotation_position="top left")
    fig.update_layout(**layout(
        xaxis=axis(title=dict(text="coverage (% of curated test images not abstained on)"), range=[0, 100.5]),
        yaxis=axis(title=dict(text="risk (% errors among accepted)"), rangemode="tozero"),
        legend=dict(x=0.02, y=0.98, bgcolor="rgba(255,255,255,0.85)", bordercolor="#e3e7ed", borderwidth=1),
        margin=dict(l=60, r=16, t=24, b=50), hovermode="x unified"))
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
