"""The teacher interface: a teacher annotates Documents (by their text) according to a schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from smallext.doc import Document
from smallext.teachers.grounding import GroundingStats
from smallext.teachers.store import CallCache, MemoryCache

__all__ = ["ChunkResult", "Teacher"]


@dataclass
class ChunkResult:
    """The outcome of annotating one chunk of documents.

    Attributes:
        docs: annotated documents (spans set; ``source`` names the teacher).
        failed: ``{document id: reason}`` for documents the teacher could not annotate.
        stats: grounding statistics (LLM teachers).
        tokens_in, tokens_out: tokens of new (not cached) calls.
        calls: backend calls made; cache_hits: replies reused from the cache; failed_calls: calls whose
            reply could not be used (each retry counts).
        call_seconds: summed latency of the calls made, seconds.
    """

    docs: list[Document] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stats: GroundingStats = field(default_factory=GroundingStats)
    tokens_in: int = 0
    tokens_out: int = 0
    calls: int = 0
    cache_hits: int = 0
    failed_calls: int = 0
    call_seconds: float = 0.0

    def add_costs(self, other: ChunkResult) -> None:
        """Add ``other``'s statistics, tokens, calls and failures to this result (not its documents)."""
        self.failed.update(other.failed)
        self.stats += other.stats
        for k in ("tokens_in", "tokens_out", "calls", "cache_hits", "failed_calls", "call_seconds"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


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
