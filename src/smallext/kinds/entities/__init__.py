"""The entities kind: typed spans of the text, a Document's ``spans`` (the kind every other kind builds on).

Its schema section is ``entity_types`` (:class:`smallext.schema.EntityType`); its items are the document's
:class:`~smallext.doc.Span` list, so it registers no layer of its own.
"""

from __future__ import annotations

from smallext.kinds.base import Kind
from smallext.schema import EntityType, Section

KIND = Kind(
    name="entities",
    section=Section("entity_types", EntityType),
    parts={
        "task": "smallext.kinds.entities.task:EntityTask",
        "scorer": "smallext.kinds.entities.scorer:score",
        "primary": "smallext.kinds.entities.scorer:primary",
        "summary": "smallext.kinds.entities.scorer:summary",
        "card_rows": "smallext.kinds.entities.scorer:card_rows",
        "scores": "smallext.kinds.entities.report:EntityScores",
        "report": "smallext.kinds.entities.report:section",
        "table": "smallext.kinds.entities.report:table",
        "wire": "smallext.kinds.entities.wire:WIRE",
        "head": "smallext.kinds.entities.head:HEAD",
        "vote": "smallext.kinds.entities.vote:SpanVote",
        "labelstudio": "smallext.kinds.entities.labelstudio:LABELSTUDIO",
        "html": "smallext.kinds.entities.visualize:render",
    },
    describe="typed spans of the text (strict-match span P/R/F1)",
)
