"""The decision log: the SQL view plus :func:`resolve` against a plain-Python reading of the log, on random
logs (hypothesis), and the log's own guarantees (validation, one transaction, snapshots)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greyzone.errors import GreyzoneError, ParameterError, UnknownSampleError
from greyzone.sources.dataset import Dataset, Split
from greyzone.store.decisions import STATUS_NAMES, Status
from greyzone.store.workspace import Workspace

N, C = 6, 3


def small_dataset() -> Dataset:
    labels = np.arange(N) % C
    split = Split("train", np.zeros((N, 4, 4), np.uint8), labels.astype(np.int64), np.arange(N))
    return Dataset("tiny", tuple(str(c) for c in range(C)), {"train": split}, source="test")


@pytest.fixture
def ws(tmp_path):
    w = Workspace.create(tmp_path / "ws", small_dataset())
    yield w
    w.close()


def reference(log: list[dict], original: np.ndarray, include_proposals: bool,
              apply_corrections: bool = False) -> tuple[list, list, list, list]:
    """Read the log the slow, obvious way: replay it row by row."""
    stacks: dict[tuple[int, str], list[dict]] = {}
    for row in log:
        key = (row["sid"], row["source"])
        if row["action"] == "undo":
            stacks[key] = [r for r in stacks.get(key, []) if r["id"] != row["undoes"]]
        else:
            stacks.setdefault(key, []).append(row)
    n = len(original)
    curated, status, by, suggested = list(original), [0] * n, ["original"] * n, [-1] * n
    for sid in range(n):
        if rows := stacks.get((sid, "auto")):
            suggested[sid] = {"idk": C, "relabel": rows[-1]["label"], "keep": -1}[rows[-1]["action"]]
    for source in ("auto", "human") if include_proposals else ("human",):
        for sid in range(n):
            rows = stacks.get((sid, source))
            if not rows:
                continue
            top = rows[-1]
            by[sid] = source
            if source == "auto":
                correction = top["label"] if apply_corrections else C  # by default every proposal is IDK
                curated[sid] = {"idk": C, "relabel": correction, "keep": original[sid]}[top["action"]]
                auto = {"idk": Status.PROPOSED, "relabel": Status.PROPOSED_RELABEL, "keep": Status.UNDECIDED}
                status[sid] = auto[top["action"]]
            else:
                curated[sid] = {"idk": C, "relabel": top["label"], "keep": original[sid]}[top["action"]]
                human = {"idk": Status.IDK, "relabel": Status.RELABELLED, "keep": Status.KEPT}
                status[sid] = human[top["action"]]
    return curated, status, by, suggested


operation = st.tuples(
    st.sampled_from(["idk", "keep", "relabel", "undo"]),
    st.sampled_from(["auto", "human"]),
    st.lists(st.integers(0, N - 1), min_size=1, max_size=3),
    st.integers(0, C - 1),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, max_size=25), include_proposals=st.booleans(), apply_corrections=st.booleans())
def test_view_and_precedence_agree_with_a_replay_of_the_log(tmp_path_factory, ops, include_proposals,
                                                             apply_corrections):
    ws = Workspace.create(tmp_path_factory.mktemp("log") / "ws", small_dataset())
    flags = {"include_proposals": include_proposals, "apply_corrections": apply_corrections}
    try:
        for action, source, sids, label in ops:
            if action == "undo":
                ws.decisions.undo(sids, source=source, author="t")
            else:
                ws.decisions.append(sids, action, label=label if action == "relabel" else None,
                                    source=source, author="t")
        original = ws.samples().label.to_numpy()
        want_cur, want_status, want_by, want_sug = reference(ws.decisions.rows()[::-1], original, **flags)
        got = ws.decisions.state(**flags)
        assert got.curated.tolist() == want_cur
        assert got.decided_by.tolist() == want_by
        assert got.suggested.tolist() == want_sug
        if include_proposals:
            assert got.status.tolist() == want_status
        subset = [4, 1]
        part = ws.decisions.state(subset, **flags)
        assert part.curated.tolist() == [want_cur[s] for s in subset]
        assert part.suggested.tolist() == [want_sug[s] for s in subset]
        cur = ws.decisions.curated(**flags)
        assert cur.curated_label.tolist() == want_cur and cur.decided_by.tolist() == want_by
        assert cur.suggested_label.tolist() == want_sug
    finally:
        ws.close()


def test_auto_relabel_is_idk_unless_corrections_are_applied(ws):
    ws.decisions.append([0], "relabel", label=2, source="auto", author="greyzone")
    ws.decisions.append([1], "idk", source="auto", author="greyzone")
    ws.decisions.append([2], "relabel", label=0, source="auto", author="greyzone")
    ws.decisions.append([2], "keep")  # a human keep beats the proposal either way
    default = ws.decisions.state([0, 1, 2])
    assert default.curated.tolist() == [C, C, 2]
    assert default.status.tolist() == [Status.PROPOSED_RELABEL, Status.PROPOSED, Status.KEPT]
    assert default.suggested.tolist() == [2, C, 0]
    applied = ws.decisions.state([0, 1, 2], apply_corrections=True)
    assert applied.curated.tolist() == [2, C, 2] and applied.status.tolist() == default.status.tolist()
    without = ws.decisions.state([0, 1, 2], include_proposals=False, apply_corrections=True)
    assert without.curated.tolist() == [0, 1, 2] and without.suggested.tolist() == [2, C, 0]
    ws.decisions.append([0], "keep", source="auto", author="greyzone")  # the proposal is withdrawn
    assert ws.decisions.state([0]).suggested.tolist() == [-1]
    assert ws.decisions.state([0], apply_corrections=True).curated.tolist() == [0]


def test_status_values_stay_fixed():
    """They are sent to the browser as uint8; ``STATUS_NAMES`` is indexed by them."""
    assert [int(s) for s in Status] == [0, 1, 2, 3, 4, 5]
    assert STATUS_NAMES[Status.PROPOSED_RELABEL] == "proposed relabel" and len(STATUS_NAMES) == len(Status)


def test_bad_decisions_name_the_problem_and_write_nothing(ws):
    with pytest.raises(UnknownSampleError, match=r"unknown sample id\(s\) \[99\]"):
        ws.decisions.append([0, 99], "idk")
    with pytest.raises(ParameterError, match=r"relabel needs a label in 0\.\.2, got 3"):
        ws.decisions.append([0], "relabel", label=3)
    with pytest.raises(ParameterError, match="action must be one of"):
        ws.decisions.append([0], "delete")
    with pytest.raises(ParameterError, match="takes no label"):
        ws.decisions.append([0], "idk", label=1)
    assert ws.decisions.head() == 0 and ws.decisions.history().empty
    assert isinstance(UnknownSampleError("x"), KeyError) and isinstance(ParameterError("x"), ValueError)
    assert issubclass(UnknownSampleError, GreyzoneError)


def test_duplicate_sids_give_one_row_each(ws):
    ids = ws.decisions.append([2, 2, 3], "idk")
    assert len(ids) == 2 and ws.decisions.count() == 2


def test_head_count_rows_and_paging(ws):
    ids = ws.decisions.append([0, 1, 2], "keep", author="ann")
    ws.decisions.append([5], "idk", source="auto", author="greyzone")
    assert ws.decisions.head() == ids[-1] + 1
    assert ws.decisions.count(source="human") == 3 and ws.decisions.count() == 4
    assert [r["sid"] for r in ws.decisions.rows(before=ids[-1], limit=5)] == [1, 0]
    assert ws.decisions.rows(sid=5)[0]["source"] == "auto"


def test_each_thread_writes_through_its_own_connection(ws):
    errors = []

    def tab(sid: int) -> None:
        try:
            for _ in range(5):
                ws.decisions.append([sid], "idk", author=f"tab{sid}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=tab, args=(s,)) for s in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and ws.decisions.count() == 5 * N


def test_a_snapshot_does_not_see_a_concurrent_write(ws):
    ws.decisions.append([0], "idk")
    with ws.decisions.snapshot():
        before = ws.decisions.head()
        t = threading.Thread(target=lambda: ws.decisions.append([1], "idk"))
        t.start()
        t.join()
        assert ws.decisions.head() == before  # WAL: the reader keeps its snapshot
    assert ws.decisions.head() == before + 1
