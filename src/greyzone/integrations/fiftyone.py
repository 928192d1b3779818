"""FiftyOne both ways (optional extra ``greyzone[fiftyone]``).

:func:`to_fiftyone` puts a scored workspace into a FiftyOne dataset, one sample per greyzone sample:

- fields ``ground_truth`` (the given label), ``prediction`` (the out-of-sample probabilities: ``label`` =
  argmax, ``confidence`` = its probability, ``logits`` = ``log p``, so ``softmax(logits) = p``), ``curated``
  (the label the export gives, ``IDK`` included), ``suggested`` (the class an auto proposal in force
  suggests, ``IDK`` for an IDK proposal, None for none) as ``fo.Classification``; every score and flag of
  the score table (``idk_score``, ``p_label``, ``label_issue`` ...) under its own name; ``decided_by``
  (``human``/``auto``/``original``), ``embedding`` (the workspace's embeddings) and ``greyzone_sid``;
- tags: the split (``train``/``test``/``validation``), the proposal in force (``proposal:idk``,
  ``proposal:relabel``) and the human decision in force (``decision:idk``, ``decision:relabel``,
  ``decision:keep``).

Calling it again updates the same dataset (samples matched by ``greyzone_sid``, the workspace recorded in
``info["greyzone_workspace"]``; other tags and fields are kept).

:func:`from_fiftyone` reads a FiftyOne dataset (or view) back into a greyzone
:class:`~greyzone.sources.Dataset`, with out-of-sample probabilities and embeddings from fields when given,
ready for ``greyzone.curate(r.dataset, pred_probs=r.pred_probs, embeddings=r.embeddings)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greyzone.errors import DataError, ParameterError, WorkspaceError, extra_hint, require_extra
from greyzone.export.tree import folder_name
from greyzone.scores.catalog import COLUMNS
from greyzone.sources.convert import describe
from greyzone.sources.dataset import SPLITS, Dataset, Split
from greyzone.sources.imagefolder import class_sort_key, image_header, read_image
from greyzone.sources.shape import plan
from greyzone.store.decisions import Status
from greyzone.store.workspace import IDK_NAME, Workspace
from greyzone.validation import check_option

FIFTYONE_HINT = extra_hint("fiftyone")
IMAGES = ("auto", "source", "export")
#: The score-table columns written as sample fields: every score and flag.
SCORE_FIELDS = tuple(c.name for c in COLUMNS if c.kind in ("score", "flag"))
PROPOSAL_TAGS = {"idk": "proposal:idk", "relabel": "proposal:relabel"}
DECISION_TAGS = {Status.IDK: "decision:idk", Status.RELABELLED: "decision:relabel",
                 Status.KEPT: "decision:keep"}
#: Tags that :func:`to_fiftyone` owns: replaced on every update, the others are kept.
OWN_TAGS = frozenset(SPLITS) | frozenset(PROPOSAL_TAGS.values()) | frozenset(DECISION_TAGS.values())


def require_fiftyone() -> Any:
    """The ``fiftyone`` module, or a :class:`MissingExtraError` with the exact pip command."""
    return require_extra("fiftyone", "fiftyone", "the FiftyOne integration")


# ---------------------------------------------------------------------------------------- greyzone → FiftyOne
def to_fiftyone(ws: Workspace, name: str | None = None, *, images: str = "auto", embeddings: bool = True,
                include_proposals: bool = True, apply_corrections: bool = False, persistent: bool = False
                ) -> Any:
    """Build, or update, the FiftyOne dataset ``name`` (default ``greyzone-<workspace folder>``) from a scored
    workspace (fields and tags: see the module doc); return the ``fo.Dataset``.

    ``images``: ``"source"`` references the original files (image folders, FiftyOne or Hugging Face imports
    that kept them), ``"export"`` the current export's PNGs (``<ws>/export/<split>/<class>/<index>.png``; a
    later export may move a sample to another class folder: call ``to_fiftyone`` again, it updates
    ``filepath``), ``"auto"`` the source files when every sample has one on disk, else the export.
    ``include_proposals`` / ``apply_corrections``: how ``curated`` is resolved, as for ``greyzone export``.
    ``persistent``: FiftyOne keeps the dataset after this process exits.
    """
    check_option(images, "images", IMAGES)
    fo = require_fiftyone()
    home = str(ws.path.resolve())
    name = name or f"greyzone-{Path(home).name}"
    samples = ws.samples()
    n = len(samples)
    table = ws.scores()  # refuses a workspace without a finished run
    probs = ws.arrays.load("probs")
    state = ws.decisions.state(include_proposals=include_proposals, apply_corrections=apply_corrections)
    paths = _image_paths(ws, images)
    label = np.array([ws.label_name(i) for i in range(ws.idk_label + 1)], dtype=object)
    classes = list(ws.classes)

    if fo.dataset_exists(name):
        ds = fo.load_dataset(name)
        stored = ds.values("greyzone_sid") if ds.has_sample_field("greyzone_sid") else []
        if ds.info.get("greyzone_workspace") != home or sorted(stored) != list(range(n)):
            raise ParameterError(f"FiftyOne dataset {name!r} was not made by to_fiftyone from this workspace "
                                 f"({ws.path}, {n} samples); pass another name or delete it "
                                 f"(fo.delete_dataset({name!r}))")
        order, old_tags = np.asarray(stored, dtype=np.int64), ds.values("tags")
        ds.persistent = ds.persistent or persistent
    else:
        ds = fo.Dataset(name, persistent=persistent)
        ds.info["greyzone_workspace"] = home
        ds.add_samples([fo.Sample(filepath=p, greyzone_sid=i) for i, p in enumerate(paths)])
        order, old_tags = np.arange(n), [[] for _ in range(n)]
    ds.default_classes = classes
    ds.classes = {**ds.classes, "ground_truth": classes, "prediction": classes,
                  "curated": classes + ([IDK_NAME] if IDK_NAME not in classes else []),
                  "suggested": classes + ([IDK_NAME] if IDK_NAME not in classes else [])}
    ds.save()

    pred = probs.argmax(axis=1)
    logits = np.log(np.clip(probs, np.finfo(np.float64).tiny, None))
    values: dict[str, list] = {
        "filepath": list(paths),
        "ground_truth": [fo.Classification(label=label[c]) for c in samples.label],
        "prediction": [fo.Classification(label=label[c], confidence=float(probs[i, c]), logits=logits[i])
                       for i, c in enumerate(pred)],
        "curated": [fo.Classification(label=label[c]) for c in state.curated],
        "suggested": [fo.Classification(label=label[c]) if c >= 0 else None for c in state.suggested],
        "decided_by": list(state.decided_by),
    }
    for col in SCORE_FIELDS:
        v = table[col].to_numpy()
        values[col] = [None if x is None or (isinstance(x, float) and np.isnan(x)) else x for x in v.tolist()]
    if embeddings:
        values["embedding"] = list(np.asarray(ws.arrays.load("embeddings"), dtype=np.float64))
    split = samples.split.to_numpy()
    values["tags"] = [[t for t in old_tags[j] or [] if t not in OWN_TAGS]
                      + _own_tags(split[s], state.status[s], state.suggested[s], ws.idk_label)
                      for j, s in enumerate(order)]
    types = {**{c.name: fo.BooleanField if c.kind == "flag" else fo.FloatField
                for c in COLUMNS if c.name in SCORE_FIELDS},
             "decided_by": fo.StringField, "embedding": fo.VectorField}
    for field, v in values.items():
        if not ds.has_sample_field(field):  # declared: a column may be all None (aum for given probabilities)
            if field in types:
                ds.add_sample_field(field, types[field])
            else:
                ds.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
        ds.set_values(field, v if field == "tags" else [v[s] for s in order])
    return ds


def _own_tags(split: str, status: int, suggested: int, idk: int) -> list[str]:
    """The tags :func:`to_fiftyone` owns for one sample: its split, the proposal and the human decision."""
    tags = [split]
    if suggested >= 0:
        tags.append(PROPOSAL_TAGS["idk" if suggested == idk else "relabel"])
    if Status(status) in DECISION_TAGS:
        tags.append(DECISION_TAGS[Status(status)])
    return tags


def _image_paths(ws: Workspace, images: str) -> np.ndarray:
    """Absolute image path per sample (sid order), by the ``images`` rule of :func:`to_fiftyone`."""
    files = ws.source_files()
    if images in ("auto", "source"):
        have = np.array([f is not None for f in files])
        paths = np.array([str((Path(ws.source) / f).resolve()) if f is not None else "" for f in files],
                         dtype=object)
        on_disk = have & np.array([bool(p) and Path(p).is_file() for p in paths])
        if on_disk.all():
            return paths
        if images == "source":
            i = int(np.flatnonzero(~on_disk)[0])
            what = "has no source file (an array source such as IDX)" if not have[i] else \
                f"source file {paths[i]} is missing"
            raise DataError(f"{ws.path}: sample {i} {what}; use images='export'")
    manifest_path = ws.layout.export / "manifest.csv"
    if not manifest_path.is_file():
        raise WorkspaceError(f"{ws.path}: no export to reference images from ({manifest_path} is missing); "
                             f"run 'greyzone export' first")
    m = pd.read_csv(manifest_path, keep_default_na=False, dtype={"curated_label": str})
    root = ws.layout.export.absolute()
    rel = {(s, int(i)): f"{s}/{folder_name(c)}/{int(i):05d}.png"
           for s, i, c in zip(m.split, m["index"], m.curated_label, strict=True)}
    samples = ws.samples()
    keys = zip(samples.split, samples["index"], strict=True)
    return np.array([str(root / rel[(s, int(i))]) for s, i in keys], dtype=object)


# ---------------------------------------------------------------------------------------- FiftyOne → greyzone
@dataclass(frozen=True)
class FromFiftyOne:
    """What :func:`from_fiftyone` read, rows in greyzone's sample order (split by split, in :data:`SPLITS`
    order, each in the collection's order): the ``dataset``, ``pred_probs`` ``(N, C)`` and ``embeddings``
    ``(N, D)`` (None when no field was named) and ``sample_ids`` (the FiftyOne sample id of each row)."""

    dataset: Dataset
    pred_probs: np.ndarray | None
    embeddings: np.ndarray | None
    sample_ids: np.ndarray


def from_fiftyone(samples: Any, label_field: str = "ground_truth", *, split_field: str | None = None,
                  prediction_field: str | None = None, embeddings_field: str | None = None,
                  classes: list[str] | tuple[str, ...] | None = None, name: str | None = None,
                  size: int | None = None) -> FromFiftyOne:
    """Read a FiftyOne dataset or view into greyzone (images from ``filepath``, read as image folders are:
    channels kept by the rules of :mod:`greyzone.sources.convert`, several sizes resized to one working size
    ``size`` for the models by :func:`greyzone.sources.shape.plan`, each file's SHA-256 kept).

    ``label_field``: an ``fo.Classification`` field (or a string field) with every sample's label.
    Splits: ``split_field`` (a string field holding ``train``/``validation``/``val``/``test``), else the
    sample tags ``train``/``validation``/``val``/``test`` (one per sample), else all samples are ``train``.
    ``classes``: the class order (default: the collection's ``classes[label_field]``, else its
    ``default_classes``, else the distinct labels, digits numerically). ``prediction_field``: an
    ``fo.Classification`` field whose ``logits`` give ``softmax(logits)`` (their columns follow the
    collection's ``classes[prediction_field]`` or ``default_classes`` when set, else ``classes``), or a
    vector/list field of probabilities (columns in ``classes`` order); they must be out-of-sample.
    ``embeddings_field``: a vector/list field. A missing value or field is an error naming the sample.
    """
    fo = require_fiftyone()
    own = getattr(samples, "dataset_name", None) or getattr(samples, "name", None)  # a view, a dataset
    where = f"FiftyOne dataset {own!r}"
    name = name or own or "fiftyone"
    ids = np.array(samples.values("id"), dtype=object)
    paths = samples.values("filepath")
    if not len(ids):
        raise DataError(f"{where}: no samples")
    labels = [str(v) for v in _values(fo, samples, label_field, "label", where, paths)]
    split = _splits(samples, split_field, where, paths)
    known = classes or samples.classes.get(label_field) or samples.default_classes or \
        sorted(set(labels), key=class_sort_key)
    classes = tuple(str(c) for c in known)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"{where}: label field {label_field!r} holds {unknown}, not among the classes "
                        f"{list(classes)}; pass classes=[...]")
    y = np.array([classes.index(v) for v in labels], dtype=np.int64)
    probs = None if prediction_field is None else _probs(fo, samples, prediction_field, classes, where, paths)
    emb = None if embeddings_field is None else \
        _matrix(_values(fo, samples, embeddings_field, None, where, paths), embeddings_field, where)
    rows_of = {s: np.flatnonzero(split == s) for s in SPLITS if (split == s).any()}
    headers = [image_header(Path(p)) for p in paths]
    shape, shape_notes = plan({s: [headers[r] for r in rows] for s, rows in rows_of.items()}, size=size)
    images = np.empty((len(paths), *shape.shape), np.uint8)
    rules, sha = [], []
    for i, p in enumerate(paths):
        images[i], rule, digest = read_image(Path(p), headers[i], shape)
        rules.append(rule)
        sha.append(digest)
    splits, notes = {}, []
    for s, rows in rows_of.items():
        splits[s] = Split(s, images[rows], y[rows], np.arange(len(rows), dtype=np.int64),
                          tuple(paths[r] for r in rows), tuple(sha[r] for r in rows))
        notes += describe(Counter(rules[r] for r in rows), s)
    order = np.concatenate(list(rows_of.values()))
    dataset = Dataset(name, classes, splits, source=f"FiftyOne dataset {name}",
                      notes=tuple(notes + shape_notes))
    return FromFiftyOne(dataset, None if probs is None else probs[order], None if emb is None else emb[order],
                        ids[order])


def _values(fo: Any, samples: Any, field: str, attr: str | None, where: str, paths: list[str]) -> list:
    """The values of ``field`` (of its Classification's ``attr`` when it is one); None is an error."""
    schema = samples.get_field_schema()
    if field not in schema:
        raise DataError(f"{where}: no field {field!r} (fields: {', '.join(schema)})")
    f = schema[field]
    is_cls = isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, fo.Classification)
    v = samples.values(f"{field}.{attr}" if is_cls and attr else field)
    missing = [i for i, x in enumerate(v) if x is None]
    if missing:
        raise DataError(f"{where}: field {field!r} is empty for {len(missing)} sample(s), e.g. "
                        f"{paths[missing[0]]}")
    return v


def _splits(samples: Any, split_field: str | None, where: str, paths: list[str]) -> np.ndarray:
    if split_field is not None:
        split = np.array(samples.values(split_field), dtype=object)
        bad = [i for i, s in enumerate(split) if s not in SPLITS]
        if bad:
            raise DataError(f"{where}: split field {split_field!r} holds {split[bad[0]]!r} for "
                            f"{paths[bad[0]]} (expected one of {', '.join(SPLITS)})")
        return split
    found = [[t for t in tags or [] if t in SPLITS] for tags in samples.values("tags")]
    if not any(found):
        return np.full(len(found), "train", dtype=object)
    bad = [i for i, t in enumerate(found) if len(t) != 1]
    if bad:
        i = bad[0]
        raise DataError(f"{where}: {len(bad)} sample(s) have {len(found[i])} split tags (expected exactly "
                        f"one of {', '.join(SPLITS)}), e.g. {paths[i]} with {found[i]}; tag them or pass "
                        f"split_field")
    return np.array([t[0] for t in found], dtype=object)


def _matrix(rows: list, field: str, where: str) -> np.ndarray:
    try:
        m = np.asarray([np.asarray(r, dtype=np.float64).ravel() for r in rows])
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: field {field!r} does not hold one numeric vector per sample ({e})") from e
    if m.ndim != 2:
        raise DataError(f"{where}: field {field!r} holds vectors of different lengths")
    return m


def _probs(fo: Any, samples: Any, field: str, classes: tuple[str, ...], where: str, paths: list[str]
           ) -> np.ndarray:
    """``(N, C)`` probabilities in ``classes`` order, from a Classification's logits or a vector field."""
    f = samples.get_field_schema().get(field)
    is_cls = isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, fo.Classification)
    m = _matrix(_values(fo, samples, field, "logits", where, paths), field, where)
    if not is_cls:
        columns = classes
    else:
        columns = tuple(samples.classes.get(field) or samples.default_classes or classes)
        m = np.exp(m - m.max(axis=1, keepdims=True))
        m /= m.sum(axis=1, keepdims=True)
    if m.shape[1] != len(columns) or set(columns) != set(classes):
        raise DataError(f"{where}: field {field!r} has {m.shape[1]} columns for the classes {list(columns)}, "
                        f"expected one per class of {list(classes)}")
    return m[:, [columns.index(c) for c in classes]]
