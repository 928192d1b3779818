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
