"""HTTP server for a packaged student (FastAPI + uvicorn), bound to loopback by default.

Endpoints:

* ``POST /extract`` with ``{"texts": [...]}`` or ``{"documents": [{"id", "text"}]}`` returns
  ``{"model", "documents": [{"id", "text", "spans": [{"start", "end", "label", "text", "score"}]}]}``.
* ``GET /health``; ``GET /metadata`` (schema, model-card fields, versions).

Concurrent requests are micro-batched: texts wait at most ``batch_wait_ms`` for others, then go to
onnxruntime together (at most ``max_batch`` texts per call). Limits give clear errors: a body over
``max_body_bytes`` gets 413; more than ``max_texts`` texts or a text over ``max_chars`` characters gets 422
naming the limit; a body that is not UTF-8 gets 400 and malformed JSON 422, never a 500.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from smallext.doc import Document


class DocIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    text: str


class ExtractRequest(BaseModel):
    """Either ``texts`` or ``documents``."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = None
    documents: list[DocIn] | None = None

    @model_validator(mode="after")
    def _one(self) -> ExtractRequest:
        if (self.texts is None) == (self.documents is None):
            raise ValueError("give exactly one of 'texts' or 'documents'")
        return self


class SpanOut(BaseModel):
    start: int = Field(description="first character, 0-based")
    end: int = Field(description="one past the last character")
    label: str
    text: str
    score: float | None = Field(description="mean tag probability, 0-1")


class DocOut(BaseModel):
    id: str
    text: str
    spans: list[SpanOut]


class ExtractResponse(BaseModel):
    model: str
    documents: list[DocOut]


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
                  description="Entity extraction with a smallext student model.")
    app.state.batcher = batcher
    app.state.limits = {"max_texts": max_texts, "max_chars": max_chars, "max_body_bytes": max_body_bytes}

    @app.middleware("http")
    async def body_limits(request: Request, call_next):
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > max_body_bytes:
                return JSONResponse({"detail": f"request body over the limit of {max_body_bytes} bytes"}, 413)
            body = await request.body()
            if len(body) > max_body_bytes:
                return JSONResponse({"detail": f"request body over the limit of {max_body_bytes} bytes"}, 413)
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                return JSONResponse({"detail": f"request body is not valid UTF-8 (byte {e.start})"}, 400)
        return await call_next(request)

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
            "model": name, "entity_types": cfg["entity_types"], "schema": cfg.get("schema"),
            "card": cfg.get("card"), "base_model": cfg.get("base_model"), "created": cfg.get("created"),
            "limits": app.state.limits,
            "versions": {"smallext": _version(), "onnxruntime": onnxruntime.__version__,
                         "tokenizers": tokenizers.__version__},
        }

    @app.post("/extract", response_model=ExtractResponse)
    async def extract(req: ExtractRequest) -> ExtractResponse:
        docs = ([Document(str(i), t) for i, t in enumerate(req.texts)] if req.texts is not None
                else [Document(d.id, d.text) for d in req.documents])
        if len(docs) > max_texts:
            raise HTTPException(422, f"{len(docs)} texts: over the limit of {max_texts} texts per request")
        for d in docs:
            if len(d.text) > max_chars:
                raise HTTPException(422, f"text {d.id!r} has {len(d.text)} characters: over the limit of "
                                         f"{max_chars} characters per text")
        out = await batcher.submit(docs)
        return ExtractResponse(model=name, documents=[
            DocOut(id=d.id, text=d.text, spans=[SpanOut(start=s.start, end=s.end, label=s.label,
                                                        text=d.span_text(s), score=s.score) for s in d.spans])
            for d in out
        ])

    return app


def _version() -> str:
    from smallext import __version__

    return __version__


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Run the server with uvicorn (blocks). ``options`` go to :func:`create_app`."""
    import uvicorn

    uvicorn.run(create_app(model_dir, **options), host=host, port=port, log_level="info")


__all__ = ["create_app", "serve"]
