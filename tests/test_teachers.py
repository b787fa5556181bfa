"""Teachers against real components: llama.cpp with SmolLM2-135M, llama_cpp.server, a faulty HTTP server,
a kill -9 in the middle of an annotation run, and the spaCy, rules, model, ensemble and gold teachers."""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO, free_port, needs_data, wait_http
from smallext.datasets import load
from smallext.doc import Document, Span
from smallext.errors import ConfigError
from smallext.evaluate import evaluate
from smallext.schema import load_schema

pytest.importorskip("llama_cpp", reason="needs the llm extra (llama-cpp-python)")
pytestmark = pytest.mark.slow
SCHEMA = load_schema(REPO / "schemas" / "conll2003.yaml")


@pytest.fixture(scope="session")
def smollm():
    from smallext.models import install

    return install("smollm2-135m")


# ---------------------------------------------------------------------------------------------- llama.cpp
def test_llamacpp_backend_constrained_reply_and_store(smollm, tmp_path):
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    teacher = load_teacher("llamacpp:smollm2-135m", SCHEMA, threads=2, chunk_chars=0)
    task, backend = teacher.task, teacher.backend
    text = "Peter Blackburn visited Paris on Monday ."
    reply = backend.complete(task.messages(text), json_schema=task.json_schema(text), max_tokens=200)
    assert reply.error is None and reply.tokens_in > 100 and reply.tokens_out > 0
    obj = json.loads(reply.text)  # constrained decoding: valid JSON of the schema's shape
    assert isinstance(obj["entities"], list)
    assert all(set(e) == {"text", "type"} and e["type"] in SCHEMA.labels for e in obj["entities"])

    docs = [Document(f"d{i}", t) for i, t in enumerate(
        ["Peter Blackburn visited Paris .", "EU rejects German call .", "Germany beat Italy 2-1 in Rome ."])]
    store = tmp_path / "s.sqlite"
    first = annotate(docs, teacher, tmp_path / "out.jsonl", store=store, progress=False)
    assert first["calls_this_run"] >= 3 and first["documents"] == 3
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == ["d0", "d1", "d2"]
    db = sqlite3.connect(store)
    rows = db.execute("SELECT prompt_hash, reply, tokens_in, tokens_out, latency, doc_ids, parsed, grounded, stats "
                      "FROM calls WHERE error IS NULL").fetchall()
    assert len(rows) == first["calls"] - first["failed_calls"] and all(r[0] and r[2] > 0 and r[4] > 0 for r in rows)
    by_id = {o["id"]: o for o in out}
    returned = 0
    for row in rows:  # each call's record agrees with its document: parsed entities, statistics, spans
        (doc_id,) = json.loads(row[5])
        parsed, grounded, stats = (json.loads(x) for x in row[6:9])
        returned += len(parsed)
        assert stats["entities"] == len(parsed) == (stats["exact"] + stats["fuzzy"] + stats["ungrounded"]
                                                    + stats["unknown_type"])
        assert stats["spans"] == len(grounded) and grounded == by_id[doc_id]["spans"]
    assert returned > 0, "SmolLM2 returned no entity for three sentences with names"
    for o in out:  # every span is grounded in its own text
        for s in o["spans"]:
            assert 0 <= s["start"] < s["end"] <= len(o["text"]) and s["source"] == "llamacpp:smollm2-135m"
            assert s["alignment"] in ("exact", "fuzzy")
    # a re-run repeats nothing; a fresh store with the same prompts reuses nothing but answers the same
    again = annotate(docs, teacher, tmp_path / "out.jsonl", store=store, progress=False)
    assert again["annotated_this_run"] == first["failed"]  # only failed documents are tried again
    assert first["failed"] > 0 or again["calls_this_run"] == 0


def test_batch_engine_decodes_parallel_sequences(smollm):
    from concurrent.futures import ThreadPoolExecutor

    from smallext.kinds.entities.task import EntityTask
    from smallext.teachers.backends.llamacpp import LlamaCppBackend

    task = EntityTask(SCHEMA)
    texts = ["Peter Blackburn visited Paris .", "EU rejects German call to boycott British lamb .",
             "Germany beat Italy 2-1 in Rome on Sunday .", "Japan 's Nikkei fell 1.2 percent .",
             "Ada Lovelace wrote to Charles Babbage .", "The match in Madrid was delayed ."]
    par = LlamaCppBackend(str(smollm), n_threads=2, parallel=4, n_ctx=2048)
    assert par.engine is not None and par.concurrency == 4

    def ask(backend, text, max_tokens=200):
        return backend.complete(task.messages(text), json_schema=task.json_schema(text), max_tokens=max_tokens)

    with ThreadPoolExecutor(4) as ex:
        replies = list(ex.map(lambda t: ask(par, t), texts))
    prefix = par.engine.prefix
    system_tokens, _ = par.engine.prompt_tokens(task.messages(texts[0]))
    assert 100 < len(prefix) < len(system_tokens) and system_tokens[: len(prefix)] == prefix  # shared prefix
    for text, r in zip(texts, replies, strict=True):
        assert r.error is None and r.finish_reason in ("stop", "length") and r.tokens_out > 0
        assert r.tokens_in == len(par.engine.prompt_tokens(task.messages(text))[0])
        if r.finish_reason == "stop":  # the grammar holds in every parallel sequence
            obj = json.loads(r.text)
            assert all(set(e) == {"text", "type"} and e["type"] in SCHEMA.labels for e in obj["entities"])
    assert sum(r.finish_reason == "stop" for r in replies) >= 4
    # jump-forward decoding: the keys and quotes forced by the schema took no decoding step of their own
    assert 0 < par.engine.stats["forced_tokens"] < sum(r.tokens_out for r in replies)
    # continuous batching: the prompts admitted while others were decoding were evaluated in their batches
    assert par.engine.stats["mixed_steps"] > 0
    assert par.engine.stats["prefill_tokens"] == sum(r.tokens_in for r in replies) - 5 * len(prefix)
    # greedy decoding is deterministic for the same batch (parallel and one-at-a-time replies may differ in the
    # last bits of the logits, so they are not compared)
    assert ask(par, texts[0]).text == ask(par, texts[0]).text
    cut = ask(par, texts[1], max_tokens=5)
    assert cut.finish_reason == "length" and cut.tokens_out == 5
    huge = ask(par, "Paris . " * 4000)  # ~9,500 tokens, more than the 5,120 of the cache: an error reply
    assert huge.error and "context" in huge.error
    assert ask(par, texts[0]).error is None  # and the engine goes on
    par.engine.close()
    from smallext.teachers.backends.batching import BatchEngine

    with pytest.raises(ValueError, match="max_repeats"):  # 0 would cut every reply after its first entity
        BatchEngine(par.llm, max_repeats=0)


def test_batch_engine_cache_stays_within_the_training_context(smollm):
    from smallext.teachers.backends.llamacpp import LlamaCppBackend

    par = LlamaCppBackend(str(smollm), n_threads=2, parallel=8, n_ctx=2048)  # 2,048 + 7 x 1,024 = 9,216 asked
    trained = par.llm._model.n_ctx_train()
    assert trained == 8192 and par.engine.n_ctx == trained
    par.close()  # distill closes the teacher after annotation: engine stopped, weights freed
    assert par.engine is None and par.llm._model.model is None


# ----------------------------------------------------------------------------------- OpenAI-compatible
def test_openai_backend_against_llama_cpp_server(smollm, tmp_path):
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
        teacher = load_teacher(f"openai:smollm2@http://127.0.0.1:{port}/v1", SCHEMA, concurrency=2,
                               response_format="json_object_schema", chunk_chars=0)
        texts = ["Peter Blackburn visited Paris .", "EU rejects German call ."]
        docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
        res = annotate(docs, teacher, tmp_path / "o.jsonl", progress=False)
        assert res["calls_this_run"] >= 2 and res["tokens_in"] > 100 and res["documents"] == 2
        rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
        assert [r["id"] for r in rows] == ["d0", "d1"]
        teacher.close()  # as distill does after annotation: the client's connection pool is closed
        assert teacher.backend.client.is_closed()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


SCRIPTED = {  # model name -> the reply content the fault server gives
    "halluc": '{"entities": [{"text": "Paris", "type": "LOC"}, {"text": "Atlantis", "type": "LOC"}]}',
    "crossing": '{"entities": [{"text": "Paris\\nRome", "type": "LOC"}, {"text": "BIG", "type": "MISC"}]}',
}


class FaultHandler(http.server.BaseHTTPRequestHandler):
    counts: dict[str, int] = {}
    in_flight: dict[str, int] = {}
    most_in_flight: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _send(self, code, body: bytes, headers=None):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"]
        with self.lock:
            n = self.counts[model] = self.counts.get(model, 0) + 1
        content, finish = '{"entities": [{"text": "Paris", "type": "LOC"}]}', "stop"
        if model == "flaky429" and n <= 2:
            return self._send(429, b'{"error": {"message": "slow down"}}', {"retry-after-ms": "20"})
        if model == "flaky500" and n <= 2:
            return self._send(500, b'{"error": {"message": "boom"}}', {"retry-after-ms": "20"})
        if model == "slow":
            time.sleep(1.5)
        if model == "concurrent":  # how many calls are in flight at once
            with self.lock:
                self.in_flight[model] = self.in_flight.get(model, 0) + 1
                self.most_in_flight[model] = max(self.most_in_flight.get(model, 0), self.in_flight[model])
            time.sleep(0.3)
            with self.lock:
                self.in_flight[model] -= 1
        content = SCRIPTED.get(model, content)
        if model == "malformed":
            return self._send(200, b"this is not json {")
        if model == "truncated":
            content, finish = '{"entities": [{"text": "Par', "length"
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": model,
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                              "finish_reason": finish}],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        self._send(200, json.dumps(reply).encode())


@pytest.fixture
def fault_server():
    FaultHandler.counts, FaultHandler.in_flight, FaultHandler.most_in_flight = {}, {}, {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FaultHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_retries_with_backoff_on_429_and_5xx(fault_server):
    from smallext.teachers.backends.openai import OpenAIBackend

    for model in ("flaky429", "flaky500"):
        b = OpenAIBackend(model, fault_server, max_retries=3, timeout=5)
        r = b.complete([{"role": "user", "content": "x"}], max_tokens=20)
        assert r.error is None and "Paris" in r.text and FaultHandler.counts[model] == 3


def test_timeouts_and_malformed_bodies_become_errors(fault_server):
    from smallext.teachers.backends.openai import OpenAIBackend

    slow = OpenAIBackend("slow", fault_server, max_retries=1, timeout=0.3).complete([{"role": "user", "content": "x"}],
                                                                                 max_tokens=5)
    assert slow.error and "Timeout" in slow.error
    # the client gives up after 0.3 s; on a busy machine the server's thread for the retry may record it later
    deadline = time.monotonic() + 10
    while FaultHandler.counts.get("slow", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert FaultHandler.counts["slow"] == 2
    bad = OpenAIBackend("malformed", fault_server, max_retries=0).complete([{"role": "user", "content": "x"}],
                                                                          max_tokens=5)
    assert bad.error and bad.text == ""


def test_truncated_json_is_retried_once_then_failed_and_retried_next_run(fault_server, tmp_path):
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    teacher = load_teacher(f"openai:truncated@{fault_server}", SCHEMA, concurrency=2, chunk_chars=0)
    docs = [Document("a", "Paris is nice ."), Document("b", "Rome too .")]
    store = tmp_path / "s.sqlite"
    res = annotate(docs, teacher, tmp_path / "o.jsonl", store=store, progress=False)
    assert res["failed"] == 2 and FaultHandler.counts["truncated"] == 4  # one retry each
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and all("teacher_error" in r["meta"] for r in rows)
    assert "cut off" in rows[0]["meta"]["teacher_error"] or "truncated" in rows[0]["meta"]["teacher_error"]
    ok = load_teacher(f"openai:fine@{fault_server}", SCHEMA, chunk_chars=0)
    ok.backend.model = "truncated"  # same store, the failed documents are tried again
    annotate(docs, ok, tmp_path / "o.jsonl", store=store, progress=False)
    assert FaultHandler.counts["truncated"] == 8
    good = load_teacher(f"openai:fine@{fault_server}", SCHEMA, chunk_chars=0)
    res = annotate(docs, good, tmp_path / "o.jsonl", store=store, progress=False)
    assert res["failed"] == 0 and res["spans"] == 1  # "Paris" grounded in doc a; "Rome too" has none


# ---------------------------------------------------------------------------------------------- kill -9
@needs_data
def test_kill_minus_9_loses_nothing_and_repeats_no_finished_call(smollm, tmp_path):
    out, store = tmp_path / "silver.jsonl", tmp_path / "silver.sqlite"
    cmd = [sys.executable, "-m", "smallext.cli", "annotate", "--schema", str(REPO / "schemas" / "conll2003.yaml"),
           "--teacher", "llamacpp:smollm2-135m", "--input", "conll2003:test", "--limit", "24", "--out", str(out),
           "--store", str(store), "--chunk-chars", "0", "--threads", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM documents WHERE status != 'pending'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if done >= 4:
                break
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave a (half-written) output"
    with sqlite3.connect(store) as db:
        finished_before = {r[0] for r in db.execute("SELECT id FROM documents WHERE status = 'done'")}
        calls_before = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert 0 < len(finished_before) < 24

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    ids = [r["id"] for r in rows]
    assert ids == [d.id for d in load("conll2003:test")[:24]], "every document exactly once, in input order"
    with sqlite3.connect(store) as db:
        second = db.execute("SELECT doc_ids FROM calls WHERE run_id = 2").fetchall()
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == calls_before + len(second)
    redone = {i for (ids_json,) in second for i in json.loads(ids_json)}
    assert not (redone & finished_before), "a finished document was sent to the model again"
    # the killed run's wall time still counts: both runs left their progress and their clock in the store
    from smallext.teachers.store import Store

    totals = Store(store).totals()
    with sqlite3.connect(store) as db:
        runs = db.execute("SELECT started, finished, stats FROM runs ORDER BY run_id").fetchall()
    assert len(runs) == 2 and all(f is not None and f > s for s, f, _ in runs)
    first, second_n = (json.loads(st)["annotated_this_run"] for _, _, st in runs)
    assert first >= 1 and second_n == 24 - len(finished_before)
    assert totals["annotated_all_runs"] == first + second_n
    assert totals["wall_seconds_all_runs"] == pytest.approx(sum(f - s for s, f, _ in runs), abs=0.01)


# ------------------------------------------------------------------------------------- other teachers
@needs_data
def test_spacy_rules_ensemble_and_gold_teachers(tmp_path):
    pytest.importorskip("spacy")
    from smallext.teachers import load_teacher

    gold = SCHEMA.map_documents(load("conll2003:test")[:150])
    inputs = [d.without_spans() for d in gold]
    sp = load_teacher("spacy:en_core_web_sm", SCHEMA)
    sp_docs = list(sp.annotate(inputs))
    f_spacy = evaluate(gold, sp_docs, n_boot=0)["micro"]["f1"]
    assert f_spacy > 0.4 and sp.label_map["PERSON"] == "PER" and sp.label_map["GPE"] == "LOC"
    assert "DATE" not in sp.label_map

    rules = tmp_path / "rules.yaml"
    rules.write_text("ignore_case: true\npatterns:\n  - {label: LOC, phrases: [japan, China, United Arab Emirates]}\n"
                     "  - {label: person, regex: 'Nadim Ladki'}\n")
    ru = load_teacher(f"rules:{rules}", SCHEMA)
    ru_docs = list(ru.annotate(inputs))
    found = {(d.span_text(s), s.label) for d in ru_docs for s in d.spans}
    assert {("JAPAN", "LOC"), ("CHINA", "LOC"), ("United Arab Emirates", "LOC"), ("Nadim Ladki", "PER")} <= found

    spec = f"ensemble:spacy:en_core_web_sm,rules:{rules}"
    keys = lambda docs: {(d.id, s.key) for d in docs for s in d.spans}  # noqa: E731
    union = list(load_teacher(spec, SCHEMA, ensemble_mode="union").annotate(inputs))
    major = list(load_teacher(spec, SCHEMA).annotate(inputs))
    assert keys(major) == keys(sp_docs) & keys(ru_docs) != set()  # both must agree: 1.0 support each
    assert keys(major) < keys(union) <= keys(sp_docs) | keys(ru_docs)
    # union keeps every proposal that no better-supported or longer proposal overlaps
    for d_sp, d_ru, d_un in zip(sp_docs, ru_docs, union, strict=True):
        others = {s.key for s in d_ru.spans}
        for s in d_sp.spans:
            if not any(o[0] < s.end and s.start < o[1] for o in others):
                assert s.key in {u.key for u in d_un.spans}, (d_sp.id, s)
    assert all(s.score == 1.0 for d in major for s in d.spans)
    weighted = load_teacher(spec, SCHEMA, ensemble_mode="weighted", ensemble_gold=gold[:60])
    assert weighted.weights[0] == pytest.approx(evaluate(gold[:60], sp_docs[:60], n_boot=0)["micro"]["f1"])
    with pytest.raises(ConfigError, match="weighted"):
        load_teacher(spec, SCHEMA, ensemble_mode="weighted")

    g = load_teacher("gold", SCHEMA)
    assert evaluate(gold, list(g.annotate(gold)), n_boot=0)["micro"]["f1"] == 1.0


@needs_data
def test_model_teacher_uses_a_trained_student(tmp_path):
    pytest.importorskip("torch")
    from smallext.students.export import package
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit
    from smallext.teachers import load_teacher

    res = fit(load("conll2003:train")[:150], None, SCHEMA.labels, StudentOptions(epochs=3, threads=2, seed=1),
                progress=False)
    package(res, tmp_path / "m")
    teacher = load_teacher(f"model:{tmp_path / 'm'}", SCHEMA, threads=2)
    dev = [d.without_spans() for d in load("conll2003:dev")[:50]]
    docs = list(teacher.annotate(dev))
    spans = [s for d in docs for s in d.spans]
    assert spans and all(s.source == f"model:{tmp_path / 'm'}" and 0 <= s.score <= 1 for s in spans)
    from smallext.students.extractor import Extractor

    direct = Extractor.load(tmp_path / "m", threads=2).extract(dev)  # the teacher's spans are the student's
    assert [[(s.key, s.score) for s in d.spans] for d in docs] == [[(s.key, s.score) for s in d.spans] for d in direct]


def test_unknown_teacher_and_missing_model():
    from smallext.teachers import load_teacher

    with pytest.raises(ConfigError, match="unknown teacher"):
        load_teacher("magic:x", SCHEMA)
    with pytest.raises(ConfigError, match="neither a GGUF file"):
        load_teacher("llamacpp:no-such-model", SCHEMA)


def test_model_install_verifies_sha256(monkeypatch, tmp_path):
    from smallext import models

    monkeypatch.setenv("SMALLEXT_HOME", str(tmp_path))
    bad = replace(models.MODELS["smollm2-135m"], sha256="0" * 64)
    monkeypatch.setitem(models.MODELS, "smollm2-135m", bad)
    with pytest.raises(ConfigError, match="SHA-256 mismatch"):
        models.install("smollm2-135m")
    leftovers = list(Path(tmp_path, "models").iterdir()) if Path(tmp_path, "models").exists() else []
    assert leftovers == [], leftovers
    with pytest.raises(ConfigError, match="smallext models install"):
        models.model_path("smollm2-135m")


# ------------------------------------------------------------------- grounding, stores, ensembles, contexts
def test_alignment_is_kept_and_spans_across_documents_are_counted_apart(fault_server, tmp_path):
    """Defect: a span crossing two documents of one call was added to ``ungrounded`` (an entity count) and the
    call's statistics were stored before that correction. Now it is ``crossing``; the stored call agrees."""
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    teacher = load_teacher(f"openai:crossing@{fault_server}", SCHEMA, chunk_chars=400)
    docs = [Document("a", "I saw Paris"), Document("b", "Rome is big")]  # one call: "I saw Paris\nRome is big"
    res = annotate(docs, teacher, tmp_path / "o.jsonl", store=tmp_path / "s.sqlite", progress=False)
    g = res["grounding"]
    assert (g["entities"], g["exact"], g["fuzzy"], g["ungrounded"], g["crossing"], g["spans"]) == (2, 1, 1, 0, 1, 1)
    assert res["ungrounded_rate"] == 0.0 and res["spans"] == 1
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert rows[0]["spans"] == []  # "Paris\nRome" belongs to neither document
    assert rows[1]["spans"] == [{"start": 8, "end": 11, "label": "MISC", "source": teacher.spec, "alignment": "fuzzy"}]
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        (stats, grounded), = db.execute("SELECT stats, grounded FROM calls").fetchall()
    assert json.loads(stats) == g and len(json.loads(grounded)) == 1


def test_statistics_of_a_run_whose_calls_are_cached_elsewhere(fault_server, tmp_path):
    """Defect: with ``cache=`` another store, the summary was read from the run's own calls table, which holds
    none of them, so ensembles reported 0% ungrounded while their LLM member was at 50% here."""
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    llm = f"openai:halluc@{fault_server}"
    docs = [Document(f"d{i}", f"Paris number {i} .") for i in range(6)]
    alone = annotate(docs, load_teacher(llm, SCHEMA, chunk_chars=0), None, store=tmp_path / "llm.sqlite",
                     progress=False)
    assert alone["ungrounded_rate"] == 0.5 and alone["calls"] == 6
    rules = tmp_path / "rules.yaml"
    rules.write_text("patterns:\n  - {label: LOC, phrases: [Paris]}\n")
    ensemble = load_teacher(f"ensemble:{llm},rules:{rules}", SCHEMA, chunk_chars=0)
    voted = annotate(docs, ensemble, None, store=tmp_path / "ens.sqlite", cache=tmp_path / "llm.sqlite",
                     progress=False)
    assert voted["calls_this_run"] == 0 and voted["cache_hits_this_run"] == 6  # every reply from the LLM's store
    assert voted["ungrounded_rate"] == 0.5 and voted["grounding"] == alone["grounding"]
    assert voted["spans"] == 6 and FaultHandler.counts["halluc"] == 6


def test_an_ensemble_lets_its_llm_member_decode_chunks_in_parallel(fault_server, tmp_path):
    """Defect: an ensemble annotated one chunk at a time, so its LLM member never had two calls in flight."""
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    rules = tmp_path / "rules.yaml"
    rules.write_text("patterns:\n  - {label: LOC, phrases: [Paris]}\n")
    ensemble = load_teacher(f"ensemble:openai:concurrent@{fault_server},rules:{rules}", SCHEMA, chunk_chars=0,
                            concurrency=4)
    assert ensemble.concurrency == 4
    docs = [Document(f"d{i}", f"Paris number {i} .") for i in range(8)]
    res = annotate(docs, ensemble, None, store=tmp_path / "s.sqlite", progress=False)
    assert res["failed"] == 0 and res["spans"] == 8
    assert FaultHandler.most_in_flight["concurrent"] >= 2


def test_teacher_options_are_checked_against_the_kind(fault_server):
    from smallext.teachers import load_teacher, option_fields

    with pytest.raises(ConfigError, match="shots: not an option of teacher 'spacy:en_core_web_sm'"):
        load_teacher("spacy:en_core_web_sm", SCHEMA, shots=2)
    with pytest.raises(ConfigError, match="field chunk_chars: Input should be greater than or equal to 0"):
        load_teacher(f"openai:x@{fault_server}", SCHEMA, chunk_chars=-1)
    with pytest.raises(ConfigError, match="field reply_format"):
        load_teacher(f"openai:x@{fault_server}", SCHEMA, reply_format="yaml")
    assert {"shots", "label_map", "ensemble_mode"} <= option_fields(f"ensemble:openai:x@{fault_server},spacy:y")
    assert "label_map" not in option_fields(f"openai:x@{fault_server}")


def test_a_gguf_without_chat_template_gets_the_context_it_was_asked(smollm, tmp_path):
    """Defect: with parallel > 1 the model's own context was 256 tokens; without a chat template there is no
    batch engine, so every call fell back to that context, smaller than the prompt."""
    from smallext.kinds.entities.task import EntityTask
    from smallext.teachers.backends.llamacpp import LlamaCppBackend

    data = Path(smollm).read_bytes()
    key = b"tokenizer.chat_template"
    assert data.count(key) == 1
    plain = tmp_path / "smollm-no-template.gguf"
    plain.write_bytes(data.replace(key, b"tokenizer.chat_templatX"))  # same length: the GGUF stays valid
    backend = LlamaCppBackend(str(plain), n_threads=2, parallel=4, n_ctx=2048)
    try:
        assert backend.engine is None and backend.concurrency == 1 and backend.llm.n_ctx() == 2048
        task = EntityTask(SCHEMA)
        text = "Peter Blackburn visited Paris and Rome with the EU delegation on Monday ."
        reply = backend.complete(task.messages(text), json_schema=task.json_schema(text), max_tokens=48)
        assert reply.error is None and reply.tokens_in > 256 and reply.tokens_out > 0
    finally:
        backend.close()


@needs_data
def test_grouped_shots_are_evaluated_once_per_group(smollm, tmp_path):
    """Shots shared by a group of similar calls sit before the last user turn, so the batch engine caches them
    as a prompt prefix on their second sight and the group's other calls skip them; shots per call are never
    cached beyond the system message, which every call shares."""
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    docs = [d.without_spans() for d in load("conll2003:test")[:24]]
    runs = {}
    for groups in (0, 6):
        teacher = load_teacher("llamacpp:smollm2-135m", SCHEMA, threads=2, chunk_chars=0, shots=2,
                               examples="conll2003:train", shot_groups=groups, concurrency=4, n_ctx=2048)
        chunks = teacher.plan(docs)
        shots = [tuple(m["content"] for m in teacher.task.messages(c[0].text)[1:-1]) for c in chunks]
        res = annotate(docs, teacher, None, store=tmp_path / f"groups{groups}.sqlite", progress=False)
        runs[groups] = {"shots": shots, "stats": dict(teacher.backend.engine.stats), "res": res}
        teacher.close()
    grouped, per_call = runs[6], runs[0]
    distinct = list(dict.fromkeys(grouped["shots"]))
    assert len(distinct) == 4 and all(len(s) == 4 for s in distinct)  # 24 calls in 4 groups, 2 shots (4 turns)
    # each group's calls come one after another
    assert [s for i, s in enumerate(grouped["shots"]) if i == 0 or s != grouped["shots"][i - 1]] == distinct
    # grouped: the system message and each group's shots; per call: the first call's own (cached while the engine
    # was idle) and the system message, copied from it, which every later call shares
    assert grouped["stats"]["prefixes_cached"] >= 1 + len(distinct) and per_call["stats"]["prefixes_cached"] <= 2
    assert grouped["stats"]["prefill_tokens"] < per_call["stats"]["prefill_tokens"]
    assert grouped["res"]["documents"] == per_call["res"]["documents"] == 24


@needs_data
def test_shot_groups_gather_similar_texts_and_never_show_a_text_its_own_answer():
    pytest.importorskip("sklearn")
    from smallext.teachers.shots import ShotSelector

    pool = SCHEMA.map_documents(load("conll2003:train")[:300])
    texts = [d.text for d in pool[:40]]  # the texts are in the pool: their own labelled copy must not be a shot
    shots, order = ShotSelector(pool).select_groups(texts, 3, 10)
    assert sorted(order) == list(range(40)) and len({tuple(d.id for d in s) for s in shots}) == 4
    groups: dict = {}
    for i in order:
        groups.setdefault(tuple(d.id for d in shots[i]), []).append(i)
    for members in groups.values():
        assert members == order[order.index(members[0]): order.index(members[0]) + len(members)]  # together
        assert not {d.text for d in shots[members[0]]} & {texts[i] for i in members}


def test_escalation_relabels_the_most_doubted_documents(fault_server, tmp_path):
    """The chain's second pass: the worst share of the documents by flag score goes to a second teacher, whose
    labels replace the first pass's; its cost is recorded."""
    from smallext.quality.escalate import escalate
    from smallext.teachers import load_teacher

    docs = [Document(f"d{i}", f"Paris number {i} .", [Span(0, 5, "PER")]) for i in range(10)]
    scores = {"d3": 0.9, "d7": 0.8, "d1": 0.2}
    second = load_teacher(f"openai:fine@{fault_server}", SCHEMA, chunk_chars=0)
    out, info = escalate(docs, scores, second, share=0.2, store=tmp_path / "e.sqlite")
    assert [d.id for d in out] == [d.id for d in docs]
    assert [d.id for d in out if d.spans[0].label == "LOC"] == ["d3", "d7"]  # the two most doubted, relabelled
    assert all(d.spans[0].label == "PER" for d in out if d.id not in ("d3", "d7"))
    assert info["documents"] == 2 and info["calls"] == 2 and info["tokens_in"] == 20 and info["share"] == 0.2
    assert FaultHandler.counts["fine"] == 2


def test_spread_over_prompt_variants(smollm, tmp_path):
    """Each prompt variant lists the types in another order; a span's support is the share of variants that
    give it. SmolLM2's labels are poor, so the check is on the mechanics, not on the figures."""
    from smallext.kinds.entities.task import EntityTask
    from smallext.quality.spread import reply_spread
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    assert EntityTask(SCHEMA).system != EntityTask(SCHEMA, prompt_variant=1).system
    assert sorted(EntityTask(SCHEMA).system.splitlines()) == sorted(EntityTask(SCHEMA, prompt_variant=1).system
                                                                   .splitlines())  # the same lines, reordered
    docs = [Document(f"d{i}", t) for i, t in enumerate(["Peter Blackburn visited Paris .", "EU rejects German call ."])]
    first = annotate(docs, load_teacher("llamacpp:smollm2-135m", SCHEMA, threads=2, chunk_chars=0), None,
                     store=tmp_path / "first.sqlite", progress=False)["documents_out"]
    support = reply_spread(first, "llamacpp:smollm2-135m", SCHEMA, {"threads": 2, "chunk_chars": 0}, variants=2,
                           store=tmp_path / "spread.sqlite")
    assert set(support) == {(d.id, *s.key) for d in first for s in d.spans}
    assert all(v in (1 / 3, 2 / 3, 1.0) for v in support.values())
    assert (tmp_path / "spread.variant1.sqlite").is_file() and (tmp_path / "spread.variant2.sqlite").is_file()
    with pytest.raises(ConfigError, match="LLM teacher"):
        reply_spread(first, "spacy:en_core_web_sm", SCHEMA, store=tmp_path / "x.sqlite")
