"""The entities kind on the wire: its field in the HTTP server's answer (:mod:`smallext.serve.app`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from smallext.doc import Document

__all__ = ["SpanOut", "WIRE"]


class SpanOut(BaseModel):
    start: int = Field(description="first character, 0-based")
    end: int = Field(description="one past the last character")
    label: str
    text: str
    score: float | None = Field(description="mean tag probability, 0-1")


class EntityWire:
    """``spans`` of ``POST /extract``'s documents; ``entity_types`` of ``GET /metadata``."""

    field = "spans"
    model = SpanOut
    description = "labelled character spans, sorted by offset"

    def items(self, doc: Document) -> list[SpanOut]:
        return [SpanOut(start=s.start, end=s.end, label=s.label, text=doc.span_text(s), score=s.score)
                for s in doc.spans]

    def metadata(self, extractor) -> dict[str, list[str]]:
        """Its keys in ``GET /metadata``: the entity types the student predicts."""
        return {"entity_types": list(extractor.entity_types)}


WIRE = EntityWire()
