"""The LLM teacher = task (prompt, parse, ground, split) + backend (who answers), given a call cache per chunk.

Several short documents go into one call (consecutive documents up to ``chunk_chars`` characters, joined
by the task), which amortises the instructions and shots over more text. The reply is grounded in the
joined text and split back to its documents by the task.

A reply that is not valid JSON, or cut off at ``max_tokens``, is retried once with twice the budget; if it
still fails, the chunk's documents are recorded as failed with the reason (and retried on the next run).

The options of the two LLM teacher kinds (:class:`LlamaCppOptions`, :class:`OpenAIOptions`) are the one
source the CLI flags, the distill config and :func:`~smallext.teachers.load_teacher` derive from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smallext.doc import Document
from smallext.teachers.backends import Backend
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.grounding import Occurrences
from smallext.teachers.store import CallCache
from smallext.teachers.tasks import ParsedReply, Task, chunk_documents, default_task, task_class, task_names
from smallext.teachers.tasks.base import ReplyFormat

__all__ = ["LLMOptions", "LLMTeacher", "LlamaCppOptions", "OpenAIOptions", "call_key", "load_llamacpp",
           "load_openai"]


class LLMOptions(BaseModel):
    """Options of every LLM teacher: the task, how text is grouped into calls, and the price."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    task: str | None = Field(
        None, description="what to ask for: the task of a kind of output (smallext.kinds; default: that of the last "
                          "kind the schema declares, so relations when it has relation types)")
    shots: int = Field(0, ge=0, description="few-shot examples per prompt, retrieved by embedding similarity")
    shot_groups: int = Field(0, ge=0, description="share shots within groups of about N similar calls, so that a "
                                                  "local model evaluates them once per group (0: shots per call)")
    prompt_variant: int = Field(0, ge=0, description="0: the prompt as written; k > 0: the entity types listed in "
                                                     "another order (for the spread of replies)")
    examples: str | list[Document] | None = Field(
        None, description="gold pool for the shots besides the schema's own examples: a dataset or a file")
    chunk_chars: int = Field(400, ge=0, description="characters of text per LLM call (0: one document per call)")
    constrained: bool = Field(True, description="constrain replies to the task's JSON schema")
    reply_format: ReplyFormat = Field("list", description="LLM reply format")
    occurrences: Occurrences = Field("all", description="grounding of a string found several times")
    concurrency: int = Field(4, ge=1, description="calls in flight (openai) or sequences decoded together "
                                                  "(llamacpp)")
    price_per_mtok: float | None = Field(None, ge=0, description="price per million tokens, for the cost estimate")

    @field_validator("task")
    @classmethod
    def _known_task(cls, name: str | None) -> str | None:
        if name is not None and name not in task_names():
            raise ValueError(f"no task {name!r} (tasks: {', '.join(task_names())})")
        return name


class LlamaCppOptions(LLMOptions):
    """Options of ``llamacpp:`` teachers (a GGUF model in-process)."""

    threads: int | None = Field(None, ge=1, description="CPU threads (default: all cores)")
    n_ctx: int = Field(4096, ge=512, description="context of one call, in tokens")
    jump_forward: bool = Field(True, description="emit the characters the JSON schema forces without decoding "
                                                 "them (with concurrency > 1)")
    max_repeats: int = Field(2, ge=0, description="end a reply that lists an identical entity more than N times "
                                                  "(0: never)")


class OpenAIOptions(LLMOptions):
    """Options of ``openai:`` teachers (any OpenAI-compatible server)."""

    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    response_format: Literal["json_object", "json_schema", "json_object_schema", "none"] = Field(
        "json_object", description="how the server is asked for JSON")
    timeout: float = Field(60.0, gt=0, description="seconds per attempt")
    max_retries: int = Field(4, ge=0, description="retries after the first attempt (exponential backoff)")


def call_key(backend: str, model: str, messages: list[dict], json_schema: dict | None, max_tokens: int) -> str:
    """Cache key of a call: SHA-256 of backend, model, prompt, reply constraint and token budget."""
    payload = json.dumps([backend, model, messages, json_schema, max_tokens], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class _Call:
    """One call's outcome: the reply (cached or new), its parse, and the record to store (new calls only)."""

    key: str
    reply: str
    parsed: ParsedReply
    error: str | None
    record: dict[str, Any] | None


class LLMTeacher(Teacher):
    """Annotate with an LLM.

    Args:
        spec: the teacher spec (e.g. ``llamacpp:qwen2.5-coder-1.5b``), copied to span ``source``.
        task: a :class:`~smallext.teachers.tasks.Task` (prompt, parse, ground, split).
        backend: a :class:`~smallext.teachers.backends.Backend`.
        chunk_chars: at most this many characters of text per call (0: one document per call).
        price_per_mtok: price per million tokens for cost estimates.
    """

    def __init__(self, spec: str, task: Task, backend: Backend, *, chunk_chars: int = 400,
                 price_per_mtok: float | None = None) -> None:
        self.spec = spec
        self.task = task
        self.backend = backend
        self.chunk_chars = chunk_chars
        self.concurrency = backend.concurrency
        self.price_per_mtok = price_per_mtok

    def plan(self, docs: Sequence[Document]) -> list[list[Document]]:
        chunks = chunk_documents(docs, self.chunk_chars if self.task.joins else 0)
        order = self.task.prepare([self.task.join(c) for c in chunks])
        return [chunks[i] for i in order]

    def _call(self, messages: list[dict], max_tokens: int, text: str, res: ChunkResult, cache: CallCache) -> _Call:
        schema = self.task.json_schema(text)
        key = call_key(self.backend.name, self.backend.model, messages, schema, max_tokens)
        cached = cache.get(key)
        if cached is not None:
            res.cache_hits += 1
            return _Call(key, cached["reply"], self.task.parse(cached["reply"]), None, None)
        reply = self.backend.complete(messages, json_schema=schema, max_tokens=max_tokens)
        res.calls += 1
        res.tokens_in += reply.tokens_in
        res.tokens_out += reply.tokens_out
        res.call_seconds += reply.latency_s
        parsed = self.task.parse(reply.text) if reply.error is None else ParsedReply([], error=reply.error)
        error = reply.error or parsed.error or ("reply cut off at max_tokens" if reply.finish_reason == "length"
                                                else None)
        res.failed_calls += error is not None
        prompt_text = json.dumps(messages, ensure_ascii=False)
        record = {
            "backend": self.backend.name, "model": self.backend.model,
            "prompt_hash": hashlib.sha256(prompt_text.encode()).hexdigest()[:16], "prompt": messages,
            "reply": reply.text, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out,
            "latency": reply.latency_s, "error": error,
        }
        return _Call(key, reply.text, parsed, error, record)

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache) -> ChunkResult:
        res = ChunkResult()
        text = self.task.join(docs)
        ids = [d.id for d in docs]
        parts: list[tuple[Any, Any]] = []
        new: list[tuple[_Call, Any]] = []
        for win in self.task.windows(text, docs):
            window = win.text
            messages = self.task.messages(window)
            budget = self.task.max_tokens(window)
            call = self._call(messages, budget, window, res, cache)
            if call.error is not None:  # retry once with a larger budget
                cache.put(call.key, {**call.record, "doc_ids": ids})
                first = call.error
                call = self._call(messages, budget * 2, window, res, cache)
                if call.error is not None:
                    cache.put(call.key, {**call.record, "doc_ids": ids})
                    res.failed = {i: f"{call.error} (after one retry; first try: {first})" for i in ids}
                    return res
            grounded = self.task.ground(window, call.parsed, source=self.spec)
            parts.append((win, grounded))
            new.append((call, grounded))
        grounded = parts[0][1] if len(parts) == 1 else self.task.merge(text, parts)
        res.docs, res.stats = self.task.split(docs, grounded)
        for call, g in new:
            if call.record is not None:  # a new call: recorded with what came of it (one window: after the split)
                stats = res.stats if len(new) == 1 else g.stats
                cache.put(call.key, {**call.record, "doc_ids": ids, "parsed": call.parsed.entities,
                                     "items": call.parsed.items,
                                     "grounded": [s.to_dict() for d in res.docs for s in d.spans],
                                     "stats": stats.as_dict()})
        return res

    def describe(self) -> dict[str, Any]:
        return {
            "teacher": self.spec, "backend": self.backend.name, "model": self.backend.model,
            **self.task.describe(), "chunk_chars": self.chunk_chars,
            "constrained": getattr(self.backend, "constrained", None),
        }

    def close(self) -> None:
        self.backend.close()


def _task(schema, opts: LLMOptions) -> Task:
    selector = None
    if opts.shots > 0:
        from smallext.datasets import load_documents
        from smallext.teachers.shots import ShotSelector

        pool = schema.examples()
        if opts.examples is not None:
            pool += schema.map_documents(load_documents(opts.examples), strict=False)
        selector = ShotSelector(pool)
    return task_class(opts.task or default_task(schema))(
        schema, selector, opts.shots, reply_format=opts.reply_format, occurrences=opts.occurrences,
        shot_groups=opts.shot_groups, prompt_variant=opts.prompt_variant)


def load_llamacpp(arg: str, schema, opts: LlamaCppOptions, load_member=None) -> LLMTeacher:
    """The ``llamacpp:NAME|PATH.gguf`` teacher (the registry's loader)."""
    from smallext.teachers.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(arg, n_ctx=opts.n_ctx, n_threads=opts.threads, constrained=opts.constrained,
                              parallel=opts.concurrency, jump_forward=opts.jump_forward,
                              max_repeats=opts.max_repeats or None)
    return LLMTeacher(f"llamacpp:{arg}", _task(schema, opts), backend, chunk_chars=opts.chunk_chars,
                      price_per_mtok=opts.price_per_mtok)


def load_openai(arg: str, schema, opts: OpenAIOptions, load_member=None) -> LLMTeacher:
    """The ``openai:MODEL[@BASE_URL]`` teacher (the registry's loader)."""
    from smallext.teachers.backends.openai import OpenAIBackend

    model, _, base_url = arg.partition("@")
    backend = OpenAIBackend(model, base_url or None, api_key_env=opts.api_key_env, concurrency=opts.concurrency,
                            timeout=opts.timeout, max_retries=opts.max_retries,
                            response_format=opts.response_format if opts.constrained else "none")
    return LLMTeacher(f"openai:{arg}", _task(schema, opts), backend, chunk_chars=opts.chunk_chars,
                      price_per_mtok=opts.price_per_mtok)
