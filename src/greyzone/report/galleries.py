"""The two thumbnail galleries: the most doubtful images per class (by IDK score) and per catalogue score."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greyzone.report.context import ReportContext

GALLERY_SIZE = 12


@dataclass(frozen=True)
class Thumb:
    """One image of a gallery: its data URI, caption (label → prediction, score) and hover text."""

    sid: int
    uri: str
    label: str
    pred: str
    value: str | None  # the score, formatted
    proposed: bool  # proposed IDK: red frame
    tag: str | None  # "IDK" or "→<curated label>" when the curated label differs
    tag_human: bool  # the tag shows a human decision (a relabel always is one)
    tip: str


@dataclass(frozen=True)
class Row:
    head: str
    lines: list[str]  # small print under the head
    thumbs: list[Thumb]


def most_doubtful(d: pd.DataFrame, col: str, doubtful: str | None, k: int = GALLERY_SIZE) -> pd.DataFrame:
    """The ``k`` rows of ``d`` with the most doubtful finite ``col``; ties: higher IDK score first."""
    v = d[col].to_numpy(dtype=np.float64)
    d, v = d[np.isfinite(v)], v[np.isfinite(v)]
    order = np.lexsort((-d.idk_score.to_numpy(dtype=np.float64), -v if doubtful == "high" else v))[:k]
    return d.iloc[order]


def thumb(ctx: ReportContext, row: pd.Series, value: float | None) -> Thumb:
    sid, label, pred = int(row.sid), ctx.name(row.label), ctx.name(row.pred)
    curated, is_idk = ctx.name(row.curated_label), bool(row.curated_idk)
    tag = "IDK" if is_idk else None if int(row.curated_label) == int(row.label) else f"→{curated}"
    tip = (f"sid {sid} · {row.split} #{int(row['index'])} · label {label} · pred {pred} · "
           f"IDK score {float(row.idk_score):.3f}"
           + (" · proposed IDK" if bool(row.idk_proposed) else "")
           + (f" · curated {curated} ({row.decided_by})" if row.decided_by != "original" else ""))
    return Thumb(sid=sid, uri=ctx.thumb_uri(sid), label=label, pred=pred,
                 value=f"{value:.3g}" if value is not None and math.isfinite(value) else None,
                 proposed=bool(row.idk_proposed), tag=tag, tag_human=bool(row.human) or not is_idk, tip=tip)


def _thumbs(ctx: ReportContext, top: pd.DataFrame, col: str) -> list[Thumb]:
    return [thumb(ctx, r, float(r[col])) for _, r in top.iterrows()]


def by_class(ctx: ReportContext) -> dict[str, Any] | None:
    s = ctx.scores
    rows = []
    for c, name in enumerate(ctx.names):
        d = s[s.label == c]
        if d.empty:
            continue
        rows.append(Row(name, [f"{len(d):,} images", f"{int(d.curated_idk.sum()):,} curated IDK"],
                        _thumbs(ctx, most_doubtful(d, "idk_score", "high"), "idk_score")))
    return dict(kind="class", size=GALLERY_SIZE, rows=rows) if rows else None


def by_score(ctx: ReportContext) -> dict[str, Any] | None:
    s = ctx.scores
    rows = [Row(c.title, [f"{'highest' if c.doubtful == 'high' else 'lowest'} first", c.help],
                _thumbs(ctx, most_doubtful(s, c.name, c.doubtful), c.name)) for c in ctx.present_scores()]
    return dict(kind="score", size=GALLERY_SIZE, rows=rows) if rows else None
