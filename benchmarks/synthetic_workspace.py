"""Synthetic review-app workspaces for ``bench_review.py``: the full-size MNIST one without training, and
larger ones tiled from it (shifted digits). Only for timing the app: their scores mean nothing."""

from __future__ import annotations

from pathlib import Path


def make_synthetic(path: Path, *, seed: int = 0) -> None:
    """A full-size workspace in about a minute, without training: real MNIST images and labels (70,000),
    model outputs drawn from a class-mixture (embeddings = class centre + noise, 3 % of labels flipped, probs
    a softmax of the distances to the centres), then greyzone's own kNN graph, scores, proposals and PCA.
    Only for timing the app: its scores mean nothing."""
    import numpy as np

    from greyzone.pipeline import save_neighbours, workspace_score_table
    from greyzone.projections import pca_2d
    from greyzone.sources.mnist import load_mnist
    from greyzone.store.workspace import Workspace

    ds = load_mnist(download=False)
    ws = Workspace.create(path, ds)
    try:
        ws.arrays.save("images", np.concatenate([s.images for s in ds.splits.values()]))
        labels = ws.samples().label.to_numpy()
        rng = np.random.default_rng(seed)
        n, c = len(labels), len(ds.classes)
        truth = np.where(rng.random(n) < 0.03, rng.integers(0, c, n), labels)
        centres = rng.normal(size=(c, 84)).astype(np.float32) * 3
        emb = centres[truth] + rng.normal(size=(n, 84)).astype(np.float32) * rng.uniform(0.5, 2.5, (n, 1))
        d2 = ((emb[:, None, :] - centres[None]) ** 2).sum(-1)
        logits = -(d2 - d2.min(1, keepdims=True)) / 20
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        n_train = len(ds.splits["train"])
        ws.arrays.save("probs", probs.astype(np.float32))
        ws.arrays.save("embeddings", emb.astype(np.float32))
        p_label = probs[np.arange(n_train), labels[:n_train]][:, None] * np.linspace(0.6, 1, 5)
        ws.arrays.save("dyn_p_label", p_label.astype(np.float32))
        ws.arrays.save("dyn_margin", (2 * p_label - 1).astype(np.float32))
        save_neighbours(ws)
        ws.arrays.save("pca", pca_2d(emb, random_state=seed))
        ws.arrays.save("umap", np.full((n, 2), np.nan, np.float32))
        table = workspace_score_table(ws, idk_cap=0.02, random_state=seed)
        for action in ("idk", "relabel"):
            rows = table[table.proposed_action == action]
            for label, group in rows.groupby("suggested_label") if action == "relabel" else [(None, rows)]:
                ws.decisions.append(group.sid.tolist(), action, label=None if label is None else int(label),
                                    source="auto", author="greyzone", reason="synthetic")
        ws.write_scores(table)
    finally:
        ws.close()


def make_synthetic_large(path: Path, n: int, source: Path, *, seed: int = 0) -> None:
    """An ``n``-sample workspace tiled from the 70,000-sample synthetic one at ``source`` (vectorised, no
    training, no kNN search): split ``s`` repeats that split's MNIST digits, each copy shifted by a random
    (dy, dx) in [-2, 2] pixels; probabilities and score rows are copied from the source row, the map
    coordinates jittered (N(0, 0.15) of the PCA spread) so that copies do not overlap; each row's kNN graph is
    its source row's, moved into the same copy. The score table is written to Parquet and SQLite directly."""
    import numpy as np

    from greyzone.sources.dataset import Dataset, Split
    from greyzone.store.workspace import Workspace

    src = Workspace.open(source)
    try:
        table, samples = src.scores(), src.samples()
        images, probs = src.images(), src.arrays.load("probs")
        knn_i, knn_d = src.arrays.load("knn_indices"), src.arrays.load("knn_distances")
        classes = src.classes
        decisions = src.decisions.state()
    finally:
        src.close()
    rng = np.random.default_rng(seed)
    split_names = list(dict.fromkeys(samples.split))
    sizes = {s: int((samples.split == s).sum()) for s in split_names}
    want = {s: round(n * k / len(samples)) for s, k in sizes.items()}
    want[split_names[0]] += n - sum(want.values())
    first = {s: int(np.flatnonzero(samples.split.to_numpy() == s)[0]) for s in split_names}
    # per split: local position j copies source row first + j % size (copy number j // size, 0 unshifted)
    origin, copy, base, local_first, size_of, want_of = [], [], [], [], [], []
    start = 0
    for s in split_names:
        j = np.arange(want[s])
        origin.append(first[s] + j % sizes[s])
        copy.append(j // sizes[s])
        for lst, v in ((base, start), (local_first, first[s]), (size_of, sizes[s]), (want_of, want[s])):
            lst.append(np.full(want[s], v))
        start += want[s]
    origin, copy, base, local_first, size_of, want_of = map(
        np.concatenate, (origin, copy, base, local_first, size_of, want_of))
    shifted = np.empty((n, *images.shape[1:]), np.uint8)
    shift = np.where(copy[:, None] > 0, rng.integers(-2, 3, (n, 2)), 0)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            rows = np.flatnonzero((shift[:, 0] == dy) & (shift[:, 1] == dx))
            shifted[rows] = np.roll(images[origin[rows]], (dy, dx), axis=(1, 2))
    labels = samples.label.to_numpy()[origin]
    splits = {s: Split(s, shifted[base == b0], labels[base == b0], np.arange(want[s], dtype=np.int64))
              for s, b0 in zip(split_names, np.unique(base), strict=True)}
    ws = Workspace.create(path, Dataset(f"mnist-synthetic-{n}", classes, splits))
    try:
        del shifted, splits
        ws.arrays.save("probs", np.asarray(probs)[origin])
        # the source row's neighbour u moves into the same copy (copy 0 where that copy is incomplete)
        nb = np.asarray(knn_i)[origin].astype(np.int64)
        u = nb - local_first[:, None] + copy[:, None] * size_of[:, None]
        u = np.where(u < want_of[:, None], u, u % size_of[:, None]) + base[:, None]
        ws.arrays.save("knn_indices", np.where(nb >= 0, u, -1).astype(knn_i.dtype))
        ws.arrays.save("knn_distances", np.asarray(knn_d)[origin])
        out = table.iloc[origin].reset_index(drop=True)
        out["sid"] = np.arange(n, dtype=out.sid.dtype)
        out["index"] = np.concatenate([np.arange(want[s]) for s in split_names]).astype(out["index"].dtype)
        for proj in ("pca", "umap"):
            for axis in ("x", "y"):
                col = f"{proj}_{axis}"
                if col in out:
                    v = out[col].to_numpy(np.float32)
                    spread = float(np.nanstd(v)) or 1.0
                    out[col] = v + rng.normal(0, 0.15 * spread, n).astype(np.float32)
        if "duplicate_of" in out:  # the name of the duplicate's row in the same copy ("" stays "")
            names = out.duplicate_of.fillna("").astype(str).to_numpy()
            has = np.flatnonzero(names != "")
            idx = out["index"].to_numpy()
            split = out.split.astype(str).to_numpy()
            fixed = []
            for i, name in zip(has, names[has], strict=True):
                k = idx[i] - int(table["index"].iat[origin[i]]) + int(name.split(":")[1])
                fixed.append(f"{split[i]}:{k if k < want[split[i]] else int(name.split(':')[1])}")
            names = names.astype(object)
            names[has] = fixed
            out["duplicate_of"] = names
        write_scores_fast(ws, out)
        suggested = decisions.suggested[origin]
        for label in np.unique(suggested[suggested >= 0]):
            sids = np.flatnonzero(suggested == label).tolist()
            action = "idk" if label == ws.idk_label else "relabel"
            ws.decisions.append(sids, action, label=None if action == "idk" else int(label), source="auto",
                                author="greyzone", reason="synthetic")
    finally:
        ws.close()


def write_scores_fast(ws, scores) -> None:
    """:meth:`Workspace.write_scores` without pandas' per-row object conversion (1M rows: seconds)."""
    import numpy as np

    def sql_type(dtype) -> str:
        return "INTEGER" if dtype.kind in "iub" else "REAL" if dtype.kind == "f" else "TEXT"

    cols = ", ".join(f'"{c}" {sql_type(scores[c].dtype)}' for c in scores.columns)
    values = []
    for c in scores.columns:
        v = scores[c].to_numpy()
        if v.dtype.kind == "f":
            v = np.where(np.isnan(v), None, v.astype(object))
        values.append(v.tolist())
    with ws.db.transaction() as con:
        con.execute("DROP TABLE IF EXISTS scores")
        con.execute(f"CREATE TABLE scores ({cols})")
        marks = ", ".join("?" * len(scores.columns))
        con.executemany(f"INSERT INTO scores VALUES ({marks})", zip(*values, strict=True))
    scores.to_parquet(ws.layout.scores, index=False)
