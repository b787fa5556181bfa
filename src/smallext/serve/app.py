"""HTTP server for a packaged student (FastAPI + uvicorn), bound to loopback by default.

Endpoints:

* ``POST /extract`` with ``{"texts": [...]}`` or ``{"documents": [{"id", "text"}]}`` returns
  ``{"model", "documents": [{"id", "text", "spans": [{"start", "end", "label", "text", "score"}],
  "relations": [{"head", "tail", "label", "head_text", "tail_text", "score"}]}]}``: one field per kind of output,
  each kind's wire form (``kinds/<kind>/wire.py``; ``relations`` is empty for a student without relation types;
  ``head``/``tail`` index ``spans``).
* ``GET /health``; ``GET /metadata`` (each kind's types, schema, model-card fields, versions).

Concurrent requests are micro-batched: texts wait at most ``batch_wait_ms`` for others, then go to
onnxruntime together (at most ``max_batch`` texts per call). Limits give clear errors: a body over
``max_body_bytes`` gets 413; more than ``max_texts`` texts or a text over ``max_chars`` characters gets 422
naming the limit; a body that is not UTF-8 gets 400 and malformed JSON 422, never a 500. The OpenAPI schema
documents each of these answers, the limits (``maxItems``, ``maxLength``) and that a request holds exactly
one of ``texts`` and ``documents``.

The body is read as a stream with a hard cap (:class:`BodyLimit`): an oversize body, announced by its
``Content-Length`` or sent in chunks without one, is never held in memory; the rest of it is read and thrown
away before the 413 is sent, because a client sends its whole body before it reads the answer (Python's
urllib, requests, curl), and a server that answers and closes early makes it see "connection reset" instead
of the 413 and its message.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoint's annotations, which name the request
# model made for this server's limits inside create_app

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Self

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.json_schema import SkipJsonSchema

from smallext.doc import Document
from smallext.kinds import KINDS


def request_models(max_texts: int, max_chars: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(DocIn, ExtractRequest)`` for a server's limits: the limits appear in the JSON schema (``maxItems``,
    ``maxLength``) and the server checks them with messages that name them."""
    Text = Annotated[str, Field(json_schema_extra={"maxLength": max_chars})]

    class DocIn(BaseModel):
        """A document to extract from: an id of the caller's and the text."""

        model_config = ConfigDict(extra="forbid")
        id: str
        text: Text

    class ExtractRequest(BaseModel):
        """Exactly one of ``texts`` (ids are their positions) or ``documents``."""

        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "oneOf": [{"required": ["texts"]}, {"required": ["documents"]}]})
        texts: list[Text] | SkipJsonSchema[None] = Field(None, json_schema_extra={"maxItems": max_texts})
        documents: list[DocIn] | SkipJsonSchema[None] = Field(None, json_schema_extra={"maxItems": max_texts})

        @model_validator(mode="after")
        def _one(self) -> Self:
            given = [k for k in ("texts", "documents") if k in self.model_fields_set]
            if len(given) != 1:
                raise ValueError("give exactly one of 'texts' or 'documents'")
            if getattr(self, given[0]) is None:
                raise ValueError(f"'{given[0]}' must be a list, not null")
            return self

    return DocIn, ExtractRequest


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """An error answer: what is wrong, as a sentence or as a list of problems with their places."""

    detail: str | list[Problem]


def wires() -> list:
    """The wire form of each registered kind of output that has one (its ``wire`` part: the field, its OpenAPI
    model, and how a Document's items become it), in registration order."""
    return [k.load("wire") for k in KINDS.values() if k.has("wire")]


def response_models() -> tuple[type[BaseModel], type[BaseModel]]:
    """``(DocOut, ExtractResponse)``: a document's answer has an id, its text and one field per kind of output
    (:func:`wires`; a kind the model does not predict answers an empty list)."""
    fields: dict[str, Any] = {"id": (str, ...), "text": (str, ...)}
    for w in wires():
        fields[w.field] = (list[w.model], Field(default_factory=list, description=w.description))
    doc_out = create_model("DocOut", **fields)
    return doc_out, create_model("ExtractResponse", model=(str, ...), documents=(list[doc_out], ...))


DocOut, ExtractResponse = response_models()
"""The answer models for the kinds registered at import (a server made later uses those registered then)."""


class MicroBatcher:
    """Collects texts from concurrent requests into batches for one extractor call each."""

    def __init__(self, extractor, max_batch: int = 64, wait_ms: float = 5.0) -> None:
        self.extractor = extractor
        self.max_batch = max_batch
        self.wait = wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.calls = 0
        self.texts = 0

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()

    async def submit(self, docs: list[Document]) -> list[Document]:
        loop = asyncio.get_running_loop()
        futs = []
        for d in docs:
            fut = loop.create_future()
            await self.queue.put((d, fut))
            futs.append(fut)
        return list(await asyncio.gather(*futs))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            deadline = loop.time() + self.wait
            while len(items) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), timeout))
                except TimeoutError:
                    break
            docs = [d for d, _ in items]
            try:
                self.calls += 1
                self.texts += len(docs)
                out = await loop.run_in_executor(None, self.extractor.extract, docs)
                for (_, fut), d in zip(items, out, strict=True):
                    if not fut.done():
                        fut.set_result(d)
            except Exception as e:  # pragma: no cover - surfaced to each waiting request
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)


def create_app(
    model_dir: str | Path,
    *,
    threads: int | None = None,
    max_texts: int = 256,
    max_chars: int = 100_000,
    max_body_bytes: int = 10_000_000,
    max_batch: int = 64,
    batch_wait_ms: float = 5.0,
) -> FastAPI:
    """The FastAPI application serving the packaged model at ``model_dir`` (see module docstring)."""
    from smallext.students.extractor import Extractor

    extractor = Extractor.load(model_dir, threads=threads)
    batcher = MicroBatcher(extractor, max_batch, batch_wait_ms)
    name = Path(model_dir).name

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="smallext", version=_version(), lifespan=lifespan,
                  description="Extraction with a smallext student model: "
                              f"{', '.join(h.kind for h in extractor.heads)} of the text.")
    app.state.batcher = batcher
    app.state.limits = {"max_texts": max_texts, "max_chars": max_chars, "max_body_bytes": max_body_bytes}
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    _, ExtractRequest = request_models(max_texts, max_chars)
    DocOut, ExtractResponse = response_models()
    kinds = wires()
    errors = {400: {"model": ErrorOut, "description": "The body is not valid UTF-8."},
              413: {"model": ErrorOut, "description": f"The body is over {max_body_bytes} bytes."},
              422: {"model": ErrorOut, "description": "Malformed JSON, a field of the wrong kind, not exactly one "
                                                      "of texts and documents, or over a limit of texts or "
                                                      "characters."}}

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors()]
        return JSONResponse({"detail": problems}, 422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "batches": batcher.calls, "texts": batcher.texts}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        cfg = extractor.config
        import onnxruntime
        import tokenizers

        return {
            "model": name, **{k: v for w in kinds for k, v in w.metadata(extractor).items()},
            "schema": cfg.get("schema"),
            "card": cfg.get("card"), "base_model": cfg.get("base_model"), "created": cfg.get("created"),
            "limits": app.state.limits,
            "versions": {"smallext": _version(), "onnxruntime": onnxruntime.__version__,
                         "tokenizers": tokenizers.__version__},
        }

    @app.post("/extract", response_model=ExtractResponse, responses=errors)
    async def extract(req: Annotated[ExtractRequest, Body()]) -> ExtractResponse:
        docs = ([Document(str(i), t) for i, t in enumerate(req.texts)] if req.texts is not None
                else [Document(d.id, d.text) for d in req.documents])
        if len(docs) > max_texts:
            raise HTTPException(422, f"{len(docs)} texts: over the limit of {max_texts} texts per request")
        for d in docs:
            if len(d.text) > max_chars:
                raise HTTPException(422, f"text {d.id!r} has {len(d.text)} characters: over the limit of "
                                         f"{max_chars} characters per text")
            try:
                d.text.encode("utf-8")
            except UnicodeEncodeError as e:  # a lone surrogate escaped in the JSON ("\ud800")
                raise HTTPException(422, f"text {d.id!r} has an unpaired surrogate at character {e.start}; "
                                         "texts must be Unicode text") from None
        out = await batcher.submit(docs)
        return ExtractResponse(model=name, documents=[
            DocOut(id=d.id, text=d.text, **{w.field: w.items(d) for w in kinds}) for d in out])

    return app


class BodyLimit:
    """ASGI middleware: read a POST body as a stream with a hard cap of ``max_bytes``.

    A body within the cap is handed to the app whole (and must be UTF-8, else 400). An oversize body, by its
    ``Content-Length`` or by counting a chunked one, is read to its end and thrown away (constant memory),
    then answered 413 with a JSON message, so that a client that sends everything before reading (urllib,
    requests, curl) gets the 413 rather than a reset connection.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        over = length.isdigit() and int(length) > self.max_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            over = over or size > self.max_bytes
            if not over:
                chunks.append(body)
            elif chunks:
                chunks = []
            if not message.get("more_body", False):
                break
        if over:
            return await _answer(send, 413, f"request body over the limit of {self.max_bytes} bytes")
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            return await _answer(send, 400, f"request body is not valid UTF-8 (byte {e.start})")
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _version() -> str:
    from smallext import __version__

    return __version__


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Run the server with uvicorn (blocks). ``options`` go to :func:`create_app`."""
    import uvicorn

    uvicorn.run(create_app(model_dir, **options), host=host, port=port, log_level="info")


__all__ = ["BodyLimit", "DocOut", "ExtractResponse", "create_app", "request_models", "response_models", "serve",
           "wires"]
