"""A trained smallext student as a teacher (so a bigger student can teach a smaller one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.store import CallCache


class ModelOptions(BaseModel):
    """Options of ``model:`` teachers."""

    model_config = ConfigDict(extra="forbid")
    threads: int | None = Field(None, ge=1, description="onnxruntime threads (default: all cores)")


class ModelTeacher(Teacher):
    """Annotate with a packaged student (:class:`~smallext.students.extractor.Extractor`): everything it predicts
    (spans, and the relations of a relation student), with the model's scores and this teacher as their source.
    Labels are mapped to the schema's types through names and aliases; a span or relation whose label the schema
    does not know is dropped (with the relations that hang on a dropped span).

    Args:
        model_dir: the packaged model directory.
        schema: target schema.
        threads: onnxruntime threads.
    """

    def __init__(self, model_dir: str, schema, threads: int | None = None) -> None:
        from smallext.students.extractor import Extractor

        self.spec = f"model:{model_dir}"
        self.extractor = Extractor.load(model_dir, threads=threads)
        self.schema = schema

    def plan(self, docs):
        return [list(docs[i : i + 256]) for i in range(0, len(docs), 256)]

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache | None = None) -> ChunkResult:
        res = ChunkResult()
        preds = self.extractor.extract([d.unlabelled() for d in docs])
        for d, p in zip(docs, self.schema.map_documents(preds, strict=False), strict=True):
            sourced = p.map_spans(lambda s: replace(s, source=self.spec))
            layers = {f: [replace(x, source=self.spec) if hasattr(x, "source") else x for x in items]
                      for f, items in sourced.layers.items()}
            res.docs.append(d.with_labels_of(sourced.replace(**layers)))
        return res


def load_model_teacher(arg: str, schema, opts: ModelOptions, load_member=None) -> ModelTeacher:
    """The ``model:DIR`` teacher (the registry's loader)."""
    return ModelTeacher(arg, schema, opts.threads)
