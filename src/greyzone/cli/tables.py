"""Console tables of the results of ``greyzone evaluate`` and ``greyzone bench-curation`` (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from greyzone.benchmark.curation import ROW_KINDS
from greyzone.evaluation.evaluate import CURATED_METRICS
from greyzone.store.layout import Layout

#: Column heads of the curated-split metrics (↑ higher / ↓ lower is better).
CURATED_HEADS: dict[str, str] = {
    "accuracy_non_idk": "acc non-IDK ↑", "idk_precision": "IDK P ↑", "idk_recall": "IDK R ↑",
    "idk_f1": "IDK F1 ↑", "coverage": "coverage", "aurc": "AURC ↓", "eaurc": "E-AURC ↓",
    "risk@95": "risk@95 ↓", "risk@99": "risk@99 ↓", "ece": "ECE ↓",
}


# --------------------------------------------------------------------------------------------- evaluate
def _stat(stat: dict[str, Any] | None, *, percent: bool = True, digits: int = 2) -> str:
    """``"mean ± std"`` of a ``{"mean", "std"}`` aggregate (in % by default); ``—`` when undefined."""
    if not stat or stat.get("mean") is None:
        return "—"
    scale = 100.0 if percent else 1.0
    s = f"{stat['mean'] * scale:.{digits}f}"
    if stat.get("std") is not None:
        s += f" ± {stat['std'] * scale:.{digits}f}"
    return s


def print_evaluation(result: dict[str, Any], console: Console) -> None:
    """Rich tables of an :func:`~greyzone.evaluation.evaluate.evaluate_workspace` result: one row per model,
    mean ± std over seeds."""
    cfg, data, models = result["config"], result["data"], result["models"]
    n_seeds = len(next(iter(models.values()))["seeds"]) if models else 0
    console.print(f"[bold]greyzone evaluate[/] {result['workspace']}: {n_seeds} seed(s) × "
                  f"{cfg['train']['epochs']} epochs, {data['n_train']} train ({data['n_train_idk']} IDK), "
                  f"{data['n_test']} test ({data['n_test_idk']} IDK); IDK class weight "
                  f"{cfg['idk_class_weight']:.2f} ({cfg['idk_weighting']}, cap {cfg['idk_weight_cap']:g})")

    t = Table(title="Curated test split (%, mean ± std over seeds; ↑ higher / ↓ lower is better)")
    t.add_column("model", style="bold")
    for m in CURATED_METRICS:
        t.add_column(CURATED_HEADS[m], justify="right")
    for name, r in models.items():
        t.add_row(name, *(_stat(r["curated"][m]) for m in CURATED_METRICS))
    console.print(t)

    t = Table(title="Original test labels, argmax over digits (%; LeNet-5 0.95% error, LeCun et al. 1998)")
    t.add_column("model", style="bold")
    for head in ("error ↓", "error on non-IDK ↓", "train s / seed"):
        t.add_column(head, justify="right")
    for name, r in models.items():
        t.add_row(name, _stat(r["original"]["error"]), _stat(r["original"]["error_non_idk"]),
                  _stat(r["train_seconds"], percent=False, digits=1) if r["train_seconds"] else "(shared)")
    console.print(t)

    sets = [s for s, d in result["ood"].items() if "skipped" not in d]
    if sets:
        t = Table(title="Robustness: abstain rate at the operating point ↑ / AUROC vs clean test digits ↑ "
                        "(%)")
        t.add_column("model", style="bold")
        for s in sets:
            t.add_column(f"{s} (n={result['ood'][s]['n']})", justify="right")
        for name, r in models.items():
            t.add_row(name, *(f"{_stat(r['robustness'][s]['abstain_rate'], digits=1)} / "
                              f"{_stat(r['robustness'][s]['auroc'], digits=1)}" for s in sets))
        console.print(t)
    for s, d in result["ood"].items():
        if "skipped" in d:
            console.print(f"[yellow]OOD set {s} skipped:[/] {d['skipped']}")
    console.print("Abstain score: 1 − max digit probability (idk_aware_pidk: p(IDK)). Operating point: "
                  "idk_aware abstains when IDK wins the argmax; 10-output models abstain on the k most "
                  "doubtful test images, k = number of curated IDK test images.")
    console.print(f"Saved to {Layout(result['workspace']).evaluation} "
                  f"({result['timings']['total_seconds']:.0f} s).")


# --------------------------------------------------------------------------------------------- bench-curation
def _num(x: float | None) -> str:
    """Three decimals, ``–`` for a metric that is undefined (no planted sample of that kind)."""
    return "–" if x is None else f"{x:.3f}"


def print_curation(result: dict[str, Any], console: Console | None = None) -> None:
    """Rich tables of a :func:`~greyzone.benchmark.curation.bench_curation` result, per scenario: ranking
    quality (AUROC / AP) and flag quality (precision / recall / F1)."""
    console = console or Console()
    cfg = result.get("config", {})
    for name, sc in result["scenarios"].items():
        counts = ", ".join(f"{k} {v}" for k, v in sc["counts"].items() if k != "clean")
        head = (
            f"{name}: {sc['n_train']:,} train samples, planted {counts}; seed {cfg.get('seed')}, "
            f"K={cfg.get('folds')}, {cfg.get('epochs')} epochs, {sc['wall_s']:.0f} s"
        )
        rank = Table(title=f"{head}\nrankings: AUROC / average precision (each kind vs clean)")
        rank.add_column("score")
        for k in ROW_KINDS:
            rank.add_column(k, justify="right")
        by = {(r["method"], r["kind"]): r for r in sc["ranking"]}
        for method in dict.fromkeys(r["method"] for r in sc["ranking"]):
            cells = [f"{_num(by[method, k]['auroc'])} / {_num(by[method, k]['ap'])}" for k in ROW_KINDS]
            rank.add_row(method, *cells, style="bold" if method == "idk_score" else None)
        console.print(rank)
        flag = Table(title="flags: precision / recall / F1 (per kind: that kind vs clean)")
        flag.add_column("flag")
        flag.add_column("flagged", justify="right")
        for k in ROW_KINDS:
            flag.add_column(k, justify="right")
        by = {(r["method"], r["kind"]): r for r in sc["flags"]}
        for method in dict.fromkeys(r["method"] for r in sc["flags"]):
            cells = [
                "/".join(_num(by[method, k][m]).lstrip("0") for m in ("precision", "recall", "f1"))
                for k in ROW_KINDS
            ]
            flag.add_row(
                method,
                f"{by[method, 'all']['n_flagged']:,}",
                *cells,
                style="bold" if method == "idk_proposed" else None,
            )
        console.print(flag)
        if c := sc.get("corrections"):
            share = "—" if c["true_label_share"] is None else f"{100 * c['true_label_share']:.1f}%"
            console.print(f"confident corrections: {c['n_relabel']:,} proposed, {c['n_on_flips']:,} on "
                          f"planted flips, {c['n_true_label']:,} of those suggest the true label ({share})")
    if "policy" in result:
        console.print(f"policy: {result['policy']}", markup=False, highlight=False)
