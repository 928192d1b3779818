"""``greyzone run``: load → cross-fit → embed → score → project → propose → export, with stage caching.

Each expensive stage stores its outputs in the workspace together with a cache key (hash of the config slice
it depends on plus a format version); re-running with the same config reuses finished stages.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from greyzone.config import RunConfig, cache_key
from greyzone.sources.dataset import Dataset
from greyzone.store.workspace import Workspace

STAGE_VERSION = {"train": 2, "project": 2}


@dataclass
class Reporter:
    """Rich progress bars and stage timings (silent when ``enabled`` is False)."""

    enabled: bool = True
    console: Console = field(default_factory=lambda: Console(stderr=True))
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        start = time.perf_counter()
        if not self.enabled:
            yield lambda _n: None
        else:
            with Progress(
                TextColumn("[bold]{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            ) as bar:
                task = bar.add_task(name, total=total)
                yield lambda n: bar.advance(task, n)
                bar.update(task, completed=total or 1, total=total or 1)
        self.timings[name] = round(time.perf_counter() - start, 2)

    def log(self, msg: str) -> None:
        if self.enabled:
            self.console.print(msg)


def package_versions() -> dict[str, str]:
    out = {}
    for name in (
        "greyzone",
        "torch",
        "numpy",
        "scikit-learn",
        "umap-learn",
        "cleanlab",
        "faiss-cpu",
        "pandas",
    ):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cached(ws: Workspace, stage: str, key: str, arrays: list[str]) -> bool:
    return ws.stage_key(stage) == key and all(ws.has_array(a) for a in arrays)


def run_pipeline(cfg: RunConfig, *, dataset: Dataset | None = None, progress: bool = True) -> Workspace:
    """Run every stage for ``cfg``; returns the workspace (scores, arrays, decisions, export).

    ``dataset`` replaces loading ``cfg.dataset`` (the curation benchmark passes data with planted problems).
    """
    from greyzone.sources import load_dataset

    rep = Reporter(enabled=progress)
    with rep.stage("load"):
        if dataset is None:
            dataset = (
                load_dataset(cfg.dataset, cfg.data_dir, log=rep.log)
                if cfg.dataset == "mnist"
                else load_dataset(cfg.dataset, cfg.data_dir)
            )
        dataset = dataset.head(cfg.limit)
        ws = Workspace.create(cfg.workspace, dataset)
    run_id = ws.start_run(cfg.to_dict(), package_versions())
    try:
        metrics = _run_stages(ws, cfg, rep, run_id)
    except BaseException:
        ws.finish_run(run_id, timings=rep.timings, metrics={}, status="failed")
        raise
    ws.finish_run(run_id, timings=rep.timings, metrics=metrics)
    return ws


def _run_stages(ws: Workspace, cfg: RunConfig, rep: Reporter, run_id: int) -> dict[str, Any]:
    from greyzone.model.train import crossfit, softmax

    samples = ws.samples()
    n_classes = len(ws.classes)
    train_sids, test_sids = ws.split_sids("train"), ws.split_sids("test")
    labels = samples.label.to_numpy()
    images = ws.images()
    data_key = [ws.dataset, len(samples), cfg.dataset, cfg.limit, _images_digest(images, labels)]
    train_key = [cfg.seed, cfg.train.epochs, cfg.train.batch_size, cfg.train.lr]

    # Cross-fitting: every train sample's probabilities come from the fold model that did not see it.
    # One embedding space for maps and neighbours: one model trained on all of train embeds everything.
    # Both trained together, one model per core (greyzone.model.jobs).
    key = cache_key(data_key, train_key, cfg.folds, STAGE_VERSION["train"])
    arrays = ["probs", "logits", "fold", "embeddings", "dyn_p_label", "dyn_margin", "full_model_probs"]
    if _cached(ws, "train", key, arrays):
        rep.log("train: reusing cached out-of-fold predictions, embeddings and training dynamics")
        last = ws.last_run()["metrics"] if ws.last_run() else {}
        cf_metrics, emb_metrics = last.get("crossfit", {}), last.get("embed", {})
    else:
        total = cfg.train.epochs * len(train_sids) * (cfg.folds - 1 + 1)  # K models on (K-1)/K, one on all
        t0 = time.perf_counter()
        with rep.stage("train", total) as tick:
            cf = crossfit(
                ws.array_path("images"),
                train_sids,
                labels[train_sids],
                test_sids,
                n_classes=n_classes,
                folds=cfg.folds,
                cfg=cfg.train,
                seed=cfg.seed,
                workers=cfg.workers,
                progress=tick,
            )
        seconds = time.perf_counter() - t0
        probs = np.zeros((len(samples), n_classes), np.float32)
        logits = np.zeros_like(probs)
        probs[train_sids], logits[train_sids] = softmax(cf.oof_logits), cf.oof_logits
        probs[test_sids] = cf.test_probs
        logits[test_sids] = np.log(np.clip(cf.test_probs, 1e-12, None))
        fold = np.full(len(samples), -1, np.int64)
        fold[train_sids] = cf.fold
        for name, arr in (
            ("probs", probs),
            ("logits", logits),
            ("fold", fold),
            ("embeddings", cf.embeddings),
            ("dyn_p_label", cf.dynamics.p_label),
            ("dyn_margin", cf.dynamics.margin),
            ("full_model_probs", softmax(cf.full_logits)),
        ):
            ws.save_array(name, arr)
        test_acc = float((cf.test_probs.argmax(1) == labels[test_sids]).mean()) if len(test_sids) else None
        cf_metrics = {
            "fold_accuracy": cf.fold_accuracy,
            "test_accuracy_fold_mean": test_acc,
            "train_samples_per_s": round(total / seconds),
        }
        emb_metrics = {
            "full_model_test_accuracy": float(
                (cf.full_logits[test_sids].argmax(1) == labels[test_sids]).mean()
            )
            if len(test_sids)
            else None
        }
        ws.finish_stage("train", key, rep.timings["train"])

    # 2-D maps.
    key = cache_key(data_key, train_key, cfg.umap, cfg.umap_neighbors, STAGE_VERSION["project"])
    if _cached(ws, "project", key, ["pca", "umap"]):
        rep.log("project: reusing cached PCA/UMAP")
    else:
        from greyzone.projections import pca_2d, umap_2d

        emb = ws.load_array("embeddings", mmap=False)
        with rep.stage("pca"):
            ws.save_array("pca", pca_2d(emb, random_state=cfg.seed))
        with rep.stage("umap"):
            ws.save_array(
                "umap",
                umap_2d(emb, n_neighbors=cfg.umap_neighbors, random_state=cfg.seed)
                if cfg.umap
                else np.full((len(samples), 2), np.nan, np.float32),
            )
        ws.finish_stage("project", key, rep.timings.get("pca", 0) + rep.timings.get("umap", 0))

    with rep.stage("scores"):
        table = score_table(ws, cfg, log=rep.log)
    with rep.stage("propose"):
        from greyzone.scores.idk import POLICY

        _record_proposals(ws, table, run_id, POLICY)
        ws.write_scores(table)
    idk_counts = {
        split: {
            ws.label_name(c): int(n)
            for c, n in table[(table.split == split) & table.idk_proposed]
            .label.value_counts()
            .sort_index()
            .items()
        }
        for split in ws.splits
    }
    metrics: dict[str, Any] = {"crossfit": cf_metrics, "embed": emb_metrics, "idk_proposed": idk_counts}
    if cfg.export:
        from greyzone.export.tree import write_export

        n_imgs = len(samples)
        with rep.stage("export", n_imgs) as tick:
            metrics["export"] = write_export(ws, include_proposals=cfg.include_proposals, progress=tick)
    return metrics


def _images_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of pixels and labels, so a cache never outlives a change of data."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(labels, dtype=np.int64).data)
    return h.hexdigest()[:16]


def score_table(
    ws: Workspace, cfg: RunConfig, *, log: Callable[[str], None] = lambda _m: None
) -> pd.DataFrame:
    """Every per-sample score, computed per split (a test sample is ranked among test samples)."""
    from greyzone import scores as S
    from greyzone.scores.idk import idk_proposed, idk_score

    samples = ws.samples()
    probs = ws.load_array("probs", mmap=False)
    emb = ws.load_array("embeddings", mmap=False)
    dyn_p, dyn_m = ws.load_array("dyn_p_label", mmap=False), ws.load_array("dyn_margin", mmap=False)
    pca, umap_xy = ws.load_array("pca"), ws.load_array("umap")
    labels = samples.label.to_numpy()
    parts = []
    for split in ws.splits:
        sids = ws.split_sids(split)
        p, y, e = probs[sids], labels[sids], emb[sids]
        neigh = S.knn(e, k=min(10, len(sids) - 1))
        issues = S.label_issues(p, y)
        df = pd.DataFrame(
            {
                "sid": sids,
                "split": split,
                "index": samples["index"].to_numpy()[sids],
                "label": y,
                "pred": p.argmax(1),
                "confidence": p.max(1),
                "p_label": S.self_confidence(p, y),
                "margin": S.margin(p, y),
                "hardness": S.hardness(p),
                "mistakenness": S.mistakenness(p, y),
                "uniqueness": S.uniqueness(
                    e, k=min(3, len(sids) - 1), neighbours=(neigh[0][:, :3], neigh[1][:, :3])
                ),
                "representativeness": S.representativeness(e, random_state=cfg.seed),
                "knn_agreement": S.knn_label_agreement(y, neigh[1]),
                "label_issue": issues.is_issue,
                "label_quality": issues.label_quality,
                "suggested_label": issues.suggested_label,
            }
        )
        if split == "train":
            df["aum"] = S.aum(dyn_m)
            df["cart_confidence"], df["cart_variability"] = S.cartography(dyn_p)
        else:
            df["aum"] = df["cart_confidence"] = df["cart_variability"] = np.nan
        df["idk_score"] = idk_score(df, n_classes=probs.shape[1])
        df["idk_proposed"] = idk_proposed(df, rate_cap=cfg.idk_rate_cap)
        wanted = int(idk_proposed(df, rate_cap=1.0).sum())
        if wanted > df["idk_proposed"].sum():
            log(
                f"[yellow]note:[/] the IDK rule wants {wanted} {split} samples; the cap "
                f"(--idk-cap {cfg.idk_rate_cap}) keeps the {int(df['idk_proposed'].sum())} most doubtful"
            )
        parts.append(df)
    table = pd.concat(parts, ignore_index=True).sort_values("sid", ignore_index=True)
    table["pca_x"], table["pca_y"] = pca[:, 0], pca[:, 1]
    table["umap_x"], table["umap_y"] = umap_xy[:, 0], umap_xy[:, 1]
    return table


def _record_proposals(ws: Workspace, table: pd.DataFrame, run_id: int, policy: str) -> None:
    """Append auto decisions only where the proposal changed (``idk`` new, ``keep`` dropped)."""
    eff = ws.effective_decisions(source="auto")
    now_idk = set(eff.sid[eff.action == "idk"].tolist())
    proposed = table.sid[table.idk_proposed].tolist()
    new = sorted(set(proposed) - now_idk)
    dropped = sorted(now_idk - set(proposed))
    if new:
        ws.decide(new, "idk", source="auto", author="greyzone", reason=policy, run_id=run_id)
    if dropped:
        ws.decide(
            dropped,
            "keep",
            source="auto",
            author="greyzone",
            reason=f"no longer proposed ({policy})",
            run_id=run_id,
        )
