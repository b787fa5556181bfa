"""What a teacher returns for one chunk of documents, and what a store saves of it.

Its own module, below both :mod:`smallext.teachers.base` (the teachers that make it) and
:mod:`smallext.teachers.store` (the store that saves it), so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smallext.doc import Document
from smallext.teachers.grounding import GroundingStats

__all__ = ["ChunkResult"]


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
