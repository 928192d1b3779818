"""FiftyOne both ways: a tiny scored workspace → FiftyOne (fields, tags, labels, images) → greyzone again
(same labels, images, probabilities). Skipped, with the reason, where FiftyOne is not installed or its MongoDB
does not start; the missing-extra error is tested everywhere."""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import greyzone
from greyzone.errors import DataError, MissingExtraError, ParameterError
from greyzone.integrations.fiftyone import FIFTYONE_HINT, from_fiftyone, require_fiftyone, to_fiftyone
from tests.unit.test_export_card import CLASSES, given_probs, named_folder


@pytest.fixture(scope="module")
def fo():
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")  # no usage pings from the test machine
    fo = pytest.importorskip("fiftyone", reason=f"FiftyOne is not installed ({FIFTYONE_HINT})")
    try:
        probe = fo.Dataset()  # the first database call starts (or connects to) FiftyOne's MongoDB
    except Exception as e:  # FiftyOne raises ServiceExecutableNotFound, ServerSelectionTimeoutError, ...
        pytest.skip(f"FiftyOne's MongoDB cannot start here: {type(e).__name__}: {e}")
    probe.delete()
    return fo


@pytest.fixture
def names(fo):
    """Unique dataset names, deleted after the test."""
    made = []

    def name() -> str:
        made.append(f"greyzone-test-{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield name
    for n in made:
        if fo.dataset_exists(n):
            fo.delete_dataset(n)


@pytest.fixture
def ws(tmp_path, rng):
    ds = named_folder(tmp_path / "data", rng)
    return greyzone.curate(ds, pred_probs=given_probs(ds, rng), embedder="none", workspace=tmp_path / "ws",
                           umap=False, folds=3, idk_cap=0.1, progress=False)


def test_missing_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "fiftyone", None)  # import fiftyone → ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'greyzone\[fiftyone\]'"):
        require_fiftyone()


def test_to_fiftyone_writes_scores_labels_and_tags_and_updates_in_place(fo, ws, names):
    ws.decisions.append([1], "idk")
    ws.decisions.append([2], "relabel", label=2)
    ws.decisions.append([3], "keep")
    name = names()
    ds = to_fiftyone(ws, name)
    scores, probs = ws.scores(), ws.arrays.load("probs")
    state, curated = ws.decisions.state(), ws.decisions.curated()
    label = CLASSES + ["IDK"]
    assert len(ds) == len(scores) and ds.values("greyzone_sid") == list(range(len(scores)))
    assert ds.values("ground_truth.label") == [label[c] for c in scores.label]
    assert ds.values("curated.label") == [label[c] for c in curated.curated_label]
    assert ds.values("suggested.label") == [label[c] if c >= 0 else None for c in state.suggested]
    logits = np.array(ds.values("prediction.logits"))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, probs, atol=1e-12)
    assert ds.values("prediction.label") == [label[c] for c in probs.argmax(axis=1)]
    np.testing.assert_allclose(ds.values("idk_score"), scores.idk_score)
    assert ds.values("label_issue") == scores.label_issue.tolist()
    assert np.isnan(scores.aum).all() and set(ds.values("aum")) == {None}  # no dynamics for given probs
    tags = ds.values("tags")
    assert [t[0] for t in tags] == scores.split.tolist()
    assert "decision:idk" in tags[1] and "decision:relabel" in tags[2] and "decision:keep" in tags[3]
    proposed = sum("proposal:idk" in t or "proposal:relabel" in t for t in tags)
    assert proposed == (state.suggested >= 0).sum() > 0
    assert len(ds.match_tags("proposal:idk")) == (state.suggested == ws.idk_label).sum()
    files = [str((ws.path.parent / "data" / f).resolve()) for f in ws.source_files()]
    assert ds.values("filepath") == files  # an image folder: the original files

    ds.match_tags("decision:keep").tag_samples("mine")  # a user's own tag survives an update
    ws.decisions.undo([3])
    ws.decisions.append([4], "idk")
    again = to_fiftyone(ws, name)
    tags = again.values("tags")
    assert len(again) == len(scores) and "decision:keep" not in tags[3] and "mine" in tags[3]
    assert "decision:idk" in tags[4] and again.values("curated.label")[4] == "IDK"
    assert sum(t.count(s) for t in tags for s in ("train", "test")) == len(scores)  # no doubled tags


def test_round_trip_back_into_greyzone(fo, ws, names, tmp_path):
    ds = to_fiftyone(ws, names())
    r = from_fiftyone(ds, "ground_truth", prediction_field="prediction", embeddings_field="embedding")
    assert r.dataset.classes == tuple(CLASSES) and list(r.dataset.splits) == ["train", "test"]
    assert r.dataset.name == ds.name
    samples = ws.samples()
    for name, split in r.dataset.splits.items():
        rows = samples.split.to_numpy() == name
        np.testing.assert_array_equal(split.labels, samples.label[rows])
        np.testing.assert_array_equal(split.images, ws.images()[rows])
    np.testing.assert_allclose(r.pred_probs, ws.arrays.load("probs"), atol=1e-12)
    np.testing.assert_allclose(r.embeddings, ws.arrays.load("embeddings"))
    assert r.sample_ids.tolist() == ds.values("id")
    view = from_fiftyone(ds.match_tags("train"))  # a view works too
    assert view.dataset.name == ds.name and list(view.dataset.splits) == ["train"]
    np.testing.assert_array_equal(view.dataset.splits["train"].labels, r.dataset.splits["train"].labels)
    again = greyzone.curate(r.dataset, pred_probs=r.pred_probs, embeddings=r.embeddings,
                            workspace=tmp_path / "again", umap=False, folds=3, idk_cap=0.1, progress=False)
    np.testing.assert_allclose(again.scores().idk_score, ws.scores().idk_score, atol=1e-9)
    with pytest.raises(ParameterError, match="was not made by to_fiftyone from this workspace"):
        to_fiftyone(again, ds.name)  # same samples, another workspace: not overwritten


def test_export_images_for_array_sources_and_probability_fields(fo, names, rng, tmp_path):
    images = rng.integers(0, 256, size=(30, 10, 10), dtype=np.uint8)
    labels = np.arange(30) % 3
    probs = np.full((30, 3), 0.1)
    probs[np.arange(30), labels] = 0.8
    ws = greyzone.curate(images, labels, pred_probs=probs, embedder="none", workspace=tmp_path / "ws",
                         umap=False, folds=3, progress=False)
    ds = to_fiftyone(ws, names(), embeddings=False)
    paths = ds.values("filepath")
    assert all(p.startswith(str((ws.path / "export").absolute())) for p in paths)
    assert all(np.array_equal(np.asarray(Image.open(p)), im) for p, im in zip(paths, images, strict=True))
    assert not ds.has_sample_field("embedding")

    ds.set_values("p", [list(r) for r in probs[:, [2, 0, 1]]])  # a probability vector, columns named below
    ds.set_values("part", ["test" if i % 5 == 0 else "train" for i in range(30)])
    r = from_fiftyone(ds, "ground_truth", split_field="part", prediction_field="p", classes=["2", "0", "1"])
    assert r.dataset.classes == ("2", "0", "1") and len(r.dataset.splits["test"]) == 6
    order = np.r_[np.flatnonzero(np.arange(30) % 5 != 0), np.flatnonzero(np.arange(30) % 5 == 0)]
    np.testing.assert_allclose(r.pred_probs, probs[order][:, [2, 0, 1]])


def test_from_fiftyone_refuses_what_it_cannot_read(fo, names, rng, tmp_path):
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 256, size=(8, 8), dtype=np.uint8)).save(paths[-1])
    ds = fo.Dataset(names())
    ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label="ab"[i % 2]), tags=["train"])
                    for i, p in enumerate(paths)])
    with pytest.raises(DataError, match="no field 'label'"):
        from_fiftyone(ds, "label")
    ds.set_values("half", [fo.Classification(label="a"), None, None, None])
    with pytest.raises(DataError, match=r"'half' is empty for 3 sample\(s\), e\.g\. .*1\.png"):
        from_fiftyone(ds, "half")
    ds.set_values("tags", [["train"], ["train", "test"], ["train"], ["train"]])
    with pytest.raises(DataError, match=r"1 sample\(s\) have 2 split tags.*1\.png"):
        from_fiftyone(ds)
    ds.set_values("tags", [["train"]] * 4)
    with pytest.raises(DataError, match=r"holds \['b'\], not among the classes \['a'\]"):
        from_fiftyone(ds, classes=["a"])
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(paths[3])  # another size: resized for the models
    r = from_fiftyone(ds)
    assert r.dataset.splits["train"].images.shape == (4, 8, 8) and "resized to 8×8" in r.dataset.notes[-1]
    assert r.dataset.splits["train"].file_sha256[3] == hashlib.sha256(Path(paths[3]).read_bytes()).hexdigest()
    Path(paths[2]).write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"2\.png: not a readable PNG/JPEG image"):
        from_fiftyone(ds)


def readme_block() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## FiftyOne\n")[1].split("\n## ")[0]
    return section.split("```python\n")[1].split("```")[0]


def test_readme_fiftyone_code_runs(fo, rng, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = named_folder(tmp_path / "data", rng)
    ws = greyzone.curate(ds, pred_probs=given_probs(ds, rng), embedder="none", workspace="greyzone-mnist",
                         umap=False, folds=3, idk_cap=0.1, progress=False)
    made = ("greyzone-train", "greyzone-greyzone-mnist", "export-root")
    taken = [n for n in made if fo.dataset_exists(n)]
    if taken:  # someone's own datasets: never deleted by a test
        pytest.skip(f"FiftyOne datasets {taken} exist already; the README code would need their names")
    ns: dict = {}
    try:
        code = readme_block().replace('workspace="greyzone-fo")', 'workspace="greyzone-fo", umap=False)')
        assert "umap=False" in code  # UMAP's first compile costs ~30 s; the rest runs as written
        exec(compile(code, "README.md (FiftyOne)", "exec"), ns)
        manifest = pd.read_csv(ws.path / "export" / "manifest.csv", keep_default_na=False)
        train = manifest[manifest.split == "train"]
        assert "IDK" in set(train.curated_label)
        assert sorted(ns["train"].default_classes) == sorted(set(train.curated_label))
        by_file = {Path(p).name: c for p, c in zip(ns["train"].values("filepath"),
                                                   ns["train"].values("ground_truth.label"), strict=True)}
        expected = zip(train["index"], train.curated_label, strict=True)
        assert by_file == {f"{i:05d}.png": c for i, c in expected}
        assert len(ns["ds"]) == len(manifest) and len(ns["proposed"]) > 0
        assert ns["ws"].scores().label.tolist() == ws.scores().label.tolist()
        try:  # the pitfall the README warns about: the export root as one tree
            root = fo.Dataset.from_dir(dataset_dir="greyzone-mnist/export", name="export-root",
                                       dataset_type=fo.types.ImageClassificationDirectoryTree)
        except fo.core.media.MediaTypeError as e:  # FiftyOne 1.22: the metadata.csv in each "class" folder
            assert "unknown" in str(e)
        else:
            assert root.default_classes == ["test", "train"]
    finally:
        for n in made:
            if fo.dataset_exists(n):
                fo.delete_dataset(n)
