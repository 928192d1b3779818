"""What the report reads from the workspace, read once: the score table with the curated labels, the last
run, the optional result files (evaluation, curation benchmark) and the proposal policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greyzone.report import figures
from greyzone.report.format import png_uri
from greyzone.scores.catalog import SCORES, Column

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from greyzone.store.workspace import Workspace

DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


@dataclass
class ReportContext:
    """The inputs of every section, plus the page-wide counters (figure ids, thumbnail cache)."""

    ws: Workspace
    scores: pd.DataFrame  # ws.scores() plus curated_label, decided_by, curated_idk, human
    run: dict[str, Any]  # the last finished run, {} before the first
    evaluation: dict[str, Any] | None  # evaluation/evaluation.json
    curation: dict[str, Any] | None  # curation.json
    policy: str | None  # the reason recorded with the auto proposals in force
    notes: list[str] = field(default_factory=list)  # what could not be read, shown at the top
    _plots: int = 0
    _thumbs: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, ws: Workspace) -> ReportContext:
        notes: list[str] = []
        scores = ws.scores().copy()
        run = ws.runs.last() or {}
        cfg = run.get("config", {})
        flags = {"include_proposals": bool(cfg.get("include_proposals", True)),
                 "apply_corrections": bool(cfg.get("apply_corrections", False))}
        cur = ws.decisions.curated(**flags).set_index("sid").reindex(scores.sid)
        scores["curated_label"] = cur.curated_label.to_numpy()
        scores["decided_by"] = cur.decided_by.to_numpy()
        scores["curated_idk"] = scores.curated_label.to_numpy() == ws.idk_label
        scores["human"] = scores.decided_by.to_numpy() == "human"
        return cls(ws=ws, scores=scores, run=run, evaluation=read_json(ws.layout.evaluation, notes),
                   curation=read_json(ws.layout.curation, notes), policy=_policy(ws), notes=notes)

    @property
    def dataset(self) -> str:
        return DATASET_NAMES.get(self.ws.dataset, self.ws.dataset)

    @property
    def names(self) -> list[str]:
        """Class names by label, without IDK."""
        return list(self.ws.classes)

    def name(self, label: int) -> str:
        """The name of ``label``, IDK included."""
        return self.ws.label_name(int(label))

    def present_scores(self) -> list[Column]:
        """The catalogue's scores that the score table holds with at least one finite value, in catalogue
        order."""
        s = self.scores
        return [c for c in SCORES
                if c.name in s.columns and np.isfinite(s[c.name].to_numpy(dtype=np.float64)).any()]

    def plot(self, fig: go.Figure, *, height: int) -> figures.Plot:
        """``fig`` with the next figure id on the page."""
        self._plots += 1
        return figures.Plot.of(fig, f"fig{self._plots}", height=height)

    @cached_property
    def images(self) -> np.ndarray:
        return self.ws.images()

    def thumb_uri(self, sid: int) -> str:
        """The PNG data URI of image ``sid`` (encoded once per page)."""
        if sid not in self._thumbs:
            self._thumbs[sid] = png_uri(self.images[sid])
        return self._thumbs[sid]


def read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when the file is absent, and a note when it cannot be used."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        notes.append(f"{path} could not be read ({e}); its section is left out.")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path} holds a {type(data).__name__}, expected a JSON object; its section is left "
                     "out.")
        return None
    return data


def _policy(ws: Workspace) -> str:
    """The reason recorded with the auto proposals in force, else the current proposal policy."""
    in_force = ws.decisions.in_force(source="auto")
    in_force = in_force[in_force.action == "idk"]  # relabel reasons name a class, keep reasons a withdrawal
    reasons = [r for r in in_force.get("reason", pd.Series(dtype=object)).dropna().unique() if r]
    if reasons:
        return str(reasons[0])
    from greyzone.scores.idk import POLICY

    return POLICY
