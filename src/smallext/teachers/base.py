"""The teacher interface: a teacher annotates Documents (by their text) according to a schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from smallext.doc import Document
from smallext.teachers.grounding import GroundingStats


@dataclass
class ChunkResult:
    """The outcome of annotating one chunk of documents.

    Attributes:
        docs: annotated documents (spans set; ``source`` names the teacher).
        failed: ``{document id: reason}`` for documents the teacher could not annotate.
        stats: grounding statistics (LLM teachers).
        tokens_in, tokens_out: tokens of new (not cached) calls.
        calls: backend calls made; cache_hits: replies reused from the cache.
    """

    docs: list[Document] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stats: GroundingStats = field(default_factory=GroundingStats)
    tokens_in: int = 0
    tokens_out: int = 0
    calls: int = 0
    cache_hits: int = 0


class MemoryCache:
    """An in-memory call cache with the :class:`~smallext.teachers.store.Store` interface."""

    def __init__(self) -> None:
        self._d: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self._d.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        if record.get("error") is None:
            self._d.setdefault(key, record)

    def update_call(self, key: str, **fields: Any) -> None:
        pass


class Teacher:
    """Base class. Subclasses implement :meth:`annotate_chunk` (and may override :meth:`plan`).

    Attributes:
        spec: the spec string that names this teacher (copied to each span's ``source``).
        concurrency: chunks that may be annotated at once (threads).
        cache: where LLM calls are cached (a Store, set by :func:`~smallext.teachers.annotate.annotate`).
    """

    spec: str = "teacher"
    concurrency: int = 1
    uses_gold: bool = False

    def __init__(self) -> None:
        self.cache = MemoryCache()

    def plan(self, docs: Sequence[Document]) -> list[list[Document]]:
        """Split documents into chunks annotated together (default: 64 per chunk)."""
        return [list(docs[i : i + 64]) for i in range(0, len(docs), 64)]

    def annotate_chunk(self, docs: Sequence[Document]) -> ChunkResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def annotate(self, docs: Iterable[Document]) -> Iterator[Document]:
        """Yield each document with the teacher's spans (failed documents come back without spans and with
        ``meta["teacher_error"]``). Input spans are ignored (except by the ``gold`` teacher)."""
        docs = list(docs)
        for chunk in self.plan(docs):
            res = self.annotate_chunk(chunk)
            by_id = {d.id: d for d in res.docs}
            for d in chunk:
                if d.id in by_id:
                    yield by_id[d.id]
                else:
                    yield d.with_spans([], teacher_error=res.failed.get(d.id, "not annotated"))

    def describe(self) -> dict[str, Any]:
        """Facts for reports and the model card."""
        return {"teacher": self.spec}

    def close(self) -> None:
        """Free what the teacher holds (a local model's weights and KV cache); it cannot annotate after."""
