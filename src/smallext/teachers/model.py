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
    """Annotate with a packaged student (:class:`~smallext.students.extractor.Extractor`); spans keep the
    model's scores. Labels the schema does not know are dropped.

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
        for d, p in zip(docs, self.extractor.extract([d.without_spans() for d in docs]), strict=True):
            spans = []
            for s in p.spans:
                label = self.schema.resolve_label(s.label)
                if label is not None:
                    spans.append(replace(s, label=label, source=self.spec))
            res.docs.append(d.with_spans(spans))
        return res


def load_model_teacher(arg: str, schema, opts: ModelOptions, load_member=None) -> ModelTeacher:
    """The ``model:DIR`` teacher (the registry's loader)."""
    return ModelTeacher(arg, schema, opts.threads)
