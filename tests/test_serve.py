"""The HTTP server: FastAPI's TestClient, and a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import free_port, wait_http

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from smallext.serve.app import ExtractResponse, create_app  # noqa: E402

TEXTS = ["Peter Blackburn visited Paris .", "EU rejects German call to boycott British lamb ."]


@pytest.fixture(scope="module")
def client(tiny_student):
    app = create_app(tiny_student, threads=1, max_texts=4, max_chars=200, max_body_bytes=4000)
    with TestClient(app) as c:
        yield c


def bad_requests(post):
    """Each bad-input case with its expected status and a word its message must contain."""
    cases = [
        (post(json={"texts": ["x"] * 5}), 422, "limit of 4 texts"),
        (post(json={"texts": ["y" * 201]}), 422, "limit of 200 characters"),
        (post(content=b'{"texts": ["' + b"z" * 5000 + b'"]}', headers={"content-type": "application/json"}),
         413, "limit of 4000 bytes"),
        (post(content=b'{"texts": ["\xff\xfe"]}', headers={"content-type": "application/json"}), 400, "UTF-8"),
        (post(content=b'{"texts": [', headers={"content-type": "application/json"}), 422, "json"),
        (post(json={"texts": ["a"], "documents": [{"id": "1", "text": "b"}]}), 422, "exactly one"),
        (post(json={"texts": "not a list"}), 422, "list"),
        (post(json={"texts": None, "documents": [{"id": "1", "text": "b"}]}), 422, "exactly one"),
        (post(json={"texts": None}), 422, "not null"),
        (post(content=b'{"texts": ["\\ud800"]}', headers={"content-type": "application/json"}), 422, "surrogate"),
        (post(json={"documents": [{"id": "1"}]}), 422, "text"),
    ]
    for resp, status, word in cases:
        assert resp.status_code == status, (resp.status_code, resp.text)
        assert word.lower() in resp.text.lower(), resp.text


def test_extract_health_metadata(client, tiny_student):
    r = client.post("/extract", json={"texts": TEXTS})
    assert r.status_code == 200
    body = ExtractResponse.model_validate(r.json())
    assert [d.text for d in body.documents] == TEXTS and [d.id for d in body.documents] == ["0", "1"]
    from smallext.students.extractor import Extractor

    direct = Extractor.load(tiny_student, threads=1).extract(TEXTS)
    assert [[(s.start, s.end, s.label, s.score) for s in d.spans] for d in body.documents] == [
        [(s.start, s.end, s.label, s.score) for s in d.spans] for d in direct]
    assert any(d.spans for d in body.documents)
    for d in body.documents:
        for s in d.spans:
            assert d.text[s.start:s.end] == s.text and 0 <= s.score <= 1
    r = client.post("/extract", json={"documents": [{"id": "a7", "text": TEXTS[0]}]})
    assert r.json()["documents"][0]["id"] == "a7"
    assert client.get("/health").json()["status"] == "ok"
    meta = client.get("/metadata").json()
    assert meta["entity_types"] == ["PER", "ORG", "LOC", "MISC"] and "onnxruntime" in meta["versions"]
    assert meta["card"]["training_data"] == "conll2003:train[:150]"


def test_openapi_schema_matches_responses(client):
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/extract"]["post"]["responses"]
    ok = responses["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/ExtractResponse")
    assert {"400", "413", "422"} <= set(responses)  # every answer the server gives is documented
    request = spec["components"]["schemas"]["ExtractRequest"]
    assert request["oneOf"] == [{"required": ["texts"]}, {"required": ["documents"]}]
    assert request["properties"]["texts"]["maxItems"] == 4
    assert request["properties"]["texts"]["items"]["maxLength"] == 200
    props = spec["components"]["schemas"]["SpanOut"]["properties"]
    assert set(props) == {"start", "end", "label", "text", "score"}
    r = client.post("/extract", json={"texts": TEXTS}).json()
    assert set(r) == set(spec["components"]["schemas"]["ExtractResponse"]["properties"])


def test_bad_inputs_get_clear_errors_and_the_server_keeps_serving(client):
    bad_requests(lambda **kw: client.post("/extract", **kw))
    assert client.post("/extract", json={"texts": TEXTS}).status_code == 200


def start_server(model, **limits):
    """``smallext serve`` in a subprocess on a free port; returns (process, base URL) once it answers."""
    port = free_port()
    args = [a for k, v in limits.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    proc = subprocess.Popen([sys.executable, "-m", "smallext.cli", "serve", "--model", str(model), "--port", str(port),
                             "--threads", "1", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health", proc)
    return proc, base


@pytest.fixture
def server(tiny_student):
    proc, base = start_server(tiny_student, max_texts=4, max_chars=200, max_body_bytes=4000, batch_wait_ms=20)
    yield proc, base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_real_uvicorn_process_batches_concurrent_requests(server):
    import httpx

    _, base = server
    texts = [f"Peter Blackburn number {i} visited Paris ." for i in range(24)]

    def one(t):
        return httpx.post(f"{base}/extract", json={"texts": [t]}, timeout=30).json()

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, texts))
    assert [a["documents"][0]["text"] for a in answers] == texts
    health = httpx.get(f"{base}/health").json()
    assert health["texts"] == 24 and health["batches"] < 24, health  # concurrent texts shared calls

    def post(**kw):
        return httpx.post(f"{base}/extract", timeout=30, **kw)

    bad_requests(post)
    r = post(json={"texts": TEXTS})
    assert r.status_code == 200 and len(json.loads(r.text)["documents"]) == 2


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


@pytest.mark.slow
def test_oversize_bodies_get_a_readable_413_and_are_never_held_in_memory(server):
    """Defect: a body over the limit sent with Content-Length got its 413 while the client was still sending,
    so urllib saw "connection reset by peer"; a chunked body was read whole into memory before the check."""
    import urllib.error
    import urllib.request

    import httpx

    proc, base = server
    body = json.dumps({"texts": ["x" * 1000] * 20_000}).encode()  # 20 MB, as a new user tried it
    request = urllib.request.Request(f"{base}/extract", data=body, headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=60)
    assert answer.value.code == 413 and "limit of 4000 bytes" in answer.value.read().decode()

    before = vm_hwm_mb(proc.pid)

    def chunks():  # 150 MB without Content-Length: sent chunked
        for _ in range(150):
            yield b"y" * 1_000_000

    r = httpx.post(f"{base}/extract", content=chunks(), headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "limit of 4000 bytes" in r.json()["detail"]
    assert vm_hwm_mb(proc.pid) - before < 30  # the old server's peak grew by the body's size (+247 MB)
    assert httpx.post(f"{base}/extract", json={"texts": TEXTS}, timeout=30).status_code == 200


@pytest.mark.slow
def test_schemathesis_finds_nothing_against_the_real_server(tiny_student, tmp_path):
    """Every check of schemathesis (no 5xx, no undocumented status, no schema-valid request rejected, no invalid
    one accepted, responses that match the schema) against a real server. The body limit is set above what the
    documented text limits allow (8 texts of 300 characters), so no schema-valid request is over it."""
    pytest.importorskip("schemathesis")
    proc, base = start_server(tiny_student, max_texts=8, max_chars=300, max_body_bytes=100_000)
    try:
        run = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
                              "--checks", "all", "--max-examples", "60", "--workers", "1", "--seed", "7"],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)  # its cache goes there
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "No issues found" in run.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
