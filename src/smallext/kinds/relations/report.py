"""The relations kind's reading of its evaluation section: its typed form, its part of a distill report and its
table for the terminal (``smallext evaluate``).

=============  ===========================================================================================
``scores``     :class:`RelationScores`, the model of the ``relations`` section of an evaluation result
``report``     :func:`section`: ``## Relations`` of ``report.md`` (strict and boundaries, per relation type)
``table``      :func:`table`: the rich table of strict and boundaries scores and the relation micro F1 line
=============  ===========================================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from smallext.evaluate import CountedScores

if TYPE_CHECKING:
    from smallext.report import TestResults

__all__ = ["RelationScores", "section", "table"]


class RelationScores(BaseModel):
    """The ``relations`` section (:mod:`smallext.kinds.relations.scorer`): the scores in each setting of Taillé et
    al. (2020), ``strict`` (arguments' boundaries and entity types match) and ``boundaries`` (boundaries only)."""

    model_config = ConfigDict(extra="forbid")

    strict: CountedScores
    boundaries: CountedScores


def _cell(r: RelationScores | None, setting: str) -> str:
    if not r:
        return "-"
    m = getattr(r, setting).micro
    return f"{m.f1:.3f} ({m.ci95[0]:.3f}-{m.ci95[1]:.3f})"


def section(t: TestResults) -> list[str]:
    """The report's section on relations (teacher and student side by side, strict and boundaries, per relation
    type), or nothing when neither the teacher's nor the student's scores have a relations section."""
    from smallext.report import per_type_table

    tr, sr = t.teacher.scores.section("relations"), t.student.scores.section("relations")
    if not tr and not sr:
        return []
    same = t.student.scores_on_teacher_sample.section("relations")
    docs_t, docs_s = t.teacher.scores.documents, t.student.scores.documents
    return ["## Relations", "", "| system | documents | strict F1 (95% CI) | boundaries F1 (95% CI) |",
            "|---|---|---|---|",
            f"| teacher | {docs_t} | {_cell(tr, 'strict')} | {_cell(tr, 'boundaries')} |",
            f"| student, teacher's documents | {docs_t} | {_cell(same, 'strict')} | {_cell(same, 'boundaries')} |",
            f"| student | {docs_s} | {_cell(sr, 'strict')} | {_cell(sr, 'boundaries')} |",
            "", "Strict: both arguments' boundaries and entity types and the relation type match; boundaries: the "
            "arguments' entity types are ignored.", "",
            *per_type_table("relation type", tr.strict.per_type if tr else {}, sr.strict.per_type if sr else {},
                            ("teacher (strict)", "student (strict)"))]


def table(scores: RelationScores, documents: int) -> list[Any]:
    """What ``smallext evaluate`` prints for the section: a :class:`rich.table.Table` of the strict scores and the
    boundaries F1 per relation type and micro, then the relation micro F1 line."""
    from rich.table import Table

    out = Table(title="Relation scores (strict | boundaries)")
    for col in ("relation type", "P strict", "R strict", "F1 strict", "F1 boundaries", "support"):
        out.add_column(col, justify="left" if col == "relation type" else "right")
    for t, v in scores.strict.per_type.items():
        b = scores.boundaries.per_type[t]
        out.add_row(t, f"{v.precision:.4f}", f"{v.recall:.4f}", f"{v.f1:.4f}", f"{b.f1:.4f}", str(v.support))
    m, b = scores.strict.micro, scores.boundaries.micro
    lo, hi = m.ci95
    out.add_section()
    out.add_row("micro", f"{m.precision:.4f}", f"{m.recall:.4f}", f"{m.f1:.4f}  [{lo:.4f}, {hi:.4f}]",
                f"{b.f1:.4f}", str(m.tp + m.fn))
    return [out, f"relation micro F1: strict {m.f1:.4f}, boundaries {b.f1:.4f}"]
