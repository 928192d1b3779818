"""The end-of-run summary printed by ``greyzone run``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from greyzone.store.workspace import Workspace


def print_summary(ws: Workspace, console: Console) -> None:
    run = ws.runs.last()
    if run is None:
        console.print("no finished run in this workspace")
        return
    m = run["metrics"]
    cf = m.get("crossfit", {})
    if cf.get("fold_accuracy"):
        folds = ", ".join(f"{a:.4f}" for a in cf["fold_accuracy"])
        console.print(f"[bold]held-out fold accuracy[/]: {folds}")
        if cf.get("test_accuracy_fold_mean") is not None:  # None: the data has no test split
            mean = cf["test_accuracy_fold_mean"]
            console.print(f"[bold]test accuracy[/] (mean of fold models): {mean:.4f}")
    if m.get("embed", {}).get("full_model_test_accuracy") is not None:
        console.print(
            f"[bold]test accuracy[/] (embedding model, trained on all train): "
            f"{m['embed']['full_model_test_accuracy']:.4f}"
        )
    counts = m.get("idk_proposed", {})
    classes = [ws.label_name(i) for i in range(len(ws.classes))]
    t = Table(title="proposed IDK per class")
    t.add_column("split")
    for c in classes:
        t.add_column(c, justify="right")
    t.add_column("total", justify="right")
    for split, per in counts.items():
        t.add_row(split, *[str(per.get(c, 0)) for c in classes], str(sum(per.values())))
    console.print(t)
    tt = Table(title="stage timings (s)")
    for stage in run["timings"]:
        tt.add_column(stage, justify="right")
    tt.add_row(*[f"{v:.1f}" for v in run["timings"].values()])
    console.print(tt)
    lay = ws.layout
    console.print(f"workspace: [bold]{ws.path}[/]  (scores: {lay.scores.name}, store: {lay.db.name})")
    if "export" in m:
        console.print(f"export:    [bold]{m['export']['path']}[/]")
    if ws.layout.report.is_file():
        console.print(f"report:    [bold]{ws.layout.report}[/]")


def print_info(info: dict, console: Console) -> None:
    """``greyzone info`` as tables (``--json`` prints ``info`` itself)."""
    t = Table(title=f"workspace {info['workspace']}", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    run = info["last_run"]
    for key, value in (
        ("dataset", f"{info['dataset']} ({info['source']})"),
        ("classes", ", ".join(info["classes"]) + f" (+ {info['idk_class']})"),
        ("samples", ", ".join(f"{s} {n:,}" for s, n in info["samples"].items())),
        ("last run", "none finished" if run is None else f"#{run['id']} finished {run['finished_at'][:19]}"),
        ("runs", ", ".join(f"{s} {n}" for s, n in info["runs"].items()) or "none"),
        ("export", info["export"] or "none"),
        ("report", info["report"] or "none"),
    ):
        t.add_row(key, value)
    console.print(t)
    d = Table(title="decisions in force")
    for col in ("source", "idk", "relabel", "keep"):
        d.add_column(col, justify="right" if col != "source" else "left")
    for src, counts in info["decisions"].items():
        d.add_row(src, *(str(counts.get(a, 0)) for a in ("idk", "relabel", "keep")))
    console.print(d)


def print_export(result: dict, console: Console) -> None:
    """``greyzone export``'s text output: where, and the curated counts per split and class."""
    console.print(f"exported to [bold]{result['path']}[/]")
    counts = result["counts"]
    classes = list(next(iter(counts.values()), {}))
    t = Table(title="curated images per class")
    t.add_column("split")
    for c in classes:
        t.add_column(str(c), justify="right")
    for split, per in counts.items():
        t.add_row(split, *(str(per[c]) for c in classes))
    console.print(t)
