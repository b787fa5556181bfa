"""The records kind's field in a :class:`~smallext.doc.Document`: :class:`Record`, its :class:`Value` s and the
:class:`RecordLayer`.

JSON form (the document's ``"records"`` key; every field is a list, of length one for a field that is not a
list; a field with nothing found is absent)::

    "records": [{"type": "Receipt", "fields": {
        "total": [{"value": "9.00", "currency": "MYR", "text": "RM9.00", "start": 412, "end": 418,
                   "alignment": "normalized", "score": 0.97}],
        "date":  [{"value": "2018-12-25", "text": "25/12/2018", "start": 88, "end": 98, "alignment": "normalized"}],
        "company": [{"value": "BOOK TA .K (TAMAN DAYA) SDN BHD", "text": "BOOK TA .K(TAMAN DAYA) SDN BND",
                     "start": 14, "end": 44, "alignment": "fuzzy"}],
        "paid_by_card": [{"value": false}]}}]

``value`` is the normalised value (ISO 8601 dates, JSON numbers, money as a decimal string with an optional
``currency``; for a ``string`` field the text at the offsets unless the alignment is fuzzy); ``text`` is the
text it came from, written when it differs from ``value``. ``start``/``end`` are character offsets into the
document's text (end-exclusive), absent for a value that is not in the text (an ``enum`` stated by meaning, a
``text`` field, a value the teacher gave that could not be grounded). ``alignment`` (:data:`VALUE_ALIGNMENTS`):
``exact`` (the characters of ``text`` at the offsets), ``fuzzy`` (OCR-like noise, case or space differences),
``normalized`` (the text at the offsets means the value: ``25/12/2018`` for 2018-12-25).

Records do not refer to spans: their values carry their own offsets, so the layer is not span-dependent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from smallext.doc import Document
from smallext.errors import ConfigError, DocumentError

__all__ = ["LAYER", "Record", "RecordLayer", "VALUE_ALIGNMENTS", "Value"]

VALUE_ALIGNMENTS = ("exact", "fuzzy", "normalized")

_VALUE_KEYS = ("value", "text", "start", "end", "alignment", "score", "currency")


@dataclass(frozen=True, slots=True)
class Value:
    """One value of a record's field.

    Attributes:
        value: the normalised value: ``str`` (string, text, enum, money as a decimal string, date as ISO 8601),
            ``int``, ``float`` or ``bool``.
        text: the text it came from, when that differs from ``str(value)`` (else None).
        start: first character in the document's text (0-based), or None when the value has no offsets.
        end: one past the last character (end-exclusive), or None.
        alignment: how it was located (:data:`VALUE_ALIGNMENTS`), or None when the producer gave offsets itself
            or there are none.
        score: confidence in [0, 1], or None when the producer has none.
        currency: ISO 4217 code of a money value, or None.
    """

    value: str | int | float | bool
    text: str | None = None
    start: int | None = None
    end: int | None = None
    alignment: str | None = None
    score: float | None = None
    currency: str | None = None

    @property
    def grounded(self) -> bool:
        """Whether the value has character offsets."""
        return self.start is not None

    @property
    def surface(self) -> str:
        """The text it came from: :attr:`text`, else the value as a string (``true`` for a boolean)."""
        if self.text is not None:
            return self.text
        return str(self.value).lower() if isinstance(self.value, bool) else str(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _VALUE_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Value:
        """Build a value from its JSON form.

        Raises:
            TypeError: not an object, an unknown key, a value that is not a JSON scalar, offsets that are not
                both integers, an unknown alignment or a non-numeric score.
            KeyError: ``value`` is missing.
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"a field value must be an object, got {type(d).__name__}")
        unknown = set(d) - set(_VALUE_KEYS)
        if unknown:
            raise TypeError(f"unknown value field(s) {sorted(unknown)}")
        v = d["value"]
        if not isinstance(v, (str, int, float, bool)):
            raise TypeError(f"value must be a string, number or boolean, got {v!r}")
        start, end = d.get("start"), d.get("end")
        if (start is None) != (end is None):
            raise TypeError("value offsets come in pairs: give both start and end, or neither")
        if start is not None and not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            raise TypeError(f"value offsets must be integers, got start={start!r} end={end!r}")
        alignment = d.get("alignment")
        if alignment is not None and alignment not in VALUE_ALIGNMENTS:
            raise TypeError(f"value alignment must be one of {', '.join(VALUE_ALIGNMENTS)}, got {alignment!r}")
        score = d.get("score")
        if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
            raise TypeError(f"value score must be a number, got {score!r}")
        text, currency = d.get("text"), d.get("currency")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"value text must be a string, got {text!r}")
        if currency is not None and not isinstance(currency, str):
            raise TypeError(f"value currency must be a string, got {currency!r}")
        return cls(v, text, start, end, alignment, None if score is None else float(score), currency)


@dataclass(frozen=True, slots=True)
class Record:
    """A filled-in record: its type and, per field, its values (a field with nothing found is absent).

    Attributes:
        type: the record type's name.
        fields: field name -> its values, in the order found (one at most for a field that is not a list).
        score: confidence in [0, 1] of the record as a whole, or None.
        source: who produced it (a teacher spec, ``"gold"``), or None.
    """

    type: str
    fields: dict[str, tuple[Value, ...]] = field(default_factory=dict)
    score: float | None = None
    source: str | None = None

    def get(self, name: str) -> tuple[Value, ...]:
        """The values of field ``name`` (empty when absent)."""
        return self.fields.get(name, ())

    def values(self) -> list[tuple[str, Value]]:
        """``[(field, value), ...]`` over every field, in field order."""
        return [(f, v) for f, vs in self.fields.items() for v in vs]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type,
                             "fields": {f: [v.to_dict() for v in vs] for f, vs in self.fields.items() if vs}}
        if self.score is not None:
            d["score"] = self.score
        if self.source is not None:
            d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        """Build a record from its JSON form.

        Raises:
            TypeError: not an object, an unknown key, a type that is not a string, fields that are not an object
                of lists of values (the message names the field); see :meth:`Value.from_dict`.
            KeyError: ``type`` is missing.
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"a record must be an object, got {type(d).__name__}")
        unknown = set(d) - {"type", "fields", "score", "source"}
        if unknown:
            raise TypeError(f"unknown record field(s) {sorted(unknown)}")
        if not isinstance(d["type"], str):
            raise TypeError(f"record type must be a string, got {d['type']!r}")
        raw = d.get("fields") or {}
        if not isinstance(raw, Mapping):
            raise TypeError(f"record fields must be an object of field name -> values, got {type(raw).__name__}")
        fields: dict[str, tuple[Value, ...]] = {}
        for name, vs in raw.items():
            if not isinstance(vs, list):
                raise TypeError(f"field {name!r}: values must be a list (of one value for a single field), got "
                                f"{type(vs).__name__}")
            try:
                values = tuple(Value.from_dict(v) for v in vs)
            except (TypeError, KeyError) as e:
                raise TypeError(f"field {name!r}: {e}") from None
            if values:
                fields[name] = values
        score = d.get("score")
        if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
            raise TypeError(f"record score must be a number, got {score!r}")
        return cls(d["type"], fields, None if score is None else float(score), d.get("source"))


class RecordLayer:
    """The ``records`` field of a Document (a :class:`~smallext.doc.Layer` that does not hang on spans)."""

    field = "records"
    on_spans = False

    def from_json(self, value: Any) -> list[Record]:
        if not isinstance(value, list):
            raise TypeError(f"must be a list, got {type(value).__name__}")
        out = []
        for i, r in enumerate(value):
            try:
                out.append(Record.from_dict(r))
            except (TypeError, KeyError) as e:
                raise TypeError(f"record {i}: {e}") from None
        return out

    def to_json(self, items: Sequence[Record]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in items]

    def check(self, doc: Document, items: Sequence[Record]) -> None:
        """Offsets inside the text, non-empty, and (for an ``exact`` alignment) covering the value's text."""
        n = len(doc.text)
        for i, r in enumerate(items):
            for name, v in r.values():
                if v.start is None:
                    continue
                where = f"document {doc.id!r}: record {i} ({r.type}) field {name!r}"
                if not (0 <= v.start < v.end <= n):
                    raise DocumentError(f"{where}: offsets [{v.start}, {v.end}) are empty or outside the text "
                                        f"(length {n})")
                if v.alignment == "exact" and doc.text[v.start:v.end] != v.surface:
                    raise DocumentError(f"{where}: an exact value's text {v.surface!r} is not the text at "
                                        f"[{v.start}, {v.end}) ({doc.text[v.start:v.end]!r})")

    def follow(self, items: Sequence[Record], new_index: Mapping[int, int]) -> list[Record]:
        return list(items)  # records carry their own offsets

    def relabel(self, schema, doc: Document, items: Sequence[Record], strict: bool) -> list[Record]:
        """Record types and field keys renamed to the schema's names through names and aliases (what
        :meth:`~smallext.schema.Schema.map_documents` asks of each layer). A schema without record types passes
        records through unchanged.

        Raises:
            ConfigError: (``strict``) a record type or field matches no name or alias; names the document.
        """
        from smallext.kinds.records.schema import record_labels, record_type, resolve_record

        if not schema.record_types:
            return list(items)
        kept = []
        for r in items:
            name = resolve_record(schema, r.type)
            if name is None:
                if strict:
                    raise ConfigError(f"document {doc.id!r}: record type {r.type!r} is not a record type or alias "
                                      f"of schema {schema.name!r} (types: {', '.join(record_labels(schema))})")
                continue
            rt = record_type(schema, name)
            fields = {}
            for key, vs in r.fields.items():
                f = rt.resolve_field(key)
                if f is None:
                    if strict:
                        raise ConfigError(f"document {doc.id!r}: field {key!r} is not a field of record type "
                                          f"{name!r} (fields: {', '.join(x.name for x in rt.fields)})")
                    continue
                fields[f] = fields.get(f, ()) + vs
            kept.append(replace(r, type=name, fields=fields))
        return kept


LAYER = RecordLayer()
