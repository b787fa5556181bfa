"""The LLM teacher = task (prompt, parse, ground) + backend (who answers) + call cache.

Several short documents go into one call (consecutive documents up to ``chunk_chars`` characters, joined
by newlines), which amortises the instructions and shots over more text. The reply is grounded in the
joined text and spans are split back to their documents; a span that crosses documents is dropped.

A reply that is not valid JSON, or cut off at ``max_tokens``, is retried once with twice the budget; if it
still fails, the chunk's documents are recorded as failed with the reason (and retried on the next run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from smallext.doc import Document, Span
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.grounding import Occurrences, ground
from smallext.teachers.task import NERTask, chunk_documents


def call_key(backend: str, model: str, messages: list[dict], json_schema: dict | None, max_tokens: int) -> str:
    """Cache key of a call: SHA-256 of backend, model, prompt, reply constraint and token budget."""
    payload = json.dumps([backend, model, messages, json_schema, max_tokens], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LLMTeacher(Teacher):
    """Annotate with an LLM.

    Args:
        spec: the teacher spec (e.g. ``llamacpp:qwen2.5-coder-1.5b``), copied to span ``source``.
        task: the :class:`~smallext.teachers.task.NERTask`.
        backend: a :class:`~smallext.teachers.backends.Backend`.
        chunk_chars: at most this many characters of text per call (0: one document per call).
        occurrences: grounding of repeated strings (``all`` or ``first``; see :mod:`.grounding`).
    """

    def __init__(self, spec: str, task: NERTask, backend, *, chunk_chars: int = 400,
                 occurrences: Occurrences = "all") -> None:
        super().__init__()
        self.spec = spec
        self.task = task
        self.backend = backend
        self.chunk_chars = chunk_chars
        self.occurrences = occurrences
        self.concurrency = getattr(backend, "concurrency", 1)

    def plan(self, docs: Sequence[Document]) -> list[list[Document]]:
        chunks = chunk_documents(docs, self.chunk_chars)
        self.task.prefetch_shots(["\n".join(d.text for d in c) for c in chunks])
        return chunks

    def _call(self, messages: list[dict], max_tokens: int, res: ChunkResult, doc_ids: list[str], text: str):
        schema = self.task.json_schema(text)
        key = call_key(self.backend.name, self.backend.model, messages, schema, max_tokens)
        cached = self.cache.get(key)
        if cached is not None:
            res.cache_hits += 1
            return key, cached["reply"], None, "stop"
        reply = self.backend.complete(messages, json_schema=schema, max_tokens=max_tokens)
        res.calls += 1
        res.tokens_in += reply.tokens_in
        res.tokens_out += reply.tokens_out
        error = reply.error
        parsed = self.task.parse(reply.text) if error is None else None
        if parsed is not None and (parsed.error or reply.finish_reason == "length"):
            error = parsed.error or "reply cut off at max_tokens"
        prompt_text = json.dumps(messages, ensure_ascii=False)
        self.cache.put(key, {
            "backend": self.backend.name, "model": self.backend.model,
            "prompt_hash": hashlib.sha256(prompt_text.encode()).hexdigest()[:16], "prompt": messages,
            "reply": reply.text, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out,
            "latency": reply.latency_s, "error": error, "doc_ids": doc_ids,
        })
        return key, reply.text, error, reply.finish_reason

    def annotate_chunk(self, docs: Sequence[Document]) -> ChunkResult:
        res = ChunkResult()
        text = "\n".join(d.text for d in docs)
        ids = [d.id for d in docs]
        messages = self.task.messages(text)
        budget = self.task.max_tokens(text)
        key, reply, error, _ = self._call(messages, budget, res, ids, text)
        if error is not None:  # retry once with a larger budget
            key, reply, error2, _ = self._call(messages, budget * 2, res, ids, text)
            if error2 is not None:
                res.failed = {i: f"{error2} (after one retry; first try: {error})" for i in ids}
                return res
        parsed = self.task.parse(reply)
        spans, stats, aligns = ground(text, parsed.entities, self.task.schema.resolve_label,
                                      occurrences=self.occurrences, source=self.spec)
        res.stats += stats
        self.cache.update_call(key, parsed=parsed.entities, grounded=[s.to_dict() for s in spans],
                               stats=stats.as_dict())
        pos = assigned = 0
        for d in docs:
            lo, hi = pos, pos + len(d.text)
            mine = [Span(s.start - lo, s.end - lo, s.label, s.score, s.source) for s in spans
                    if lo <= s.start and s.end <= hi]
            res.docs.append(d.with_spans(mine))
            assigned += len(mine)
            pos = hi + 1
        crossing = len(spans) - assigned  # spans that cross a document boundary belong to no document
        res.stats.ungrounded += crossing
        res.stats.spans -= crossing
        return res

    def describe(self) -> dict[str, Any]:
        return {
            "teacher": self.spec, "backend": self.backend.name, "model": self.backend.model,
            "shots": self.task.shots, "reply_format": self.task.reply_format,
            "chunk_chars": self.chunk_chars, "occurrences": self.occurrences,
            "constrained": getattr(self.backend, "constrained", None),
        }

    def close(self) -> None:
        self.backend.close()
