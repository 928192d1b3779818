"""``greyzone run``'s proposal step: auto decisions are written only where the three-way proposal changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greyzone.pipeline import _record_proposals
from greyzone.store.workspace import Workspace
from tests.unit.test_decisions import small_dataset

POLICY = "test-policy"


@pytest.fixture
def ws(tmp_path):
    w = Workspace.create(tmp_path / "ws", small_dataset())
    for _ in range(4):  # runs 1..4, which the auto rows refer to
        w.runs.start({}, {})
    yield w
    w.close()


def table(actions: list[str], suggested: list[int] | None = None) -> pd.DataFrame:
    n = len(actions)
    return pd.DataFrame({"sid": np.arange(n), "idk_proposed": [a == "idk" for a in actions],
                         "suggested_label": suggested if suggested is not None else [0] * n,
                         "proposed_action": actions})


def auto_rows(ws) -> list[tuple]:
    d = ws.decisions.history(source="auto").sort_values("id")
    return [(r.sid, r.action, None if pd.isna(r.label) else int(r.label), r.run_id) for r in d.itertuples()]


def test_only_changed_proposals_are_written(ws):
    _record_proposals(ws, table(["idk", "relabel", "", "relabel", "", ""], [0, 2, 0, 0, 0, 0]), 1, POLICY)
    assert auto_rows(ws) == [(0, "idk", None, 1), (3, "relabel", 0, 1), (1, "relabel", 2, 1)]
    reasons = dict(zip(ws.decisions.in_force(source="auto").sid, ws.decisions.in_force(source="auto").reason,
                       strict=True))
    assert reasons[0] == POLICY and reasons[1] == f"{POLICY}; confident correction → 2"

    _record_proposals(ws, table(["idk", "relabel", "", "relabel", "", ""], [0, 2, 0, 0, 0, 0]), 2, POLICY)
    assert len(auto_rows(ws)) == 3  # the same proposals again: nothing new

    # sid 0 idk → relabel, sid 1 relabel to another class, sid 3 dropped, sid 4 new idk
    _record_proposals(ws, table(["relabel", "relabel", "", "", "idk", ""], [1, 0, 0, 0, 0, 0]), 3, POLICY)
    assert auto_rows(ws)[3:] == [(4, "idk", None, 3), (1, "relabel", 0, 3), (0, "relabel", 1, 3),
                                 (3, "keep", None, 3)]
    st = ws.decisions.state()
    assert st.suggested.tolist() == [1, 0, -1, -1, 3, -1]
    assert ws.decisions.state(apply_corrections=True).curated.tolist() == [1, 0, 2, 0, 3, 2]

    _record_proposals(ws, table(["", "", "", "", "", ""]), 4, POLICY)
    assert ws.decisions.state().suggested.tolist() == [-1] * 6  # every proposal withdrawn


def test_an_unknown_proposed_action_is_an_error(ws):
    with pytest.raises(ValueError, match=r"got \['delete'\]"):
        _record_proposals(ws, table(["delete", "", "", "", "", ""]), 1, POLICY)
    assert ws.decisions.count() == 0
