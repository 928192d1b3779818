"""``greyzone report``: one self-contained HTML page that shows what the run found.

Sections, each present only when its inputs exist: overview (dataset, accuracies, IDK counts), PCA and UMAP
maps, score distributions (every score of :mod:`greyzone.scores.catalog` the score table holds), IDK per
class, the most doubtful images per class and per score, confusion matrices, the evaluation of the models
trained on the export (``evaluation/evaluation.json``), the curation benchmark (``curation.json``), and the
run's config, timings and package versions.

Self-contained: plotly.js is inlined once in ``<head>``; every figure is a ``<div>`` plus a
``Plotly.newPlot`` call with its data inline; thumbnails are base64 PNG data URIs; the CSS is inline. The page
loads nothing from the network and works from ``file://``. Full MNIST gives about 9 MB, 4.8 MB of which is
plotly.js (see :mod:`greyzone.report.figures` for how the maps stay small).

Layout: :mod:`~greyzone.report.context` reads the workspace once, :mod:`~greyzone.report.sections`,
:mod:`~greyzone.report.galleries` and :mod:`~greyzone.report.results` turn it into each section's template
variables, :mod:`~greyzone.report.figures` builds the plotly figures, and ``templates/`` holds the page
(``page.html.j2``), one template per section and ``report.css``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from greyzone.report import duplicates, galleries, results, sections
from greyzone.report.context import ReportContext
from greyzone.report.format import commas
from greyzone.store.files import atomic_write

if TYPE_CHECKING:
    from greyzone.store.workspace import Workspace

__all__ = ["render_report", "write_report"]

Builder = Callable[[ReportContext], dict[str, Any] | None]


@dataclass(frozen=True)
class Section:
    """A section of the page: anchor id, heading, navigation label, template and its builder."""

    id: str
    title: str
    nav: str
    template: str
    build: Builder


GALLERIES = "galleries.html.j2"  # both galleries share one template
#: The page's sections in order.
SECTIONS: tuple[Section, ...] = (
    Section("maps", "Embedding maps", "Maps", "maps.html.j2", sections.maps),
    Section("scores", "Score distributions", "Scores", "histograms.html.j2", sections.histograms),
    Section("idk", "IDK per class", "IDK per class", "idk.html.j2", sections.idk),
    Section("by-class", "Most doubtful images per class", "Per class", GALLERIES, galleries.by_class),
    Section("by-score", "Most doubtful images per score", "Per score", GALLERIES, galleries.by_score),
    Section("duplicates", "Duplicates and leaks", "Duplicates", "duplicates.html.j2", duplicates.duplicates),
    Section("confusion", "Confusion matrices", "Confusion", "confusion.html.j2", sections.confusion),
    Section("evaluation", "Evaluation of the curated dataset", "Evaluation", "evaluation.html.j2",
            results.evaluation),
    Section("curation", "Curation benchmark", "Benchmark", "curation.html.j2", results.curation),
    Section("config", "Run config, timings and versions", "Config", "config.html.j2", sections.config),
)


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report's templates (autoescaping, undefined variables are errors)."""
    env = Environment(loader=PackageLoader("greyzone.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["commas"] = commas
    return env


def write_report(ws: Workspace, *, path: str | Path | None = None) -> Path:
    """Render the report of ``ws`` and write it atomically (temp file + rename) to ``path``.

    ``path`` defaults to ``<workspace>/report.html``. Returns the path written. Raises
    :class:`~greyzone.errors.WorkspaceError` when the workspace has no scores yet.
    """
    out = Path(path) if path is not None else ws.layout.report
    atomic_write(out, render_report(ws))
    return out


def render_report(ws: Workspace) -> str:
    """The report of ``ws`` as one HTML string (see the module docstring for the sections)."""
    import plotly
    import plotly.offline

    from greyzone._version import __version__

    start = time.perf_counter()
    ctx = ReportContext.load(ws)
    header = sections.header(ctx)
    shown = [(s, data) for s in SECTIONS if (data := s.build(ctx)) is not None]
    return environment().get_template("page.html.j2").render(
        version=__version__, plotly_version=plotly.__version__,
        plotly_js=Markup(plotly.offline.get_plotlyjs()),  # noqa: S704 - the figure library's own bundle
        header=header, sections=shown, notes=ctx.notes,
        stamp=time.strftime("%Y-%m-%d %H:%M", time.localtime()), seconds=time.perf_counter() - start)
