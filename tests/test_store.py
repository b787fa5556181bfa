"""The annotation store's time accounting."""

import pytest

from smallext.teachers.store import Store


def test_busy_seconds_is_the_union_of_call_intervals(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    st.start_run("t", {})
    # (latency, end): [0, 10] and [5, 12] overlap, [20, 21] stands apart; summed latencies would say 18
    for i, (lat, end) in enumerate([(10.0, 110.0), (7.0, 112.0), (1.0, 121.0)]):
        st.put(f"k{i}", {"latency": lat})
        st.db.execute("UPDATE calls SET created=? WHERE key=?", (end, f"k{i}"))
    assert st.busy_seconds() == pytest.approx(13.0)
    assert st.totals()["call_seconds"] == pytest.approx(18.0)


def test_a_runs_progress_counts_before_it_finishes(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    st.start_run("t", {})
    st.touch_run(3)
    assert st.totals()["annotated_all_runs"] == 3
    st.start_run("t", {})  # the first run was killed after its touch; a second one finishes
    st.finish_run({"annotated_this_run": 4, "documents": 7})
    totals = st.totals()
    assert totals["annotated_all_runs"] == 7 and totals["wall_seconds_all_runs"] >= 0
