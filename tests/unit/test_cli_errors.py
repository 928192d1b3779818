"""Bad input through the CLI: a clear error naming the path and the problem, exit code 2, and nothing saved
(store, previous export) is touched."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from greyzone.cli import app
from greyzone.export.tree import write_export
from greyzone.sources.idx import MAGIC_IMAGES, MAGIC_LABELS
from greyzone.sources.mnist import FILES
from greyzone.store.workspace import Workspace
from tests.unit.test_idx import idx_bytes
from tests.unit.test_imagefolder import make_tree
from tests.unit.test_store import tiny_dataset

runner = CliRunner()


def snapshot(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm", ".lock"))  # the lock file says who ran last
    }


@pytest.fixture
def workspace(tmp_path):
    """A workspace with an export, which a failed command must leave exactly as it was."""
    ws = Workspace.create(tmp_path / "ws", tiny_dataset())
    ws.decisions.append([1], "idk")
    write_export(ws)
    ws.close()
    return tmp_path / "ws"


def idx_dir(tmp_path, *, n_train=6, n_labels=6, magic=MAGIC_IMAGES, truncate=0):
    d = tmp_path / "idx"
    d.mkdir()
    rng = np.random.default_rng(0)
    for _split, (img, lbl) in FILES.items():
        raw = idx_bytes(rng.integers(0, 256, (n_train, 28, 28)), magic)
        (d / img).write_bytes(raw[: len(raw) - truncate])
        (d / lbl).write_bytes(idx_bytes(np.arange(n_labels) % 10, MAGIC_LABELS))
    return d


def run_cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def check_run_fails(workspace, data_args, expected):
    before = snapshot(workspace)
    code, out = run_cli("run", "-w", workspace, "--no-umap", *data_args)
    assert code == 2, out
    assert expected in " ".join(out.split()), out
    assert snapshot(workspace) == before


def test_truncated_idx(workspace, tmp_path):
    d = idx_dir(tmp_path, truncate=100)
    check_run_fails(
        workspace,
        ["--dataset", "fashion-mnist", "--data-dir", d],
        f"{d / 'train-images-idx3-ubyte'}: IDX file truncated",
    )


def test_wrong_magic(workspace, tmp_path):
    d = idx_dir(tmp_path, magic=2052)
    check_run_fails(workspace, ["--dataset", "fashion-mnist", "--data-dir", d], "wrong magic number 2052")


def test_count_mismatch(workspace, tmp_path):
    d = idx_dir(tmp_path, n_labels=5)
    check_run_fails(workspace, ["--dataset", "fashion-mnist", "--data-dir", d], "6 images but")


def test_checksum_mismatch(workspace, tmp_path):
    d = idx_dir(tmp_path)  # valid IDX files, but not the real MNIST bytes
    check_run_fails(
        workspace, ["--dataset", "mnist", "--data-dir", d], "SHA-256 of the uncompressed bytes is"
    )


def test_non_image_file(workspace, tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"]}}, rng)
    (tmp_path / "tree" / "train" / "0" / "x.csv").write_text("a,b")
    check_run_fails(
        workspace, ["--dataset", "imagefolder", "--data-dir", tmp_path / "tree"], "x.csv: not an image file"
    )


def test_unreadable_image(workspace, tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"]}}, rng)
    (tmp_path / "tree" / "train" / "0" / "3.png").write_bytes(b"garbage")
    check_run_fails(
        workspace,
        ["--dataset", "imagefolder", "--data-dir", tmp_path / "tree"],
        "3.png: not a readable PNG/JPEG image",
    )


def test_empty_class_folder(workspace, tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"]}}, rng)
    (tmp_path / "tree" / "train" / "5").mkdir()
    check_run_fails(
        workspace,
        ["--dataset", "imagefolder", "--data-dir", tmp_path / "tree"],
        "train/5: empty class folder",
    )


def test_unknown_split(workspace, tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1"]}, "dev": {"0": ["1"]}}, rng)
    check_run_fails(
        workspace,
        ["--dataset", "imagefolder", "--data-dir", tmp_path / "tree"],
        "unknown split folder(s) dev",
    )


def test_unknown_dataset(workspace):
    check_run_fails(workspace, ["--dataset", "cifar"], "unknown dataset 'cifar'")


def test_other_dataset_in_existing_workspace(workspace, tmp_path, rng):
    make_tree(tmp_path / "tree", {"train": {"0": ["1", "2"], "1": ["3", "4"]}}, rng)
    check_run_fails(
        workspace,
        ["--dataset", "imagefolder", "--data-dir", tmp_path / "tree", "--folds", "2"],
        "holds dataset 'tiny' with 9 samples",
    )


def test_incompatible_workspace_version(workspace):
    import sqlite3

    con = sqlite3.connect(workspace / "greyzone.sqlite")
    con.execute("UPDATE meta SET value = '0' WHERE key = 'format_version'")
    con.commit()
    con.close()
    before = snapshot(workspace)
    code, out = run_cli("export", "-w", workspace)
    assert code == 2 and "workspace format '0' is not supported" in " ".join(out.split())
    assert snapshot(workspace) == before


def test_not_a_workspace(tmp_path):
    code, out = run_cli("export", "-w", tmp_path)
    assert code == 2 and "not a greyzone workspace" in out


def test_every_command_has_help_and_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for cmd in app.registered_commands:
        name = cmd.name or cmd.callback.__name__
        code, out = run_cli(name, "--help")
        assert code == 0 and "Usage" in out
        assert f"`greyzone {name}`" in readme, f"greyzone {name} is not documented in README.md"


def test_export_dir_kept_on_copy(workspace, tmp_path):
    """Sanity check of the snapshot helper itself: a changed file is noticed."""
    before = snapshot(workspace)
    shutil.copy(workspace / "export" / "manifest.csv", workspace / "export" / "manifest2.csv")
    assert snapshot(workspace) != before
