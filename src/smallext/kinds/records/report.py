"""The records kind's reading of its evaluation section: its typed form, its part of a distill report and its
table for the terminal (``smallext evaluate``).

=============  ===========================================================================================
``scores``     :class:`RecordScores`, the model of the ``records`` section of an evaluation result
``report``     :func:`section`: ``## Records`` of ``report.md`` (field and record F1, both settings, per field)
``table``      :func:`table`: the rich table of per-field scores and the record-level line
=============  ===========================================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from smallext.evaluate import MicroScores, Scores, TypeScores

if TYPE_CHECKING:
    from smallext.report import TestResults

__all__ = ["FieldScores", "RecordLevelScores", "RecordScores", "SettingScores", "section", "table"]


class FieldScores(BaseModel):
    """Field-level scores: ``micro``, ``macro`` and ``per_field`` (``Type.field`` -> scores)."""

    model_config = ConfigDict(extra="forbid")
    micro: MicroScores
    macro: Scores
    per_field: dict[str, TypeScores]


class RecordLevelScores(BaseModel):
    """Record-level scores (Hungarian-matched records, a pair counting when all its items agree)."""

    model_config = ConfigDict(extra="forbid")
    micro: MicroScores
    macro: Scores
    per_type: dict[str, TypeScores]


class SettingScores(BaseModel):
    """Both levels in one setting."""

    model_config = ConfigDict(extra="forbid")
    fields: FieldScores
    records: RecordLevelScores


class RecordScores(SettingScores):
    """The ``records`` section (:mod:`smallext.kinds.records.scorer`): the normalised setting at the top level,
    the SROIE protocol under ``protocol``, the grounding precision of the predicted values (in [0, 1]) and how many
    predicted values had offsets."""

    protocol: SettingScores
    grounding_precision: float
    values: int


def _cell(m: MicroScores | None) -> str:
    return "-" if m is None else f"{m.f1:.3f} ({m.ci95[0]:.3f}-{m.ci95[1]:.3f})"


def section(t: TestResults) -> list[str]:
    """The report's section on records (teacher and student side by side: field and record F1 in both settings,
    then F1 per field), or nothing when neither side has a records section."""
    from smallext.report import per_type_table

    tr, sr = t.teacher.scores.section("records"), t.student.scores.section("records")
    if not tr and not sr:
        return []
    rows = [("teacher", t.teacher.scores.documents, tr), ("student", t.student.scores.documents, sr)]
    lines = ["## Records", "", "| system | documents | field F1 (95% CI) | field F1, SROIE protocol | record F1 | "
             "grounding precision |", "|---|---|---|---|---|---|"]
    for name, docs, r in rows:
        if r is None:
            lines.append(f"| {name} | {docs} | - | - | - | - |")
            continue
        lines.append(f"| {name} | {docs} | {_cell(r.fields.micro)} | {_cell(r.protocol.fields.micro)} | "
                     f"{_cell(r.records.micro)} | {r.grounding_precision:.3f} |")
    lines += ["", "Field F1: each (record type, field, value) item, values compared as values (dates, numbers and "
              "money normalised); protocol: strings compared after whitespace and case folding (SROIE task 3). "
              "Record F1: records matched one to one (Hungarian), a pair counting when every item agrees.", "",
              *per_type_table("field", tr.fields.per_field if tr else {}, sr.fields.per_field if sr else {})]
    return lines


def table(scores: RecordScores, documents: int) -> list[Any]:
    """What ``smallext evaluate`` prints for the section: a :class:`rich.table.Table` of per-field scores (both
    settings' F1) and micro rows, then the record-level line."""
    from rich.table import Table

    out = Table(title="Record field scores (normalized | protocol)")
    for col in ("field", "precision", "recall", "F1", "F1 protocol", "support"):
        out.add_column(col, justify="left" if col == "field" else "right")
    for f, v in scores.fields.per_field.items():
        p = scores.protocol.fields.per_field.get(f)
        out.add_row(f, f"{v.precision:.4f}", f"{v.recall:.4f}", f"{v.f1:.4f}", f"{p.f1:.4f}" if p else "-",
                    str(v.support))
    m, pm = scores.fields.micro, scores.protocol.fields.micro
    out.add_section()
    out.add_row("micro", f"{m.precision:.4f}", f"{m.recall:.4f}", f"{m.f1:.4f}  [{m.ci95[0]:.4f}, {m.ci95[1]:.4f}]",
                f"{pm.f1:.4f}", str(m.tp + m.fn))
    r = scores.records.micro
    return [out, f"record F1 {r.f1:.4f} (P {r.precision:.4f}, R {r.recall:.4f}; {documents:,} documents), "
                 f"grounding precision {scores.grounding_precision:.4f}"]
