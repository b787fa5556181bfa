"""The entities kind in Label Studio (:mod:`smallext.io.labelstudio`): a ``<Labels>`` control and text regions.

Config: ``<Labels name="label" toName="text">`` with one ``<Label value=TYPE hint=DEFINITION/>`` per entity type.
Results: one region per span, ``{"id": "s<i>", "from_name": "label", "to_name": "text", "type": "labels",
"value": {"start", "end", "text", "labels": [TYPE]}, "score"}``, character offsets ``[start, end)``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from smallext.doc import Document, Span
from smallext.io.labelstudio import FROM_NAME, TO_NAME, Reading, region_id

__all__ = ["EntityLabelStudio", "LABELSTUDIO"]


class EntityLabelStudio:
    """The entities kind's :class:`~smallext.io.labelstudio.Form`."""

    types = ("labels",)

    def config_tags(self, schema) -> list[ET.Element]:
        labels = ET.Element("Labels", name=FROM_NAME, toName=TO_NAME)
        for t in schema.entity_types:
            ET.SubElement(labels, "Label", value=t.name, hint=t.definition)
        return [labels]

    def results(self, doc: Document) -> list[dict[str, Any]]:
        out = []
        for i, s in enumerate(doc.spans):
            item = {"id": region_id(i), "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
                    "value": {"start": s.start, "end": s.end, "text": doc.span_text(s), "labels": [s.label]}}
            if s.score is not None:
                item["score"] = s.score
            out.append(item)
        return out

    def read(self, items: Sequence[dict[str, Any]], reading: Reading) -> None:
        """Each region's labels become spans (source ``reading.source``, no score); the region's id names its
        first span in ``reading.regions``.

        Raises:
            FormatError: offsets outside the text, a ``value.text`` that is not the text at the offsets (with a
                hint about UTF-16 offsets when the text has characters outside the Basic Multilingual Plane), or a
                label that is not an entity type of ``reading.schema``.
        """
        text, fail = reading.text, reading.fail
        entity_types = set(reading.schema.labels) if reading.schema is not None else None
        for item in items:
            v = item.get("value") or {}
            start, end = v.get("start"), v.get("end")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                raise fail(f"region {item.get('id')}: offsets [{start}, {end}) outside the text "
                           f"(length {len(text)})")
            if "text" in v and v["text"] != text[start:end]:
                wide = any(ord(c) > 0xFFFF for c in text)
                raise fail(f"region {item.get('id')}: value.text {v['text']!r} is not the text at "
                           f"[{start}, {end}) ({text[start:end]!r})"
                           + ("; the text has characters outside the Basic Multilingual Plane: were the offsets "
                              "counted in UTF-16 units (older Label Studio versions)?" if wide else ""))
            for label in v.get("labels") or []:
                if entity_types is not None and label not in entity_types:
                    raise fail(f"label {label!r} is not an entity type of the schema "
                               f"({', '.join(sorted(entity_types))})")
                reading.regions.setdefault(str(item.get("id")), len(reading.spans))
                reading.spans.append(Span(start, end, label, None, reading.source))


LABELSTUDIO = EntityLabelStudio()
