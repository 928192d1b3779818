"""Write, validate and atomically swap in the curated export, reusing what the previous export wrote.

Layout (FiftyOne's ImageClassificationDirectoryTree, also Hugging Face ``imagefolder``)::

    <workspace>/export/{train,test}/{<class>..., IDK}/{index:05d}.<ext>
                        image folders: the original file, byte for byte, with its own suffix (.jpg, ...);
                        array sources (IDX, arrays): a lossless PNG of the stored pixels
    <workspace>/export/manifest.csv   split,index,file,source_file,original_label,curated_label,decided_by,
                                      idk_score,suggested_label (the auto proposal's class, IDK, or empty),
                                      sha256 (of the exported file)
    <workspace>/export/<split>/metadata.csv   Hugging Face metadata (:mod:`greyzone.export.metadata`)
    <workspace>/export/README.md      dataset card with Hugging Face YAML

``export`` is a symlink to a version folder ``export-<n>`` (:mod:`greyzone.export.versions`). A new version
is built in a temp directory: from the previous version's folder when it is intact (files of samples whose
class changed are renamed, the rest stay), else by hard-linking the current version's files, and only
files that no intact earlier file holds are written (:mod:`greyzone.export.writer`, in worker processes).
It is then validated: its listing must equal the expected one, every written file was re-read and checked
(a PNG decoded against the store's pixels, a copy against its source and the source's SHA-256 recorded at
load), every reused file still has the size, mtime and inode it had when it was verified. Only then is it
swapped in with one atomic rename; a failure or a crash leaves the previous export untouched, and the next
export deletes what was left half-made. One export at a time per workspace (a lock file, across processes).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from greyzone.errors import ExportError, WorkspaceError
from greyzone.export.card import dataset_card
from greyzone.export.metadata import metadata_files
from greyzone.export.png import ENCODER
from greyzone.export.versions import Index, Versions, remove
from greyzone.export.writer import Task, write_files
from greyzone.store.workspace import IDK_NAME, Workspace
from greyzone.system import usable_cpus

FORMAT = 2  # 2: original files copied, SHA-256 per file in the index and the manifest


def folder_name(label_name: str) -> str:
    """A class name made safe as one path component (``T-shirt/top`` → ``T-shirt-top``)."""
    return label_name.replace(os.sep, "-").replace("/", "-")


def write_export(
    ws: Workspace,
    *,
    dest: Path | None = None,
    include_proposals: bool = True,
    apply_corrections: bool = False,
    progress: Callable[[int], None] | None = None,
    run_config: dict | None = None,
) -> dict:
    """Write the curated dataset to ``dest`` (default ``<workspace>/export``); return counts and how many
    image files were ``written`` and ``reused``.

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
    sids = curated.sid.to_numpy(np.int64)
    all_files, all_sha256 = ws.source_files(), ws.source_sha256()  # each one read of the samples table
    files, expected = all_files[sids], all_sha256[sids]
    sources = source_paths(ws, files)
    rel = np.array([f"{s}/{names[c]}/{i:05d}{suffix(f)}" for s, c, i, f in
                    zip(curated.split, curated.curated_label, curated["index"], files, strict=True)])
    manifest = pd.DataFrame(
        {
            "split": curated.split,
            "index": curated["index"],
            "file": rel,
            "source_file": files,
            "original_label": [ws.label_name(i) for i in curated.original_label],
            "curated_label": [ws.label_name(i) for i in curated.curated_label],
            "decided_by": curated.decided_by,
            "idk_score": np.round(idk_score, 6),
            "suggested_label": [ws.label_name(i) if i >= 0 else "" for i in curated.suggested_label],
        }
    )
    counts = count_table(manifest)
    card = dataset_card(ws, counts, **flags, run_config=run_config).encode()
    meta_files = metadata_files(curated, rel, idk_score)

    def texts(sha256: dict[str, str]) -> dict[str, bytes]:
        manifest["sha256"] = [sha256[r] for r in rel.tolist()]
        return {"manifest.csv": manifest.to_csv(index=False).encode(), "README.md": card, **meta_files}

    tasks = [Task(int(sid), r, src, sha) for sid, r, src, sha in
             zip(sids.tolist(), rel.tolist(), sources, expected.tolist(), strict=True)]
    meta = {"format": FORMAT, "encoder": ENCODER, "names": names,
            "images": hashlib.sha256(np.ascontiguousarray(ws.images()).data).hexdigest(),
            "sources": hashlib.sha256(json.dumps([all_files.tolist(), all_sha256.tolist()]).encode())
            .hexdigest()}
    versions = Versions(dest)
    with versions.lock():
        versions.clean_leftovers()
        written, reused = _build(versions, tasks, texts, meta, ws.arrays.path("images"), progress)
    return {
        "path": str(dest),
        "counts": counts.to_dict(orient="index"),
        "decided_by": curated.decided_by.value_counts().to_dict(),
        "written": written,
        "reused": reused,
    }


def suffix(source_file: str | None) -> str:
    """The exported file's suffix: the source file's own, lower-cased (``.JPG`` → ``.jpg``), or ``.png``
    for array sources."""
    return Path(source_file).suffix.lower() if source_file else ".png"


def source_paths(ws: Workspace, files: np.ndarray) -> list[str | None]:
    """Absolute path of each sample's source file, None for array sources. ``files`` are relative to the
    dataset root ``ws.source`` (image folders; a relative root, from a workspace made before roots were
    stored absolute, is taken from the current directory and must exist) or absolute (FiftyOne imports)."""
    relative = [f for f in files.tolist() if f is not None and not Path(f).is_absolute()]
    root = Path(ws.source).absolute()
    if relative and not root.is_dir():
        raise ExportError(f"{root}: the dataset's folder is gone; the export copies its original files: "
                          f"restore the folder, or re-run 'greyzone run' on it where it is now")
    return [None if f is None else f if Path(f).is_absolute() else f"{root}/{f}" for f in files.tolist()]


def count_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows = split, columns = curated class names (IDK last), values = image counts."""
    t = pd.crosstab(manifest.split, manifest.curated_label)
    cols = sorted(
        (c for c in t.columns if c != IDK_NAME),
        key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c),
    )
    return t.reindex(columns=cols + [IDK_NAME], fill_value=0)




def _build(versions: Versions, tasks: list[Task], texts: Callable[[dict[str, str]], dict[str, bytes]],
           meta: dict, images_path: Path, progress: Callable[[int], None] | None) -> tuple[int, int]:
    """Make, validate and publish a new version; returns (files written, files reused). ``texts`` makes the
    text files from the SHA-256 of every image file (by path)."""
    cur = versions.current()
    indexes = {n: ix for n in versions.numbers() if (ix := versions.load_index(n)) is not None
               and ix.meta == meta}
    base = max((n for n in indexes if n != cur), default=None)  # the previous version, rebuilt in place
    if base is not None:
        tmp = versions.parent / f".{versions.name}-tmp-{os.getpid()}-{secrets.token_hex(4)}"
        os.replace(versions.version_dir(base), tmp)  # from here on it is a leftover if we crash
        remove(versions.index_path(base))
    else:
        tmp = Path(tempfile.mkdtemp(dir=versions.parent, prefix=f".{versions.name}-tmp-"))
    try:
        records = _populate(tmp, tasks, indexes.get(base), indexes.get(cur),
                            versions.version_dir(cur) if cur is not None else None, images_path, progress)
        made = texts({r: rec[4] for r, rec in records.items()})
        for name, data in made.items():
            (tmp / name).write_bytes(data)
        index = _validate(tmp, tasks, records, made, meta)
        tmp.chmod(0o755)  # mkdtemp creates 0700
        versions.publish(tmp, index)
    except BaseException:
        remove(tmp)
        raise
    written = sum(1 for r in records.values() if r[3])
    return written, len(tasks) - written


#: Per image file of a version being built: size, mtime_ns, inode, whether it was written just now, and its
#: SHA-256 (hex).
Record = tuple[int, int, int, bool, str]


def _populate(tmp: Path, tasks: list[Task], base: Index | None, cur: Index | None, cur_dir: Path | None,
              images_path: Path, progress: Callable[[int], None] | None) -> dict[str, Record]:
    """Bring ``tmp``'s images to the tasks' paths (one per sample): keep or rename the intact files it
    already holds (``base`` describes them), hard-link intact files of the current version, write the rest;
    delete everything else. Returns a record per wanted file."""
    want = {t.sid: t.rel for t in tasks}
    records: dict[str, Record] = {}
    held: dict[int, tuple[str, Record]] = {}  # sample → (its intact file in tmp, record)
    found = _scan(tmp)
    if base is not None:
        for i, (sid, path) in enumerate(zip(base.sid.tolist(), base.path.tolist(), strict=True)):
            rec = _record(base, i)
            if sid in want and (st := found.get(path)) is not None and st == rec[:3]:
                held[sid] = (path, rec)
    keep = {path for path, _ in held.values()}
    for path in found.keys() - keep:  # stale samples, edited files, the old manifest and card
        os.unlink(f"{tmp}/{path}")
    for d in sorted({r.rsplit("/", 1)[0] for r in want.values()}):
        os.makedirs(f"{tmp}/{d}", exist_ok=True)
    into = f"{tmp}/"  # plain strings: pathlib costs more than the system calls here
    for sid, (old, rec) in held.items():
        if old != want[sid]:
            os.rename(into + old, into + want[sid])
        records[want[sid]] = rec
    if cur is not None and cur_dir is not None:
        rows = np.flatnonzero([int(s) in want and want[int(s)] not in records for s in cur.sid.tolist()])
        source = f"{cur_dir}/"
        for i in rows[cur.unchanged(cur_dir, rows)].tolist():
            target = want[int(cur.sid[i])]
            try:
                os.link(source + str(cur.path[i]), into + target)
            except OSError:  # no hard links here (another file system, FAT, quota): written afresh below
                continue
            records[target] = _record(cur, i)
    todo = [t for t in tasks if t.rel not in records]
    if progress:
        progress(len(want) - len(todo))
    for f in write_files(images_path, tmp, todo, workers=usable_cpus(), progress=progress):
        records[f.rel] = (f.size, f.mtime_ns, f.ino, True, f.sha256)
    for split in os.scandir(tmp):  # classes (and splits) that no sample is in any more
        if split.is_dir(follow_symlinks=False):
            for cls in os.scandir(split.path):
                if cls.is_dir(follow_symlinks=False) and not os.listdir(cls.path):
                    os.rmdir(cls.path)
            if not os.listdir(split.path):
                os.rmdir(split.path)
    return records


def _record(index: Index, i: int) -> Record:
    return int(index.size[i]), int(index.mtime_ns[i]), int(index.ino[i]), False, str(index.sha256[i])


def _scan(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every regular file under ``root`` (relative path → size, mtime_ns, inode); anything else that is
    not a directory (links, sockets) is deleted."""
    found, stack = {}, [("", str(root))]
    while stack:
        rel, path = stack.pop()
        for e in os.scandir(path):
            if e.is_dir(follow_symlinks=False):
                stack.append((rel + e.name + "/", e.path))
            elif e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                found[rel + e.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
            else:
                os.unlink(e.path)
    return found


def _validate(root: Path, tasks: list[Task], records: dict[str, Record], texts: dict[str, bytes],
              meta: dict) -> Index:
    """Check the built tree: exactly the expected files and folders, each image file the very one that was
    verified (written, read back and decoded just now, or reused after its size, mtime and inode matched an
    index), the texts as written. Returns the new version's index."""
    found: dict[str, tuple[int, int, int]] = {}
    odd = []
    for split in os.scandir(root):
        if split.name in texts and split.is_file(follow_symlinks=False):
            continue
        if not split.is_dir(follow_symlinks=False):
            odd.append(split.name)
            continue
        for cls in os.scandir(split.path):
            if f"{split.name}/{cls.name}" in texts and cls.is_file(follow_symlinks=False):
                continue  # the split's metadata.csv
            if not cls.is_dir(follow_symlinks=False):
                odd.append(f"{split.name}/{cls.name}")
                continue
            for f in os.scandir(cls.path):
                st = f.stat(follow_symlinks=False)
                found[f"{split.name}/{cls.name}/{f.name}"] = (st.st_size, st.st_mtime_ns, st.st_ino)
    wanted = [t.rel for t in tasks]
    extra, missing = sorted(found.keys() - set(wanted)), sorted(set(wanted) - found.keys())
    if extra or missing or odd:
        where = {(r.split("/")[0], r.rsplit("/", 1)[1]): r for r in wanted}
        for e in extra:
            if (r := where.get((e.split("/")[0], e.rsplit("/", 1)[1]))) is not None:
                split, got, name = e.split("/")
                index = int(name.split(".")[0])
                raise ExportError(f"export validation failed: {root / split} sample {index} is in "
                                  f"{got!r}, store says {r.split('/')[1]!r}")
        raise ExportError(f"export validation failed: {root} misses {missing[:3]}, holds unexpected "
                          f"{(extra + odd)[:3]}")
    for r in wanted:
        if found[r] != records[r][:3]:
            raise ExportError(f"export validation failed: {root / r} changed after it was verified")
    for name, data in texts.items():
        if (root / name).read_bytes() != data:
            raise ExportError(f"export validation failed: {root / name} differs from what was written")
    stats = np.array([found[r] for r in wanted], dtype=np.int64).reshape(-1, 3)
    return Index(np.array([t.sid for t in tasks], np.int64), np.array(wanted, dtype=str), stats[:, 0],
                 stats[:, 1], stats[:, 2].astype(np.uint64),
                 np.array([records[r][4] for r in wanted], dtype=str), meta)
