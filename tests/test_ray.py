"""Extraction and annotation on a real Ray cluster of two nodes on this machine (one CPU each): results equal to
the single process, a worker killed with SIGKILL, a driver killed then run again, bad records, a cluster-wide
limit on LLM requests, and SmolLM2 annotating in shards."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, needs_data
from smallext.doc import Document
from smallext.errors import FormatError

ray = pytest.importorskip("ray", reason="needs the ray extra")
psutil = pytest.importorskip("psutil")
pytestmark = [pytest.mark.slow, needs_data]
SCHEMA = REPO / "schemas" / "conll2003.yaml"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node, one CPU each, the test process connected as the driver."""
    from ray.cluster_utils import Cluster

    os.environ["PYTHONPATH"] = ENV["PYTHONPATH"]  # the nodes' workers import this checkout
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def sentences() -> list[Document]:
    from smallext.datasets import load

    return load("conll2003:test")[:320]


def _text_file(docs, path: Path) -> Path:
    path.write_text("".join(d.text + "\n" for d in docs), encoding="utf-8")
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _single(model, path: Path, out: Path, chunk: int) -> list[dict]:
    from smallext.students.extractor import extract_file

    extract_file(model, path, out, chunk=chunk)
    return _lines(out)


def _merged(out_dir: Path) -> list[dict]:
    from smallext.scale import iter_output

    return [d.to_dict() for d in iter_output(out_dir)]


def _actor_pids(name: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if any(name in a for a in (p.info["cmdline"] or []))]


def test_extraction_on_two_nodes_equals_the_single_process(cluster, tiny_student, sentences, tmp_path):
    from smallext.scale import extract_dataset

    text = _text_file(sentences, tmp_path / "in.txt")
    single = _single(tiny_student, text, tmp_path / "single.jsonl", chunk=32)
    assert sum(len(d["spans"]) for d in single) > 50  # the student finds entities: equality means something
    report = extract_dataset(tiny_student, text, tmp_path / "out", chunk=32, shard_docs=64, workers=2)
    assert report["documents"] == 320 and report["shards"] == 5 and report["workers"] == 2
    assert _merged(tmp_path / "out") == single  # ids, order, spans and scores

    # Parquet in (id, text), Parquet out: the same spans and scores
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [d["id"] for d in single], "text": [d["text"] for d in single]}),
                   tmp_path / "in.parquet", row_group_size=64)
    report = extract_dataset(tiny_student, tmp_path / "in.parquet", tmp_path / "pq", fmt="parquet", chunk=32,
                             shard_docs=64)
    assert report["parts"][0] == "part-00000.parquet" and report["shards"] == 5
    got = _merged(tmp_path / "pq")
    assert [(d["id"], d["spans"]) for d in got] == [(d["id"], d["spans"]) for d in single]


def test_a_worker_killed_mid_run_loses_nothing(cluster, tiny_student, sentences, tmp_path):
    from smallext.scale import extract_dataset

    text = _text_file(sentences, tmp_path / "in.txt")
    single = _single(tiny_student, text, tmp_path / "single.jsonl", chunk=8)
    out = tmp_path / "out"
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(
        extract_dataset(tiny_student, text, out, chunk=8, shard_docs=8, workers=2)))
    run.start()
    killed, finished_then = None, None
    deadline = time.monotonic() + 120
    while run.is_alive() and killed is None and time.monotonic() < deadline:
        finished = len(list((out / "_shards").glob("0*.json")))
        pids = _actor_pids("ShardExtractor")
        if finished >= 2 and pids:
            finished_then = finished
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.05)
    run.join(timeout=300)
    assert killed is not None and finished_then < 40, "the run ended before a worker could be killed"
    assert result["documents"] == 320 and result["shards"] == 40
    merged = _merged(out)
    assert [d["id"] for d in merged] == [f"in.txt:{i}" for i in range(1, 321)]  # each document exactly once
    assert merged == single
    assert not list(out.glob(".*.tmp"))  # no half-written part left behind


def test_the_driver_killed_then_run_again_resumes(cluster, tiny_student, sentences, tmp_path):
    from smallext.scale import extract_dataset

    text = _text_file(sentences, tmp_path / "in.txt")
    single = _single(tiny_student, text, tmp_path / "single.jsonl", chunk=8)
    out = tmp_path / "out"
    script = ("import sys; from smallext.scale import extract_dataset; "
              "extract_dataset(sys.argv[1], sys.argv[2], sys.argv[3], address=sys.argv[4], chunk=8, shard_docs=8)")
    driver = subprocess.Popen([sys.executable, "-c", script, str(tiny_student), str(text), str(out), cluster.address],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while driver.poll() is None and time.monotonic() < deadline:
        if len(list((out / "_shards").glob("0*.json"))) >= 3:
            driver.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL, driver.stderr.read().decode()[-2000:]
    assert not (out / "report.json").exists()
    report = extract_dataset(tiny_student, text, out, chunk=8, shard_docs=8)
    assert 0 < report["shards_this_run"] < report["shards"] == 40  # finished shards were not redone
    assert _merged(out) == single


def test_bad_records_stop_the_run_or_are_skipped_and_listed(cluster, tiny_student, tmp_path):
    from smallext.scale import extract_dataset

    bad = tmp_path / "in" / "bad.jsonl"
    bad.parent.mkdir()
    lines = [json.dumps({"id": "a", "text": "EU rejects German call ."}), json.dumps({"id": "b", "text": "Paris ."}),
             '{"id": "c", "text": "broken', "", json.dumps({"id": "d"}), json.dumps({"id": "e", "text": "Rome ."})]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"bad\.jsonl:3: invalid JSON"):
        extract_dataset(tiny_student, bad.parent, tmp_path / "stop", chunk=2, shard_docs=2)

    cmd = [sys.executable, "-m", "smallext.cli", "extract", "--model", str(tiny_student), str(bad.parent), "--out",
           str(tmp_path / "skip"), "--ray", "--address", cluster.address, "--on-error", "skip"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 records skipped" in " ".join(proc.stderr.split())
    skipped = _lines(tmp_path / "skip" / "skipped.jsonl")
    assert [(s["file"], s["line"], s["field"]) for s in skipped] == [(str(bad), 3, None), (str(bad), 5, "text")]
    assert [d["id"] for d in _merged(tmp_path / "skip")] == ["a", "b", "e"]

    cmd[cmd.index("--out") + 1] = str(tmp_path / "stop2")
    stop = subprocess.run(cmd[:-2], env=ENV, capture_output=True, text=True, timeout=300)
    message = " ".join(stop.stderr.split())
    assert stop.returncode == 1 and "bad.jsonl:3: invalid JSON" in message and "Traceback" not in message


def test_annotation_in_shards_equals_the_single_process(cluster, tiny_student, sentences, tmp_path):
    from smallext.scale.annotate import RayEngine
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    # the student as teacher (its chunks of 256 documents are the shards' too: the same onnxruntime batches)
    teacher = functools.partial(load_teacher, f"model:{tiny_student}", SCHEMA)
    local = annotate(sentences, teacher, tmp_path / "local.jsonl", progress=False)
    res = annotate(sentences, teacher, tmp_path / "ray.jsonl", engine=RayEngine(shard_docs=256), progress=False)
    assert res["shards"] == 2 and res["documents"] == 320 and res["spans"] == local["spans"] > 0
    assert _lines(tmp_path / "ray.jsonl") == _lines(tmp_path / "local.jsonl")
    assert sorted(p.name for p in (tmp_path / "ray.store").glob("*.sqlite")) == ["shard-00000.sqlite",
                                                                                 "shard-00001.sqlite"]


class _Server(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that counts requests in flight (each takes 0.2 s)."""

    lock = threading.Lock()
    now = most = total = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        with cls.lock:
            cls.now += 1
            cls.total += 1
            cls.most = max(cls.most, cls.now)
        time.sleep(0.2)
        with cls.lock:
            cls.now -= 1
        content = '{"entities": [{"text": "Paris", "type": "LOC"}]}'
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_cluster_wide_limit_on_requests_in_flight_holds_for_every_worker(cluster, tmp_path):
    pytest.importorskip("openai", reason="needs the llm extra")
    from smallext.scale.annotate import RayEngine
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        docs = [Document(f"d{i}", f"Paris is big ({i}) .") for i in range(16)]
        # two workers with 4 calls in flight each would send 8 at once; the limit is 2 for the cluster
        teacher = functools.partial(load_teacher, f"openai:m@{url}", SCHEMA, concurrency=4, chunk_chars=0)
        res = annotate(docs, teacher, tmp_path / "o.jsonl", progress=False,
                       engine=RayEngine(workers=2, shard_docs=8, max_in_flight=2, requests_per_second=50))
    finally:
        server.shutdown()
        server.server_close()
    assert res["documents"] == 16 and res["spans"] == 16 and res["calls"] == 16 == _Server.total
    assert _Server.most <= 2 and res["limiter"] == {"granted": 16, "peak_in_flight": _Server.most}
    again = annotate(docs, teacher, tmp_path / "o.jsonl", progress=False, engine=RayEngine(workers=2, shard_docs=8))
    assert again["shards_this_run"] == 0 and _Server.total == 16  # resumed: no call repeated


def test_smollm2_annotates_in_shards_and_a_rerun_repeats_no_call(cluster, sentences, tmp_path):
    pytest.importorskip("llama_cpp", reason="needs the llm extra")
    from smallext.models import install
    from smallext.scale.annotate import RayEngine
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    install("smollm2-135m")
    docs = sentences[:24]
    teacher = functools.partial(load_teacher, "llamacpp:smollm2-135m", SCHEMA, threads=1, concurrency=2,
                                chunk_chars=200)
    first = annotate(docs, teacher, tmp_path / "silver.jsonl", engine=RayEngine(shard_docs=8), progress=False)
    rows = _lines(tmp_path / "silver.jsonl")
    assert [r["id"] for r in rows] == [d.id for d in docs] and first["calls_this_run"] > 0
    assert first["shards"] == 3 and first["workers"] == 2 and first["teacher"] == "llamacpp:smollm2-135m"
    # a shard whose documents are done is not sent again; one whose store lost its results is redone from the
    # cached calls
    import sqlite3

    with sqlite3.connect(tmp_path / "silver.store" / "shard-00001.sqlite") as db:
        db.execute("UPDATE documents SET status='pending', result=NULL")
    again = annotate(docs, teacher, tmp_path / "silver.jsonl", engine=RayEngine(shard_docs=8), progress=False)
    assert again["shards_this_run"] == 1 and again["annotated_this_run"] == 8 and again["calls_this_run"] == 0
    assert _lines(tmp_path / "silver.jsonl") == rows


def test_the_distill_config_runs_its_annotate_stage_on_ray(cluster, tmp_path):
    import smallext
    from smallext.errors import ConfigError
    from smallext.pipeline.config import load_config
    from smallext.pipeline.runner import Context
    from smallext.pipeline.stages import AnnotateStage
    from smallext.scale import extract_dataset
    from smallext.schema import load_schema

    assert smallext.extract_dataset is extract_dataset
    base = {"schema": str(SCHEMA), "corpus": "conll2003:test", "corpus_limit": 100, "teacher": "gold",
            "output": str(tmp_path / "run")}
    cfg = load_config({**base, "engine": "ray", "ray_address": "auto"})
    assert (cfg.engine, cfg.ray_address) == ("ray", "auto") and load_config(base).engine == "local"
    with pytest.raises(ConfigError, match="engine"):
        load_config({**base, "engine": "spark"})
    with pytest.raises(ConfigError, match="shard_docs .* multiple of chunk"):
        extract_dataset(tmp_path, tmp_path, tmp_path / "o", chunk=32, shard_docs=48)
    (tmp_path / "run").mkdir()
    summary = AnnotateStage().run(Context(tmp_path / "run", progress=False, cfg=cfg, schema=load_schema(SCHEMA)))
    assert summary["summary"]["shards"] == 2 and summary["summary"]["documents"] == 100
    gold = [d.to_dict() for d in load_schema(SCHEMA).map_documents(smallext.datasets.load("conll2003:test")[:100])]
    assert [(d["id"], [s["start"] for s in d["spans"]]) for d in _lines(tmp_path / "run" / "silver.jsonl")] == [
        (d["id"], [s["start"] for s in d["spans"]]) for d in gold]
    with pytest.raises(ConfigError, match="shard_docs .* multiple of chunk"):
        extract_dataset(tmp_path, tmp_path, tmp_path / "o", chunk=32, shard_docs=48)


def test_a_distill_run_on_ray_measures_the_students_throughput_there(cluster, tiny_student, sentences, tmp_path):
    """engine: ray also measures the student's batch throughput on the cluster (the evaluate stage's call)."""
    from smallext.report import render_markdown
    from smallext.scale import ray_throughput

    texts = [d.text for d in sentences[:200]]
    t = ray_throughput(tiny_student, texts, tmp_path / "rt", address="auto")
    assert t["documents"] == 200 and t["documents_per_s"] > 0 and t["workers"] >= 1 and t["threads"] == 1
    again = ray_throughput(tiny_student, texts, tmp_path / "rt", address="auto")  # a fresh folder each time
    assert again["documents"] == 200
    timing = {"documents_per_s": 1.0, "tokens_per_s": 1.0, "latency_p50_ms": 1.0, "latency_p95_ms": 1.0}
    scores = {"micro": {"f1": 0.5, "precision": 0.5, "recall": 0.5, "ci95": [0.4, 0.6], "tp": 1, "fp": 1, "fn": 1},
              "macro": {"f1": 0.5, "precision": 0.5, "recall": 0.5}, "documents": 1, "per_type": {}}
    m = {"config": {"schema": "s", "corpus": "c", "teacher": "gold", "student": {"base_model": "minilm", "epochs": 1},
                    "teacher_options": {}},
         "annotation": {"documents": 1, "spans": 1, "failed": 0, "ungrounded_rate": 0.0, "tokens_in": 0,
                        "tokens_out": 0, "wall_seconds": 1.0},
         "training": {"train_documents": 1, "gold_documents": 0, "dev": "d"},
         "test": {"dataset": "x", "documents": 1, "teacher_documents": 1, "teacher_sampled": False,
                  "teacher": {"scores": scores, "timing": timing, "peak_rss_mb": 1.0},
                  "student": {"scores": scores, "scores_on_teacher_sample": scores, "timing": timing,
                              "peak_rss_mb": 1.0, "size_mb": 1.0, "timing_ray": t},
                  "agreement": scores, "speedup_documents_per_s": 1.0}}
    assert f"Student on Ray ({t['workers']} workers x 1 threads)" in render_markdown(m)


def test_parquet_parts_keep_relations(tmp_path):
    """A relation student's output written as Parquet reads back with its relations (indices into its spans)."""
    from smallext.doc import Span
    from smallext.kinds.relations import Relation
    from smallext.scale.extract import _read_part, _write_part

    docs = [Document("a", "Ann works for Acme .", [Span(0, 3, "Peop", 0.9, "m"), Span(14, 18, "Org", 0.8, "m")],
                     {"k": 1}, relations=[Relation(0, 1, "Work_For", 0.7, "m")]),
            Document("b", "nothing here", [], {})]
    for fmt in ("parquet", "jsonl"):
        _write_part(docs, tmp_path / f"part-00000.{fmt}", fmt)
        back = list(_read_part(tmp_path / f"part-00000.{fmt}"))
        assert [(d.id, d.text, d.spans, d.relations, d.meta) for d in back] == [
            (d.id, d.text, d.spans, d.relations, d.meta) for d in docs]
