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
        (post(json={"documents": [{"id": "1"}]}), 422, "text"),
    ]
    for resp, status, word in cases:
        assert resp.status_code == status, (resp.status_code, resp.text)
        assert word.lower() in resp.text.lower(), resp.text


def test_extract_health_metadata(client):
    r = client.post("/extract", json={"texts": TEXTS})
    assert r.status_code == 200
    body = ExtractResponse.model_validate(r.json())
    assert [d.text for d in body.documents] == TEXTS and [d.id for d in body.documents] == ["0", "1"]
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
    ok = spec["paths"]["/extract"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/ExtractResponse")
    props = spec["components"]["schemas"]["SpanOut"]["properties"]
    assert set(props) == {"start", "end", "label", "text", "score"}
    r = client.post("/extract", json={"texts": TEXTS}).json()
    assert set(r) == set(spec["components"]["schemas"]["ExtractResponse"]["properties"])


def test_bad_inputs_get_clear_errors_and_the_server_keeps_serving(client):
    bad_requests(lambda **kw: client.post("/extract", **kw))
    assert client.post("/extract", json={"texts": TEXTS}).status_code == 200


@pytest.mark.slow
def test_real_uvicorn_process_batches_concurrent_requests(tiny_student):
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallext.cli", "serve", "--model", str(tiny_student), "--port", str(port),
         "--threads", "1", "--max-texts", "4", "--max-chars", "200", "--max-body-bytes", "4000",
         "--batch-wait-ms", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", proc)
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
    finally:
        proc.terminate()
        proc.wait(timeout=30)
