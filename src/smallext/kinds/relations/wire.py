"""The relations kind on the wire: its field in the HTTP server's answer (:mod:`smallext.serve.app`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from smallext.doc import Document

__all__ = ["RelationOut", "WIRE"]


class RelationOut(BaseModel):
    head: int = Field(description="index of the head (first argument) in the document's spans")
    tail: int = Field(description="index of the tail (second argument) in the document's spans")
    label: str
    head_text: str
    tail_text: str
    score: float | None = Field(description="the relation classifier's probability, 0-1")


class RelationWire:
    """``relations`` of ``POST /extract``'s documents; ``relation_types`` of ``GET /metadata``."""

    field = "relations"
    model = RelationOut
    description = "relations between the spans (students with relation types)"

    def items(self, doc: Document) -> list[RelationOut]:
        return [RelationOut(head=r.head, tail=r.tail, label=r.label, head_text=doc.span_text(doc.spans[r.head]),
                            tail_text=doc.span_text(doc.spans[r.tail]), score=r.score) for r in doc.relations]

    def metadata(self, extractor) -> dict[str, list[str]]:
        """Its keys in ``GET /metadata``: the relation types the student predicts (none without a relation head)."""
        head = extractor.head("relations")
        return {"relation_types": list(head.labels) if head is not None else []}


WIRE = RelationWire()
