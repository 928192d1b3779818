"""``greyzone run``: load → cross-fit → neighbours → project → score → propose → export, with stage caching.

Each expensive stage stores its outputs in the workspace together with a cache key (hash of the config slice
it depends on, :func:`greyzone.config.cache_slice`, plus a format version); re-running with the same config
reuses finished stages.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from typing import Any

import numpy as np
import pandas as pd

from greyzone.config import RunConfig, cache_key, cache_slice
from greyzone.progress import Reporter
from greyzone.sources.dataset import Dataset
from greyzone.sources.outputs import ExternalOutputs
from greyzone.store.layout import Layout
from greyzone.store.lock import workspace_lock
from greyzone.store.workspace import Workspace, make_root

STAGE_VERSION = {"train": 5, "neighbours": 2, "project": 3}
TRAIN_ARRAYS = ["probs", "logits", "fold", "embeddings", "dyn_p_label", "dyn_margin", "full_model_probs"]
NEIGHBOUR_ARRAYS = ["knn_indices", "knn_distances", "near_indices", "near_distances"]
VERSIONED_PACKAGES = ("greyzone", "torch", "numpy", "scikit-learn", "umap-learn", "cleanlab", "faiss-cpu",
                      "pandas")


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_pipeline(cfg: RunConfig, *, dataset: Dataset | None = None, pred_probs: Any = None,
                 embeddings: Any = None, progress: bool = True) -> Workspace:
    """Run every stage for ``cfg``; returns the workspace (scores, arrays, decisions, export).

    ``dataset`` replaces loading ``cfg.dataset`` (the curation benchmark passes data with planted problems).
    ``pred_probs`` / ``embeddings`` (arrays or paths) replace ``cfg.pred_probs`` / ``cfg.embeddings``: given
    outputs replace training (:mod:`greyzone.sources.outputs`).
    """
    from greyzone.sources import load_dataset
    from greyzone.sources.outputs import check_embedder_choice, load_outputs

    rep = Reporter(enabled=progress)
    with rep.stage("load"):
        if dataset is None:
            kwargs = ({"log": rep.log} if cfg.dataset == "mnist" else
                      {"image_column": cfg.image_column, "label_column": cfg.label_column,
                       "size": cfg.image_size} if cfg.dataset == "hf" else
                      {"size": cfg.image_size} if cfg.dataset == "imagefolder" else {})
            dataset = load_dataset(cfg.dataset, cfg.data_dir, **kwargs)
        pred_probs = cfg.pred_probs if pred_probs is None else pred_probs
        embeddings = cfg.embeddings if embeddings is None else embeddings
        outputs = None
        if pred_probs is not None or embeddings is not None:  # checked against the data as loaded
            outputs = load_outputs(dataset, pred_probs=pred_probs, embeddings=embeddings)
            outputs = outputs.rows(head_rows(dataset, cfg.limit))
        check_embedder_choice(cfg.embedder, outputs)
        dataset = dataset.head(cfg.limit)
        dataset.check_trainable(cfg.folds)
        cfg = cfg.resolved(dataset.channels)  # scorer "auto" → the one for these images, as recorded
        for note in dataset.notes:
            rep.log(f"load: {note}")
        layout = Layout(cfg.workspace)
        make_root(layout.root)
    with workspace_lock(layout.run_lock):  # one run per workspace; a second is refused with the holder's pid
        ws = Workspace.create(layout.root, dataset, log=rep.log)
        if n := ws.runs.mark_interrupted():
            rep.log(f"{n} earlier run(s) had been killed; marked 'interrupted'")
        config = cfg.to_dict() | ({"external_outputs": outputs.describe()} if outputs is not None else {})
        run_id = ws.runs.start(config, package_versions())
        try:
            metrics = _run_stages(ws, cfg, rep, run_id, outputs, config)
        except BaseException:
            ws.runs.finish(run_id, timings=rep.timings, metrics={}, status="failed")
            raise
        ws.runs.finish(run_id, timings=rep.timings, metrics=metrics)
    return ws


def head_rows(dataset: Dataset, limit: int | None) -> np.ndarray:
    """Rows (sid order of ``dataset``) that ``dataset.head(limit)`` keeps: the first ``limit`` of each
    split."""
    rows, start = [], 0
    for s in dataset.splits.values():
        rows.append(start + np.arange(len(s) if limit is None else min(limit, len(s))))
        start += len(s)
    return np.concatenate(rows) if rows else np.empty(0, np.int64)


def _run_stages(ws: Workspace, cfg: RunConfig, rep: Reporter, run_id: int,
                outputs: ExternalOutputs | None = None, config: dict | None = None) -> dict[str, Any]:
    """The stages after load; ``config`` is the run record's config (the export's card describes it)."""
    samples = ws.samples()
    labels = samples.label.to_numpy()
    data_key = [ws.dataset, len(samples), cfg.dataset, cfg.limit, _images_digest(ws.images(), labels)]
    from greyzone.system import resolve_device

    device = resolve_device(cfg.device)
    train_slice = cache_slice(cfg, "seed", "train", "folds", "scorer", "embedder", "image_size")
    train_key = cache_key(data_key, train_slice, device, STAGE_VERSION["train"])
    if outputs is not None:  # bring your own outputs: a separate train stage
        train_key, (cf_metrics, emb_metrics) = _external_train_stage(ws, cfg, rep, data_key, outputs, device)
    elif ws.stages.is_fresh("train", train_key, TRAIN_ARRAYS):
        rep.log("train: reusing cached out-of-fold predictions, embeddings and training dynamics")
        last = ws.runs.last() or {"metrics": {}}
        cf_metrics, emb_metrics = last["metrics"].get("crossfit", {}), last["metrics"].get("embed", {})
    else:
        cf_metrics, emb_metrics = _train(ws, cfg, rep, device)
        ws.stages.finish("train", train_key, rep.timings["train"])

    key = cache_key(train_key, STAGE_VERSION["neighbours"])
    if ws.stages.is_fresh("neighbours", key, NEIGHBOUR_ARRAYS):
        rep.log("neighbours: reusing the cached kNN graph")
    else:
        with rep.stage("neighbours"):
            save_neighbours(ws)
        ws.stages.finish("neighbours", key, rep.timings["neighbours"])

    key = cache_key(train_key, cache_slice(cfg, "umap", "umap_neighbors"), STAGE_VERSION["project"])
    if ws.stages.is_fresh("project", key, ["pca", "umap"]):
        rep.log("project: reusing cached PCA/UMAP")
    else:
        _project(ws, cfg, rep)
        ws.stages.finish("project", key, rep.timings.get("pca", 0) + rep.timings.get("umap", 0))

    with rep.stage("scores"):
        table = workspace_score_table(ws, idk_cap=cfg.idk_cap, entropy_weight=cfg.entropy_weight,
                                      random_state=cfg.seed, log=rep.log)
    with rep.stage("propose"):
        from greyzone.scores.idk import POLICY

        _record_proposals(ws, table, run_id, POLICY)
        ws.write_scores(table)
    metrics: dict[str, Any] = {"crossfit": cf_metrics, "embed": emb_metrics,
                               "idk_proposed": _idk_counts(ws, table),
                               "duplicates": table.attrs.get("duplicates", {})}
    if cfg.export:
        from greyzone.export.tree import write_export

        with rep.stage("export", len(samples)) as tick:
            metrics["export"] = write_export(ws, include_proposals=cfg.include_proposals,
                                             apply_corrections=cfg.apply_corrections, progress=tick,
                                             run_config=config)
    return metrics


def _train(ws: Workspace, cfg: RunConfig, rep: Reporter, device: str) -> tuple[dict, dict]:
    """Cross-fitting (every train sample's probabilities come from the scorer fold model that did not see it)
    and the embedder trained on all of train that embeds everything, one model per core (``device``:
    resolved)."""
    from greyzone.model.architectures import ARCHITECTURES, recipe_for
    from greyzone.model.crossfit import crossfit, crossfit_work
    from greyzone.model.train import softmax

    labels = ws.samples().label.to_numpy()
    n, n_classes = len(labels), len(ws.classes)
    train_sids, test_sids = ws.split_sids("train"), ws.split_sids("test")
    held_sids = np.setdiff1d(np.arange(n), train_sids)  # test and validation: the mean of the K fold models
    is_test = np.isin(held_sids, test_sids)
    models = dict(scorer=cfg.scorer, embedder=cfg.embedder)
    total = crossfit_work(len(train_sids), folds=cfg.folds, cfg=cfg.train, **models)
    t0 = time.perf_counter()
    on_ray = ", on Ray" if cfg.backend == "ray" else ""
    label = f"train ({cfg.folds} × {cfg.scorer} + {cfg.embedder}, {device}{on_ray})"
    with rep.stage("train", total, label=label) as tick:
        cf = crossfit(ws.arrays.path("images"), train_sids, labels[train_sids], held_sids,
                      n_classes=n_classes, folds=cfg.folds, cfg=cfg.train, seed=cfg.seed, device=device,
                      image_size=cfg.image_size, workers=cfg.workers, progress=tick, backend=cfg.backend,
                      ray_address=cfg.ray_address, **models)
    seconds = time.perf_counter() - t0
    probs = np.zeros((n, n_classes), np.float32)
    logits = np.zeros_like(probs)
    probs[train_sids], logits[train_sids] = softmax(cf.oof_logits), cf.oof_logits
    probs[held_sids] = cf.test_probs
    logits[held_sids] = np.log(np.clip(cf.test_probs, 1e-12, None))
    fold = np.full(n, -1, np.int64)
    fold[train_sids] = cf.fold
    for name, arr in (("probs", probs), ("logits", logits), ("fold", fold), ("embeddings", cf.embeddings),
                      ("dyn_p_label", cf.dynamics.p_label), ("dyn_margin", cf.dynamics.margin),
                      ("full_model_probs", softmax(cf.full_logits))):
        ws.arrays.save(name, arr)
    has_test = len(test_sids) > 0
    cf_metrics = {
        "fold_accuracy": cf.fold_accuracy,
        "test_accuracy_fold_mean": float((cf.test_probs[is_test].argmax(1) == labels[test_sids]).mean())
        if has_test else None,
        "train_samples_per_s": round(total / seconds),
        "device": device,
        "scorer_epochs": recipe_for(cfg.scorer, cfg.train).epochs,  # the recipe's, where --epochs is unset
        "scorer_image_size": cfg.image_size or ARCHITECTURES[cfg.scorer].native_size,  # pixels, square
    }
    emb_metrics = {"full_model_test_accuracy": float(
        (cf.full_logits[test_sids].argmax(1) == labels[test_sids]).mean()) if has_test else None}
    return cf_metrics, emb_metrics


EXTERNAL_ARRAYS = ["probs", "logits", "fold", "embeddings"]


def _external_train_stage(ws: Workspace, cfg: RunConfig, rep: Reporter, data_key: list,
                          outputs: ExternalOutputs, device: str) -> tuple[str, tuple[dict, dict]]:
    """The train stage with your own outputs: the given probabilities replace the scorer's cross-fitting;
    the given embeddings replace the embedder, else the embedder is trained on all of train as usual, or,
    with ``embedder == "none"``, the probabilities serve as embeddings. There are no training dynamics
    (``dyn_*`` arrays are removed: ``aum`` and the cartography columns are NaN, the IDK policy uses the
    other views). Returns the stage key and the run metrics."""
    train_embedder = outputs.embeddings is None and cfg.embedder != "none"
    key = cache_key(data_key, outputs.digests, cache_slice(cfg, "seed", "embedder", "folds"),
                    cache_slice(cfg, "train") if train_embedder else None,
                    device if train_embedder else None, STAGE_VERSION["train"], "external")
    labels = ws.samples().label.to_numpy()
    test = ws.split_sids("test")
    cf_metrics = {"external": outputs.describe(), "fold_accuracy": None, "device": device,
                  "test_accuracy_fold_mean": float((outputs.probs[test].argmax(1) == labels[test]).mean())
                  if len(test) else None}
    if ws.stages.is_fresh("train", key, EXTERNAL_ARRAYS):
        rep.log("train: reusing the given outputs' stored arrays")
        return key, (cf_metrics, (ws.runs.last() or {"metrics": {}})["metrics"].get("embed", {}))
    emb_metrics: dict[str, Any] = {"embeddings": "given" if outputs.embeddings is not None else
                                   "trained" if train_embedder else "the given probabilities"}
    with rep.stage("train", label="train (outputs given" + (f"; {cfg.embedder} embedder)" if train_embedder
                                                             else ")")):
        embeddings = outputs.embeddings if outputs.embeddings is not None else outputs.probs
        if train_embedder:
            embeddings, emb_metrics["full_model_test_accuracy"] = _train_embedder(ws, cfg, device)
        for name in ("dyn_p_label", "dyn_margin", "full_model_probs"):  # from an earlier trained run
            ws.arrays.remove(name)
        ws.arrays.save("probs", outputs.probs)
        ws.arrays.save("logits", np.log(np.clip(outputs.probs, 1e-12, None)))
        ws.arrays.save("fold", np.full(len(labels), -1, np.int64))
        ws.arrays.save("embeddings", np.asarray(embeddings, np.float32))
    ws.stages.finish("train", key, rep.timings["train"])
    return key, (cf_metrics, emb_metrics)


def _train_embedder(ws: Workspace, cfg: RunConfig, device: str) -> tuple[np.ndarray, float | None]:
    """The embedder alone, trained on all train samples with the seed cross-fitting gives it; returns the
    embeddings of every sample and its test accuracy (None without a test split)."""
    from greyzone.model.architectures import recipe_for
    from greyzone.model.jobs import ModelJob, run_jobs

    labels = ws.samples().label.to_numpy()
    train, test = ws.split_sids("train"), ws.split_sids("test")
    job = ModelJob("full", train, labels[train], np.arange(len(labels)), cfg.seed * 1000 + cfg.folds,
                   cfg.embedder, recipe_for(cfg.embedder, cfg.train), embed=True)
    res = run_jobs([job], ws.arrays.path("images"), n_classes=len(ws.classes), device=device,
                   workers=1, backend=cfg.backend, ray_address=cfg.ray_address)["full"]
    acc = float((res.logits[test].argmax(1) == labels[test]).mean()) if len(test) else None
    return res.embeddings, acc


def save_neighbours(ws: Workspace) -> None:
    """Compute and store the within-split kNN graph of the embeddings (``knn_indices``, ``knn_distances``)
    and the all-splits graph of the near-duplicate search (``near_indices``, ``near_distances``; the first
    columns of the former when there is one split)."""
    from greyzone.scores.duplicates import near_neighbours
    from greyzone.scores.table import split_neighbours

    emb, split = ws.arrays.load("embeddings", mmap=False), ws.samples().split.to_numpy()
    nb = split_neighbours(emb, split)
    ws.arrays.save("knn_indices", nb.indices)
    ws.arrays.save("knn_distances", nb.distances)
    near_dist, near_idx = (near_neighbours(emb, split, (nb.distances, nb.indices)) if len(emb) > 1
                           else (np.empty((len(emb), 0)), np.empty((len(emb), 0), np.int64)))
    ws.arrays.save("near_indices", near_idx)
    ws.arrays.save("near_distances", near_dist)


def _project(ws: Workspace, cfg: RunConfig, rep: Reporter) -> None:
    from greyzone.projections import pca_2d, umap_2d

    emb = ws.arrays.load("embeddings", mmap=False)
    with rep.stage("pca"):
        ws.arrays.save("pca", pca_2d(emb, random_state=cfg.seed))
    with rep.stage("umap"):
        ws.arrays.save("umap", umap_2d(emb, n_neighbors=cfg.umap_neighbors, random_state=cfg.seed) if cfg.umap
                       else np.full((len(emb), 2), np.nan, np.float32))


def _images_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of pixels and labels, so a cache never outlives a change of data."""
    h = hashlib.sha256(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(labels, dtype=np.int64).data)
    return h.hexdigest()[:16]


def workspace_score_table(ws: Workspace, *, idk_cap: float, random_state: int, entropy_weight: float = 1.0,
                          log=lambda _m: None) -> pd.DataFrame:
    """:func:`greyzone.scores.table.score_table` over the workspace's stored arrays."""
    from greyzone.scores.table import Neighbours, score_table

    a = ws.arrays
    samples = ws.samples()
    return score_table(
        a.load("probs", mmap=False), samples.label.to_numpy(), a.load("embeddings", mmap=False),
        split=samples.split.to_numpy(), index=samples["index"].to_numpy(),
        neighbours=Neighbours(a.load("knn_indices", mmap=False), a.load("knn_distances", mmap=False)),
        near=(a.load("near_distances"), a.load("near_indices")) if a.has("near_indices") else None,
        dyn_p_label=a.load("dyn_p_label", mmap=False) if a.has("dyn_p_label") else None,  # none for given
        dyn_margin=a.load("dyn_margin", mmap=False) if a.has("dyn_margin") else None,  # outputs
        projections={"pca": a.load("pca"), "umap": a.load("umap")}, images=ws.images(),
        idk_cap=idk_cap, entropy_weight=entropy_weight, random_state=random_state, log=log,
    )


def _idk_counts(ws: Workspace, table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Proposed IDK per split and original class name."""
    return {
        split: {ws.label_name(c): int(n) for c, n in
                table[(table.split == split) & table.idk_proposed].label.value_counts().sort_index().items()}
        for split in ws.splits
    }


def _record_proposals(ws: Workspace, table: pd.DataFrame, run_id: int, policy: str) -> None:
    """Append auto decisions only where the proposal changed: ``idk`` or ``relabel`` (label =
    ``suggested_label``) where it is new or its action or label differs from the one in force, ``keep``
    where a proposal was dropped.

    ``table.proposed_action`` is ``"idk"``, ``"relabel"`` or ``""`` (none).
    """
    sids = table.sid.to_numpy(dtype=np.int64)
    action = table.proposed_action.fillna("").astype(str).to_numpy()
    unknown = sorted(set(action) - {"idk", "relabel", ""})
    if unknown:
        raise ValueError(f"proposed_action must be 'idk', 'relabel' or '', got {unknown}")
    relabel = action == "relabel"
    suggested = np.full(len(sids), -1, np.int64)
    if relabel.any():
        suggested[relabel] = table.suggested_label.to_numpy()[relabel].astype(np.int64)
    to_idk = relabel & (suggested == ws.idk_label)  # "relabel as the input's IDK class" is an IDK proposal
    action[to_idk], suggested[to_idk] = "idk", -1
    author = {"source": "auto", "author": "greyzone", "run_id": run_id}
    with ws.db.transaction():  # read and write as one: a concurrent run cannot double-insert
        eff = ws.decisions.in_force(source="auto")
        now = {int(s): (a, int(lb) if a == "relabel" else -1)
               for s, a, lb in zip(eff.sid, eff.action, eff.label, strict=True) if a != "keep"}
        on = np.flatnonzero(action != "")  # proposals only: no Python loop over every sample
        want = {int(s): (str(a), int(lb))
                for s, a, lb in zip(sids[on], action[on], suggested[on], strict=True)}
        changed = {s: p for s, p in want.items() if now.get(s) != p}
        if new_idk := sorted(s for s, (a, _) in changed.items() if a == "idk"):
            ws.decisions.append(new_idk, "idk", reason=policy, **author)
        for label in sorted({lb for a, lb in changed.values() if a == "relabel"}):
            new = sorted(s for s, p in changed.items() if p == ("relabel", label))
            ws.decisions.append(new, "relabel", label=label, **author,
                                reason=f"{policy}; confident correction → {ws.label_name(label)}")
        if dropped := sorted(set(now) - set(want)):
            ws.decisions.append(dropped, "keep", reason=f"no longer proposed ({policy})", **author)
