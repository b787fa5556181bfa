"""The relations kind in Label Studio (:mod:`smallext.io.labelstudio`): a ``<Relations>`` block and links
between regions.

Config: ``<Relations>`` with one ``<Relation value=TYPE/>`` per relation type (none without relation types).
Results: ``{"from_id": "s<head>", "to_id": "s<tail>", "type": "relation", "direction": "right", "labels":
[TYPE]}``, naming the entities kind's regions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from smallext.doc import Document
from smallext.io.labelstudio import Reading, region_id
from smallext.kinds.relations.document import LAYER, Relation

__all__ = ["LABELSTUDIO", "RelationLabelStudio"]


class RelationLabelStudio:
    """The relations kind's :class:`~smallext.io.labelstudio.Form`."""

    types = ("relation",)

    def config_tags(self, schema) -> list[ET.Element]:
        relation_types = getattr(schema, "relation_types", None) or []
        if not relation_types:
            return []
        rel = ET.Element("Relations")
        for r in relation_types:
            ET.SubElement(rel, "Relation", value=r.name)
        return [rel]

    def results(self, doc: Document) -> list[dict[str, Any]]:
        return [{"from_id": region_id(r.head), "to_id": region_id(r.tail), "type": "relation",
                 "direction": "right", "labels": [r.label]} for r in doc.relations]

    def read(self, items: Sequence[dict[str, Any]], reading: Reading) -> None:
        """Each link's labels become relations between the spans its regions name (``reading.layers
        ["relations"]``, source ``reading.source``, no score); read after the entities.

        Raises:
            FormatError: a label that is not a relation type of ``reading.schema``, or a link naming a region that
                is not a labelled span.
        """
        fail = reading.fail
        relation_types = ({r.name for r in getattr(reading.schema, "relation_types", None) or []}
                          if reading.schema is not None else None)
        links: list[tuple[str, str, str]] = []
        for item in items:
            for label in item.get("labels") or []:
                if relation_types is not None and label not in relation_types:
                    raise fail(f"relation label {label!r} is not a relation type of the schema")
                links.append((str(item.get("from_id")), str(item.get("to_id")), label))
        relations = []
        for head, tail, label in links:
            if head not in reading.regions or tail not in reading.regions:
                raise fail(f"relation {label!r} names a region that is not a labelled span ({head} -> {tail})")
            relations.append(Relation(reading.regions[head], reading.regions[tail], label, None, reading.source))
        reading.layers[LAYER.field] = relations


LABELSTUDIO = RelationLabelStudio()
