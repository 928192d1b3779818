"""idk_score / idk_proposed on hand-made score tables, and the curation benchmark's per-kind metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from greyzone.benchmark.curation import correction_accuracy, evaluate_planted
from greyzone.cli.tables import print_curation
from greyzone.scores.idk import idk_proposed, idk_score, label_support

LN10 = math.log(10)


def _table(p, cart=None, knn=None, h=None) -> pd.DataFrame:
    p = np.asarray(p, float)
    d = {"p_label": p, "hardness": np.zeros_like(p) if h is None else np.asarray(h, float)}
    if cart is not None:
        d["cart_confidence"] = np.asarray(cart, float)
    if knn is not None:
        d["knn_agreement"] = np.asarray(knn, float)
    return pd.DataFrame(d)


# --------------------------------------------------------------------------------------------- idk_score
def test_hand_computed_scores():
    t = _table(
        p=[0.2, 0.2, 0.9, 1.0],
        cart=[0.4, 0.4, np.nan, 1.0],
        knn=[0.3, 0.3, 0.7, 1.0],
        h=[0.0, LN10, LN10 / 2, 0.0],
    )
    # support: mean(.2,.4,.3)=.3 twice; mean(.9,.7)=.8 (cart missing, e.g. the test split); 1
    np.testing.assert_allclose(label_support(t), [0.3, 0.3, 0.8, 1.0])
    # 1 − support·(1 − H/ln 10): .7; 1 − .3·0 = 1; 1 − .8·.5 = .6; 0
    np.testing.assert_allclose(idk_score(t, n_classes=10), [0.7, 1.0, 0.6, 0.0])
    # with entropy_weight ½: 1 − support·(1 − ½·H/ln 10): .7; 1 − .3·.5 = .85; 1 − .8·.75 = .4; 0
    np.testing.assert_allclose(idk_score(t, n_classes=10, entropy_weight=0.5), [0.7, 0.85, 0.4, 0.0])


def test_missing_views_fall_back_to_p_label():
    t = _table(p=[0.1, 0.6], h=[LN10, 0.0])
    np.testing.assert_allclose(idk_score(t, n_classes=10), [1.0, 0.4])  # a uniform prediction: no clarity
    np.testing.assert_allclose(idk_score(t, n_classes=10, entropy_weight=0.5), [1 - 0.1 * 0.5, 0.4])
    np.testing.assert_allclose(idk_score(t, n_classes=10, entropy_weight=0.0), [0.9, 0.4])


def test_confident_errors_keep_their_order():
    """The former clip(1 − p + ¼·H/log C, 0, 1) tied these at 1; the product form keeps them apart."""
    t = _table(
        p=[1e-4, 1e-3, 1e-2, 0.05], cart=[0.01, 0.01, 0.01, 0.01], knn=[0, 0, 0, 0], h=[0.01, 0.1, 0.5, 1.0]
    )
    s = idk_score(t, n_classes=10)
    assert (s < 1).all() and (np.diff(s) < 0).all()


def test_n_classes_from_attrs_and_inferred():
    t = _table(p=[0.5], h=[math.log(3) / 2])
    t.attrs["n_classes"] = 3
    assert idk_score(t) == pytest.approx([1 - 0.5 * 0.5])
    t2 = _table(p=[0.5], h=[math.log(3) / 2]).assign(label=[2], pred=[1])  # smallest C consistent: 3
    assert idk_score(t2) == pytest.approx([0.75])


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0, 1),
    c=st.floats(0, 1) | st.just(math.nan),
    k=st.floats(0, 1),
    frac=st.floats(0, 1),
    dp=st.floats(0.001, 1),
    dh=st.floats(0.001, 1),
)
def test_range_and_monotonicity(p, c, k, frac, dp, dh):
    base = _table(p=[p], cart=[c], knn=[k], h=[frac * LN10])
    s = idk_score(base, n_classes=10)[0]
    assert 0.0 <= s <= 1.0
    lower_p = _table(p=[max(0.0, p - dp)], cart=[c], knn=[k], h=[frac * LN10])
    assert idk_score(lower_p, n_classes=10)[0] >= s - 1e-12  # less support, at least as doubtful
    more_h = _table(p=[p], cart=[c], knn=[k], h=[min(1.0, frac + dh) * LN10])
    assert idk_score(more_h, n_classes=10)[0] >= s - 1e-12  # more entropy, at least as doubtful


@pytest.mark.parametrize(
    "table, match",
    [
        (pd.DataFrame({"hardness": [0.0]}), "scores must be a table with a column 'p_label', got columns"),
        (_table(p=[1.2]), r"p_label.*\[0, 1\].*1.2"),
        (_table(p=[np.nan]), r"scores\['p_label'\] must be free of NaN, got scores\['p_label'\]\[0\] = nan"),
        (_table(p=[0.5], knn=[-0.1]), "knn_agreement.*-0.1"),
        (_table(p=[0.5], h=[-1.0]), "hardness"),
        (pd.DataFrame({"p_label": [0.5]}), "scores must be a table with a column 'hardness'"),
    ],
)
def test_bad_tables_name_the_problem(table, match):
    with pytest.raises(ValueError, match=match):
        idk_score(table, n_classes=10)


def test_bad_arguments():
    t = _table(p=[0.5])
    with pytest.raises(ValueError, match="entropy_weight"):
        idk_score(t, n_classes=10, entropy_weight=1.5)
    with pytest.raises(ValueError, match="n_classes"):
        idk_score(t, n_classes=1)
    with pytest.raises(TypeError, match="DataFrame"):
        idk_score({"p_label": [0.5]}, n_classes=10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="numeric"):
        idk_score(pd.DataFrame({"p_label": ["a"], "hardness": [0.0]}), n_classes=10)


# --------------------------------------------------------------------------------------------- idk_proposed
def _proposal_table(p, cart, knn):
    t = _table(p=p, cart=cart, knn=knn)
    t["idk_score"] = idk_score(t, n_classes=10)
    return t


def test_proposes_only_when_every_view_doubts():
    t = _proposal_table(
        p=[0.1, 0.1, 0.1, 0.4, 0.9, 0.3],
        cart=[0.2, 0.6, 0.2, np.nan, 0.1, 0.49],
        knn=[0.3, 0.3, 0.5, 0.2, 0.0, 0.4],
    )
    # row 1: training dynamics support the label; row 2: half the neighbours agree (not < 0.5);
    # row 3: cart missing, the two other views doubt; row 4: the held-out model is confident
    np.testing.assert_array_equal(idk_proposed(t, rate_cap=1.0), [True, False, False, True, False, True])


def test_cap_keeps_the_highest_idk_scores():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.45, 200)
    t = _proposal_table(p=p, cart=np.full(200, 0.1), knn=np.full(200, 0.1))
    prop = idk_proposed(t, rate_cap=0.05)
    assert prop.sum() == 10
    assert t.idk_score[prop].min() >= t.idk_score[~prop].max()
    assert idk_proposed(t, rate_cap=0.0).sum() == 0
    assert idk_proposed(t, rate_cap=0.29).sum() == 58  # floor(0.29 · 200) without float round-down


def test_cap_does_not_bind_below_it():
    t = _proposal_table(p=[0.1, 0.9, 0.9, 0.9], cart=[0.1, 0.9, 0.9, 0.9], knn=[0.1, 1, 1, 1])
    np.testing.assert_array_equal(idk_proposed(t, rate_cap=0.5), [True, False, False, False])


def test_proposal_bad_arguments():
    t = _proposal_table(p=[0.1], cart=[0.1], knn=[0.1])
    with pytest.raises(ValueError, match="rate_cap"):
        idk_proposed(t, rate_cap=2)
    with pytest.raises(ValueError, match="threshold"):
        idk_proposed(t, threshold=0)
    t2 = _proposal_table(p=[0.1, 0.2], cart=[0.1, 0.1], knn=[0.1, 0.1]).drop(columns="idk_score")
    with pytest.raises(ValueError, match="scores must be a table with a column 'idk_score', got columns"):
        idk_proposed(t2, rate_cap=0.5)


def test_empty_table():
    t = _proposal_table(p=[], cart=[], knn=[])
    assert idk_score(t, n_classes=10).shape == (0,) and idk_proposed(t).shape == (0,)


# ------------------------------------------------------------------------------------ benchmark metrics
def test_evaluate_planted_per_kind():
    kind = np.array(["clean"] * 6 + ["flip_uniform", "flip_uniform", "blend", "ood"])
    n = len(kind)
    perfect = (kind != "clean").astype(float)
    t = pd.DataFrame(
        {
            "idk_score": perfect,
            "p_label": 1 - perfect,
            "mistakenness": perfect,
            "hardness": perfect,
            "aum": -perfect,
            "label_issue": kind == "flip_uniform",
            "cart_confidence": 1 - perfect,
            "knn_agreement": 1 - perfect,
            "idk_proposed": np.r_[[True], [False] * 5, [True, True, False, False]],
        }
    )
    assert len(t) == n
    out = evaluate_planted(t, kind)
    rank = {(r["method"], r["kind"]): r for r in out["ranking"]}
    assert rank["idk_score", "all"]["auroc"] == 1.0 and rank["idk_score", "blend"]["ap"] == 1.0
    assert rank["idk_score", "flip_pair"]["auroc"] is None  # no planted sample of that kind
    flags = {(r["method"], r["kind"]): r for r in out["flags"]}
    # idk_proposed on flip_uniform ∪ clean: 2 TP, 1 FP (a clean row), 0 FN
    assert flags["idk_proposed", "flip_uniform"]["precision"] == pytest.approx(0.6667, abs=1e-4)
    assert flags["idk_proposed", "flip_uniform"]["recall"] == 1.0
    assert flags["idk_proposed", "blend"]["recall"] == 0.0
    # cleanlab's flag is exactly the flips: precision 1 on every kind it fires on, recall 2/4 overall
    assert flags["label_issue (cleanlab)", "all"]["recall"] == 0.5
    assert flags["label_issue (cleanlab)", "all"]["precision"] == 1.0
    with pytest.raises(ValueError, match=r"kind must hold 'clean' or one of .*, got unknown values \['dirty"):
        evaluate_planted(t, np.array(["dirty"] * n))
    with pytest.raises(ValueError, match=r"kind must be of shape \(10,\), got shape \(3,\)"):
        evaluate_planted(t, kind[:3])

    # the console tables of a bench_curation result built from it
    result = {"config": {"seed": 0, "folds": 2, "epochs": 1}, "policy": "test-policy",
              "scenarios": {"tiny": {"counts": {"clean": 6, "flip_uniform": 2, "blend": 1, "ood": 1},
                                     "n_train": n, "wall_s": 1.0, **out}}}
    console = Console(record=True, width=250)
    print_curation(result, console)
    text = console.export_text()
    assert "tiny: 10 train samples, planted flip_uniform 2, blend 1, ood 1" in text
    assert "1.000 / 1.000" in text and "idk_proposed" in text and "policy: test-policy" in text


def test_proposed_action_relabels_only_when_model_and_neighbours_agree():
    import numpy as np
    import pandas as pd

    from greyzone.scores.idk import proposed_action

    t = pd.DataFrame({
        "idk_proposed": [True, True, True, True, False],
        "label": [0, 0, 0, 0, 0],
        "suggested_label": [3, 3, 3, 0, 3],
        "confidence": [0.95, 0.6, 0.95, 0.95, 0.99],
    })
    share = np.array([0.8, 0.8, 0.2, 0.9, 1.0])
    # agree → relabel; weak model → idk; neighbours disagree → idk; suggests its own label → idk; unproposed
    assert proposed_action(t, share).tolist() == ["relabel", "idk", "idk", "idk", ""]


def test_correction_accuracy_counts_relabels_on_flips():
    kind = np.array(["clean", "flip_uniform", "flip_pair", "flip_pair", "blend"])
    t = pd.DataFrame({
        "proposed_action": ["relabel", "relabel", "relabel", "idk", "relabel"],
        "suggested_label": [3, 1, 9, 4, 2],
    })
    true = np.array([5, 1, 4, 4, 2])  # row 1 suggests its true label, row 2 not; rows 0, 4 are no flip
    out = correction_accuracy(t, kind, true)
    assert out == {"n_relabel": 4, "n_on_flips": 2, "n_true_label": 1, "true_label_share": 0.5}
    none = correction_accuracy(t.assign(proposed_action=""), kind, true)
    assert none["n_on_flips"] == 0 and none["true_label_share"] is None


def test_score_table_passes_the_entropy_weight():
    from greyzone.config import RunConfig
    from greyzone.errors import ParameterError
    from greyzone.scores.table import score_table

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=40)
    labels, emb = rng.integers(0, 3, 40), rng.normal(size=(40, 4))
    full = score_table(probs, labels, emb)  # default: noisy-OR, weight 1
    half = score_table(probs, labels, emb, entropy_weight=0.5)
    np.testing.assert_allclose(full.idk_score, idk_score(full, n_classes=3, entropy_weight=1.0))
    np.testing.assert_allclose(half.idk_score, idk_score(half, n_classes=3, entropy_weight=0.5))
    assert (full.idk_score >= half.idk_score - 1e-12).all() and (full.idk_score > half.idk_score).any()
    with pytest.raises(ParameterError, match="entropy_weight"):
        RunConfig(entropy_weight=1.5)
