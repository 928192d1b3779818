"""The sections drawn from result files: the evaluation of the models trained on the export
(``evaluation/evaluation.json``, layout in :mod:`greyzone.evaluation.evaluate`) and the curation benchmark
(``curation.json``). Each builder returns its template's variables, or None when the file is absent or holds
nothing to show."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from greyzone.evaluation.evaluate import CURATED_METRICS, ORIGINAL_METRICS
from greyzone.report import figures
from greyzone.report.context import ReportContext
from greyzone.report.format import Value, num, stat, stat_value

#: Column heads of the evaluation's metrics and which end is better (None: neither).
METRIC_HEADS: dict[str, tuple[str, str | None]] = {
    "accuracy_non_idk": ("accuracy non-IDK", "high"), "idk_precision": ("IDK precision", "high"),
    "idk_recall": ("IDK recall", "high"), "idk_f1": ("IDK F1", "high"), "coverage": ("coverage", None),
    "aurc": ("AURC", "low"), "eaurc": ("E-AURC", "low"), "risk@95": ("risk@95%", "low"),
    "risk@99": ("risk@99%", "low"), "ece": ("ECE", "low"), "error": ("error (all test)", "low"),
    "error_non_idk": ("error (non-IDK test)", "low")}
ARROWS = {"high": " ↑", "low": " ↓", None: ""}
RECORD_LIMIT = 300  # rows of one curation table; the rest stays in the JSON file


@dataclass(frozen=True)
class Table:
    """Head cells (a pair is two lines), then rows of a bold lead cell and value cells (a tuple of values
    reads "a / b")."""

    head: list[str | tuple[str, str]]
    rows: list[tuple[str, list[Value | tuple[Value, ...]]]]


# ============================================================================================== evaluation
def metric_table(models: dict[str, dict[str, Any]], group: str, keys: Sequence[str], *,
                 train_seconds: bool = False) -> Table:
    """One row per model, one column per metric of ``group`` that some model has; the best value of each
    column is marked (none when all tie)."""
    present = [k for k in keys
               if any(isinstance(r.get(group), dict) and k in r[group] for r in models.values())]
    heads = {k: METRIC_HEADS.get(k, (k, None)) for k in present}
    best: dict[str, float] = {}
    for k, (_, direction) in heads.items():
        vals = [v for v in (stat((r.get(group) or {}).get(k))[0] for r in models.values()) if v is not None]
        if direction and len(vals) > 1 and max(vals) - min(vals) > 1e-12:
            best[k] = max(vals) if direction == "high" else min(vals)
    rows: list[tuple[str, list[Value | tuple[Value, ...]]]] = []
    for name, r in models.items():
        cells: list[Value | tuple[Value, ...]] = []
        for k in present:
            d = (r.get(group) or {}).get(k)
            v, cell = stat(d)[0], stat_value(d)
            is_best = k in best and v is not None and math.isclose(v, best[k], rel_tol=1e-9, abs_tol=1e-12)
            cells.append(Value(cell.text, cell.pm, best=is_best))
        if train_seconds:
            ts = r.get("train_seconds")
            cells.append(stat_value(ts, scale=1.0, digits=1) if ts else Value("shared"))
        rows.append((name, cells))
    head: list[str | tuple[str, str]] = ["model", *(t + ARROWS[d] for t, d in heads.values())]
    return Table(head + (["train s / seed"] if train_seconds else []), rows)


def robustness_table(ood: dict[str, Any], models: dict[str, dict[str, Any]]) -> Table | None:
    """Per model and probe set: abstain rate and AUROC of the abstain score; None without probe sets."""
    sets = list(dict.fromkeys(k for r in models.values() for k in (r.get("robustness") or {})))
    if not sets:
        return None
    head: list[str | tuple[str, str]] = ["model"]
    for k in sets:
        n = ood[k].get("n") if isinstance(ood.get(k), dict) else None
        head.append((f"{k} (n={n:,})" if isinstance(n, int) else k, "abstain ↑ / AUROC ↑"))
    rows: list[tuple[str, list[Value | tuple[Value, ...]]]] = []
    for name, r in models.items():
        rob = r.get("robustness") or {}
        rows.append((name, [(stat_value((rob.get(k) or {}).get("abstain_rate"), digits=1),
                             stat_value((rob.get(k) or {}).get("auroc"), digits=1)) for k in sets]))
    return Table(head, rows)


def _pills(ev: dict[str, Any], models: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    cfg, data = ev.get("config") or {}, ev.get("data") or {}
    weight, total = cfg.get("idk_class_weight"), (ev.get("timings") or {}).get("total_seconds")
    seeds = next((len(r["seeds"]) for r in models.values() if isinstance(r.get("seeds"), list)), None)
    epochs = (cfg.get("train") or {}).get("epochs", cfg.get("epochs"))  # format 1 kept epochs at the top
    pills = (("seeds", seeds), ("epochs", epochs), ("train images", data.get("n_train")),
             ("train IDK", data.get("n_train_idk")), ("test images", data.get("n_test")),
             ("test IDK", data.get("n_test_idk")),
             ("IDK class weight", f"{weight:.2f} ({cfg.get('idk_weighting', '?')})"
              if isinstance(weight, int | float) else None),
             ("created", str(ev.get("created_at", ""))[:16] or None),
             ("took", f"{total:,.0f} s" if isinstance(total, int | float) else None))
    return [(label, v if isinstance(v, str) else num(v)) for label, v in pills if v is not None]


def evaluation(ctx: ReportContext) -> dict[str, Any] | None:
    ev = ctx.evaluation
    models = {k: v for k, v in ((ev or {}).get("models") or {}).items() if isinstance(v, dict)}
    if not ev or not models:
        return None
    stale = (ev.get("data") or {}).get("n_export_differs_from_store")
    fig = figures.risk_coverage(models)
    ood = ev.get("ood") if isinstance(ev.get("ood"), dict) else {}
    return dict(
        pills=_pills(ev, models), stale=stale if isinstance(stale, int) and stale > 0 else None,
        descriptions=[(k, r["description"]) for k, r in models.items() if r.get("description")],
        risk_coverage=None if fig is None else ctx.plot(fig, height=400),
        curated=metric_table(models, "curated", CURATED_METRICS),
        original=metric_table(models, "original", ORIGINAL_METRICS, train_seconds=True),
        robustness=robustness_table(ood, models),
        skipped=[(k, v["skipped"]) for k, v in ood.items() if isinstance(v, dict) and "skipped" in v])


# ============================================================================================== curation
Record = tuple[tuple[str, ...], dict[str, Any]]


def _is_stat(v: Any) -> bool:
    return isinstance(v, dict) and "mean" in v and set(v) <= {"mean", "std", "values", "n"}


def _is_leaf(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool) or _is_stat(v)


def flatten(obj: Any, prefix: tuple[str, ...] = ()) -> list[Record]:
    """Nested JSON → ``[(path, {column: value})]``: one record per object whose values are all scalars (or
    ``{"mean", "std"}`` statistics). Objects nest into the path; list items keep their parent's path."""
    if isinstance(obj, dict):
        if obj and all(_is_leaf(v) for v in obj.values()):
            return [(prefix, dict(obj))]
        return [r for k, v in obj.items() if isinstance(v, dict | list)
                for r in flatten(v, (*prefix, str(k)))]
    if isinstance(obj, list):
        return [r for x in obj if isinstance(x, dict) for r in flatten(x, prefix)]
    return []


def record_value(v: Any) -> Value:
    """A curation value; a fraction in [0, 1] gets a background tint in proportion (the table reads as a
    heat map)."""
    if _is_stat(v):
        m, sd = stat(v)
        cell = Value("—") if m is None else Value(f"{m:.3f}", None if sd is None else f"{sd:.3f}")
    else:
        m = v
        cell = Value(json.dumps(v)[:60] if isinstance(v, list | dict) else num(v))
    if isinstance(m, float) and 0.0 <= m <= 1.0:
        return Value(cell.text, cell.pm, tint=0.05 + 0.45 * m)
    return cell


@dataclass(frozen=True)
class RecordTable:
    """Records as one table: the path as leading columns (repeats left blank), then every column seen."""

    depth: int
    keys: list[str]
    rows: list[tuple[list[str], list[Value | None]]]
    more: int  # records left out

    @classmethod
    def of(cls, records: list[Record], *, limit: int = RECORD_LIMIT) -> RecordTable:
        depth = max(len(p) for p, _ in records)
        keys = list(dict.fromkeys(k for _, leaves in records for k in leaves))
        rows, previous = [], ()
        for path, leaves in records[:limit]:
            lead = [path[i] if i < len(path) and path[:i + 1] != previous[:i + 1] else ""
                    for i in range(depth)]
            previous = path
            rows.append((lead, [record_value(leaves[k]) if k in leaves else None for k in keys]))
        return cls(depth, keys, rows, max(0, len(records) - limit))


def curation(ctx: ReportContext) -> dict[str, Any] | None:
    cur = ctx.curation
    if not cur:
        return None
    tables, tail = [], []
    for key, value in cur.items():
        records = flatten(value)
        if records:
            part = (str(key).replace("_", " "), RecordTable.of(records))
            (tail if key in ("config", "timings", "versions") else tables).append(part)
    if not tables and not tail:
        return None
    scalars = [(k, str(v)) for k, v in cur.items()
               if isinstance(v, str | int | float) and not isinstance(v, bool)]
    return dict(file=ctx.ws.layout.curation.name, pills=scalars, tables=tables + tail)
