"""The records task: fill in the schema's record types from a document (a
:class:`~smallext.teachers.tasks.base.Task`).

Reply format (held to :meth:`RecordTask.json_schema` by backends that constrain decoding)::

    {"records": [{"type": "Receipt", "fields": {"company": "BOOK TA .K (TAMAN DAYA) SDN BHD",
                                                "date": "25/12/2018", "total": "RM9.00", "paid_by_card": false,
                                                "items": ["KF MODELLING CLAY KIDDY FISH"]}}]}

The JSON schema is built from the record types: one object per record type (``anyOf`` when there are several),
every field present and nullable (so a constrained backend writes the keys itself: llama.cpp's jump-forward
decoding emits them without sampling), typed (strings for ``string``, ``text``, ``money`` and ``date``, which the
model copies as written; JSON numbers, booleans; an ``enum`` field's choices), list fields as bounded arrays, and
the records as an array of at most :meth:`RecordTask.max_records`.

The prompt states each record type's definition and guidelines and each field's type, description, choices and
example values; a few-shot turn is an example document with its gold records as the reply. The parser salvages
the complete records of a reply cut off mid-way. Grounding (:mod:`smallext.kinds.records.grounding`) locates
every extractive value; a value that cannot be grounded is kept with no offsets, a value that does not read as
its type is kept as the string it came as, and both are counted, never silently changed. A field that is not a
list given several values keeps the first that is grounded (the conflict counted). A document longer than
``window_chars`` is read in windows of lines that overlap, and the records of the windows merged (same type,
equal values where both have the field).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from smallext.doc import Document
from smallext.kinds.records.document import Record, Value
from smallext.kinds.records.grounding import ground_record
from smallext.kinds.records.normalize import value_key
from smallext.kinds.records.schema import RecordField, RecordType, record_labels, record_type, resolve_record
from smallext.schema import Schema
from smallext.teachers.grounding import GroundingStats
from smallext.teachers.tasks.base import FewShotTask, Grounded, ParsedReply, Window, read_json_object

__all__ = ["COUNTERS", "RecordTask", "merge_records", "parse_record_reply", "record_reply_for"]

COUNTERS = ("records", "records_unknown_type", "records_empty", "records_merged", "records_kept", "values",
            "values_exact", "values_fuzzy", "values_normalized", "values_ungrounded", "values_not_extractive",
            "values_unnormalized", "values_unknown_field", "values_conflict")
"""The records task's grounding counters (:class:`~smallext.teachers.grounding.GroundingStats`): records returned;
dropped for a type the schema does not know, or with no value; merged across windows; kept. Values returned
(non-null); grounded exactly, fuzzily, by normalised match; not found in the text (kept, no offsets); of a field
that is not extractive (kept, no offsets by design); not readable as their type (kept as their string); of an
unknown field (dropped); and extra values of a single field (dropped: the first grounded one is kept)."""

INSTRUCTIONS = (
    "You are a careful annotator. Fill in the records described below from the user's text and return them as "
    "JSON.\n"
    "Rules:\n"
    "- Copy every string, number, amount and date exactly as it is written in the text: same spelling, same "
    "case, same format; do not add or drop words.\n"
    "- Use null for a field the text does not state; use [] for a list field with no value.\n"
    "- Give one record for each distinct thing of a record type that the text describes.\n"
    '- Reply with JSON only, in the form {"records": [{"type": "...", "fields": {"field": value, ...}}]}; if '
    'there are none, reply {"records": []}.'
)

_KIND = {"string": "a string copied from the text", "text": "a free text you write (a summary)",
         "integer": "an integer", "number": "a number", "money": "an amount as written, with its currency",
         "date": "a date as written in the text", "boolean": "true or false", "enum": "one of the choices"}


def render_record_types(schema: Schema, guidelines: bool = True) -> str:
    """The record-type section of the system prompt: each type with its definition and fields."""
    lines = []
    for r in schema.record_types:
        lines.append(f"- {r.name}: {r.definition}")
        if guidelines:
            lines += [f"    * {g}" for g in r.guidelines]
        lines.append("  fields:")
        for f in r.fields:
            kind = _KIND[f.type] + (f" ({' | '.join(f.choices)})" if f.choices else "")
            if f.is_list:
                kind = f"a list, each {kind}"
            extra = "; required" if f.required else ""
            ex = f"; e.g. {', '.join(json.dumps(x, ensure_ascii=False) for x in f.examples)}" if f.examples else ""
            lines.append(f"    * {f.name} ({kind}{extra}): {f.description}{ex}")
    return "\n".join(lines)


def _reply_value(f: RecordField, v: Value) -> Any:
    if f.type in ("integer", "number", "boolean") and not isinstance(v.value, str):
        return v.value
    if f.type in ("money", "date"):
        return v.surface  # as written: the model copies, grounding normalises
    return v.value  # a string's value (the gold's reading of OCR noise), a choice, a free text


def record_reply_for(schema: Schema, doc: Document) -> str:
    """The ideal reply for a labelled example (a few-shot turn): its records, dates and amounts as the text writes
    them, strings as their value, a list field as a list, a missing field as null."""
    out = []
    for r in doc.records:
        rt = record_type(schema, r.type)
        fields = {}
        for f in rt.fields:
            vs = [_reply_value(f, v) for v in r.get(f.name)]
            fields[f.name] = vs if f.is_list else (vs[0] if vs else None)
        out.append({"type": r.type, "fields": fields})
    return json.dumps({"records": out}, ensure_ascii=False)


def parse_record_reply(text: str) -> ParsedReply:
    """Read ``{"records": [...]}`` from a model reply.

    Prose around the JSON is ignored. A reply cut off mid-way yields its complete record objects (each
    ``{"type": ..., "fields": {...}}`` that decodes on its own) with ``truncated=True`` and ``error`` set. Records
    that are not objects with a string ``type`` and an object ``fields`` are skipped.

    Returns:
        A :class:`~smallext.teachers.tasks.base.ParsedReply` whose ``items["records"]`` holds
        ``[{"type": str, "fields": {name: value}}, ...]`` in the model's order.
    """
    body, obj, error = read_json_object(text)
    if body is None:
        return ParsedReply([], error=error, items={"records": []})
    if error is None and isinstance(obj, dict) and isinstance(obj.get("records"), list):
        raw = obj["records"]
        truncated = False
    elif error is None:
        return ParsedReply([], error='the reply has no "records" list', items={"records": []})
    else:
        raw, truncated = [], True
        dec = json.JSONDecoder()
        pos = body.find("{", 1)
        while pos >= 0:
            try:
                item, end = dec.raw_decode(body, pos)
            except json.JSONDecodeError:
                pos = body.find("{", pos + 1)
                continue
            if isinstance(item, dict) and "fields" in item:
                raw.append(item)
                pos = body.find("{", end)
            else:
                pos = body.find("{", pos + 1)
    records = [{"type": r["type"], "fields": r["fields"]} for r in raw
               if isinstance(r, dict) and isinstance(r.get("type"), str) and isinstance(r.get("fields"), dict)]
    return ParsedReply([], truncated=truncated, error=error, items={"records": records})


def _same_record(a: Record, b: Record) -> bool:
    if a.type != b.type:
        return False
    shared = set(a.fields) & set(b.fields)
    return bool(shared) and all({value_key(v.value) for v in a.get(f)} == {value_key(v.value) for v in b.get(f)}
                                for f in shared)


def merge_records(parts: Sequence[Sequence[Record]]) -> tuple[list[Record], int]:
    """The records of overlapping windows as one list: a record equal to one already kept (same type, equal values
    in every field both have, at least one such field) adds its other fields to it instead of being a record of its
    own. Only a record of an earlier window is merged into, and at most one record of a window into each: two
    records of one window are two records, as in a document read in one window. Returns ``(records, how many were
    merged into another)``."""
    out: list[Record] = []
    merged = 0
    for records in parts:
        earlier, taken = len(out), set()
        for r in records:
            for i, kept in enumerate(out[:earlier]):
                if i not in taken and _same_record(kept, r):
                    taken.add(i)
                    out[i] = replace(kept, fields={**kept.fields, **{f: v for f, v in r.fields.items()
                                                                     if f not in kept.fields}})
                    merged += 1
                    break
            else:
                out.append(r)
    return out, merged


def _schema_of(f: RecordField, bound: int) -> dict:
    base: dict[str, Any] = {"enum": list(f.choices)} if f.type == "enum" else {
        "type": {"integer": "integer", "number": "number", "boolean": "boolean"}.get(f.type, "string")}
    if f.is_list:
        return {"type": "array", "items": base, "maxItems": bound}
    if "enum" in base:
        return {"enum": [*f.choices, None]}
    return {"type": [base["type"], "null"]}


class RecordTask(FewShotTask):
    """Records of the schema's record types from a document (see the module docstring).

    Args:
        schema: what to extract (needs ``record_types``).
        selector: a :class:`~smallext.teachers.shots.ShotSelector` over documents with gold records, or None.
        shots: examples per prompt (k).
        guidelines: include the record types' guidelines in the system prompt.
        reply_format, occurrences, prompt_variant: accepted for the common teacher options; only ``list`` and
            ``all`` / ``first`` / 0 apply (records have one reply format; a value is grounded at one occurrence).
        shot_groups: as :class:`~smallext.kinds.entities.task.EntityTask`.
        window_chars: a document longer than this is read in overlapping windows of lines (about 1,500 tokens).
        overlap_chars: characters the windows share.
        max_list: the most values a list field may hold in a reply.

    Raises:
        ValueError: the schema has no record types, or a reply format other than ``list``.
    """

    name = "records"
    joins = False

    def __init__(self, schema: Schema, selector=None, shots: int = 0, guidelines: bool = True,
                 reply_format: str = "list", occurrences="all", shot_groups: int = 0, prompt_variant: int = 0,
                 window_chars: int = 6000, overlap_chars: int = 600, max_list: int = 24) -> None:
        if not schema.record_types:
            raise ValueError(f"the records task needs a schema with record_types; {schema.name!r} has none")
        if reply_format != "list":
            raise ValueError(f"the records task replies in the 'list' format only, not {reply_format!r}")
        self.schema = schema
        self.selector = selector
        self.shots = shots if selector is not None else 0
        self.shot_groups = shot_groups
        self.window_chars = window_chars
        self.overlap_chars = overlap_chars
        self.max_list = max_list
        self._shots: dict[str, list[Document]] = {}
        self.system = (f"{INSTRUCTIONS}\n\nRecord types of the schema '{schema.name}'"
                       + (f" ({schema.description})" if schema.description else "")
                       + f":\n{render_record_types(schema, guidelines)}")
        if schema.guidelines:
            self.system += "\n\nGuidelines:\n" + "\n".join(f"- {g}" for g in schema.guidelines)

    def reply_for(self, doc: Document) -> str:
        return record_reply_for(self.schema, doc)

    def max_records(self, text: str) -> int:
        """Records a reply may hold: each record type's ``max_records`` summed when every type sets one, else one
        per 120 characters of text plus one, and no more than fit in the token budget."""
        per = self._record_tokens()
        bounds = [r.max_records for r in self.schema.record_types]
        n = sum(bounds) if all(bounds) else 1 + len(text) // 120
        return max(1, min(n, (4096 - 32) // per))

    def _record_tokens(self) -> int:
        return max(16, max(8 + sum((10 + (48 if f.type in ("string", "text") else 12)) * (4 if f.is_list else 1)
                                   for f in r.fields) for r in self.schema.record_types))

    def json_schema(self, text: str | None = None) -> dict:
        """JSON Schema of a valid reply (see the module docstring); given the text, the records are bounded by
        :meth:`max_records`."""
        def one(r: RecordType) -> dict:
            props = {f.name: _schema_of(f, self.max_list) for f in r.fields}
            return {"type": "object",
                    "properties": {"type": {"enum": [r.name]},
                                   "fields": {"type": "object", "properties": props, "required": list(props)}},
                    "required": ["type", "fields"]}
        types = [one(r) for r in self.schema.record_types]
        records: dict[str, Any] = {"type": "array", "items": types[0] if len(types) == 1 else {"anyOf": types}}
        if text is not None:
            records["maxItems"] = self.max_records(text)
        return {"type": "object", "properties": {"records": records}, "required": ["records"]}

    def max_tokens(self, text: str) -> int:
        """The reply budget in tokens: :meth:`max_records` records of the largest record type, at most 4096."""
        return int(min(4096, 32 + self.max_records(text) * self._record_tokens()))

    def parse(self, reply: str) -> ParsedReply:
        return parse_record_reply(reply)

    def windows(self, text: str, docs: Sequence[Document] = ()) -> list[Window]:
        """The whole text when it has at most ``window_chars`` characters, else windows of whole lines of about
        that size, each starting ``overlap_chars`` before the last one ended. A document whose ``meta["header"]``
        is ``[start, end]`` (a table's header rows, :mod:`smallext.io.tables`) has that stretch repeated at the head
        of every window that starts after it, so a long table never loses its header (LangExtract issue #308)."""
        if len(text) <= self.window_chars:
            return [Window(0, text)]
        header = docs[0].meta.get("header") if len(docs) == 1 else None
        out, start = [], 0
        while start < len(text):
            end = min(len(text), start + self.window_chars)
            if end < len(text):
                cut = text.rfind("\n", start + 1, end)
                end = cut + 1 if cut > start else end
            if header and start >= header[1]:
                hs, he = int(header[0]), int(header[1])
                out.append(Window(start, f"{text[hs:he]}\n{text[start:end]}", (hs, he)))
            else:
                out.append(Window(start, text[start:end]))
            if end >= len(text):
                break
            back = text.rfind("\n", start + 1, max(start + 1, end - self.overlap_chars))
            start = back + 1 if back > start else max(start + 1, end - self.overlap_chars)
        return out

    def ground(self, text: str, parsed: ParsedReply, *, source: str | None = None) -> Grounded:
        """The parsed records with every value normalised and grounded in ``text`` (see the module docstring)."""
        stats = GroundingStats()
        for name in COUNTERS:
            stats.count(name, 0)
        out: list[Record] = []
        for raw in parsed.items.get("records", []):
            stats.count("records")
            label = resolve_record(self.schema, raw["type"])
            if label is None:
                stats.count("records_unknown_type")
                continue
            rec = ground_record(text, record_type(self.schema, label), raw["fields"], source, stats)
            if not rec.fields:
                stats.count("records_empty")
                continue
            out.append(rec)
        stats.count("records_kept", len(out))
        return Grounded([], stats, layers={"records": out})

    def merge(self, text: str, parts: Sequence[tuple[Window, Grounded]]) -> Grounded:
        """The windows' grounded records as one result on the whole text: offsets mapped back to the whole text
        (:meth:`~smallext.teachers.tasks.base.Window.to_whole`), records merged (:func:`merge_records`),
        statistics summed (``records_merged`` counted)."""
        stats = GroundingStats()
        shifted = []
        for win, g in parts:
            stats += g.stats
            shifted.append([replace(r, fields={f: tuple(v if v.start is None else
                                                        replace(v, **dict(zip(("start", "end"),
                                                                              win.to_whole(v.start, v.end),
                                                                              strict=True)))
                                                        for v in vs) for f, vs in r.fields.items()})
                            for r in g.layers.get("records", [])])
        records, merged = merge_records(shifted)
        stats.count("records_merged", merged)
        stats.count("records_kept", len(records) - stats.more.get("records_kept", 0))
        return Grounded([], stats, layers={"records": records})

    def split(self, docs: Sequence[Document], grounded: Grounded) -> tuple[list[Document], GroundingStats]:
        """The records of one document's call (records are asked one document per call: :attr:`joins` is False).

        Raises:
            ValueError: more than one document.
        """
        if len(docs) != 1:
            raise ValueError(f"the records task reads one document per call, got {len(docs)}")
        d = docs[0]
        return [d.unlabelled().replace(records=grounded.layers.get("records", []))], grounded.stats

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "record_types": record_labels(self.schema), "window_chars": self.window_chars}
