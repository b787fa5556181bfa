"""The relations kind on the examples page (:mod:`smallext.visualize`): a list under the text, one line per
relation, ``head [TYPE] -> label -> tail [TYPE]`` with the arguments' texts.

A relation the other side does not have is outlined (strict match, as the relations scorer counts: both
arguments' offsets and entity types and the relation type; a symmetric type of the schema matches either way
round, :func:`~smallext.kinds.relations.scorer.relation_keys`).
"""

from __future__ import annotations

import html

from smallext.doc import Document
from smallext.kinds.relations.schema import symmetric_relations
from smallext.kinds.relations.scorer import relation_keys
from smallext.visualize import Rendered, Side, item_attributes

__all__ = ["render"]


def _argument(doc: Document, index: int) -> str:
    s = doc.spans[index]
    return f'<b>{html.escape(doc.span_text(s))}</b><span class="sx-lab">{html.escape(s.label)}</span>'


def render(doc: Document, other: Document, side: Side) -> Rendered | None:
    """``doc``'s relations as a list, ``other``'s (the other side's document of the same text) deciding which are
    disagreements: the relations kind's ``html`` part (see :mod:`smallext.visualize`). None when neither side has
    a relation and the schema (if any) declares no relation type: nothing to show."""
    schema = side.schema
    if not doc.relations and not other.relations and not (schema is not None and schema.relation_types):
        return None
    sym = symmetric_relations(schema) if schema is not None else []
    theirs = relation_keys(other, "strict", sym)
    lines, differ = [], 0
    for r in doc.relations:
        (key,) = relation_keys(doc.replace(relations=[r]), "strict", sym)
        miss = key not in theirs
        differ += miss
        note = f"{r.label}: " + (f"not in the {side.other}'s" if miss else f"the {side.other} has it too")
        lines.append(f'<li {item_attributes("relations", r.label, differ=miss, note=note)}>'
                     f"{_argument(doc, r.head)} &rarr; <i>{html.escape(r.label)}</i> &rarr; "
                     f"{_argument(doc, r.tail)}</li>")
    body = '<div class="sx-kind">relations</div>' + (
        f'<ul class="sx-list">{"".join(lines)}</ul>' if lines else '<p class="sx-none">no relations</p>')
    return Rendered(body, differ, tuple(sorted({r.label for r in doc.relations})))
