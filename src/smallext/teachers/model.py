"""A trained smallext student as a teacher (so a bigger student can teach a smaller one)."""

from __future__ import annotations

from collections.abc import Sequence

from smallext.doc import Document, Span
from smallext.teachers.base import ChunkResult, Teacher


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

        super().__init__()
        self.spec = f"model:{model_dir}"
        self.extractor = Extractor.load(model_dir, threads=threads)
        self.schema = schema

    def plan(self, docs):
        return [list(docs[i : i + 256]) for i in range(0, len(docs), 256)]

    def annotate_chunk(self, docs: Sequence[Document]) -> ChunkResult:
        res = ChunkResult()
        for d, p in zip(docs, self.extractor.extract([d.without_spans() for d in docs]), strict=True):
            spans = []
            for s in p.spans:
                label = self.schema.resolve_label(s.label)
                if label is not None:
                    spans.append(Span(s.start, s.end, label, s.score, self.spec))
            res.docs.append(d.with_spans(spans))
        return res


class GoldTeacher(Teacher):
    """Copies the input documents' gold labels. For experiments only: reports say so."""

    spec = "gold"
    uses_gold = True

    def __init__(self, schema) -> None:
        super().__init__()
        self.schema = schema

    def annotate_chunk(self, docs: Sequence[Document]) -> ChunkResult:
        mapped = self.schema.map_documents(docs, strict=False)
        return ChunkResult(docs=[d.with_spans([Span(s.start, s.end, s.label, 1.0, "gold") for s in d.spans])
                                 for d in mapped])

    def describe(self):
        return {"teacher": "gold", "note": "gold labels copied: an upper bound, not a real teacher"}
