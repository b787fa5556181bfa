"""The records kind: filled-in forms (a receipt's company, date and total), each field's values grounded to
character offsets.

Its schema section is ``record_types`` (:mod:`.schema`: typed fields), its Document field ``records``
(:mod:`.document`: :class:`Record` and :class:`Value`, not span-dependent), its LLM task :mod:`.task` (values
normalised by :mod:`.normalize`, grounded by :mod:`.grounding`), how an ensemble votes :mod:`.vote` (per field),
its scorer :mod:`.scorer` (field- and record-level F1 in the normalised setting and the SROIE protocol) and its
report :mod:`.report`. The student, serving and Label Studio parts come later.
"""

from __future__ import annotations

from smallext.kinds.base import Kind
from smallext.kinds.records.document import LAYER, Record, Value
from smallext.kinds.records.schema import SECTION, RecordField, RecordType

__all__ = ["KIND", "Record", "RecordField", "RecordType", "Value"]

KIND = Kind(
    name="records",
    section=SECTION,
    layer=LAYER,
    parts={
        "task": "smallext.kinds.records.task:RecordTask",
        "scorer": "smallext.kinds.records.scorer:score",
        "primary": "smallext.kinds.records.scorer:primary",
        "summary": "smallext.kinds.records.scorer:summary",
        "card_rows": "smallext.kinds.records.scorer:card_rows",
        "scores": "smallext.kinds.records.report:RecordScores",
        "report": "smallext.kinds.records.report:section",
        "table": "smallext.kinds.records.report:table",
        "vote": "smallext.kinds.records.vote:RecordVote",
    },
    describe="filled-in forms: typed fields whose values are grounded to character offsets (field and record F1)",
)
