"""Write, validate and atomically swap in the curated export.

Layout (FiftyOne's ImageClassificationDirectoryTree, also Hugging Face ``imagefolder``)::

    <workspace>/export/{train,test}/{<class>..., IDK}/{index:05d}.png   lossless PNG of the original pixels
    <workspace>/export/manifest.csv   split,index,source_file,original_label,curated_label,decided_by,
                                      idk_score,suggested_label (the auto proposal's class, IDK, or empty)
    <workspace>/export/<split>/metadata.csv   Hugging Face metadata (:mod:`greyzone.export.metadata`)
    <workspace>/export/README.md      dataset card with Hugging Face YAML

The export is written to a temp directory beside it, re-imported with :func:`load_imagefolder` and checked
against the store (same samples, curated labels and pixels), and only then renamed into place; a failure
leaves the previous export untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from greyzone.errors import DataError, ExportError, WorkspaceError
from greyzone.export.card import dataset_card
from greyzone.export.metadata import write_metadata
from greyzone.sources.imagefolder import load_imagefolder
from greyzone.store.files import fsync_dir
from greyzone.store.workspace import IDK_NAME, Workspace
from greyzone.system import usable_cpus


def folder_name(label_name: str) -> str:
    """A class name made safe as one path component (``T-shirt/top`` → ``T-shirt-top``)."""
    return label_name.replace(os.sep, "-").replace("/", "-")


def _write_pngs(images: np.ndarray, paths: list[Path], sids: np.ndarray) -> None:
    """Lossless 8-bit grey PNGs; PIL releases the GIL while compressing, so threads write in parallel."""
    for sid, path in zip(sids, paths, strict=True):
        Image.fromarray(np.asarray(images[sid]), mode="L").save(path, format="PNG", compress_level=6)


def write_export(
    ws: Workspace,
    *,
    dest: Path | None = None,
    include_proposals: bool = True,
    apply_corrections: bool = False,
    progress: Callable[[int], None] | None = None,
    run_config: dict | None = None,
) -> dict:
    """Write the curated dataset to ``dest`` (default ``<workspace>/export``); return counts.

    ``include_proposals``: auto proposals count where no human decided; ``apply_corrections``: an auto
    ``relabel`` proposal gives its label instead of IDK (see :func:`greyzone.store.decisions.resolve`).
    ``run_config``: the config of the run writing the export, for the card (default: the last finished run).
    """
    dest = Path(dest) if dest is not None else ws.layout.export
    flags = {"include_proposals": include_proposals, "apply_corrections": apply_corrections}
    curated = ws.decisions.curated(**flags)
    try:
        idk_score = ws.scores().set_index("sid")["idk_score"].reindex(curated.sid).to_numpy()
    except WorkspaceError:  # exporting before scoring is allowed; the column is then empty
        idk_score = np.full(len(curated), np.nan)
    names = [folder_name(ws.label_name(i)) for i in range(ws.idk_label + 1)]
    images = ws.images()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-tmp-"))
    try:
        paths = []
        for split, label, index in zip(curated.split, curated.curated_label, curated["index"], strict=True):
            paths.append(tmp / split / names[label] / f"{index:05d}.png")
        for d in {p.parent for p in paths}:
            d.mkdir(parents=True, exist_ok=True)
        sids = curated.sid.to_numpy()
        workers = usable_cpus()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(sids), 2000):  # one chunk at a time so the progress bar moves
                parts = np.array_split(np.arange(start, min(start + 2000, len(sids))), workers)
                list(pool.map(lambda ix: _write_pngs(images, [paths[i] for i in ix], sids[ix]), parts))
                if progress:
                    progress(sum(len(ix) for ix in parts))
        manifest = pd.DataFrame(
            {
                "split": curated.split,
                "index": curated["index"],
                "source_file": ws.source_files()[sids],
                "original_label": [ws.label_name(i) for i in curated.original_label],
                "curated_label": [ws.label_name(i) for i in curated.curated_label],
                "decided_by": curated.decided_by,
                "idk_score": np.round(idk_score, 6),
                "suggested_label": [ws.label_name(i) if i >= 0 else "" for i in curated.suggested_label],
            }
        )
        manifest.to_csv(tmp / "manifest.csv", index=False)
        write_metadata(tmp, curated, paths, idk_score)
        counts = count_table(manifest)
        (tmp / "README.md").write_text(dataset_card(ws, counts, **flags, run_config=run_config))
        _validate(tmp, curated, images, names)
        tmp.chmod(0o755)  # mkdtemp creates 0700
        _swap(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "path": str(dest),
        "counts": counts.to_dict(orient="index"),
        "decided_by": curated.decided_by.value_counts().to_dict(),
    }


def count_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows = split, columns = curated class names (IDK last), values = image counts."""
    t = pd.crosstab(manifest.split, manifest.curated_label)
    cols = sorted(
        (c for c in t.columns if c != IDK_NAME),
        key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c),
    )
    return t.reindex(columns=cols + [IDK_NAME], fill_value=0)


def _validate(root: Path, curated: pd.DataFrame, images: np.ndarray, names: list[str]) -> None:
    """Re-import the written tree and compare samples, curated labels and pixels with the store."""
    try:
        ds = load_imagefolder(root)
    except DataError as e:
        raise ExportError(f"export validation failed: re-import of {root} raised: {e}") from e
    by_name = {n: i for i, n in enumerate(names)}
    for split, part in curated.groupby("split", sort=False):
        s = ds.splits.get(split)
        if s is None or len(s) != len(part):
            raise ExportError(
                f"export validation failed: {root / split} has {0 if s is None else len(s)} images, "
                f"store has {len(part)}"
            )
        part = part.sort_values("index")
        if not np.array_equal(s.index, part["index"].to_numpy()):
            raise ExportError(
                f"export validation failed: sample indices in {root / split} differ from the store"
            )
        got = np.array([by_name[ds.classes[lbl]] for lbl in s.labels])
        if not np.array_equal(got, part.curated_label.to_numpy()):
            bad = int(np.flatnonzero(got != part.curated_label.to_numpy())[0])
            raise ExportError(
                f"export validation failed: {root / split} sample {s.index[bad]} is in "
                f"{ds.classes[s.labels[bad]]!r}, store says {names[part.curated_label.iloc[bad]]!r}"
            )
        if not np.array_equal(s.images, images[part.sid.to_numpy()]):
            raise ExportError(f"export validation failed: pixels in {root / split} differ from the store")


def _swap(tmp: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-old-"))
        os.replace(dest, old / "export")
    os.replace(tmp, dest)
    fsync_dir(dest.parent)  # the rename itself survives a crash
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
