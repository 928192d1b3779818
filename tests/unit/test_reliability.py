"""Issue 12: faults and bad input give one clear line and exit 2, nothing saved is lost, and a half-made or
stale workspace is repaired by the next run."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greyzone.errors import WorkspaceError
from greyzone.pipeline import _record_proposals
from greyzone.sources.idx import MAGIC_IMAGES, MAGIC_LABELS
from greyzone.sources.mnist import FILES
from greyzone.store.lock import workspace_lock
from greyzone.store.workspace import Workspace
from tests.unit import test_cli_errors
from tests.unit.test_cli_errors import check_run_fails, run_cli, snapshot
from tests.unit.test_decisions import small_dataset
from tests.unit.test_idx import idx_bytes
from tests.unit.test_imagefolder import make_tree
from tests.unit.test_proposals import table
from tests.unit.test_store import tiny_dataset

workspace = test_cli_errors.workspace  # the fixture: a workspace with an export


def fashion_dir(tmp_path, images: np.ndarray, labels: np.ndarray):
    d = tmp_path / "idx"
    d.mkdir()
    for img, lbl in FILES.values():
        (d / img).write_bytes(idx_bytes(images, MAGIC_IMAGES))
        (d / lbl).write_bytes(idx_bytes(labels, MAGIC_LABELS))
    return d


def finished_workspace(path) -> Workspace:
    """A tiny workspace as a finished run leaves it: arrays, scores, a finished run row."""
    ws = Workspace.create(path, tiny_dataset())
    n = len(ws.samples())
    ws.arrays.save("probs", np.full((n, 3), 1 / 3, np.float32))
    ws.arrays.save("embeddings", np.zeros((n, 4), np.float32))
    ws.write_scores(ws.samples().assign(idk_score=0.5))
    ws.runs.finish(ws.runs.start({}, {}), timings={}, metrics={})
    return ws


# ------------------------------------------------------------------ bad data and options (items 5, 12)
def test_idx_label_not_a_class(workspace, tmp_path, rng):
    labels = np.arange(30) % 10
    labels[7] = 200
    d = fashion_dir(tmp_path, rng.integers(0, 256, (30, 28, 28)), labels)
    check_run_fails(workspace, ["--dataset", "fashion-mnist", "--data-dir", d],
                    "train-labels-idx1-ubyte: label 200 at position 7 is not a class (expected 0..9")


def test_idx_zero_by_zero_images(workspace, tmp_path):
    d = fashion_dir(tmp_path, np.zeros((30, 0, 0), np.uint8), np.arange(30) % 10)
    check_run_fails(workspace, ["--dataset", "fashion-mnist", "--data-dir", d],
                    "images are 0×0 pixels (empty)")


def test_idx_without_samples(workspace, tmp_path):
    d = fashion_dir(tmp_path, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    check_run_fails(workspace, ["--dataset", "fashion-mnist", "--data-dir", d],
                    "holds no images (header says 0 samples)")


def test_one_class_only_is_refused_before_training(tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"7": ["1", "2", "3"]}}, rng)
    code, out = run_cli("run", "-w", tmp_path / "new", "--dataset", "imagefolder", "--data-dir",
                        tmp_path / "tree", "--folds", "2")
    assert code == 2 and "the train split holds one class only ('7')" in " ".join(out.split()), out
    assert not (tmp_path / "new").exists()


def test_too_few_samples_names_the_class(tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2", "3"], "1": ["4"]}}, rng)
    code, out = run_cli("run", "-w", tmp_path / "new", "--dataset", "imagefolder", "--data-dir",
                        tmp_path / "tree", "--folds", "2")
    assert code == 2 and "class '1' has 1 train sample(s), fewer than --folds 2" in " ".join(out.split())


def test_negative_seed_is_refused_before_the_workspace_is_made(tmp_path):
    code, out = run_cli("run", "-w", tmp_path / "new", "--seed", "-1")
    assert code == 2 and "seed must be an int in [0, 2147483648), got -1" in out
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_review_port_out_of_range(tmp_path, port):
    finished_workspace(tmp_path / "ws").close()
    code, out = run_cli("review", "-w", tmp_path / "ws", "--port", port)
    flat = " ".join(out.replace("│", " ").split())
    assert code == 2 and "Invalid value for '--port'" in flat and "Traceback" not in out, out


def test_workspace_is_a_file(tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"], "1": ["3", "4"]}}, rng)
    (tmp_path / "file").write_text("not a directory")
    args = ["--dataset", "imagefolder", "--data-dir", tmp_path / "tree", "--folds", "2"]
    code, out = run_cli("run", "-w", tmp_path / "file", *args)
    assert code == 2 and "file: is a file, not a workspace directory" in out
    code, out = run_cli("run", "-w", tmp_path / "file" / "ws", *args)
    assert code == 2 and "cannot create the workspace directory" in out


def test_workspace_under_read_only_parent(tmp_path, rng, monkeypatch):
    """EACCES from mkdir (simulated: the tests may run as root, whom permissions do not stop)."""
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"], "1": ["3", "4"]}}, rng)

    def mkdir(self, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    code, out = run_cli("run", "-w", tmp_path / "ro" / "ws", "--dataset", "imagefolder", "--data-dir",
                        tmp_path / "tree", "--folds", "2")
    assert code == 2 and "cannot create the workspace directory (Permission denied)" in " ".join(out.split())


def test_read_only_workspace(tmp_path, monkeypatch):
    finished_workspace(tmp_path / "ws").close()
    import greyzone.store.db as db

    monkeypatch.setattr(db.os, "access", lambda p, mode: not str(p).endswith("greyzone.sqlite"))
    code, out = run_cli("export", "-w", tmp_path / "ws")
    assert code == 2 and "greyzone.sqlite: workspace is read-only (no write permission)" in out


# ------------------------------------------------------------------ damaged stores (items 5, 11, 12)
def test_truncated_images_npy(tmp_path):
    finished_workspace(tmp_path / "ws").close()
    path = tmp_path / "ws" / "arrays" / "images.npy"
    path.write_bytes(path.read_bytes()[:500])
    code, out = run_cli("export", "-w", tmp_path / "ws")
    assert code == 2 and "images.npy: array 'images' is truncated or damaged" in " ".join(out.split())


def test_corrupt_scores_parquet(tmp_path):
    finished_workspace(tmp_path / "ws").close()
    (tmp_path / "ws" / "scores.parquet").write_bytes(b"PAR1 garbage")
    before = snapshot(tmp_path / "ws")
    for cmd in ("export", "report"):
        code, out = run_cli(cmd, "-w", tmp_path / "ws")
        assert code == 2 and "scores.parquet: damaged score table" in " ".join(out.split()), out
    assert snapshot(tmp_path / "ws") == before


def test_deleted_probs_for_review(tmp_path):
    finished_workspace(tmp_path / "ws").close()
    (tmp_path / "ws" / "arrays" / "probs.npy").unlink()
    code, out = run_cli("review", "-w", tmp_path / "ws", "--port", "0")
    assert code == 2 and "probs.npy: array 'probs' missing; run 'greyzone run'" in " ".join(out.split()), out


def _damage_table(db_path, table_name: str) -> None:
    import sqlite3

    con = sqlite3.connect(db_path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table_name,)).fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(db_path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * 64)


def test_corrupted_decisions_table_is_refused(tmp_path):
    ws = finished_workspace(tmp_path / "ws")
    ws.decisions.append(range(9), "idk")
    ws.close()
    _damage_table(tmp_path / "ws" / "greyzone.sqlite", "decisions")
    before = snapshot(tmp_path / "ws")
    code, out = run_cli("export", "-w", tmp_path / "ws")
    assert code == 2 and ".recover" in out, out
    assert "greyzone.sqlite: database is damaged" in " ".join(out.split())
    assert snapshot(tmp_path / "ws") == before
    with pytest.raises(WorkspaceError, match="greyzone will not write to it"):
        Workspace.open(tmp_path / "ws")


def test_disk_full_is_one_line(workspace, monkeypatch):
    import greyzone.export.tree as tree

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(workspace / "export"))

    monkeypatch.setattr(tree, "write_export", full)
    code, out = run_cli("export", "-w", workspace)
    assert code == 2 and "disk full while writing" in out and "Traceback" not in out


def test_other_os_errors_stay_tracebacks(workspace, monkeypatch):
    import greyzone.export.tree as tree

    def broken(*a, **k):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(tree, "write_export", broken)
    code, _ = run_cli("export", "-w", workspace)
    assert code == 1


# ------------------------------------------------------------------ half-made and stale state (items 4, 8)
def test_workspace_without_images_is_repaired(tmp_path):
    """kill -9 between the samples commit and the images save wedged the workspace for good."""
    ws = Workspace.create(tmp_path / "ws", tiny_dataset())
    expected = np.array(ws.images())
    ws.decisions.append([2], "idk", author="me")
    ws.close()
    (tmp_path / "ws" / "arrays" / "images.npy").unlink()
    with pytest.raises(WorkspaceError, match="array 'images' missing"):
        Workspace.open(tmp_path / "ws")
    logged = []
    ws = Workspace.create(tmp_path / "ws", tiny_dataset(), log=logged.append)
    assert np.array_equal(ws.images(), expected) and "repairing the workspace" in logged[0]
    assert ws.decisions.history().author.tolist() == ["me"]


def test_images_are_saved_before_the_samples_commit(tmp_path, monkeypatch):
    """Creation killed while saving the images leaves no samples behind, so the next run starts afresh."""
    from greyzone.store.arrays import ArrayStore

    def killed(self, name, array):
        raise KeyboardInterrupt

    monkeypatch.setattr(ArrayStore, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        Workspace.create(tmp_path / "ws", tiny_dataset())
    monkeypatch.undo()
    ws = Workspace.create(tmp_path / "ws", tiny_dataset())
    assert len(ws.samples()) == 9 and ws.images().shape == (9, 28, 28)


def test_half_rewritten_stage_is_not_reused(tmp_path):
    ws = finished_workspace(tmp_path / "ws")
    ws.stages.finish("train", "key-A", 1.0)
    assert ws.stages.is_fresh("train", "key-A", ["probs"])
    assert not ws.stages.is_fresh("train", "key-B", ["probs"])  # recomputing with B, then killed ...
    assert not ws.stages.is_fresh("train", "key-A", ["probs"])  # ... A's key no longer vouches for probs


def test_stale_running_run_is_marked_interrupted(tmp_path):
    ws = finished_workspace(tmp_path / "ws")
    ws.runs.start({}, {})  # a run that was killed: never finished
    assert ws.runs.statuses() == ["finished", "running"]
    assert ws.runs.mark_interrupted() == 1
    assert ws.runs.statuses() == ["finished", "interrupted"]


# ------------------------------------------------------------------ concurrent runs (item 10)
def test_second_concurrent_run_is_refused(tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"], "1": ["3", "4"]}}, rng)
    (tmp_path / "ws").mkdir()
    with workspace_lock(tmp_path / "ws" / ".greyzone-run.lock"):
        code, out = run_cli("run", "-w", tmp_path / "ws", "--dataset", "imagefolder", "--data-dir",
                            tmp_path / "tree", "--folds", "2")
    assert code == 2 and "another greyzone command is using this workspace (greyzone run, pid" in out
    assert not (tmp_path / "ws" / "greyzone.sqlite").exists()


def test_concurrent_record_proposals_do_not_double_insert(tmp_path, monkeypatch):
    from greyzone.store.decisions import DecisionLog

    a = Workspace.create(tmp_path / "ws", small_dataset())
    b = Workspace.open(tmp_path / "ws")
    a.runs.start({}, {})
    proposals = table(["idk", "relabel", "", "", "", ""], [0, 2, 0, 0, 0, 0])
    real_append, other = DecisionLog.append, []

    def append(self, *args, **kwargs):
        if self is a.decisions and not other:  # run A has read what is in force; run B starts now
            other.append(threading.Thread(target=_record_proposals, args=(b, proposals, 1, "p")))
            other[0].start()
            time.sleep(0.5)
        return real_append(self, *args, **kwargs)

    monkeypatch.setattr(DecisionLog, "append", append)
    _record_proposals(a, proposals, 1, "p")
    other[0].join()
    rows = a.decisions.history(source="auto")
    assert sorted(rows.sid.tolist()) == [0, 1], rows
    a.close()
    b.close()


def test_input_idk_class_is_greyzones_idk(tmp_path):
    """A class folder named IDK (a greyzone export curated again) is the one IDK class (item 2)."""
    from greyzone.sources.dataset import Dataset, Split

    images = np.zeros((6, 28, 28), np.uint8)
    ds = Dataset("export", ("0", "1", "IDK"),
                 {"train": Split("train", images, np.array([0, 1, 2, 0, 1, 2]), np.arange(6))})
    ws = Workspace.create(tmp_path / "ws", ds)
    assert ws.idk_label == 2 and ws.label_name(2) == "IDK"
    assert ws.decisions.state().curated.tolist() == [0, 1, 2, 0, 1, 2]
    ws.runs.start({}, {})
    _record_proposals(ws, pd.DataFrame({"sid": np.arange(6), "proposed_action": ["relabel"] + [""] * 5,
                                        "suggested_label": [2, 0, 0, 0, 0, 0]}), 1, "p")
    assert ws.decisions.history(source="auto").action.tolist() == ["idk"]  # "relabel as IDK" is IDK


def test_summary_of_a_train_only_run(tmp_path):
    """A train-only image folder crashed in the summary after run and export had succeeded."""
    import io

    from rich.console import Console

    from greyzone.cli.summary import print_summary

    ws = finished_workspace(tmp_path / "ws")
    ws.runs.finish(ws.runs.start({}, {}), timings={"train": 1.0}, metrics={
        "crossfit": {"fold_accuracy": [0.5, 0.6], "test_accuracy_fold_mean": None},
        "embed": {"full_model_test_accuracy": None}, "idk_proposed": {"train": {}}})
    out = io.StringIO()
    print_summary(ws, Console(file=out, width=200))
    text = out.getvalue()
    assert "held-out fold accuracy: 0.5000, 0.6000" in text and "test accuracy" not in text


def test_require_extra_names_the_pip_command_but_a_broken_install_stays_a_traceback(tmp_path, monkeypatch):
    from greyzone.errors import MissingExtraError, require_extra

    hint = r"^doing X needs the optional extra: pip install 'greyzone\[x\]'$"
    with pytest.raises(MissingExtraError, match=hint):
        require_extra("greyzone_no_such_module", "x", "doing X")
    (tmp_path / "greyzone_broken_extra.py").write_text("import greyzone_its_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:  # installed, but its own import fails: not our hint
        require_extra("greyzone_broken_extra", "x", "doing X")
    assert not isinstance(info.value, MissingExtraError)
