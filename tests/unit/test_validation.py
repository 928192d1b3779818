"""greyzone.validation: each check accepts good input and rejects bad input naming the value (one format)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greyzone.errors import GreyzoneError, ParameterError, ParameterTypeError
from greyzone.validation import (
    as_binary,
    as_column,
    as_float_matrix,
    as_images,
    as_int_array,
    as_labels,
    as_numeric_1d,
    as_probs,
    as_probs_labels,
    as_unit_interval,
    check_bool,
    check_float,
    check_fraction,
    check_instance,
    check_int,
    check_k,
    check_non_negative_int,
    check_option,
    check_positive_int,
    check_same_length,
    check_seed,
    check_shape,
    interval,
)


def test_errors_are_greyzone_errors_and_builtin_errors():
    assert issubclass(ParameterError, GreyzoneError) and issubclass(ParameterError, ValueError)
    assert issubclass(ParameterTypeError, GreyzoneError) and issubclass(ParameterTypeError, TypeError)
    with pytest.raises(ValueError):
        check_positive_int(0, "k")
    with pytest.raises(TypeError):
        check_positive_int("3", "k")


# --------------------------------------------------------------------------------------------- scalars
@pytest.mark.parametrize(
    ("low", "high", "closed", "text"),
    [(1, None, "both", "[1, inf)"), (None, None, "both", "(-inf, inf)"), (0, 1, "right", "(0, 1]"),
     (0, 5, "left", "[0, 5)"), (0, 1, "neither", "(0, 1)")],
)
def test_interval_text(low, high, closed, text):
    assert interval(low, high, closed) == text


def test_interval_rejects_an_unknown_closed():
    with pytest.raises(ParameterError, match=r"closed must be one of \('both', 'left', 'right', 'neither'\), "
                                             r"got 'open'"):
        interval(0, 1, "open")


def test_check_int_accepts_ints_and_numpy_ints_in_the_interval():
    assert check_int(3, "n", low=1) == 3
    out = check_int(np.int64(4), "n", low=0, high=4)
    assert out == 4 and type(out) is int
    assert check_int(-7, "n") == -7


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "message"),
    [
        (0, {"low": 1}, ParameterError, "k must be an int in [1, inf), got 0"),
        (4, {"low": 1, "high": 4, "closed": "left"}, ParameterError, "k must be an int in [1, 4), got 4"),
        (1.5, {"low": 1}, ParameterTypeError, "k must be an int in [1, inf), got 1.5 (float)"),
        (True, {"low": 0}, ParameterTypeError, "k must be an int in [0, inf), got True (bool)"),
        (np.bool_(True), {}, ParameterTypeError, "k must be an int in (-inf, inf), got True (bool)"),
        ("3", {}, ParameterTypeError, "k must be an int in (-inf, inf), got '3' (str)"),
        (9, {"high": 5, "note": "there are 5 samples"}, ParameterError,
         "k must be an int in (-inf, 5], got 9; there are 5 samples"),
    ],
)
def test_check_int_rejects(value, kwargs, error, message):
    with pytest.raises(error) as info:
        check_int(value, "k", **kwargs)
    assert str(info.value) == message


def test_positive_non_negative_and_seed():
    assert check_positive_int(1, "n") == 1 and check_non_negative_int(0, "n") == 0 and check_seed(0) == 0
    with pytest.raises(ParameterError, match=r"n must be an int in \[1, inf\), got 0"):
        check_positive_int(0, "n")
    with pytest.raises(ParameterError, match=r"n must be an int in \[0, inf\), got -1"):
        check_non_negative_int(-1, "n")
    with pytest.raises(ParameterError, match=r"seed must be an int in \[0, inf\), got -3"):
        check_seed(-3)
    with pytest.raises(ParameterError, match=r"random_state must be an int in \[0, 2147483648\), got 21"):
        check_seed(2**31, "random_state", high=2**31)


def test_check_float_and_fraction():
    assert check_float(2, "lr", low=0, closed="neither") == 2.0
    assert check_fraction(np.float32(0.5), "p") == 0.5
    assert check_fraction(1, "p", closed="right") == 1.0
    with pytest.raises(ParameterError, match=r"^lr must be a number in \(0, inf\), got 0$"):
        check_float(0, "lr", low=0, closed="neither")
    with pytest.raises(ParameterError, match=r"p must be a number in \[0, 1\], got nan"):
        check_fraction(float("nan"), "p")
    with pytest.raises(ParameterError, match=r"coverage must be a number in \(0, 1\], got 0.0"):
        check_fraction(0.0, "coverage", closed="right")
    with pytest.raises(ParameterTypeError, match=r"p must be a number in \[0, 1\], got '0.5' \(str\)"):
        check_fraction("0.5", "p")
    with pytest.raises(ParameterTypeError, match=r"got False \(bool\)"):
        check_float(False, "p")


def test_check_option():
    assert check_option("sqrt", "idk_weighting", ("sqrt", "inverse", "none")) == "sqrt"
    with pytest.raises(ParameterError) as info:
        check_option("x", "idk_weighting", ["sqrt", "inverse", "none"])
    assert str(info.value) == "idk_weighting must be one of ('sqrt', 'inverse', 'none'), got 'x'"
    with pytest.raises(ParameterError, match=r"metric must be one of \('cosine',\), got array"):
        check_option(np.array([1, 2]), "metric", ("cosine",))


def test_check_bool_and_instance():
    assert check_bool(np.bool_(False), "exact") is False
    assert check_bool(None, "exact", allow_none=True) is None
    with pytest.raises(ParameterTypeError, match=r"exact must be True, False or None, got 'yes' \(str\)"):
        check_bool("yes", "exact", allow_none=True)
    with pytest.raises(ParameterTypeError, match=r"exact must be True or False, got 1 \(int\)"):
        check_bool(1, "exact")
    frame = pd.DataFrame()
    assert check_instance(frame, "scores", pd.DataFrame) is frame
    with pytest.raises(ParameterTypeError, match="scores must be a DataFrame, got a dict"):
        check_instance({}, "scores", pd.DataFrame)
    with pytest.raises(ParameterTypeError, match="x must be an int or a str, got a float"):
        check_instance(1.0, "x", (int, str))


def test_check_k_explains_the_bound():
    assert check_k(3, 4) == 3
    with pytest.raises(ParameterError) as info:
        check_k(4, 4)
    assert str(info.value) == ("k must be an int in [1, 4), got 4; each of the 4 samples has only 3 others "
                               "to be neighbours")


# --------------------------------------------------------------------------------------------- arrays
def test_check_shape_and_same_length():
    assert check_shape([1, 2], "kind", (2,)).shape == (2,)
    with pytest.raises(ParameterError, match=r"kind must be of shape \(3,\), got shape \(2,\)"):
        check_shape([1, 2], "kind", (3,))
    assert check_same_length(a=[1, 2], b=np.zeros(2)) == 2
    with pytest.raises(ParameterError) as info:
        check_same_length(errors=[0, 1], confidence=[0.5])
    assert str(info.value) == ("errors, confidence must be of the same length (one entry per sample), got "
                               "errors has 2, confidence has 1")


def test_as_float_matrix():
    out = as_float_matrix([[1, 2], [3, 4]], "x", dtype=np.float32)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert as_float_matrix(np.zeros((0, 3)), "x", min_len=0).shape == (0, 3)
    with pytest.raises(ParameterTypeError, match="x must be a real-valued .* array, got dtype bool"):
        as_float_matrix(np.ones((2, 2), bool), "x")
    with pytest.raises(ParameterError, match=r"x must be 2-D, got shape \(3,\)"):
        as_float_matrix([1, 2, 3], "x")
    with pytest.raises(ParameterError, match=r"x must be non-empty, got shape \(0, 3\)"):
        as_float_matrix(np.zeros((0, 3)), "x")
    with pytest.raises(ParameterError, match=r"x must be at least 3 rows long, got shape \(2, 2\)"):
        as_float_matrix(np.zeros((2, 2)), "x", min_len=3)
    with pytest.raises(ParameterError, match=r"x must be a matrix with at least 3 columns, got shape \(2, 2"):
        as_float_matrix(np.zeros((2, 2)), "x", min_cols=3)
    with pytest.raises(ParameterError, match=r"x must be finite, got x\[1, 0\] = inf \(and 1 more\)"):
        as_float_matrix([[0.0, 1.0], [np.inf, np.nan]], "x")
    with pytest.raises(ParameterError, match=r"x must be in \[0, 1\], got x\[0, 1\] = 2.0"):
        as_float_matrix([[0.0, 2.0]], "x", low=0, high=1)
    with pytest.raises(ParameterTypeError, match="x must be array-like, got list"):
        as_float_matrix([[1, 2], [3]], "x")


def test_as_probs():
    p = as_probs([[0.25, 0.75], [1, 0]])
    assert p.dtype == np.float64
    with pytest.raises(ParameterError, match=r"probs must be a matrix with at least 2 columns, got shape"):
        as_probs([[1.0], [1.0]])
    with pytest.raises(ParameterError, match=r"probs must be in \[0, 1\], got probs\[0, 0\] = 1.2"):
        as_probs([[1.2, -0.2]])
    with pytest.raises(ParameterError) as info:
        as_probs([[0.5, 0.5], [0.5, 0.4]])
    assert str(info.value) == ("each row of probs must be a distribution summing to 1 (within 0.001), got "
                               "row 1 summing to 0.9 (1 of 2 rows off); pass softmax probabilities, not "
                               "logits")


def test_as_int_array_and_labels():
    idx = as_int_array(np.array([[0, 2], [1, 0]], np.int32), "idx", ndim=2, low=0, high=3)
    assert idx.dtype == np.int64
    with pytest.raises(ParameterError, match=r"idx must be in \[0, 3\), got idx\[1, 0\] = 3"):
        as_int_array([[0, 1], [3, 0]], "idx", ndim=2, low=0, high=3)
    labels = as_labels([0, 2, 1], n=3, n_classes=3)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 2, 1]
    assert as_labels(np.zeros(0, np.int32), n=0).shape == (0,)
    with pytest.raises(ParameterTypeError, match="labels must be an integer array, got dtype float64"):
        as_labels([0.0, 1.0])
    with pytest.raises(ParameterTypeError, match="labels must be an integer array, got dtype bool"):
        as_labels([True, False])
    with pytest.raises(ParameterError, match=r"labels must be 1-D, got shape \(1, 2\)"):
        as_labels([[0, 1]])
    with pytest.raises(ParameterError, match=r"labels must be of length 3 \(one entry per sample\), got 2"):
        as_labels([0, 1], n=3)
    with pytest.raises(ParameterError, match=r"y_true must be non-empty, got shape \(0,\)"):
        as_labels(np.zeros(0, int), "y_true", min_len=1)
    with pytest.raises(ParameterError, match=r"labels must be in \[0, inf\), got labels\[2\] = -1"):
        as_labels([0, 1, -1])
    with pytest.raises(ParameterError, match=r"y_pred must be in \[0, 11\), got y_pred\[1\] = 11"):
        as_labels([0, 11], "y_pred", n_classes=11)
    with pytest.raises(ParameterError) as info:
        as_labels([0, 9, 1], n_classes=9, columns_of="probs")
    assert str(info.value) == "probs has 9 columns but labels go up to 9 (labels[1])"


def test_as_probs_labels():
    p, y = as_probs_labels(np.full((2, 3), 1 / 3), [2, 0])
    assert p.shape == (2, 3) and y.tolist() == [2, 0]
    with pytest.raises(ParameterError, match="probs has 3 columns but labels go up to 3"):
        as_probs_labels(np.full((2, 3), 1 / 3), [3, 0])


def test_as_numeric_1d_and_unit_interval_and_binary():
    assert as_numeric_1d([True, False], "x").tolist() == [1.0, 0.0]
    assert as_numeric_1d([1, np.inf], "x").tolist() == [1.0, np.inf]
    assert np.isnan(as_numeric_1d([np.nan, 1.0], "x", allow_nan=True, low=0)[0])
    with pytest.raises(ParameterTypeError, match="x must be a numeric or bool array, got dtype <U1"):
        as_numeric_1d(["a"], "x")
    with pytest.raises(ParameterError, match=r"x must be non-empty, got shape \(0,\)"):
        as_numeric_1d([], "x")
    with pytest.raises(ParameterError, match=r"x must be free of NaN, got x\[1\] = nan"):
        as_numeric_1d([0.0, np.nan], "x")
    with pytest.raises(ParameterError, match=r"x must be finite, got x\[0\] = -inf"):
        as_numeric_1d([-np.inf], "x", allow_inf=False)
    with pytest.raises(ParameterError, match=r"x must be in \[0, inf\), got x\[1\] = -2.0"):
        as_numeric_1d([1, -2], "x", low=0)
    assert as_unit_interval([0, 0.5, 1], "errors").tolist() == [0, 0.5, 1]
    with pytest.raises(ParameterError, match=r"errors must be in \[0, 1\], got errors\[1\] = 2.0"):
        as_unit_interval([0, 2], "errors")
    assert as_binary([0, 1, True], "correct").dtype == bool
    with pytest.raises(ParameterError, match=r"correct must be bool or 0/1, got correct\[2\] = 0.5"):
        as_binary([0, 1, 0.5], "correct")


def test_as_images():
    imgs = np.zeros((2, 4, 4), np.uint8)
    assert as_images(imgs) is imgs
    rgb = np.zeros((2, 4, 4, 3), np.uint8)
    assert as_images(rgb) is rgb
    with pytest.raises(ParameterTypeError, match=r"images must be an \(N, H, W\) grey or \(N, H, W, 3\) RGB "
                                                 r"uint8 array, got dtype f"):
        as_images(imgs.astype(np.float32))
    with pytest.raises(ParameterError, match=r"ood_images must be \(N, H, W\) grey .*, got shape \(2, 16\)"):
        as_images(imgs.reshape(2, 16), "ood_images")
    with pytest.raises(ParameterError, match=r"got shape \(2, 4, 4, 4\)"):
        as_images(np.zeros((2, 4, 4, 4), np.uint8))


def test_as_column():
    t = pd.DataFrame({"p_label": [0.5, 1.0], "knn": [np.nan, 0.2], "s": ["a", "b"]})
    assert as_column(t, "p_label", low=0, high=1).tolist() == [0.5, 1.0]
    assert np.isnan(as_column(t, "knn", low=0, high=1, allow_nan=True)[0])
    with pytest.raises(ParameterError, match=r"scores must be a table with a column 'x', got columns \['p_"):
        as_column(t, "x")
    with pytest.raises(ParameterError, match=r"scores\['knn'\] must be free of NaN, got scores\['knn'\]\["):
        as_column(t, "knn")
    with pytest.raises(ParameterError, match=r"scores\['p_label'\] must be in \[0, 0.9\], got .*\[1\] = 1.0"):
        as_column(t, "p_label", low=0, high=0.9)
    with pytest.raises(ParameterTypeError, match=r"scores\['s'\] must be numeric, got dtype (object|str)"):
        as_column(t, "s")
    with pytest.raises(ParameterTypeError, match="table must be a DataFrame, got a dict"):
        as_column({"p_label": [0.5]}, "p_label", frame_name="table")
