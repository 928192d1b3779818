"""The binary columnar format: exact round trip of every dtype, and the uint16 quantisation of map
coordinates (error ≤ half a step, NaN kept) that ``/api/points`` uses."""

from __future__ import annotations

import numpy as np
import pytest

from greyzone.app.columnar import NAN_CODE, decode, dequantise, encode, quantise


def test_every_dtype_round_trips_exactly():
    rng = np.random.default_rng(0)
    cols = {"f": rng.normal(size=13).astype(np.float32), "i": rng.integers(-9, 9, 13).astype(np.int32),
            "h": rng.integers(-9, 9, 13).astype(np.int16), "q": rng.integers(0, 65535, 13).astype(np.uint16),
            "b": rng.integers(0, 2, 13).astype(np.uint8)}
    header, out = decode(encode(cols, note="x"))
    assert header["n"] == 13 and header["note"] == "x"
    for name, arr in cols.items():
        assert out[name].dtype == arr.dtype and np.array_equal(out[name], arr)


def test_quantise_is_within_half_a_step_and_keeps_nan():
    rng = np.random.default_rng(1)
    v = (rng.normal(size=10_000) * 37 + 5).astype(np.float32)
    v[[3, 99]] = np.nan
    v[7] = np.inf
    codes, lo, step = quantise(v)
    assert codes.dtype == np.uint16 and codes.max() == NAN_CODE
    assert codes[codes < NAN_CODE].max() == NAN_CODE - 1
    back = dequantise(codes, lo, step)
    finite = np.isfinite(v)
    assert np.isnan(back[~finite]).all() and np.isfinite(back[finite]).all()
    assert np.abs(back[finite] - v[finite]).max() <= step / 2 * 1.001 + 1e-6
    assert lo == pytest.approx(float(np.nanmin(v[finite])))
    header, out = decode(encode({"x": codes}, quantised={"x": [lo, step]}))  # travels as plain uint16
    assert header["quantised"] == {"x": [lo, step]} and np.array_equal(out["x"], codes)


@pytest.mark.parametrize("values", [np.full(4, np.nan, np.float32), np.full(4, 2.5, np.float32),
                                    np.zeros(0, np.float32)])
def test_quantise_degenerate_columns(values):
    codes, lo, step = quantise(values)
    back = dequantise(codes, lo, step)
    assert step == 1.0 and np.array_equal(np.isnan(back), np.isnan(values))
    assert np.allclose(back[~np.isnan(values)], values[~np.isnan(values)])


def test_points_carry_the_map_coordinates_and_split(client, ws):
    """``/api/points``: the quantised coordinates of every projection with values and the split codes,
    small (5 bytes a point with PCA only) and revalidated by ETag like ``/api/columns``."""
    r = client.get("/api/points")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    header, cols = decode(r.content)
    scores = ws.scores()
    assert header["n"] == len(scores) and header["projections"]["pca"] is True
    for name in ("pca_x", "pca_y"):
        lo, step = header["quantised"][name]
        back = dequantise(cols[name], lo, step)
        assert np.abs(back - scores[name].to_numpy(np.float32)).max() <= step / 2 * 1.001 + 1e-6
    assert [header["categories"]["split"][c] for c in cols["split"]] == scores.split.astype(str).tolist()
    assert client.get("/api/points", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
