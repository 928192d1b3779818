"""Bring your own model outputs: ``greyzone run --pred-probs/--embeddings`` and ``greyzone.curate``.

The data are synthetic: three classes of 16×16 images, and "out-of-sample" probabilities that put the mass
on each sample's true class, while a few labels are planted wrong. No scorer is trained, so these runs take
seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import greyzone
from greyzone.cli import app
from greyzone.errors import DataError, ParameterError
from greyzone.sources.dataset import Dataset

runner = CliRunner()
N_TRAIN, N_TEST, C = 90, 30, 3
FLIPPED = np.array([3, 17, 40, 61, 95])  # sids whose given label is wrong


def make_data(seed: int = 0):
    """Images, given labels (FLIPPED wrong), split, probabilities and embeddings that know the truth."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    truth = np.arange(n) % C
    images = rng.integers(0, 40, (n, 16, 16)).astype(np.uint8)
    for c in range(C):
        images[truth == c, 5 * c:5 * c + 5, :] += 200  # a band per class
    labels = truth.copy()
    labels[FLIPPED] = (truth[FLIPPED] + 1) % C
    probs = rng.dirichlet(np.full(C, 0.3), size=n) * 0.2
    probs[np.arange(n), truth] += 0.8
    emb = np.eye(C)[truth] * 3 + rng.normal(0, 0.3, (n, C))
    split = np.array(["train"] * N_TRAIN + ["test"] * N_TEST)
    return images, labels, split, probs, np.hstack([emb, rng.normal(0, 0.3, (n, 5))])


def run_cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def quick(ws) -> list:
    return ["-w", ws, "--no-umap", "--no-report", "--folds", "3"]


@pytest.fixture
def data(tmp_path):
    images, labels, split, probs, emb = make_data()
    return images, labels, split, probs, emb


def test_curate_with_given_probs_finds_the_planted_label_errors(tmp_path, data):
    images, labels, split, probs, emb = data
    ws = greyzone.curate(images, labels, split=split, pred_probs=probs, embeddings=emb,
                         workspace=tmp_path / "w", umap=False, folds=3, idk_cap=0.1, progress=False)
    s = ws.scores()
    assert np.allclose(ws.arrays.load("probs"), probs, atol=1e-6)
    assert not ws.arrays.has("dyn_p_label") and s.aum.isna().all() and s.cart_confidence.isna().all()
    top = set(s.nlargest(len(FLIPPED), "idk_score").sid)
    assert top == set(FLIPPED)  # the five wrong labels are the five most doubtful samples
    assert set(s.sid[s.proposed_action != ""]) == set(FLIPPED)
    assert (s.suggested_label[FLIPPED] == (labels[FLIPPED] - 1) % C).all()  # the true class
    run = ws.runs.last()
    assert run["config"]["external_outputs"]["pred_probs"]["source"] == "array"
    assert len(run["config"]["external_outputs"]["embeddings"]["sha256"]) == 64
    assert run["metrics"]["crossfit"]["fold_accuracy"] is None


def test_curate_puts_interleaved_split_rows_in_sample_order(tmp_path, data):
    images, labels, split, probs, emb = data
    perm = np.random.default_rng(1).permutation(len(labels))  # train and test rows mixed
    ws = greyzone.curate(images[perm], labels[perm], split=split[perm], pred_probs=probs[perm],
                         embedder="none", workspace=tmp_path / "w", umap=False, folds=3, progress=False,
                         export=False)
    stored = ws.arrays.load("probs")
    assert np.allclose(stored, ws.arrays.load("embeddings"))  # --no-embedder: the probabilities embed
    train_rows = perm[split[perm] == "train"]  # sid order: the caller's train rows first, in their order
    assert np.allclose(stored[:N_TRAIN], probs[train_rows], atol=1e-6)
    assert np.array_equal(ws.samples().label.to_numpy()[:N_TRAIN], labels[train_rows])


def test_cli_npy_and_parquet_give_the_same_scores(tmp_path, data):
    images, labels, split, probs, emb = data
    ds = Dataset.from_arrays(images, labels, split=split)
    np.save(tmp_path / "p.npy", probs)
    rows = np.random.default_rng(2).permutation(len(labels))  # any row order, class columns in any order
    df = pd.DataFrame({"index": np.r_[np.arange(N_TRAIN), np.arange(N_TEST)][rows], "split": split[rows]})
    for c in (2, 0, 1):
        df[ds.classes[c]] = probs[rows, c]
    df.to_parquet(tmp_path / "p.parquet")
    emb_df = pd.DataFrame({"split": split, "index": df["index"].to_numpy()[np.argsort(rows)],
                           "embedding": list(emb)})
    emb_df.to_parquet(tmp_path / "e.parquet")
    np.save(tmp_path / "e.npy", emb)
    tables = []
    for name, (p, e) in {"npy": ("p.npy", "e.npy"), "parquet": ("p.parquet", "e.parquet")}.items():
        ws = greyzone.curate(ds, pred_probs=tmp_path / p, embeddings=tmp_path / e, workspace=tmp_path / name,
                             umap=False, folds=3, progress=False, export=False)
        tables.append(ws.scores())
        assert ws.runs.last()["config"]["external_outputs"]["pred_probs"]["source"] == str(tmp_path / p)
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_cli_run_with_pred_probs_and_no_embedder(tmp_path, data):
    images, labels, split, probs, _ = data
    ds = Dataset.from_arrays(images, labels, split=split)
    root = tmp_path / "folder"
    from PIL import Image

    from greyzone.export.tree import folder_name  # write it as an image folder the CLI can read

    for i, (s, y) in enumerate(zip(split, labels, strict=True)):
        d = root / s / folder_name(ds.classes[y])
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(d / f"{i - (N_TRAIN if s == 'test' else 0):05d}.png")
    np.save(tmp_path / "p.npy", probs)
    ws = tmp_path / "w"
    code, out = run_cli("run", *quick(ws), "--dataset", "imagefolder", "--data-dir", root,
                        "--pred-probs", tmp_path / "p.npy", "--no-embedder")
    assert code == 0, out
    w = greyzone.open_workspace(ws)
    assert w.runs.last()["config"]["embedder"] == "none"
    assert set(w.scores().nlargest(len(FLIPPED), "idk_score").sid) == set(FLIPPED)
    code, out = run_cli("run", *quick(ws), "--dataset", "imagefolder", "--data-dir", root,
                        "--pred-probs", tmp_path / "p.npy", "--no-embedder")
    assert code == 0 and "reusing the given outputs" in out  # same file content: the stage is reused
    probs2 = probs.copy()
    probs2[0] = probs[0, ::-1]
    np.save(tmp_path / "p.npy", probs2)
    code, out = run_cli("run", *quick(ws), "--dataset", "imagefolder", "--data-dir", root,
                        "--pred-probs", tmp_path / "p.npy", "--no-embedder")
    assert code == 0 and "reusing the given outputs" not in out  # changed content: recomputed
    assert np.allclose(greyzone.open_workspace(ws).arrays.load("probs")[0], probs2[0])


def test_a_trained_embedder_with_given_probs(tmp_path, data):
    images, labels, split, probs, _ = data
    ws = greyzone.curate(images, labels, split=split, pred_probs=probs, workspace=tmp_path / "w", umap=False,
                         folds=3, train={"epochs": 1}, workers=1, progress=False, export=False)
    assert ws.arrays.load("embeddings").shape == (len(labels), 84)  # LeNet-5's penultimate layer
    assert ws.runs.last()["metrics"]["embed"]["embeddings"] == "trained"
    assert ws.scores().aum.isna().all()


BAD = {
    "rows": (lambda p: p[:-1], "119 rows, but the dataset"),
    "classes": (lambda p: np.hstack([p, np.zeros((len(p), 1))]),
                "4 probability columns, but the dataset has 3"),
    "nan": (lambda p: np.where(np.arange(len(p))[:, None] == 7, np.nan, p),
            "must be finite, got pred_probs[7, 0]"),
    "sum": (lambda p: p * 0.5, "summing to 1"),
    "negative": (lambda p: p - 0.5, "must be in [0, 1]"),
    "1d": (lambda p: p[:, 0], "must be a 2-D array"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_npy_is_refused_naming_the_file(tmp_path, data, case):
    images, labels, split, probs, _ = data
    change, expected = BAD[case]
    path = tmp_path / "bad.npy"
    np.save(path, change(probs))
    with pytest.raises(DataError) as e:
        greyzone.curate(images, labels, split=split, pred_probs=path, workspace=tmp_path / "w",
                        progress=False)
    assert str(path) in str(e.value) and expected in str(e.value)
    assert not (tmp_path / "w").exists()  # refused before the workspace is made


def test_bad_parquet_is_refused_naming_the_file(tmp_path, data):
    images, labels, split, probs, _ = data
    ds = Dataset.from_arrays(images, labels, split=split)
    index = np.r_[np.arange(N_TRAIN), np.arange(N_TEST)]
    good = pd.DataFrame({"split": split, "index": index,
                         **{c: probs[:, i] for i, c in enumerate(ds.classes)}})
    cases = {
        "no column(s) index": good.drop(columns="index"),
        "no row for 1 of the dataset's 120 samples (first: split 'test', index 29)": good.iloc[:-1],
        "sample train:0 has more than one row": pd.concat([good, good.iloc[:1]]),
        "1 row(s) name no sample of the dataset (first: split 'test', index 30)":
            pd.concat([good, good.iloc[-1:].assign(index=30)]),
    }
    for expected, df in cases.items():
        path = tmp_path / "bad.parquet"
        df.to_parquet(path)
        with pytest.raises(DataError, match="bad.parquet") as e:
            greyzone.curate(ds, pred_probs=path, workspace=tmp_path / "w", progress=False)
        assert expected in str(e.value)
    (tmp_path / "p.csv").write_text("x")
    with pytest.raises(DataError, match=r"p\.csv: unknown format '\.csv'"):
        greyzone.curate(ds, pred_probs=tmp_path / "p.csv", workspace=tmp_path / "w", progress=False)
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(DataError, match=r"junk\.npy: not a readable \.npy"):
        greyzone.curate(ds, pred_probs=tmp_path / "junk.npy", workspace=tmp_path / "w", progress=False)


def test_option_combinations_are_checked_before_the_workspace(tmp_path, data):
    images, labels, split, probs, emb = data
    ds = Dataset.from_arrays(images, labels, split=split)
    with pytest.raises(ParameterError, match="--embeddings needs --pred-probs"):
        greyzone.curate(ds, embeddings=emb, workspace=tmp_path / "w", progress=False)
    with pytest.raises(ParameterError, match="--no-embedder .* needs --pred-probs"):
        greyzone.curate(ds, embedder="none", workspace=tmp_path / "w", progress=False)
    with pytest.raises(DataError, match="embeddings must be finite"):
        greyzone.curate(ds, pred_probs=probs, embeddings=np.where(emb > 2, np.inf, emb),
                        workspace=tmp_path / "w", progress=False)
    code, out = run_cli("run", "-w", tmp_path / "w", "--pred-probs", tmp_path / "missing.npy", "--dataset",
                        "imagefolder", "--data-dir", tmp_path)
    assert code == 2
    assert not (tmp_path / "w").exists()
