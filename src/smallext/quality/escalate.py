"""A chain of teachers: the documents the quality signals doubt most get a second, more expensive pass.

LLM Chain Ensembles (Farr et al., 2024): annotators in order of cost, each keeping what it is sure of and passing
the rest on. Here the first pass is the distillation's teacher over the whole corpus; the cross-fitted students'
flags rank the documents (:func:`~smallext.quality.errors.document_scores`), and the worst ``share`` of them are
labelled again by a second teacher (by default the same one with more shots); its labels (all of them: spans,
relations and every other kind's items) replace the first pass's for those documents. The cost (calls, tokens,
wall time) is recorded with the share.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document

__all__ = ["EscalateOptions", "escalate"]


class EscalateOptions(BaseModel):
    """``quality.escalate`` in a distill config."""

    model_config = ConfigDict(extra="forbid")
    share: float = Field(0.2, gt=0, le=1, description="share of the documents, the most doubted first, labelled again")
    teacher: str | None = Field(None, description="the second teacher (default: the distillation's teacher)")
    teacher_options: dict[str, Any] = Field(default_factory=lambda: {"shots": 4},
                                            description="its options, over the first teacher's when it is the same")


def escalate(docs: Sequence[Document], scores: dict[str, float], teacher, *, share: float, store: str | Path,
             progress: bool = False) -> tuple[list[Document], dict[str, Any]]:
    """Label the worst ``share`` of ``docs`` (by ``scores``; unflagged documents last) again with ``teacher``
    through the SQLite store ``store``, and put its labels in place of theirs (a document it fails on keeps its
    first labels).

    Returns:
        ``(documents in input order, info)``: ``info`` has ``documents`` escalated, ``share``, ``failed``, and
        the second pass's ``calls``, ``tokens_in``, ``tokens_out`` and ``wall_seconds``.
    """
    from smallext.teachers.annotate import annotate

    n = max(1, round(share * len(docs))) if docs else 0
    ranked = sorted(range(len(docs)), key=lambda i: -scores.get(docs[i].id, 0.0))[:n]
    picked = [docs[i] for i in sorted(ranked)]
    summary = annotate(picked, teacher, None, store=store, progress=progress)
    again = {d.id: d for d in summary.pop("documents_out") if "teacher_error" not in d.meta}
    out = [d.with_labels_of(again[d.id]) if d.id in again else d for d in docs]
    return out, {"documents": len(picked), "share": len(picked) / max(1, len(docs)), "failed": summary["failed"],
                 "teacher": teacher.spec, "calls": summary["calls"], "tokens_in": summary["tokens_in"],
                 "tokens_out": summary["tokens_out"], "wall_seconds": summary["wall_seconds_all_runs"]}
