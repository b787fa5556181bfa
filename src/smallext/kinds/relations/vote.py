"""How an ensemble of teachers votes on relations (:class:`~smallext.teachers.ensemble.EnsembleTeacher`).

A relation is identified by its two arguments' spans (boundaries and types) and its label; it is kept when more
than half of the members' weight proposes it (every proposed one in ``union`` mode) and both its arguments are
among the spans the entity vote kept. Its score is its vote share.
"""

from __future__ import annotations

from collections import defaultdict

from smallext.doc import Document, Span
from smallext.kinds.relations.document import Relation

__all__ = ["RelationVote"]


class RelationVote:
    """The ballot box of relations, per document (the relations kind's ``vote`` part)."""

    field = "relations"

    def __init__(self) -> None:
        self.votes: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, doc: Document, weight: float) -> None:
        """One member's relations of ``doc``, with the member's ``weight`` (1 in union mode)."""
        for key in {(doc.spans[r.head].key, doc.spans[r.tail].key, r.label) for r in doc.relations}:
            self.votes[doc.id][key] += weight

    def decide(self, doc_id: str, spans: list[Span], total: float, union: bool, source: str) -> list[Relation]:
        """The kept relations of a document, as indices into its kept ``spans``."""
        index = {s.key: i for i, s in enumerate(spans)}
        return [Relation(index[h], index[t], lab, round(v / total, 4), source)
                for (h, t, lab), v in sorted(self.votes[doc_id].items())
                if (union or v > total / 2) and h in index and t in index]
