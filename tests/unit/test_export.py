import hashlib

import numpy as np
import pandas as pd
import pytest

from greyzone.errors import ExportError
from greyzone.export import tree
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
    assert list(m.columns) == ["split", "index", "source_file", "original_label", "curated_label",
                               "decided_by", "idk_score", "suggested_label"]
    assert len(m) == 9
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
    assert not [p for p in ws.path.iterdir() if p.name.startswith(".export")]  # temp dir cleaned up


def test_validation_catches_a_wrong_file(ws, monkeypatch):
    """The real validator compares re-imported labels with the store."""
    real = tree._validate

    def tamper(root, curated, images, names):
        (root / "train" / "a" / "00000.png").rename(root / "train" / "b" / "00000.png")
        real(root, curated, images, names)

    monkeypatch.setattr(tree, "_validate", tamper)
    with pytest.raises(ExportError, match="sample 0 is in 'b', store says 'a'"):
        write_export(ws)
    assert not (ws.path / "export").exists()
