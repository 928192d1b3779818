"""Every endpoint of the review app through FastAPI's TestClient, on a small real-MNIST workspace."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from greyzone.app.columnar import decode
from greyzone.store.decisions import Status

from .conftest import TOKEN

NONE, PROPOSED, KEPT, IDK, RELABELLED = (Status.UNDECIDED, Status.PROPOSED, Status.KEPT, Status.IDK,
                                        Status.RELABELLED)
PROPOSED_RELABEL = Status.PROPOSED_RELABEL


def png(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("L"))


def human_rows(ws) -> list[dict]:
    d = ws.decisions.history()
    return d[d.source == "human"].sort_values("id").to_dict("records")


# ---------------------------------------------------------------------------------------------- page, static
def test_index_embeds_token_and_sets_headers(client):
    r = client.get("/")
    assert r.status_code == 200
    assert f'<meta name="greyzone-token" content="{TOKEN}">' in r.text
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_static_files_come_from_the_allowlist_only(client):
    r = client.get("/static/js/main.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/js/main.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    for bad in ("/static/js/nope.js", "/static/../server.py", "/static/%2e%2e/server.py",
                "/static/index.html", "/static//etc/passwd", "/static/js/../../state.py"):
        assert client.get(bad).status_code == 404, bad


def test_static_files_and_columns_are_gzipped_and_revalidated(client):
    for url in ("/static/js/scatter.js", "/api/columns"):
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        packed = client.get(url, headers={"Accept-Encoding": "gzip, br"})
        assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip", url
        assert int(packed.headers["content-length"]) < 0.8 * len(plain.content), url
        assert packed.content == plain.content, url  # httpx decoded it
        assert packed.headers["etag"] == plain.headers["etag"] and packed.headers["vary"] == "Accept-Encoding"
        assert client.get(url, headers={"If-None-Match": plain.headers["etag"]}).status_code == 304
    assert client.get("/vendor/plotly.min.js").status_code == 404  # no chart library is served any more


def test_foreign_host_header_is_rejected(client):
    r = client.get("/", headers={"Host": "evil.example:8765"})
    assert r.status_code == 403 and "--allow-host evil.example" in r.text
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_create_app_refuses_a_short_token(ws):
    from greyzone.app.server import create_app

    with pytest.raises(ValueError, match="at least 16"):
        create_app(ws, token="short")


# ---------------------------------------------------------------------------------------------- samples
def test_meta(client, ws):
    m = client.get("/api/meta").json()
    assert m["classes"] == list(ws.classes) and m["idk_label"] == ws.idk_label and m["idk_name"] == "IDK"
    assert m["n"] == len(ws.samples()) and m["author"] == "tester"
    assert m["splits"] == {"train": 300, "test": 300}
    assert m["image_shape"] == [28, 28]
    assert m["status_names"][PROPOSED_RELABEL] == "proposed relabel"


def test_columns_are_binary_typed_arrays(client, ws):
    r = client.get("/api/columns")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    header, cols = decode(r.content)
    scores = ws.scores()
    assert header["n"] == len(scores)
    np.testing.assert_array_equal(cols["label"], scores.label.to_numpy())
    np.testing.assert_array_equal(cols["pred"], scores.pred.to_numpy())
    np.testing.assert_array_equal(cols["idk_proposed"], scores.idk_proposed.to_numpy().astype(np.uint8))
    np.testing.assert_allclose(cols["pca_x"], scores.pca_x.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(cols["idk_score"], scores.idk_score.to_numpy(), rtol=1e-6)
    assert cols["idk_score"].dtype == np.float32
    split = np.array(header["categories"]["split"])[cols["split"]]
    np.testing.assert_array_equal(split, scores.split.to_numpy())
    assert "idk_score" in header["scores"] and "pca_x" not in header["scores"]
    assert header["projections"] == {"pca": True, "umap": False}  # the fixture ran without UMAP
    assert header["score_help"]["idk_score"]["direction"] == 1
    assert client.get("/api/columns", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_sample_detail(client, ws, auth):
    sid = int(ws.scores().sort_values("idk_score").sid.iloc[-1])
    client.post("/api/decisions", json={"sids": [sid], "action": "idk"}, headers=auth)
    d = client.get(f"/api/samples/{sid}").json()
    probs = ws.arrays.load("probs")[sid]
    assert d["sid"] == sid and d["label"] == int(ws.samples().label[sid])
    assert [t["label"] for t in d["top"]] == list(np.argsort(-probs, kind="stable")[:3])
    assert d["top"][0]["p"] >= d["top"][1]["p"] >= d["top"][2]["p"]
    assert d["scores"]["idk_score"] == pytest.approx(float(ws.scores().idk_score[sid]))
    assert d["scores"]["cart_variability"] is None or d["split"] == "train"  # NaN is sent as null
    assert len(d["neighbours"]) == 10 and sid not in [n["sid"] for n in d["neighbours"]]
    sims = [n["similarity"] for n in d["neighbours"]]
    assert sims == sorted(sims, reverse=True)
    assert d["status"] == "IDK" and d["curated"] == ws.idk_label and d["curated_name"] == "IDK"
    assert d["history"][0]["action"] == "idk" and d["history"][0]["source"] == "human"


def not_proposed(ws, k: int) -> list[int]:
    """``k`` train samples without an auto proposal."""
    s = ws.scores()
    return s.sid[(s.split == "train") & ~s.idk_proposed].head(k).astype(int).tolist()


def test_sample_detail_shows_the_auto_proposal(client, ws, auth):
    fix, plain = not_proposed(ws, 2)
    label = int(ws.samples().label[fix])
    new = (label + 1) % 10
    ws.decisions.append([fix], "relabel", label=new, source="auto", author="greyzone")
    d = client.get(f"/api/samples/{fix}").json()
    assert d["proposal"] == {"action": "relabel", "label": new, "label_name": str(new)}
    assert d["status"] == "proposed relabel" and d["curated"] == ws.idk_label  # default: IDK
    idk = int(ws.scores().sid[ws.scores().idk_proposed].iloc[0])
    assert client.get(f"/api/samples/{idk}").json()["proposal"] == {"action": "idk", "label": None,
                                                                     "label_name": "IDK"}
    assert client.get(f"/api/samples/{plain}").json()["proposal"] is None
    client.post("/api/decisions", json={"sids": [fix], "action": "keep"}, headers=auth)
    d = client.get(f"/api/samples/{fix}").json()
    assert d["status"] == "kept" and d["proposal"]["action"] == "relabel"  # still shown after a human decided


def test_state_blob_carries_the_suggested_class(client, ws):
    fix = not_proposed(ws, 1)[0]
    ws.decisions.append([fix], "relabel", label=3, source="auto", author="greyzone")
    _, cols = decode(client.get("/api/state").content)
    proposed = ws.scores().idk_proposed.to_numpy()
    assert cols["suggested"].dtype == np.int16 and cols["suggested"][fix] == 3
    assert (cols["suggested"][proposed] == ws.idk_label).all()
    others = np.ones(len(proposed), bool)
    others[proposed], others[fix] = False, False
    assert (cols["suggested"][others] == -1).all()
    assert cols["status"][fix] == PROPOSED_RELABEL and cols["curated"][fix] == ws.idk_label


def test_neighbours_are_the_exact_cosine_nearest_of_the_same_split(client, ws):
    emb = ws.arrays.load("embeddings", mmap=False).astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    same_split = ws.samples().split.to_numpy() == ws.samples().split[7]
    sims = np.where(same_split, emb @ emb[7], -np.inf)
    sims[7] = -np.inf
    want = set(np.argsort(-sims)[:10].tolist())
    got = {n["sid"] for n in client.get("/api/samples/7").json()["neighbours"]}
    assert len(got & want) >= 9  # ties at float32 precision may swap the last one


def test_detail_neighbours_are_the_graph_behind_knn_agreement(client, ws):
    """One kNN result: the panel's neighbours are the ones whose labels knn_agreement counts."""
    labels = ws.samples().label.to_numpy()
    for sid in (3, 250, len(labels) - 1):
        got = [n["sid"] for n in client.get(f"/api/samples/{sid}").json()["neighbours"]]
        assert got == ws.arrays.load("knn_indices")[sid].tolist()
        agreement = float(np.mean(labels[got] == labels[sid]))
        assert agreement == pytest.approx(float(ws.scores().knn_agreement[sid]))


@pytest.mark.parametrize("path, code", [("/api/samples/600", 404), ("/api/samples/-1", 404),
                                        ("/api/samples/99999999999", 404), ("/api/samples/abc", 422),
                                        ("/api/samples/1.5", 422)])
def test_sample_bad_ids(client, path, code):
    assert client.get(path).status_code == code


# ---------------------------------------------------------------------------------------------- images
def test_thumbnail_is_the_stored_pixels(client, ws):
    r = client.get("/api/thumb/42")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(png(r.content), ws.images()[42])
    assert "max-age" in r.headers["cache-control"]
    assert client.get("/api/thumb/42", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get("/api/thumb/600").status_code == 404
    assert client.get("/api/thumb/x").status_code == 422


def test_sprite_tiles_a_page(client, ws):
    sids = list(range(100, 145))
    r = client.get("/api/sprite", params={"sids": ",".join(map(str, sids)), "cols": 20})
    assert r.status_code == 200 and r.headers["x-sprite-cols"] == "20"
    img = png(r.content)
    assert img.shape == (3 * 28, 20 * 28)
    for k, sid in enumerate(sids):
        tile = img[(k // 20) * 28:(k // 20 + 1) * 28, (k % 20) * 28:(k % 20 + 1) * 28]
        np.testing.assert_array_equal(tile, ws.images()[sid])
    assert not img[2 * 28:, 5 * 28:].any()  # unused tiles are black
    assert client.get("/api/sprite", params={"sids": "1,2", "cols": 20}).headers["x-sprite-cols"] == "2"
    r = client.get("/api/sprite", params={"sids": ",".join(["0"] * 200)})
    assert r.status_code == 200


@pytest.mark.parametrize("params, code", [
    ({"sids": ",".join(["1"] * 201)}, 422), ({"sids": "1,a"}, 422), ({"sids": ""}, 422), ({}, 422),
    ({"sids": "1,-2"}, 404), ({"sids": "1,600"}, 404), ({"sids": "1", "cols": 0}, 422),
    ({"sids": "1", "cols": "x"}, 422)])
def test_sprite_bad_params(client, params, code):
    assert client.get("/api/sprite", params=params).status_code == code


# ---------------------------------------------------------------------------------------------- decisions
@pytest.mark.parametrize("headers", [{}, {"X-Greyzone-Token": "wrong-token-wrong-token"},
                                     {"X-Greyzone-Token": ""}, {"Authorization": f"Bearer {TOKEN}"}])
def test_writes_need_the_token(client, ws, headers):
    for path, body in (("/api/decisions", {"sids": [1], "action": "idk"}), ("/api/undo", {"sids": [1]}),
                       ("/api/export", {})):
        assert client.post(path, json=body, headers=headers).status_code == 403, path
    assert human_rows(ws) == []


def test_decide_idk_keep_relabel(client, ws, auth):
    body = {"sids": [3, 4, 3], "action": "idk", "reason": "smudged"}
    r = client.post("/api/decisions", json=body, headers=auth)
    assert r.status_code == 200
    body = r.json()
    assert len(body["ids"]) == 2 and body["state"] == {"sids": [3, 4], "status": [IDK, IDK],
                                                       "curated": [ws.idk_label] * 2}
    body = {"sids": [5], "action": "relabel", "label": 7}
    r = client.post("/api/decisions", json=body, headers=auth).json()
    assert r["state"]["status"] == [RELABELLED] and r["state"]["curated"] == [7]
    r = client.post("/api/decisions", json={"sids": [6], "action": "keep"}, headers=auth).json()
    assert r["state"]["status"] == [KEPT] and r["state"]["curated"] == [int(ws.samples().label[6])]
    rows = human_rows(ws)
    assert [(x["sid"], x["action"]) for x in rows] == [(3, "idk"), (4, "idk"), (5, "relabel"), (6, "keep")]
    assert {x["author"] for x in rows} == {"tester"} and rows[0]["reason"] == "smudged"
    assert r["last_id"] == int(ws.decisions.history().id.max())
    curated = ws.decisions.curated().set_index("sid").curated_label
    assert (curated[3], curated[5], curated[6]) == (ws.idk_label, 7, int(ws.samples().label[6]))


def test_bulk_decision_over_every_sample(client, ws, auth):
    n = len(ws.samples())
    r = client.post("/api/decisions", json={"sids": list(range(n)), "action": "idk"}, headers=auth)
    assert r.status_code == 200 and len(r.json()["ids"]) == n
    assert r.json()["state"]["curated"] == [ws.idk_label] * n
    assert ws.decisions.history().query("source == 'human'").created_at.nunique() == 1  # one transaction
    r = client.post("/api/decisions", json={"sids": list(range(n)), "action": "relabel", "label": 99},
                    headers=auth)
    assert r.status_code == 422 and len(human_rows(ws)) == n


@pytest.mark.parametrize("body", [
    {"sids": [1], "action": "relabel", "label": 10}, {"sids": [1], "action": "relabel", "label": -1},
    {"sids": [1], "action": "relabel"}, {"sids": [1], "action": "relabel", "label": "3"},
    {"sids": [1], "action": "relabel", "label": 2.5}, {"sids": [1], "action": "idk", "label": 3},
    {"sids": [1], "action": "keep", "label": 1}, {"sids": [1], "action": "delete"},
    {"sids": [], "action": "idk"},
    {"sids": ["1"], "action": "idk"}, {"sids": [1], "action": "idk", "source": "auto"},
    {"sids": [1], "action": "idk", "reason": "x" * 1001}, {"sid": 1, "action": "idk"}])
def test_decide_rejects_bad_input_with_422(client, ws, auth, body):
    assert client.post("/api/decisions", json=body, headers=auth).status_code == 422
    assert human_rows(ws) == []


def test_decide_rejects_malformed_json(client, auth):
    headers = {**auth, "Content-Type": "application/json"}
    r = client.post("/api/decisions", content=b"{not json", headers=headers)
    assert r.status_code == 422


def test_unknown_sid_is_404_and_writes_nothing(client, ws, auth):
    for sids in ([1, 2, 600], [-1], [10 ** 12]):
        r = client.post("/api/decisions", json={"sids": sids, "action": "idk"}, headers=auth)
        assert r.status_code == 404, sids
        assert "unknown sample id" in r.json()["detail"]
    assert client.post("/api/undo", json={"sids": [600]}, headers=auth).status_code == 404
    assert human_rows(ws) == []


def test_a_locked_database_is_503_not_a_silent_loss(client, ws, auth, monkeypatch):
    import sqlite3

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ws.decisions, "append", locked)
    monkeypatch.setattr(ws.decisions, "undo", locked)
    r = client.post("/api/decisions", json={"sids": [1], "action": "idk"}, headers=auth)
    assert r.status_code == 503 and "nothing was saved" in r.json()["detail"]
    assert client.post("/api/undo", json={"sids": [1]}, headers=auth).status_code == 503


def test_undo_appends_and_reverts(client, ws, auth):
    proposed = int(ws.scores().sid[ws.scores().idk_proposed].iloc[0])
    client.post("/api/decisions", json={"sids": [proposed], "action": "keep"}, headers=auth)
    client.post("/api/decisions", json={"sids": [proposed], "action": "relabel", "label": 1}, headers=auth)
    r = client.post("/api/undo", json={"sids": [proposed]}, headers=auth).json()
    assert r["undone"][0] is not None
    assert r["state"]["status"] == [KEPT]  # back to the previous human decision
    r = client.post("/api/undo", json={"sids": [proposed]}, headers=auth).json()
    assert r["state"]["status"] == [PROPOSED]  # the auto proposal shows through again
    assert client.post("/api/undo", json={"sids": [proposed]}, headers=auth).json()["undone"] == [None]
    assert [x["action"] for x in human_rows(ws)] == ["keep", "relabel", "undo", "undo"]
    assert client.post("/api/undo", json={"sids": []}, headers=auth).status_code == 422


def test_state_blob_matches_the_store_after_random_decisions(client, ws, auth):
    """The fast effective-decision query agrees with the store's view and ``Workspace.curated``."""
    rng = np.random.default_rng(0)
    sids = rng.choice(600, 25, replace=False).tolist()
    for _ in range(120):
        sid = int(rng.choice(sids))
        op = rng.choice(["idk", "keep", "relabel", "undo", "undo", "auto"])
        if op == "undo":
            client.post("/api/undo", json={"sids": [sid]}, headers=auth)
        elif op == "auto":
            ws.decisions.append([sid], str(rng.choice(["idk", "keep"])), source="auto", author="greyzone")
        else:
            body = {"sids": [sid], "action": str(op)}
            if op == "relabel":
                body["label"] = int(rng.integers(10))
            assert client.post("/api/decisions", json=body, headers=auth).status_code == 200
    header, cols = decode(client.get("/api/state").content)
    assert header["last_id"] == int(ws.decisions.history().id.max())
    # expected: the human decision in force, else the auto one, else the original label (the store's view)
    labels = ws.samples().label.to_numpy()
    want, by = labels.copy(), np.full(len(labels), "original", dtype=object)
    for row in ws.decisions.in_force().sort_values("source").itertuples():  # 'auto' rows first, then 'human'
        want[row.sid] = {"idk": ws.idk_label, "relabel": row.label, "keep": labels[row.sid]}[row.action]
        by[row.sid] = row.source
    np.testing.assert_array_equal(cols["curated"], want)
    human = by == "human"
    assert (cols["status"][human] >= KEPT).all() and (cols["status"][~human] <= PROPOSED).all()
    eff = ws.decisions.in_force()
    auto_idk = set(eff.sid[(eff.source == "auto") & (eff.action == "idk")])
    auto_idk -= set(eff.sid[eff.source == "human"])
    assert set(np.flatnonzero(cols["status"] == PROPOSED)) == auto_idk
    st = ws.decisions.state(sids)
    np.testing.assert_array_equal(st.status, cols["status"][sids])
    np.testing.assert_array_equal(st.curated, cols["curated"][sids])


def test_a_human_keep_overrides_an_auto_proposal_in_the_store(client, ws, auth):
    sid = int(ws.scores().sid[ws.scores().idk_proposed].iloc[0])
    r = client.post("/api/decisions", json={"sids": [sid], "action": "keep"}, headers=auth).json()
    assert r["state"]["curated"] == [int(ws.samples().label[sid])]  # the app shows the kept label ...
    # ... and so must the export
    assert ws.decisions.curated().curated_label[sid] == int(ws.samples().label[sid])


def test_initial_state_shows_the_auto_proposals(client, ws):
    _, cols = decode(client.get("/api/state").content)
    proposed = ws.scores().idk_proposed.to_numpy()
    assert proposed.any()
    np.testing.assert_array_equal(cols["status"] == PROPOSED, proposed)
    assert (cols["status"][~proposed] == NONE).all()


def test_history_endpoint(client, ws, auth):
    for sid in (10, 11, 12):
        client.post("/api/decisions", json={"sids": [sid], "action": "idk"}, headers=auth)
    h = client.get("/api/decisions", params={"limit": 2, "source": "human"}).json()
    assert [r["sid"] for r in h["rows"]] == [12, 11] and h["human_rows"] == 3
    assert h["rows"][0]["split"] == "train" and h["rows"][0]["original_name"] == ws.label_name(
        int(ws.samples().label[12]))
    older = client.get("/api/decisions", params={"limit": 5, "source": "human", "before": h["rows"][1]["id"]})
    assert [r["sid"] for r in older.json()["rows"]] == [10]
    assert [r["sid"] for r in client.get("/api/decisions", params={"sid": 11}).json()["rows"]] == [11]
    assert client.get("/api/decisions/head").json()["last_id"] == h["last_id"]
    auto = client.get("/api/decisions", params={"source": "auto", "limit": 1000}).json()["rows"]
    assert len(auto) == int(ws.scores().idk_proposed.sum())
    for params, code in (({"limit": 0}, 422), ({"limit": 5000}, 422), ({"source": "robot"}, 422),
                         ({"sid": 600}, 404), ({"sid": "x"}, 422), ({"before": 0}, 422)):
        assert client.get("/api/decisions", params=params).status_code == code, params


def test_concurrent_writers_lose_nothing(client, ws, auth):
    """Eight 'tabs' post 25 decisions each at the same time: every one is acknowledged and stored."""
    acked: list[int] = []
    lock = threading.Lock()
    errors: list[str] = []

    def tab(t: int) -> None:
        for j in range(25):
            sid = t * 25 + j
            body = {"sids": [sid], "action": "relabel", "label": (t + j) % 10} if j % 3 == 0 else \
                {"sids": [sid], "action": "idk"}
            r = client.post("/api/decisions", json=body, headers=auth)
            if r.status_code != 200:
                errors.append(r.text)
                continue
            with lock:
                acked.extend(r.json()["ids"])

    threads = [threading.Thread(target=tab, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = human_rows(ws)
    assert sorted(acked) == [r["id"] for r in rows] and len(rows) == 200
    assert sorted(r["sid"] for r in rows) == list(range(200))


# ---------------------------------------------------------------------------------------------- export
def test_export_writes_the_curated_tree(client, ws, auth):
    client.post("/api/decisions", json={"sids": [0], "action": "idk"}, headers=auth)
    client.post("/api/decisions", json={"sids": [1], "action": "relabel", "label": 9}, headers=auth)
    r = client.post("/api/export", json={"include_proposals": True}, headers=auth)
    assert r.status_code == 200
    body = r.json()
    root = Path(body["path"])
    assert root == ws.path / "export"
    assert sum(sum(c.values()) for c in body["counts"].values()) == 600
    assert (root / "train" / "IDK" / "00000.png").is_file() and (root / "train" / "9" / "00001.png").is_file()
    assert body["decided_by"]["human"] == 2 and body["include_proposals"] is True
    s = ws.scores()
    auto_idk = ((s.split == "train") & s.idk_proposed & ~s.sid.isin([0, 1])).sum()
    assert body["counts"]["train"]["IDK"] == 1 + int(auto_idk)
    only_human = client.post("/api/export", json={"include_proposals": False}, headers=auth).json()
    assert only_human["counts"]["train"]["IDK"] == 1 and only_human["counts"]["test"]["IDK"] == 0
    assert client.post("/api/export", json={"include_proposals": "maybe"}, headers=auth).status_code == 422


def test_export_applies_auto_corrections_only_when_asked(client, ws, auth):
    fix = not_proposed(ws, 1)[0]
    label, index = int(ws.samples().label[fix]), int(ws.samples()["index"][fix])
    new = (label + 1) % 10
    ws.decisions.append([fix], "relabel", label=new, source="auto", author="greyzone")
    root = ws.path / "export"
    body = client.post("/api/export", json={}, headers=auth).json()
    assert body["apply_corrections"] is False and (root / "train" / "IDK" / f"{index:05d}.png").is_file()
    body = client.post("/api/export", json={"apply_corrections": True}, headers=auth).json()
    assert body["apply_corrections"] is True and (root / "train" / str(new) / f"{index:05d}.png").is_file()
    manifest = pd.read_csv(root / "manifest.csv", keep_default_na=False, dtype=str)
    assert manifest.suggested_label[fix] == str(new) and manifest.curated_label[fix] == str(new)


def test_export_refuses_to_run_twice_at_once(client, app, auth):
    app.state.gz.export_lock.acquire()
    try:
        assert client.post("/api/export", headers=auth).status_code == 409
    finally:
        app.state.gz.export_lock.release()


def test_a_workspace_without_a_stored_knn_graph_gets_one_when_the_app_opens_it(ws):
    """Workspaces made by greyzone 0.1.0 have no knn_indices/knn_distances: the app computes the graph the
    pipeline would have stored, saves it, and serves it."""
    from fastapi.testclient import TestClient

    from greyzone.app.server import create_app

    want = ws.arrays.load("knn_indices", mmap=False)
    for name in ("knn_indices", "knn_distances"):
        ws.arrays.path(name).unlink()
    with TestClient(create_app(ws, token=TOKEN), base_url="http://127.0.0.1") as c:
        got = [n["sid"] for n in c.get("/api/samples/5").json()["neighbours"]]
    np.testing.assert_array_equal(ws.arrays.load("knn_indices"), want)
    assert got == want[5].tolist()


# ---------------------------------------------------------------------------------------------- RGB images
def test_thumbnails_and_sprites_of_an_rgb_workspace_are_rgb_pngs(workspace_path):
    """An (N, H, W, 3) workspace (issue 10, item 2): its pixels, tinted here, come back as RGB PNGs."""
    from fastapi.testclient import TestClient

    from greyzone.app.server import create_app
    from greyzone.store.workspace import Workspace

    w = Workspace.open(workspace_path)
    grey = np.array(w.images())
    rgb = (grey[..., None].astype(np.uint16) * np.array([255, 128, 32]) // 255).astype(np.uint8)
    w.arrays.save("images", rgb)
    w.close()
    w = Workspace.open(workspace_path)
    try:
        with TestClient(create_app(w, token=TOKEN, author="tester"), base_url="http://127.0.0.1") as c:
            thumb = Image.open(io.BytesIO(c.get("/api/thumb/42").content))
            assert thumb.mode == "RGB" and np.array_equal(np.asarray(thumb), rgb[42])
            sprite = Image.open(io.BytesIO(c.get("/api/sprite", params={"sids": "3,4,5", "cols": 2}).content))
            s = np.asarray(sprite)
            assert sprite.mode == "RGB" and s.shape == (56, 56, 3)
            assert np.array_equal(s[:28, 28:], rgb[4]) and np.array_equal(s[28:, :28], rgb[5])
            assert not s[28:, 28:].any()  # the unused tile is black
            assert c.get("/api/meta").json()["image_shape"] == [28, 28, 3]
    finally:
        w.close()
