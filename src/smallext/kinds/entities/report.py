"""The entities kind's reading of its evaluation section: its typed form, its part of a distill report and its
table for the terminal (``smallext evaluate``).

=============  ===========================================================================================
``scores``     :class:`EntityScores`, the model of the ``entities`` section of an evaluation result
``report``     :func:`section`: ``## F1 per entity type`` of ``report.md``, teacher and student side by side
``table``      :func:`table`: the rich table of per-type, micro and macro scores and the micro F1 line
=============  ===========================================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import model_serializer

from smallext.evaluate import CountedScores

if TYPE_CHECKING:
    from smallext.report import TestResults

__all__ = ["EntityScores", "section", "table"]


class EntityScores(CountedScores):
    """The ``entities`` section (:mod:`smallext.kinds.entities.scorer`): ``micro``, ``macro``, ``per_type`` and
    ``support`` (type -> gold count; left out of slimmed results, :func:`smallext.evaluate.slim`)."""

    support: dict[str, int] | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        if out.get("support") is None:
            out.pop("support", None)
        return out


def section(t: TestResults) -> list[str]:
    """The report's section on entities: F1 per entity type, teacher and student (on the whole test set), with the
    types' gold support; nothing when neither has an entities section."""
    from smallext.report import per_type_table

    teacher, student = t.teacher.scores.section("entities"), t.student.scores.section("entities")
    if teacher is None and student is None:
        return []
    return ["## F1 per entity type", "",
            *per_type_table("type", teacher.per_type if teacher else {}, student.per_type if student else {})]


def table(scores: EntityScores, documents: int, *, title: str = "Entity-level scores (strict match)") -> list[Any]:
    """What ``smallext evaluate`` prints for the section: a :class:`rich.table.Table` of per-type, micro (with its
    95% interval) and macro scores, then the micro F1 line."""
    from rich.table import Table

    out = Table(title=title)
    for col in ("type", "precision", "recall", "F1", "support"):
        out.add_column(col, justify="left" if col == "type" else "right")
    for t, v in scores.per_type.items():
        out.add_row(t, f"{v.precision:.4f}", f"{v.recall:.4f}", f"{v.f1:.4f}", str(v.support))
    m = scores.micro
    lo, hi = m.ci95
    out.add_section()
    out.add_row("micro", f"{m.precision:.4f}", f"{m.recall:.4f}", f"{m.f1:.4f}  [{lo:.4f}, {hi:.4f}]",
                str(m.tp + m.fn))
    a = scores.macro
    out.add_row("macro", f"{a.precision:.4f}", f"{a.recall:.4f}", f"{a.f1:.4f}", "")
    return [out, f"micro F1 {m.f1:.4f}  (95% CI {lo:.4f}-{hi:.4f}, {documents:,} documents)"]
