"""Machine-readable CLI output: ``--json`` on ``run``, ``export`` and ``info`` puts one JSON document on
stdout and nothing else; ``--quiet`` prints nothing on stdout."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from greyzone.cli import app
from tests.unit.test_outputs import FLIPPED, N_TEST, N_TRAIN, make_data

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def folder_and_probs(tmp_path):
    from PIL import Image

    images, labels, split, probs, _ = make_data()
    for i, (s, y) in enumerate(zip(split, labels, strict=True)):
        d = tmp_path / "data" / s / str(y)
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(d / f"{i - (N_TRAIN if s == 'test' else 0):05d}.png")
    np.save(tmp_path / "p.npy", probs)
    return ["--dataset", "imagefolder", "--data-dir", tmp_path / "data", "--pred-probs", tmp_path / "p.npy",
            "--no-embedder", "--no-umap", "--folds", "3", "--idk-cap", "0.1", "--no-report"]


def test_run_export_and_info_json(tmp_path):
    args = folder_and_probs(tmp_path)
    ws = tmp_path / "w"
    out = json.loads(invoke("run", "-w", ws, *args, "--json").stdout)
    assert out["samples"] == {"train": N_TRAIN, "test": N_TEST}
    assert out["last_run"]["config"]["external_outputs"]["pred_probs"]["source"] == str(tmp_path / "p.npy")
    assert sum(out["decisions"]["auto"].values()) == len(FLIPPED)  # one proposal per wrong label
    assert out["export"] == str(ws / "export") and out["report"] is None
    exported = json.loads(invoke("export", "-w", ws, "--json", "--no-proposals").stdout)
    assert exported["path"] == str(ws / "export") and exported["counts"]["train"]["IDK"] == 0
    info = json.loads(invoke("info", "-w", ws, "--json").stdout)
    assert info["last_run"]["id"] == out["last_run"]["id"] and info["runs"] == {"finished": 1}
    text = invoke("info", "-w", ws).stdout
    assert "decisions in force" in text and "train 90" in text


def test_quiet_prints_nothing_and_export_text_has_no_json(tmp_path):
    args = folder_and_probs(tmp_path)
    ws = tmp_path / "w"
    assert invoke("run", "-w", ws, *args, "--quiet").stdout == ""
    assert invoke("export", "-w", ws, "-q").stdout == ""
    text = invoke("export", "-w", ws).stdout
    assert "exported to" in text and "{" not in text
