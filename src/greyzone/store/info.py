"""A workspace summary as plain JSON-able data: ``greyzone info``, ``greyzone run --json``."""

from __future__ import annotations

from typing import Any

from greyzone.store.workspace import Workspace


def workspace_info(ws: Workspace) -> dict[str, Any]:
    """Dataset, source, classes, samples per split, the last finished run (id, times, config, metrics,
    timings), run statuses, decisions in force by source and action, and the export and report paths (None
    when absent)."""
    samples = ws.samples()
    run = ws.runs.last()
    eff = ws.decisions.in_force()
    decisions = {src: {str(a): int(n) for a, n in part.action.value_counts().sort_index().items()}
                 for src, part in eff.groupby("source")}
    statuses: dict[str, int] = {}
    for s in ws.runs.statuses():
        statuses[s] = statuses.get(s, 0) + 1
    lay = ws.layout
    return {
        "workspace": str(ws.path),
        "dataset": ws.dataset,
        "source": ws.source,
        "classes": list(ws.classes),
        "idk_class": ws.label_name(ws.idk_label),
        "samples": {s: int(n) for s, n in samples.split.value_counts()[ws.splits].items()},
        "last_run": None if run is None else {
            k: run[k] for k in ("id", "status", "started_at", "finished_at", "config", "metrics", "timings")},
        "runs": statuses,
        "decisions": {"auto": decisions.get("auto", {}), "human": decisions.get("human", {})},
        "scores": str(lay.scores) if lay.scores.is_file() else None,
        "export": str(lay.export) if (lay.export / "manifest.csv").is_file() else None,
        "report": str(lay.report) if lay.report.is_file() else None,
    }
