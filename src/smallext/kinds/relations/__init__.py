"""The relations kind: a directed, typed link between two entities of the same document.

Its schema section is ``relation_types`` (:mod:`.schema`), its Document field ``relations`` (:mod:`.document`:
indices into the spans, remapped whenever the spans change).
"""

from __future__ import annotations

from smallext.kinds.base import Kind
from smallext.kinds.relations.document import LAYER, Relation
from smallext.kinds.relations.schema import SECTION, RelationType

__all__ = ["KIND", "Relation", "RelationType"]

KIND = Kind(
    name="relations",
    section=SECTION,
    layer=LAYER,
    requires=("entities",),
    parts={
        "task": "smallext.kinds.relations.task:RelationTask",
        "scorer": "smallext.kinds.relations.scorer:score",
        "primary": "smallext.kinds.relations.scorer:primary",
        "summary": "smallext.kinds.relations.scorer:summary",
        "card_rows": "smallext.kinds.relations.scorer:card_rows",
        "scores": "smallext.kinds.relations.report:RelationScores",
        "report": "smallext.kinds.relations.report:section",
        "table": "smallext.kinds.relations.report:table",
        "wire": "smallext.kinds.relations.wire:WIRE",
        "head": "smallext.kinds.relations.head:HEAD",
        "student_options": "smallext.kinds.relations.options:RelationStudentOptions",
        "vote": "smallext.kinds.relations.vote:RelationVote",
        "labelstudio": "smallext.kinds.relations.labelstudio:LABELSTUDIO",
        "html": "smallext.kinds.relations.visualize:render",
    },
    describe="directed, typed links between two entities (strict and boundaries relation P/R/F1)",
)
