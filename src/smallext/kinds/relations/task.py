"""The relation task: entities and the relations between them in one call (a
:class:`~smallext.teachers.tasks.base.Task`).

Reply format (held to :meth:`RelationTask.json_schema` by backends that constrain decoding)::

    {"entities": [{"text": "Jane Morrow", "type": "Peop"}, {"text": "Acme Corp.", "type": "Org"}],
     "relations": [{"head": "Jane Morrow", "type": "Work_For", "tail": "Acme Corp."}]}

The prompt is the entity task's (system instructions, retrieved few-shot turns whose replies now carry their
relations, the text) with the relation types added: each with its definition, guidelines and the entity types
allowed as head and tail.

Grounding: entities are grounded as in :mod:`smallext.teachers.grounding`; a relation's head and tail are matched
to the grounded entity spans of the same reply whose text equals the argument (exactly, else ignoring case and
spaces); where a string occurs several times, the two occurrences closest to each other are taken. A relation
whose argument matches no grounded entity, whose type is not in the schema, or whose argument types the schema
does not allow (:meth:`~smallext.schema.RelationType.allows`) is dropped and counted
(:class:`~smallext.teachers.grounding.GroundingStats`), like an ungrounded span.
"""

from __future__ import annotations

import json
import re
from typing import Any

from smallext.doc import Document
from smallext.kinds.entities.task import _RULES, EntityTask, parse_reply
from smallext.kinds.relations import Relation
from smallext.kinds.relations.schema import relation_labels, relation_type, resolve_relation
from smallext.schema import Schema
from smallext.teachers.tasks.base import Grounded, ParsedReply, read_json_object

__all__ = ["RelationTask", "parse_relation_reply", "relation_reply_for"]

COUNTERS = ("relations", "relations_ungrounded", "relations_unknown_type", "relations_type_error", "relations_kept")
"""The relation task's grounding counters (:class:`~smallext.teachers.grounding.GroundingStats`): relations returned;
dropped because an argument is not one of the reply's grounded entities, because their type is not a relation type
of the schema, because their arguments' entity types break the schema; and kept (before a relation between two
documents of one call is dropped)."""

INSTRUCTIONS = (
    _RULES + "- List entities in the order they appear; list a name again each time it appears.\n"
    "- Use only the entity types listed; ignore mentions that fit none of them.\n"
    "- Then list every relation of the relation types below that the text states between two of the entities; "
    "name the head and the tail by their text exactly as in your entity list.\n"
    "- A relation's head and tail must have the entity types the relation type allows.\n"
    '- Reply with JSON only, in the form {"entities": [{"text": "...", "type": "..."}], '
    '"relations": [{"head": "...", "type": "...", "tail": "..."}]}; use empty lists when there are none.'
)


def render_relation_types(schema: Schema, guidelines: bool = True) -> str:
    """The relation-type section of the system prompt: each type with its definition, argument types, whether
    its direction matters, and its guidelines."""
    lines = []
    for r in schema.relation_types:
        sym = "; symmetric: the order of head and tail does not matter" if r.symmetric else ""
        lines.append(f"- {r.name}: {r.definition} (head: {' or '.join(r.head)}; tail: {' or '.join(r.tail)}{sym})")
        if guidelines:
            lines += [f"    * {g}" for g in r.guidelines]
    return "\n".join(lines)


def relation_reply_for(doc: Document) -> str:
    """The ideal reply for a labelled example (a few-shot turn): its entities in order, then its relations."""
    order = sorted(range(len(doc.spans)), key=lambda i: doc.spans[i].start)
    ents = [{"text": doc.span_text(doc.spans[i]), "type": doc.spans[i].label} for i in order]
    rels = [{"head": doc.span_text(doc.spans[r.head]), "type": r.label, "tail": doc.span_text(doc.spans[r.tail])}
            for r in doc.relations]
    return json.dumps({"entities": ents, "relations": rels}, ensure_ascii=False)


_RELATION = re.compile(r'\{\s*"head"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"type"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*'
                       r'"tail"\s*:\s*"((?:[^"\\]|\\.)*)"\s*\}')


def parse_relation_reply(text: str) -> ParsedReply:
    """Read ``{"entities": [...], "relations": [...]}`` from a model reply.

    Tolerant like :func:`~smallext.kinds.entities.task.parse_reply`: prose around the JSON is ignored; a reply
    cut off mid-way yields its complete entity and relation objects with ``truncated=True`` and ``error`` set.
    Relations that are not objects with string ``head``, ``type`` and ``tail`` are skipped.
    """
    parsed = parse_reply(text)
    body, obj, error = read_json_object(text)
    if body is None:
        return parsed
    if error is not None:
        parsed.items["relations"] = [{"head": json.loads(f'"{h}"'), "type": json.loads(f'"{t}"'),
                             "tail": json.loads(f'"{x}"')} for h, t, x in _RELATION.findall(body)]
        return parsed
    rels = obj.get("relations") if isinstance(obj, dict) else None
    if isinstance(rels, list):
        parsed.items["relations"] = [{"head": r["head"], "type": r["type"], "tail": r["tail"]} for r in rels
                            if isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("head", "type", "tail"))]
    return parsed


def _norm(s: str) -> str:
    return "".join(s.split()).lower()


class RelationTask(EntityTask):
    """Entities and relations in one call (see the module docstring). Arguments as
    :class:`~smallext.kinds.entities.task.EntityTask`; only the ``list`` reply format.

    Raises:
        ValueError: the schema has no relation types, or a reply format other than ``list``.
    """

    name = "relations"

    def __init__(self, schema: Schema, selector=None, shots: int = 0, guidelines: bool = True,
                 reply_format: str = "list", occurrences="all", shot_groups: int = 0, prompt_variant: int = 0) -> None:
        if not schema.relation_types:
            raise ValueError(f"the relation task needs a schema with relation_types; {schema.name!r} has none")
        if reply_format != "list":
            raise ValueError(f"the relation task replies in the 'list' format only, not {reply_format!r}")
        super().__init__(schema, selector, shots, guidelines, reply_format, occurrences, shot_groups, prompt_variant)
        self.system += f"\n\nRelation types:\n{render_relation_types(schema, guidelines)}"

    def instructions(self) -> str:
        return INSTRUCTIONS

    def reply_for(self, doc: Document) -> str:
        return relation_reply_for(doc)

    def json_schema(self, text: str | None = None) -> dict:
        """JSON Schema of a valid reply: entity and relation types restricted to the schema's names, and (given
        the text) bounded lists, so that a model that loops still closes its JSON within :meth:`max_tokens`."""
        schema = super().json_schema(text)
        rel = {"type": "object", "properties": {"head": {"type": "string"},
                                                "type": {"type": "string", "enum": relation_labels(self.schema)},
                                                "tail": {"type": "string"}},
               "required": ["head", "type", "tail"]}
        schema["properties"]["relations"] = {"type": "array", "items": rel}
        if text is not None:
            schema["properties"]["relations"]["maxItems"] = self.max_entities(text)
        schema["required"] = ["entities", "relations"]
        return schema

    def max_tokens(self, text: str) -> int:
        """The reply budget in tokens: the entity task's plus as much again for the relations, at most 3072."""
        return int(min(3072, 2 * super().max_tokens(text)))

    def parse(self, reply: str) -> ParsedReply:
        return parse_relation_reply(reply)

    def ground(self, text: str, parsed: ParsedReply, *, source: str | None = None) -> Grounded:
        """Entities as spans of ``text``, relations between them (see the module docstring)."""
        g = super().ground(text, parsed, source=source)
        exact: dict[str, list[int]] = {}
        loose: dict[str, list[int]] = {}
        for i, s in enumerate(g.spans):
            exact.setdefault(text[s.start:s.end], []).append(i)
            loose.setdefault(_norm(text[s.start:s.end]), []).append(i)

        def find(arg: str) -> list[int]:
            return exact.get(arg.strip()) or loose.get(_norm(arg)) or []

        for name in COUNTERS:  # declared, so that every call's statistics list them
            g.stats.count(name, 0)
        rels: dict[tuple[int, int, str], Relation] = {}
        for r in parsed.items.get("relations", []):
            g.stats.count("relations")
            label = resolve_relation(self.schema, r["type"])
            if label is None:
                g.stats.count("relations_unknown_type")
                continue
            heads, tails = find(r["head"]), find(r["tail"])
            pairs = [(h, t) for h in heads for t in tails if h != t]
            if not pairs:
                g.stats.count("relations_ungrounded")
                continue
            rt = relation_type(self.schema, label)
            pairs = [(h, t) for h, t in pairs if rt.allows(g.spans[h].label, g.spans[t].label)]
            if not pairs:
                g.stats.count("relations_type_error")
                continue
            h, t = min(pairs, key=lambda p: abs(g.spans[p[0]].start - g.spans[p[1]].start))
            rels.setdefault((h, t, label), Relation(h, t, label, None, source))
        g.layers["relations"] = list(rels.values())
        g.stats.count("relations_kept", len(rels))
        return g

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "relation_types": relation_labels(self.schema)}
