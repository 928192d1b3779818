import sqlite3

import numpy as np
import pytest

from greyzone.errors import WorkspaceError
from greyzone.sources.dataset import Dataset, Split
from greyzone.store.workspace import Workspace


def tiny_dataset(n_train=6, n_test=3, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)

    def split(name, n):
        return Split(
            name,
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            np.arange(n) % 3,
            np.arange(n, dtype=np.int64),
        )

    return Dataset("tiny", ("a", "b", "c"), {"train": split("train", n_train), "test": split("test", n_test)})


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "ws", tiny_dataset())


def test_create_and_reopen(ws):
    s = ws.samples()
    assert s.sid.tolist() == list(range(9))
    assert s.split.tolist() == ["train"] * 6 + ["test"] * 3
    assert ws.images().shape == (9, 28, 28)
    again = Workspace.open(ws.path)
    assert again.classes == ("a", "b", "c") and again.idk_label == 3


def test_reopen_with_other_dataset_refused(ws):
    with pytest.raises(WorkspaceError, match="holds dataset 'tiny' with 9 samples"):
        Workspace.create(ws.path, tiny_dataset(n_train=7))


def test_open_non_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="not a greyzone workspace"):
        Workspace.open(tmp_path)


def test_incompatible_format_version(ws):
    ws.db.con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(WorkspaceError, match=r"workspace format '99' is not supported"):
        Workspace.open(ws.path)


def test_newer_schema_refused(ws):
    ws.db.con.execute("PRAGMA user_version = 42")
    with pytest.raises(WorkspaceError, match="schema version 42 is newer"):
        Workspace.open(ws.path)


def test_corrupt_database(tmp_path):
    (tmp_path / "greyzone.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="greyzone.sqlite: database is damaged or not a greyzone"):
        Workspace.open(tmp_path)


def test_decisions_precedence_and_undo(ws):
    ws.decisions.append([0, 1], "idk", source="auto", author="greyzone")
    ws.decisions.append([1], "relabel", label=2, author="ann")
    ws.decisions.append([2], "keep", author="ann")
    c = ws.decisions.curated().set_index("sid")
    assert c.loc[0, "curated_label"] == 3 and c.loc[0, "decided_by"] == "auto"
    assert c.loc[1, "curated_label"] == 2 and c.loc[1, "decided_by"] == "human"
    assert c.loc[2, "curated_label"] == c.loc[2, "original_label"] and c.loc[2, "decided_by"] == "human"
    assert ws.decisions.curated(include_proposals=False).set_index("sid").loc[0, "curated_label"] == 0
    # undo the human relabel: the auto proposal is in force again
    assert ws.decisions.undo([1], author="ann")[0] is not None
    c = ws.decisions.curated().set_index("sid")
    assert c.loc[1, "curated_label"] == 3 and c.loc[1, "decided_by"] == "auto"
    assert ws.decisions.undo([1], author="ann")[0] is None  # nothing human left to undo
    ws.decisions.append([0], "keep", author="ann")  # a human keep overrides an auto IDK proposal
    c = ws.decisions.curated().set_index("sid")
    assert c.loc[0, "curated_label"] == c.loc[0, "original_label"] and c.loc[0, "decided_by"] == "human"
    log = ws.decisions.history(sid=1)
    assert log.action.tolist() == ["undo", "relabel", "idk"]


def test_undo_is_a_stack(ws):
    ws.decisions.append([4], "idk")
    ws.decisions.append([4], "relabel", label=0)
    ws.decisions.undo([4])
    assert ws.decisions.in_force().set_index("sid").loc[4, "action"] == "idk"
    ws.decisions.undo([4])
    assert 4 not in ws.decisions.in_force().sid.tolist()


def test_log_is_append_only(ws):
    ws.decisions.append([0], "idk")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ws.db.con.execute("DELETE FROM decisions")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ws.db.con.execute("UPDATE decisions SET action = 'keep'")


def test_bad_decisions_write_nothing(ws):
    with pytest.raises(KeyError, match=r"unknown sample id\(s\) \[99\]"):
        ws.decisions.append([0, 99], "idk")
    with pytest.raises(ValueError, match="relabel needs a label in 0..2"):
        ws.decisions.append([0], "relabel", label=3)
    with pytest.raises(ValueError, match="action must be one of"):
        ws.decisions.append([0], "delete")
    assert ws.decisions.history().empty


def test_acknowledged_decision_survives_a_new_connection(ws):
    ws.decisions.append([3], "idk", author="x")
    con = sqlite3.connect(ws.path / "greyzone.sqlite")
    assert con.execute("SELECT COUNT(*) FROM decisions WHERE sid = 3").fetchone()[0] == 1


# ------------------------------------------------------------ issue 10 item 2: RGB and source file hashes
def rgb_dataset(seed=0, *, sha=True) -> Dataset:
    rng = np.random.default_rng(seed)

    def split(name, n):
        files = tuple(f"{name}/c/{i}.png" for i in range(n))
        return Split(name, rng.integers(0, 256, (n, 8, 6, 3), dtype=np.uint8), np.arange(n) % 2,
                     np.arange(n, dtype=np.int64), files,
                     tuple(f"{name}{i}".ljust(64, "0") for i in range(n)) if sha else None)

    return Dataset("rgb", ("a", "b"), {"train": split("train", 4), "test": split("test", 2)}, source="/data")


def test_rgb_workspace_keeps_channels_and_file_hashes(tmp_path):
    ds = rgb_dataset()
    ws = Workspace.create(tmp_path / "ws", ds)
    assert ws.images().shape == (6, 8, 6, 3)
    assert np.array_equal(ws.images(), np.concatenate([s.images for s in ds.splits.values()]))
    assert ws.source_files().tolist() == [*ds.splits["train"].files, *ds.splits["test"].files]
    tr, te = ds.splits["train"], ds.splits["test"]
    assert ws.source_sha256().tolist() == [*tr.file_sha256, *te.file_sha256]
    again = Workspace.create(tmp_path / "ws", ds)  # same samples and pixels: re-opened
    assert again.images().shape == (6, 8, 6, 3)
    grey = Dataset("rgb", ds.classes, {k: Split(k, s.images[..., 0], s.labels, s.index, s.files)
                                       for k, s in ds.splits.items()})
    with pytest.raises(WorkspaceError, match="holds other images than 'rgb'"):
        Workspace.create(tmp_path / "ws", grey)


def test_array_sources_have_no_file_hash(ws):
    assert ws.source_sha256().tolist() == [None] * 9 and ws.source_files().tolist() == [None] * 9


def test_file_hashes_of_a_workspace_made_before_they_were_kept(tmp_path):
    """A schema-4 store (no file_sha256) migrates with NULLs; re-opening it with the dataset records them."""
    ds = rgb_dataset()
    ws = Workspace.create(tmp_path / "ws", ds)
    ws.db.con.execute("ALTER TABLE samples DROP COLUMN file_sha256")
    ws.db.con.execute("PRAGMA user_version = 4")
    ws.close()
    old = Workspace.open(tmp_path / "ws")
    assert old.db.con.execute("PRAGMA user_version").fetchone()[0] == 5
    assert old.source_sha256().tolist() == [None] * 6
    old.close()
    logged = []
    ws = Workspace.create(tmp_path / "ws", ds, log=logged.append)
    assert ws.source_sha256().tolist() == [*ds.splits["train"].file_sha256, *ds.splits["test"].file_sha256]
    assert logged == ["recorded the SHA-256 of 6 source file(s) as read now (none stored, or the bytes "
                      "changed but not the pixels)"]


def test_split_and_dataset_shapes_are_checked():
    from greyzone.errors import ParameterError
    from greyzone.sources.dataset import image_channels

    assert image_channels(np.zeros((2, 4, 4), np.uint8)) == 1
    assert image_channels(np.zeros((2, 4, 4, 3), np.uint8)) == 3
    for bad in [(2, 4, 4, 4), (2, 4), (2, 4, 4, 3, 1)]:
        with pytest.raises(ParameterError, match=r"must be \(N, H, W\) grey or \(N, H, W, 3\) RGB"):
            image_channels(np.zeros(bad, np.uint8))
    with pytest.raises(ParameterError, match="2 images but 1 file_sha256"):
        Split("train", np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64), np.arange(2), None, ("x",))
    grey = Split("train", np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64), np.arange(2))
    rgb = Split("test", np.zeros((1, 4, 4, 3), np.uint8), np.zeros(1, np.int64), np.arange(1))
    with pytest.raises(ParameterError, match=r"one dataset has one image shape, got train \(4, 4\), test"):
        Dataset("d", ("a",), {"train": grey, "test": rgb})
    assert Dataset.from_arrays(np.zeros((3, 4, 4, 3), np.uint8), [0, 1, 0]).channels == 3
