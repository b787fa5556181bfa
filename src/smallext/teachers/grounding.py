"""Grounding: locate the strings an LLM returned in the source text, as character spans.

For each returned entity ``{"text": s, "type": t}``:

1. ``t`` is resolved to a schema entity type (exact name, or a case-insensitive name or alias). An unknown
   type is dropped and counted (``unknown_type``).
2. ``s`` is searched in the text, **exact match first**: occurrences of ``s`` that do not cut a word (the
   characters around the match are not letters or digits when ``s`` starts/ends with one).
3. If there is none, a **case- and whitespace-insensitive** match: the characters of ``s`` without its
   whitespace, any run of spaces or tabs allowed between them (never a newline: a span does not cross a
   sentence break), ignoring case, with the same word-boundary rule.
4. ``occurrences="all"`` (default) labels every occurrence found; ``"first"`` only the first one.
5. A string found nowhere is a hallucination: dropped and counted (``ungrounded``).

Overlaps are then resolved by one rule (:func:`smallext.doc.non_overlapping`): **the longest span wins; on
equal length, the entity the model listed first wins**; the losers are counted (``overlap_dropped``). The
same span returned twice is kept once (``duplicate``). Each entity gets an alignment status like
LangExtract's: ``exact``, ``fuzzy``, ``ungrounded`` or ``unknown_type``, and each span keeps its entity's
(``Span.alignment``: ``exact`` or ``fuzzy``), so later stages can tell a verbatim copy from a loose match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from smallext.doc import Span, non_overlapping

Occurrences = Literal["all", "first"]


@dataclass
class GroundingStats:
    """Counts over a batch of grounded replies (add them with ``+=``).

    Attributes:
        entities: entities the model returned (each counts once, however many times it was found).
        exact, fuzzy: entities found by an exact, or a case- and whitespace-insensitive, match.
        ungrounded: entities found nowhere in the text (hallucinations).
        unknown_type: entities with a type the schema does not know.
        duplicate: spans found twice (the same offsets from two entities); kept once.
        overlap_dropped: spans that lost to an overlapping, longer or earlier, span.
        crossing: spans that cross the boundary between two documents of one call (they belong to none).
        spans: spans kept.
        more: the other kinds' counters by name (the relation task's ``relations``, ``relations_ungrounded``, ...:
            see :mod:`smallext.kinds.relations.task`), added with :meth:`count` and read as attributes.
    """

    entities: int = 0
    exact: int = 0
    fuzzy: int = 0
    ungrounded: int = 0
    unknown_type: int = 0
    duplicate: int = 0
    overlap_dropped: int = 0
    crossing: int = 0
    spans: int = 0
    more: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` (0 declares the counter) to another kind's counter ``name``."""
        self.more[name] = self.more.get(name, 0) + n

    def __getattr__(self, name: str) -> int:
        more = self.__dict__.get("more", {})
        if name in more:
            return more[name]
        raise AttributeError(f"'GroundingStats' object has no attribute {name!r}")

    def __iadd__(self, other: GroundingStats) -> GroundingStats:
        for k in self.__dataclass_fields__:
            if k != "more":
                setattr(self, k, getattr(self, k) + getattr(other, k))
        for k, v in other.more.items():
            self.count(k, v)
        return self

    def as_dict(self) -> dict[str, int]:
        """The counters by name: the entity counters, then the other kinds' (in the order they were declared)."""
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__ if k != "more"}, **self.more}


@dataclass
class Alignment:
    """What happened to one returned entity: its status and the spans it produced."""

    text: str
    type: str
    status: str  # exact | fuzzy | ungrounded | unknown_type
    label: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)


def _bounded(text: str, start: int, end: int, needle: str) -> bool:
    """A match must not cut a word: no letter/digit right before (after) a needle that starts (ends) with one."""
    if needle[:1].isalnum() and start > 0 and text[start - 1].isalnum():
        return False
    return not (needle[-1:].isalnum() and end < len(text) and text[end].isalnum())


def find_exact(text: str, needle: str) -> list[tuple[int, int]]:
    """All word-bounded, non-overlapping exact occurrences of ``needle`` in ``text``."""
    out, pos = [], 0
    while True:
        i = text.find(needle, pos)
        if i < 0:
            return out
        if _bounded(text, i, i + len(needle), needle):
            out.append((i, i + len(needle)))
            pos = i + len(needle)
        else:
            pos = i + 1


def find_fuzzy(text: str, needle: str, *, across_lines: bool = False) -> list[tuple[int, int]]:
    """Case- and whitespace-insensitive, word-bounded occurrences: any run of spaces or tabs between the needle's
    characters, and of newlines too with ``across_lines`` (a record's address spans OCR lines; an entity span
    never crosses a sentence break)."""
    chars = [c for c in needle if not c.isspace()]
    if not chars:
        return []
    pattern = (r"\s*" if across_lines else r"[ \t\u00a0]*").join(re.escape(c) for c in chars)
    out = []
    for m in re.finditer(pattern, text, flags=re.IGNORECASE):
        if _bounded(text, m.start(), m.end(), needle.strip()):
            out.append((m.start(), m.end()))
    return out


def ground(
    text: str,
    entities: Sequence[dict],
    resolve_label,
    *,
    occurrences: Occurrences = "all",
    source: str | None = None,
    score: float | None = None,
) -> tuple[list[Span], GroundingStats, list[Alignment]]:
    """Ground returned entities in ``text``.

    Args:
        text: the source text the model was shown.
        entities: ``[{"text": str, "type": str}, ...]`` in the model's order (other keys ignored).
        resolve_label: maps a returned type to a schema type name, or None when unknown
            (e.g. :meth:`smallext.schema.Schema.resolve_label`).
        occurrences: ``"all"`` labels every occurrence of a string, ``"first"`` only the first.
        source, score: copied onto every span.

    Returns:
        ``(spans sorted by offset, each with its entity's alignment; stats; one Alignment per returned entity)``.
    """
    stats = GroundingStats()
    aligns: list[Alignment] = []
    candidates: list[tuple[int, int, str, int, str]] = []  # start, end, label, rank, alignment
    for rank, ent in enumerate(entities):
        s = str(ent.get("text", "")).strip()
        t = str(ent.get("type", ""))
        stats.entities += 1
        label = resolve_label(t) if t else None
        if label is None:
            stats.unknown_type += 1
            aligns.append(Alignment(s, t, "unknown_type"))
            continue
        found = find_exact(text, s) if s else []
        status = "exact"
        if not found and s:
            found, status = find_fuzzy(text, s), "fuzzy"
        if not found:
            stats.ungrounded += 1
            aligns.append(Alignment(s, t, "ungrounded", label))
            continue
        if occurrences == "first":
            found = found[:1]
        stats.exact += status == "exact"
        stats.fuzzy += status == "fuzzy"
        aligns.append(Alignment(s, t, status, label, list(found)))
        candidates += [(a, b, label, rank, status) for a, b in found]
    # duplicates: same offsets (and any label) -> keep the first listed
    seen: dict[tuple[int, int], int] = {}
    unique = []
    for c in sorted(candidates, key=lambda c: c[3]):
        if (c[0], c[1]) in seen:
            stats.duplicate += 1
            continue
        seen[(c[0], c[1])] = c[3]
        unique.append(c)
    # overlaps: longest first, then the model's order
    kept = non_overlapping(unique, lambda c: (c[0], c[1]), lambda c: (-(c[1] - c[0]), c[3]))
    stats.overlap_dropped += len(unique) - len(kept)
    spans = sorted((Span(a, b, lab, score, source, status) for a, b, lab, _, status in kept), key=lambda s: s.key)
    stats.spans = len(spans)
    return spans, stats, aligns
