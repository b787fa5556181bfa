"""The teacher interface: a teacher annotates Documents (by their text) according to a schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from smallext.doc import Document
from smallext.teachers.result import ChunkResult
from smallext.teachers.store import CallCache, MemoryCache

__all__ = ["ChunkResult", "Teacher"]  # ChunkResult: from smallext.teachers.result


class Teacher:
    """Base class. Subclasses implement :meth:`annotate_chunk` (and may override :meth:`plan`).

    A teacher holds no store: the caller gives each :meth:`annotate_chunk` call the
    :class:`~smallext.teachers.store.CallCache` to use (LLM teachers look replies up there and record their
    calls; others ignore it).

    Attributes:
        spec: the spec string that names this teacher (copied to each span's ``source``).
        concurrency: chunks that may be annotated at once (threads); 1: never call it from two threads.
        uses_gold: it reads the input documents' gold spans (the ``gold`` teacher).
        price_per_mtok: price per million tokens (in + out) for cost estimates, or None.
    """

    spec: str = "teacher"
    concurrency: int = 1
    uses_gold: bool = False
    price_per_mtok: float | None = None

    def plan(self, docs: Sequence[Document]) -> list[list[Document]]:
        """Split documents into chunks annotated together (default: 64 per chunk)."""
        return [list(docs[i : i + 64]) for i in range(0, len(docs), 64)]

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache) -> ChunkResult:  # pragma: no cover
        raise NotImplementedError

    def annotate(self, docs: Iterable[Document], cache: CallCache | None = None) -> Iterator[Document]:
        """Yield each document with the teacher's spans (failed documents come back without spans and with
        ``meta["teacher_error"]``). Input spans are ignored (except by the ``gold`` teacher). Calls are
        cached in ``cache`` (default: in memory, for this call only)."""
        cache = cache if cache is not None else MemoryCache()
        docs = list(docs)
        for chunk in self.plan(docs):
            res = self.annotate_chunk(chunk, cache)
            by_id = {d.id: d for d in res.docs}
            for d in chunk:
                if d.id in by_id:
                    yield by_id[d.id]
                else:
                    yield d.unlabelled(teacher_error=res.failed.get(d.id, "not annotated"))

    def describe(self) -> dict[str, Any]:
        """Facts for reports and the model card."""
        return {"teacher": self.spec}

    def close(self) -> None:  # noqa: B027 - most teachers hold nothing to free
        """Free what the teacher holds (a local model's weights and KV cache); it cannot annotate after."""
