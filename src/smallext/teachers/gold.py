"""The ``gold`` teacher: copies the input documents' gold labels. For experiments only: reports say so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import BaseModel, ConfigDict

from smallext.doc import Document
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.store import CallCache


class GoldOptions(BaseModel):
    """The ``gold`` teacher takes no options."""

    model_config = ConfigDict(extra="forbid")


class GoldTeacher(Teacher):
    """Copies the input documents' gold labels (mapped to the schema's types; relations kept), score 1."""

    spec = "gold"
    uses_gold = True

    def __init__(self, schema) -> None:
        self.schema = schema

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache | None = None) -> ChunkResult:
        mapped = self.schema.map_documents(docs, strict=False)
        return ChunkResult(docs=[d.map_spans(lambda s: replace(s, score=1.0, source="gold")) for d in mapped])

    def describe(self):
        return {"teacher": "gold", "note": "gold labels copied: an upper bound, not a real teacher"}


def load_gold(arg: str, schema, opts: GoldOptions, load_member=None) -> GoldTeacher:
    """The ``gold`` teacher (the registry's loader)."""
    return GoldTeacher(schema)
