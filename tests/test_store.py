"""The annotation store: time accounting, chunk statistics, its format."""

import sqlite3

import pytest

from smallext.doc import Document
from smallext.errors import SmallextError
from smallext.teachers.base import ChunkResult
from smallext.teachers.grounding import GroundingStats
from smallext.teachers.store import Store


def test_a_runs_progress_counts_before_it_finishes(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    st.start_run("t", {})
    st.touch_run(3)
    assert st.totals()["annotated_all_runs"] == 3
    st.start_run("t", {})  # the first run was killed after its touch; a second one finishes
    st.finish_run({"annotated_this_run": 4, "documents": 7})
    totals = st.totals()
    assert totals["annotated_all_runs"] == 7 and totals["wall_seconds_all_runs"] >= 0


def test_totals_sum_the_chunks_of_every_run(tmp_path):
    """Run statistics come from the chunks the store's runs finished, not from its call table (the calls may
    be cached in another store)."""
    with Store(tmp_path / "s.sqlite") as st:
        docs = [Document("a", "Ada ."), Document("b", "Bo ."), Document("c", "Cy .")]
        st.register(docs)
        st.start_run("t", {})
        st.save_chunk(ChunkResult(docs=docs[:2], stats=GroundingStats(entities=5, exact=3, ungrounded=2, spans=3),
                                  tokens_in=100, tokens_out=20, calls=2, failed_calls=1, call_seconds=1.5))
        st.start_run("t", {})
        st.save_chunk(ChunkResult(failed={"c": "boom"}, stats=GroundingStats(entities=1, ungrounded=1),
                                  tokens_in=10, tokens_out=4, calls=1, cache_hits=1))
        t = st.totals()
        assert t["grounding"]["entities"] == 6 and t["grounding"]["ungrounded"] == 3
        assert (t["tokens_in"], t["tokens_out"], t["calls"], t["failed_calls"], t["cache_hits"]) == (110, 24, 3, 1, 1)
        assert t["documents"] == {"done": 2, "failed": 1} and st.call_latencies() == []
        assert [d.meta.get("teacher_error") for d in st.results(docs)] == [None, None, "boom"]


def test_a_store_of_an_earlier_format_is_refused_by_name(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # format 1: documents and calls, no chunks table, user_version 0
        db.execute("CREATE TABLE documents (pos INTEGER, id TEXT PRIMARY KEY, text TEXT)")
    with pytest.raises(SmallextError, match="old.sqlite.*earlier smallext"):
        Store(path)


def test_annotate_hands_an_engine_object_the_run(tmp_path):
    """The teachers layer imports no engine: the layers above construct one (scale's RayEngine) and pass it;
    annotate hands it the documents, the teacher factory, a store folder and itself as the run of one part."""
    from smallext.errors import ConfigError
    from smallext.teachers.annotate import annotate

    class Recorder:
        def annotate(self, docs, teacher, out, *, store, run, progress=True, price_per_mtok=None):
            self.got = (docs, teacher, out, store, run, progress)
            return {"documents_out": list(docs)}

    docs, factory, engine = [Document("a", "Ada .")], (lambda: None), Recorder()
    assert annotate(docs, factory, tmp_path / "o.jsonl", engine=engine, progress=False)["documents_out"] == docs
    assert engine.got == (docs, factory, tmp_path / "o.jsonl", tmp_path / "o.store", annotate, False)
    with pytest.raises(ConfigError, match=r"got 'ray': pass smallext.scale.annotate.RayEngine"):
        annotate(docs, factory, tmp_path / "o.jsonl", engine="ray")
    with pytest.raises(ValueError, match="cache= is not supported"):
        annotate(docs, factory, tmp_path / "o.jsonl", engine=engine, cache=tmp_path / "c.sqlite")
