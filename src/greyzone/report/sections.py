"""The sections drawn from the workspace itself. Each builder returns the variables of its template, or None
when its inputs are missing (the page then leaves the section out)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from greyzone.report import figures
from greyzone.report.context import ReportContext
from greyzone.report.format import pct, ratio


@dataclass(frozen=True)
class Kpi:
    value: str
    label: str
    detail: str


def header(ctx: ReportContext) -> dict[str, Any]:
    """The page header: dataset, run line and the headline numbers."""
    ws, s, run = ctx.ws, ctx.scores, ctx.run
    metrics = run.get("metrics", {})
    cf, emb = metrics.get("crossfit", {}) or {}, metrics.get("embed", {}) or {}
    n_by_split = s.split.value_counts()
    kpis = [Kpi(f"{len(s):,}", "images",
                " · ".join(f"{k} {n_by_split[k]:,}" for k in ws.splits if k in n_by_split))]
    folds = cf.get("fold_accuracy") or []
    if folds:
        kpis.append(Kpi(pct(float(np.mean(folds))), "held-out fold accuracy",
                        f"{len(folds)} folds, {pct(min(folds), 1)} – {pct(max(folds), 1)}"))
    if cf.get("test_accuracy_fold_mean") is not None:
        kpis.append(Kpi(pct(cf["test_accuracy_fold_mean"]), "test accuracy", "fold models, averaged"))
    if emb.get("full_model_test_accuracy") is not None:
        kpis.append(Kpi(pct(emb["full_model_test_accuracy"]), "test accuracy", "embedding model (all train)"))
    n_prop, n_idk = int(s.idk_proposed.sum()), int(s.curated_idk.sum())
    kpis.append(Kpi(f"{n_prop:,}", "proposed IDK", f"{ratio(n_prop, len(s))} of all images"))
    kpis.append(Kpi(f"{n_idk:,}", "curated IDK", f"{int(s.human.sum()):,} human decisions in force"))
    if "label_issue" in s:
        kpis.append(Kpi(f"{int(s.label_issue.sum()):,}", "label issues", "flagged by confident learning"))
    cfg = run.get("config", {})
    train = cfg.get("train", {}) or {}
    return dict(dataset=ctx.dataset, workspace=str(ws.path), classes=", ".join(ws.classes), kpis=kpis,
                run=dict(id=run.get("id"), finished=str(run.get("finished_at", ""))[:16]) if run else None,
                fit=dict(folds=cfg.get("folds"), scorer=cfg.get("scorer"), seed=cfg.get("seed"),
                         epochs=train.get("epochs") or cf.get("scorer_epochs"), given="external" in cf)
                if cfg else None)


# ============================================================================================== maps
MAPS = (("pca", "PCA"), ("umap", "UMAP"))


def maps(ctx: ReportContext) -> dict[str, Any] | None:
    s = ctx.scores
    plots, missing = [], []
    for key, title in MAPS:
        cols = [f"{key}_x", f"{key}_y"]
        xy = s[cols].to_numpy(dtype=np.float64) if set(cols) <= set(s.columns) else None
        if xy is None or not np.isfinite(xy).all(axis=1).any():
            missing.append(title)
            continue
        fig = figures.embedding_map(s, xy, ctx.names, f"{title} of the LeNet-5 embeddings")
        plots.append(ctx.plot(fig, height=620))
    if not plots:
        return None
    return dict(plots=plots, missing=missing, n=len(s), n_idk=int((s.idk_proposed | s.curated_idk).sum()))


# ============================================================================================== histograms
def histograms(ctx: ReportContext) -> dict[str, Any] | None:
    columns = ctx.present_scores()
    if not columns:
        return None
    height = 230 * figures.histogram_rows(len(columns)) + 30
    return dict(scores=columns, all_colour=figures.ALL_COLOUR, doubt_colour=figures.DOUBT_COLOUR,
                plot=ctx.plot(figures.histograms(ctx.scores, columns), height=height))


# ============================================================================================== IDK per class
def idk(ctx: ReportContext) -> dict[str, Any] | None:
    """Proposed and curated IDK per class and split: bars (every split) and a table (the first two)."""
    s, n_cls = ctx.scores, len(ctx.names)
    per: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for sp in (sp for sp in ctx.ws.splits if (s.split == sp).any()):
        d = s[s.split == sp]
        lab = d.label.to_numpy()
        per[sp] = (np.bincount(lab, minlength=n_cls),
                   np.bincount(lab[d.idk_proposed.to_numpy(dtype=bool)], minlength=n_cls),
                   np.bincount(lab[d.curated_idk.to_numpy(dtype=bool)], minlength=n_cls))
    if not per:
        return None
    shown = list(per)[:2]
    relabelled = ((s.curated_label != s.label) & ~s.curated_idk).to_numpy()
    labels = s.label.to_numpy()

    def cells(counts: list[tuple[int, int, int]], n_relabelled: int, digits: int) -> list[str]:
        out = [x for n, p, i in counts for x in (f"{n:,}", f"{p:,}", f"{i:,}", ratio(i, n, digits))]
        return [*out, f"{n_relabelled:,}"]

    rows = [(name, cells([tuple(int(a[c]) for a in per[sp]) for sp in shown],
                         int((relabelled & (labels == c)).sum()), 1))
            for c, name in enumerate(ctx.names)]
    total = cells([tuple(int(a.sum()) for a in per[sp]) for sp in shown], int(relabelled.sum()), 2)
    return dict(plot=ctx.plot(figures.idk_bars(per, ctx.names), height=330), splits=shown, rows=rows,
                total=total)


# ============================================================================================== confusion
TRAIN_TEST = (("train", "out-of-fold predictions (each image by the fold model that did not train on it)"),
              ("test", "test images, fold models averaged"))


@dataclass(frozen=True)
class Panel:
    title: str
    plot: figures.Plot


def confusion(ctx: ReportContext) -> dict[str, Any] | None:
    """The cross-fitted model's confusion per split, and each evaluated model's (its own training only)."""
    s, n_cls = ctx.scores, len(ctx.names)
    panels = []
    for sp, what in TRAIN_TEST:
        d = s[s.split == sp]
        if d.empty:
            continue
        cm = np.zeros((n_cls, n_cls), dtype=np.int64)
        np.add.at(cm, (d.label.to_numpy(), d.pred.to_numpy()), 1)
        fig = figures.confusion(cm, ctx.names, ylabel="given label")
        panels.append(Panel(f"{sp}: {what} · accuracy {pct(np.trace(cm) / max(cm.sum(), 1))}",
                            ctx.plot(fig, height=430)))
    evaluated = []
    models = (ctx.evaluation or {}).get("models")
    for name, r in (models.items() if isinstance(models, dict) else ()):
        if not isinstance(r, dict) or r.get("shares_training_with"):
            continue
        cm_d = r.get("confusion_matrix") or {}
        labels = cm_d.get("labels")
        try:
            arr = np.asarray(cm_d.get("counts"), dtype=np.int64)
        except (TypeError, ValueError):
            continue
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not labels or len(labels) != arr.shape[0]:
            continue
        seeds = cm_d.get("summed_over_seeds")
        title = name + (f" · summed over {seeds} seed{'' if seeds == 1 else 's'}" if seeds else "")
        fig = figures.confusion(arr, [str(x) for x in labels], ylabel="curated label")
        evaluated.append(Panel(title, ctx.plot(fig, height=390)))
    if not panels and not evaluated:
        return None
    return dict(panels=panels, evaluated=evaluated)


# ============================================================================================== config
@dataclass(frozen=True)
class Timing:
    stage: str
    seconds: float
    bar_px: int


def _flat_config(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        out += _flat_config(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    return out


def config(ctx: ReportContext) -> dict[str, Any] | None:
    """The run's config (flattened), stage timings and package versions."""
    run = ctx.run
    if not run:
        return None
    settings = [(k, v if isinstance(v, str) else json.dumps(v))
                for k, v in _flat_config(run.get("config") or {})]
    times = {k: float(v) for k, v in (run.get("timings") or {}).items()
             if isinstance(v, int | float) and not isinstance(v, bool)}
    longest = max(times.values(), default=0.0) or 1.0
    timings = [Timing(k, v, round(max(2, 200 * v / longest))) for k, v in times.items()]
    versions = list((run.get("versions") or {}).items())
    if not (settings or timings or versions):
        return None
    return dict(id=run.get("id"), started=str(run.get("started_at", ""))[:19],
                finished=str(run.get("finished_at", ""))[:19], policy=ctx.policy, settings=settings,
                timings=timings, total=sum(times.values()), versions=versions,
                throughput=((run.get("metrics") or {}).get("crossfit") or {}).get("train_samples_per_s"))
