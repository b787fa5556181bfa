"""How an ensemble of teachers votes on entities (:class:`~smallext.teachers.ensemble.EnsembleTeacher`).

A span (exact boundaries and type) is a candidate when more than half of the members' weight proposes it (every
proposed span in ``union`` mode); overlapping candidates compete by vote share, then length, then position
(:func:`~smallext.doc.non_overlapping`). A kept span's score is its vote share; its alignment the best any member
gave it (``exact`` before ``fuzzy``).
"""

from __future__ import annotations

from collections import defaultdict

from smallext.doc import Document, Span, non_overlapping

__all__ = ["SpanVote"]

_ALIGNMENT_RANK = {"exact": 0, "fuzzy": 1, None: 2}


class SpanVote:
    """The ballot box of spans, per document (the entities kind's ``vote`` part)."""

    def __init__(self) -> None:
        self.votes: dict[str, dict[tuple[int, int, str], float]] = defaultdict(lambda: defaultdict(float))
        self.aligned: dict[tuple[str, tuple[int, int, str]], str | None] = {}

    def add(self, doc: Document, weight: float) -> None:
        """One member's spans of ``doc``, with the member's ``weight`` (1 in union mode)."""
        for s in {s.key: s for s in doc.spans}.values():
            self.votes[doc.id][s.key] += weight
            k = (doc.id, s.key)
            if _ALIGNMENT_RANK[s.alignment] < _ALIGNMENT_RANK[self.aligned.get(k)]:
                self.aligned[k] = s.alignment

    def spans(self, doc_id: str, total: float, union: bool, source: str) -> list[Span]:
        """The kept spans of a document, sorted (see the module docstring); ``total`` is the members' weight."""
        cands = [(a, b, lab, v / total) for (a, b, lab), v in self.votes[doc_id].items() if union or v > total / 2]
        kept = non_overlapping(cands, lambda c: (c[0], c[1]), lambda c: (-c[3], -(c[1] - c[0]), c[0]))
        return sorted((Span(a, b, lab, round(sc, 4), source, self.aligned.get((doc_id, (a, b, lab))))
                       for a, b, lab, sc in kept), key=lambda s: s.key)
