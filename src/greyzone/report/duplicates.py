"""The report's "Duplicates and leaks" section: counts, the calibrated threshold and the groups that span
splits, side by side (:mod:`greyzone.scores.duplicates`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from greyzone.report.context import ReportContext

#: Cross-split pairs shown (the score table holds all of them).
MAX_PAIRS = 24


@dataclass(frozen=True)
class Pair:
    sample: str  # "split:index"
    label: str
    of: str  # "split:index" of the group's earliest sample
    of_label: str
    thumb: str
    of_thumb: str


def duplicates(ctx: ReportContext) -> dict[str, Any] | None:
    """None when the score table has no duplicate columns (a workspace from before them)."""
    s = ctx.scores
    if "duplicate_of" not in s.columns:
        return None
    found = (ctx.run.get("metrics") or {}).get("duplicates") or {}
    key = s.split.astype(str) + ":" + s["index"].astype(str)
    sid_of = dict(zip(key, s.sid, strict=True))
    label = dict(zip(s.sid, s.label, strict=True))
    pairs = []
    for row in s[s.cross_split_duplicate.astype(bool) & (s.duplicate_of.fillna("") != "")].head(MAX_PAIRS)\
            .itertuples():
        other = int(sid_of[row.duplicate_of])
        pairs.append(Pair(f"{row.split}:{row.index}", ctx.ws.label_name(int(row.label)), row.duplicate_of,
                          ctx.ws.label_name(int(label[other])), ctx.thumb_uri(int(row.sid)),
                          ctx.thumb_uri(other)))
    return dict(found=found, n_dup=int((s.duplicate_of.fillna("") != "").sum()),
                n_cross=int(s.cross_split_duplicate.astype(bool).sum()), pairs=pairs, max_pairs=MAX_PAIRS)
