import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from greyzone.errors import ExportError
from greyzone.export import tree, versions
from greyzone.export.tree import write_export
from greyzone.sources import load_imagefolder
from greyzone.store.workspace import Workspace
from tests.unit.test_store import tiny_dataset


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "ws", tiny_dataset())
    s = ws.samples()
    ws.write_scores(
        pd.DataFrame(
            {
                "sid": s.sid,
                "split": s.split,
                "index": s["index"],
                "label": s.label,
                "idk_score": np.linspace(0, 1, len(s)),
            }
        )
    )
    return ws


def digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_manifest_and_round_trip(ws):
    ws.decisions.append([0], "idk", source="auto", author="greyzone")
    ws.decisions.append([1], "relabel", label=2)
    ws.decisions.append([7], "idk")
    out = write_export(ws)
    root = ws.path / "export"
    assert (root / "train" / "IDK" / "00000.png").is_file()
    assert (root / "train" / "c" / "00001.png").is_file()
    assert (root / "test" / "IDK" / "00001.png").is_file()  # sid 7 = test index 1
    assert out["counts"]["train"]["IDK"] == 1 and out["counts"]["test"]["IDK"] == 1
    m = pd.read_csv(root / "manifest.csv")
    assert list(m.columns) == ["split", "index", "file", "source_file", "original_label", "curated_label",
                               "decided_by", "idk_score", "suggested_label", "sha256"]
    assert len(m) == 9
    for f, sha in zip(m.file, m.sha256, strict=True):  # every exported file, by its own bytes
        assert hashlib.sha256((root / f).read_bytes()).hexdigest() == sha
    assert m.loc[1, "curated_label"] == "c" and m.loc[1, "decided_by"] == "human"
    assert m.loc[0, "suggested_label"] == "IDK" and m.suggested_label.drop(index=0).isna().all()
    card = (root / "README.md").read_text()
    assert "LeCun" not in card and "license: unknown" in card and "| train |" in card  # not MNIST
    ds = load_imagefolder(root)
    assert np.array_equal(ds.splits["train"].images, ws.images()[:6])
    assert ds.classes == ("a", "b", "c", "IDK")


def test_no_proposals(ws):
    ws.decisions.append([0], "idk", source="auto", author="greyzone")
    write_export(ws, include_proposals=False)
    assert not (ws.path / "export" / "train" / "IDK").exists()


def test_auto_corrections_go_to_idk_unless_applied(ws, tmp_path):
    ws.decisions.append([3], "relabel", label=2, source="auto", author="greyzone")  # train #3: a → c
    ws.decisions.append([4], "idk", source="auto", author="greyzone")
    ws.decisions.append([5], "relabel", label=0, source="auto", author="greyzone")
    ws.decisions.append([5], "relabel", label=1)  # the human decision wins either way
    write_export(ws, dest=tmp_path / "default")
    write_export(ws, dest=tmp_path / "applied", apply_corrections=True)
    m = pd.read_csv(tmp_path / "default" / "manifest.csv", keep_default_na=False)
    assert m.loc[[3, 4, 5], "curated_label"].tolist() == ["IDK", "IDK", "b"]
    assert m.loc[[3, 4, 5], "suggested_label"].tolist() == ["c", "IDK", "a"]
    assert (m.drop(index=[3, 4, 5]).suggested_label == "").all()
    a = pd.read_csv(tmp_path / "applied" / "manifest.csv", keep_default_na=False)
    assert a.loc[[3, 4, 5], "curated_label"].tolist() == ["c", "IDK", "b"]
    assert a.suggested_label.tolist() == m.suggested_label.tolist()
    assert (tmp_path / "applied" / "train" / "c" / "00003.png").is_file()
    assert not (tmp_path / "default" / "train" / "c" / "00003.png").exists()
    card = (tmp_path / "default" / "README.md").read_text()
    assert "1 ambiguous images proposed IDK and 2 confident corrections" in card
    assert "confident corrections went to IDK" in card
    applied = (tmp_path / "applied" / "README.md").read_text()
    assert "gave its suggested label (--apply-corrections)" in applied
    write_export(ws, dest=tmp_path / "none", include_proposals=False, apply_corrections=True)
    n = pd.read_csv(tmp_path / "none" / "manifest.csv", keep_default_na=False)
    assert n.loc[[3, 4], "curated_label"].tolist() == ["a", "b"] and n.loc[3, "suggested_label"] == "c"


def test_same_store_same_bytes(ws, tmp_path):
    ws.decisions.append([2], "idk")
    ws.decisions.append([3], "relabel", label=1, source="auto", author="greyzone")
    write_export(ws, dest=tmp_path / "a")
    write_export(ws, dest=tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_failed_validation_keeps_previous_export(ws, monkeypatch):
    write_export(ws)
    before = digest(ws.path / "export")
    ws.decisions.append([3], "idk")

    def broken(*a, **k):
        raise ExportError("export validation failed: simulated")

    monkeypatch.setattr(tree, "_validate", broken)
    with pytest.raises(ExportError, match="simulated"):
        write_export(ws)
    assert digest(ws.path / "export") == before
    assert not list(ws.path.glob(".export-tmp-*"))  # temp dir cleaned up


def test_validation_catches_a_wrong_file(ws, monkeypatch):
    """The real validator compares the written tree with the store's curated labels."""
    real = tree._validate

    def tamper(root, *args):
        (root / "train" / "a" / "00000.png").rename(root / "train" / "b" / "00000.png")
        return real(root, *args)

    monkeypatch.setattr(tree, "_validate", tamper)
    with pytest.raises(ExportError, match="sample 0 is in 'b', store says 'a'"):
        write_export(ws)
    assert not (ws.path / "export").exists()


def test_validation_catches_a_file_changed_after_writing(ws, monkeypatch):
    real = tree._validate

    def tamper(root, *args):
        (root / "train" / "a" / "00000.png").write_bytes(b"not the png")
        return real(root, *args)

    monkeypatch.setattr(tree, "_validate", tamper)
    with pytest.raises(ExportError, match=r"00000.png changed after it was verified"):
        write_export(ws)


def test_export_is_a_symlink_to_a_version(ws):
    write_export(ws)
    root = ws.path / "export"
    assert root.is_symlink() and os.readlink(root) == "export-1" and root.is_dir()
    ws.decisions.append([2], "idk")
    out = write_export(ws)
    assert os.readlink(root) == "export-2" and out["written"] == 0 and out["reused"] == 9
    assert (root / "train" / "IDK" / "00002.png").is_file()
    assert sorted(p.name for p in ws.path.iterdir() if "export" in p.name) == [
        ".export-1.index.npz", ".export-2.index.npz", ".export.lock", "export", "export-1", "export-2"]
    ws.decisions.append([3], "idk")
    write_export(ws)  # version 3 is version 1's folder brought up to date; version 1 is gone
    assert os.readlink(root) == "export-3" and not (ws.path / "export-1").exists()
    assert load_imagefolder(root).splits["train"].labels.tolist() == [0, 1, 3, 3, 1, 2]


def test_incremental_export_equals_a_full_export(ws, tmp_path):
    write_export(ws)
    for step, (sid, action, label) in enumerate([(0, "idk", None), (1, "relabel", 2), (0, "keep", None),
                                                  (7, "idk", None), (1, "relabel", 0)]):
        ws.decisions.append([sid], action, label=label)
        out = write_export(ws)
        assert out["written"] == 0  # every image reused (renamed or linked), none encoded again
        write_export(ws, dest=tmp_path / f"full{step}")
        assert digest(ws.path / "export") == digest(tmp_path / f"full{step}"), step


def test_a_file_edited_in_place_is_written_again(ws):
    write_export(ws)
    ws.decisions.append([2], "idk")
    write_export(ws)  # export-1 and export-2 share their unchanged files (hard links)
    edited = ws.path / "export" / "train" / "a" / "00000.png"
    with open(edited, "r+b") as f:  # in place: the same inode, so the previous version sees it too
        f.seek(40)
        f.write(b"\0")
    ws.decisions.append([3], "idk")
    out = write_export(ws)
    assert out["written"] == 1
    assert np.array_equal(load_imagefolder(ws.path / "export").splits["train"].images, ws.images()[:6])


@pytest.mark.parametrize("step", ["rename", "save_index", "symlink", "swap"])
def test_an_interrupted_swap_keeps_the_previous_export(ws, monkeypatch, step):
    write_export(ws)
    before = digest(ws.path / "export")
    ws.decisions.append([3], "idk")
    real = {"rename": os.replace, "symlink": os.symlink, "swap": os.replace}
    calls = []

    def boom(*a, **k):
        raise KeyboardInterrupt(f"interrupted at {step}")

    if step == "save_index":
        monkeypatch.setattr(versions.Versions, "save_index", boom)
    else:
        def interrupt(src, dst, *a, **k):  # the step's call: the version rename, or the link over 'export'
            calls.append(dst)
            target = str(dst).endswith("/export") if step == "swap" else "-tmp-" not in str(dst)
            if step == "symlink" or target:
                boom()
            return real[step](src, dst, *a, **k)

        monkeypatch.setattr(versions.os, "symlink" if step == "symlink" else "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_export(ws)
    monkeypatch.undo()
    assert digest(ws.path / "export") == before  # 'export' still points at the complete previous version
    write_export(ws)  # the next export cleans up and succeeds
    assert pd.read_csv(ws.path / "export" / "manifest.csv").curated_label[3] == "IDK"
    assert not list(ws.path.glob(".export-tmp-*"))
    assert {p.name for p in ws.path.glob("export-*")} <= {"export-1", "export-2", "export-3"}


def test_leftovers_of_a_killed_export_are_cleaned(ws):
    write_export(ws)
    junk = ws.path / ".export-tmp-12345"
    (junk / "train" / "a").mkdir(parents=True)
    (junk / "train" / "a" / "00000.png").write_bytes(b"half")
    (ws.path / "export-7").mkdir()  # a version renamed but never indexed nor swapped in
    (ws.path / ".export-old-99").mkdir()  # the previous greyzone's swap leftover
    write_export(ws)
    assert not junk.exists() and not (ws.path / "export-7").exists()
    assert not (ws.path / ".export-old-99").exists()


def test_an_old_style_export_directory_is_replaced(ws):
    old = ws.path / "export"
    (old / "train").mkdir(parents=True)
    (old / "train" / "stale.txt").write_text("from greyzone 0.1")
    write_export(ws)
    assert old.is_symlink() and not (old / "train" / "stale.txt").exists()
    assert not list(ws.path.glob(".export-old-*"))


def test_a_second_export_waits_for_the_lock(ws, tmp_path):
    lock = versions.Versions(ws.path / "export")
    path = str(ws.path / ".export.lock")
    script = (f"import fcntl, os, time; fd = os.open({path!r}, os.O_RDWR | os.O_CREAT); "
              "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(1.5)")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ExportError, match=r"another export into .*export is still running"):
            with lock.lock(timeout=0.2):
                pass
        t = time.monotonic()
        write_export(ws)  # waits until the other process lets go
        assert time.monotonic() - t > 0.5
    finally:
        holder.wait()
    assert (ws.path / "export" / "manifest.csv").is_file()
