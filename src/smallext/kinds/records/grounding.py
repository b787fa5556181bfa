"""Grounding of record values: where in the text each value a teacher returned was read, with its alignment.

For an extractive field (:data:`~smallext.kinds.records.schema.EXTRACTIVE`), the returned string ``s`` is
searched in the text in three steps, each tried only when the one before found nothing:

1. **exact**: the characters of ``s``, not cutting a word (:func:`smallext.teachers.grounding.find_exact`);
2. **fuzzy**: case- and whitespace-insensitive, any run of whitespace (newlines included: an address spans OCR
   lines) between its characters; else an OCR-tolerant match, the substring most similar to ``s`` by
   ``rapidfuzz.fuzz.partial_ratio_alignment`` (normalised Indel similarity) when its score is at least
   :data:`FUZZY_MIN` and ``s`` has at least four characters;
3. **normalized**: a candidate in the text (a number, an amount or a date, found by pattern) that normalises to
   the same value (:mod:`smallext.kinds.records.normalize`): the reply says ``2018-12-25``, the text
   ``25/12/2018``.

A typed value found by step 1 or 2 whose normalised value differs from its text has alignment ``normalized``
(``RM9.00`` read as ``9.00``). Where a string occurs several times, the occurrence closest to the record's
other grounded values is taken (:func:`closest`). A value found nowhere is kept with no offsets and counted.
``enum``, ``boolean`` and ``text`` values are not grounded (they may be stated by meaning alone).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smallext.kinds.records.document import Record, Value
from smallext.kinds.records.normalize import _amount, normalize, same_value
from smallext.kinds.records.schema import RecordField, RecordType
from smallext.teachers.grounding import GroundingStats, find_exact, find_fuzzy

__all__ = ["Candidate", "FUZZY_MIN", "candidates", "closest", "find_ocr", "ground_record"]

FUZZY_MIN = 90.0
"""The least ``partial_ratio`` (0-100) of an OCR-tolerant match."""

_NUMBER = re.compile(r"(?<![\w.])(?:(?P<cur>[A-Z]{1,3}\$?|[$€£¥])\s?)?(?P<num>[-+]?\d[\d,.' ]*\d)(?![\w])"
                     r"|(?<![\w.])\d(?![\w.])")
_DATE = re.compile(
    r"(?<!\w)(?:\d{1,4}[./-]\d{1,2}[./-]\d{2,4}"
    r"|\d{1,2}(?:st|nd|rd|th)?[\s-]+[A-Za-z]{3,9}\.?,?[\s-]+\d{2,4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}"
    r"|\d{4}年\d{1,2}月\d{1,2}日)(?!\w)")


@dataclass(frozen=True)
class Candidate:
    """Where a value may have been read: ``[start, end)`` in the text and how it was matched."""

    start: int
    end: int
    alignment: str  # exact | fuzzy | normalized


def _fold(s: str) -> str:
    """``s`` case-folded character by character, keeping its length (``ß`` and ``İ``, which fold to two characters,
    stay as they are), so that offsets in the folded string are offsets in ``s``."""
    return "".join(f if len(f := c.casefold()) == 1 else c for c in s)


def find_ocr(text: str, needle: str, min_score: float = FUZZY_MIN) -> list[tuple[int, int]]:
    """The one substring of ``text`` most similar to ``needle`` (rapidfuzz ``partial_ratio_alignment``, case-folded),
    when its score is at least ``min_score`` and ``needle`` has at least four characters; else nothing."""
    if len(needle.strip()) < 4:
        return []
    from rapidfuzz import fuzz

    folded = _fold(needle)
    al = fuzz.partial_ratio_alignment(folded, _fold(text))
    if (al is None or al.score < min_score or al.dest_end <= al.dest_start
            or al.src_start > 0 or al.src_end < len(folded)):  # a part of the needle matched a shorter text
        return []
    start, end = al.dest_start, al.dest_end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if end > start else []


def candidates(text: str, field: RecordField, raw: str, value) -> list[Candidate]:
    """Where the returned string ``raw`` (normalised: ``value``) of ``field`` may be in ``text``, by the first step
    of the module docstring that finds any; empty when none does."""
    s = raw.strip()
    if not s:
        return []
    typed = field.type in ("integer", "number", "money", "date")
    found = [(a, b) for a, b in find_exact(text, s) if not (typed and _cuts_number(text, a, b))]
    if found:
        return [Candidate(a, b, "exact") for a, b in found]
    found = ([(a, b) for a, b in find_fuzzy(text, s, across_lines=True) if not (typed and _cuts_number(text, a, b))]
             or (find_ocr(text, s) if field.type == "string" else []))
    if found:
        return [Candidate(a, b, "fuzzy") for a, b in found]
    if typed and value is not None:
        pattern = _DATE if field.type == "date" else _NUMBER
        out = []
        for m in pattern.finditer(text):
            got = normalize(field, m.group(0))
            if got is not None and same_value(got[0], value):
                start = m.start()
                if m.groupdict().get("cur") and m.group("cur")[0].isalpha() and _amount(m.group(0)).currency is None:
                    start = m.start("num")  # a word before the number (TAX 6.00), not a currency (RM, USD)
                out.append(Candidate(start, m.end(), "normalized"))
        return out
    return []


def _cuts_number(text: str, start: int, end: int) -> bool:
    """Whether ``[start, end)`` is part of a longer number: a digit, then ``.`` or ``,``, then a digit across either
    edge (``9`` in ``9.00``, ``3`` in ``10.3``)."""
    before = start >= 2 and text[start].isdigit() and text[start - 1] in ".," and text[start - 2].isdigit()
    after = end + 1 < len(text) and text[end - 1].isdigit() and text[end] in ".," and text[end + 1].isdigit()
    return before or after


def closest(options: Sequence[Candidate], anchors: Sequence[int]) -> Candidate:
    """The candidate nearest the record's other grounded values (``anchors``: their start offsets; the first
    candidate when there are none)."""
    if not anchors or len(options) == 1:
        return options[0]
    centre = sum(anchors) / len(anchors)
    return min(options, key=lambda c: abs(c.start - centre))


def ground_record(text: str, rt: RecordType, raw: dict, source: str | None = None,
                  stats: GroundingStats | None = None) -> Record:
    """A record of type ``rt`` from ``raw`` (field key -> a value or a list of values, as a reply or a gold file
    gives them; None and empty strings are no value), each value normalised and grounded in ``text`` (see the
    module docstring), counted in ``stats`` (the records task's ``values*`` counters,
    :data:`smallext.kinds.records.task.COUNTERS`) when given. Fields come in the record type's order."""
    stats = stats if stats is not None else GroundingStats()
    found: list[tuple[str, Any, Any, str | None, list]] = []  # field, raw, value, currency, candidates
    for key, given in raw.items():
        items = given if isinstance(given, list) else [given]
        items = [x for x in items if x is not None and not (isinstance(x, str) and not x.strip())]
        if not items:
            continue
        name = rt.resolve_field(key)
        if name is None:
            stats.count("values", len(items))
            stats.count("values_unknown_field", len(items))
            continue
        f = rt.field(name)
        for x in items:
            stats.count("values")
            got = normalize(f, x)
            value, currency = got if got is not None else (
                x if isinstance(x, (str, int, float)) else json.dumps(x, ensure_ascii=False), None)
            if got is None:
                stats.count("values_unnormalized")
            opts = candidates(text, f, str(x), value if got is not None else None) if f.extractive else []
            found.append((name, x, value, currency, opts))
    anchors = [o[0].start for *_, o in found if len(o) == 1]
    fields: dict[str, list[Value]] = {}
    for name, x, value, currency, opts in found:
        f = rt.field(name)
        if not f.extractive:
            stats.count("values_not_extractive")
            v = Value(value, currency=currency)
        elif not opts:
            stats.count("values_ungrounded")
            v = Value(value, None if str(x) == str(value) or isinstance(x, (dict, list)) else str(x), currency=currency)
        else:
            c = closest(opts, anchors)
            span = text[c.start:c.end]
            alignment = c.alignment
            if alignment == "exact" and f.type != "string" and str(value) != span:
                alignment = "normalized"
            if f.type == "string" and alignment == "exact":
                value = span
            stats.count(f"values_{alignment}")
            v = Value(value, None if span == str(value) else span, c.start, c.end, alignment, currency=currency)
        fields.setdefault(name, []).append(v)
    kept: dict[str, tuple[Value, ...]] = {}
    for name, vs in fields.items():
        if rt.field(name).is_list:
            kept[name] = tuple(vs)
        else:
            best = next((v for v in vs if v.grounded), vs[0])
            stats.count("values_conflict", len(vs) - 1)
            kept[name] = (best,)
    return Record(rt.name, {f.name: kept[f.name] for f in rt.fields if f.name in kept}, None, source)
