"""The entities kind on the examples page (:mod:`smallext.visualize`): the text with its spans marked in place.

Each span is a ``<mark>`` in its type's colour with the type after its text; one the other side does not have
(strict match: the same ``(start, end, label)``) is outlined, and its note says what the other side has there
(the same span with another type, an overlapping span, or nothing). Spans that overlap one drawn before them
cannot be marked in the same text; they are listed under it, still counted and marked.
"""

from __future__ import annotations

import html
import zlib

from smallext.doc import Document, Span, non_overlapping
from smallext.schema import Schema
from smallext.visualize import Rendered, Side, item_attributes

__all__ = ["colour", "render"]


_PALETTE = ("#cfe2ff", "#d1f2d9", "#ffe0b3", "#f8d0e0", "#e3d7ff", "#fff3b0", "#c8f0f0", "#ffd6cc", "#e0e8c8",
            "#f0d8c0", "#d8e0f0", "#f0c8f0")


def colour(label: str, schema: Schema | None = None) -> str:
    """A light background colour for an entity type: by its place among the schema's types when it has one (so
    that a page's first types differ), else by its name; the same type, the same colour on every page."""
    labels = schema.labels if schema is not None else []
    i = labels.index(label) if label in labels else zlib.crc32(label.encode("utf-8"))
    return _PALETTE[i % len(_PALETTE)]


def _note(doc: Document, span: Span, other: Document, side: Side, differ: bool) -> str:
    if not differ:
        return f"{span.label}: the {side.other} has it too"
    same = [s.label for s in other.spans if (s.start, s.end) == (span.start, span.end)]
    if same:
        return f"{span.label}: the {side.other} has this span as {', '.join(same)}"
    near = [s for s in other.spans if s.start < span.end and span.start < s.end]
    if near:
        return f"{span.label}: the {side.other} has " + ", ".join(
            f"[{other.span_text(s)}] {s.label}" for s in near[:3])
    return f"{span.label}: not in the {side.other}'s"


def _mark(doc: Document, span: Span, other: Document, side: Side, theirs: set) -> str:
    differ = span.key not in theirs
    attrs = item_attributes("entities", span.label, differ=differ, note=_note(doc, span, other, side, differ))
    return (f'<mark {attrs} style="background:{colour(span.label, side.schema)}">{html.escape(doc.span_text(span))}'
            f'<span class="sx-lab">{html.escape(span.label)}</span></mark>')


def render(doc: Document, other: Document, side: Side) -> Rendered:
    """``doc``'s text with its spans marked, ``other``'s spans (the other side's document of the same text)
    deciding which are disagreements: the entities kind's ``html`` part (see :mod:`smallext.visualize`)."""
    theirs = {s.key for s in other.spans}
    inline = sorted(non_overlapping(doc.spans, lambda s: (s.start, s.end), lambda s: (s.start, -s.end, s.label)),
                    key=lambda s: s.start)
    out, pos = [], 0
    for s in inline:
        out.append(html.escape(doc.text[pos:s.start]))
        out.append(_mark(doc, s, other, side, theirs))
        pos = s.end
    out.append(html.escape(doc.text[pos:]))
    body = f'<p class="sx-text">{"".join(out)}</p>'
    drawn = {id(s) for s in inline}
    rest = [s for s in doc.spans if id(s) not in drawn]
    if rest:
        body += ('<div class="sx-kind">overlapping spans, not marked in the text</div><ul class="sx-list">'
                 + "".join(f"<li>{_mark(doc, s, other, side, theirs)}</li>" for s in rest) + "</ul>")
    return Rendered(body, sum(s.key not in theirs for s in doc.spans), tuple(sorted({s.label for s in doc.spans})))
