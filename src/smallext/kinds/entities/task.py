"""The entity task: what to ask an LLM about named entities and how to read its answer (a
:class:`~smallext.teachers.tasks.base.Task`; the backend only turns prompts into replies).

Prompt layout (chat messages), built so that a server can reuse the longest fixed prefix between calls:

1. system: the fixed instructions, the entity types with their definitions and guidelines, the reply format;
2. k few-shot examples as user/assistant turns, picked per input by embedding similarity
   (:class:`~smallext.teachers.shots.ShotSelector`), least similar first;
3. user: the text to annotate.

Three reply formats (``reply_format``):

- ``list`` (default): ``{"entities": [{"text": ..., "type": ...}]}``, one object per mention in order;
- ``pairs``: ``{"entities": [["text", "type"], ...]}``, the same mentions in order as ``list`` in about half
  the output tokens (on a CPU, generated tokens are most of an LLM teacher's time);
- ``grouped``: ``{"TYPE": ["text", ...], ...}``, each distinct string once under its type, about three
  times fewer output tokens per entity; grounding labels every occurrence of a string anyway
  (``occurrences="all"``).

Backends that support it constrain decoding with :meth:`EntityTask.json_schema`. The parsers are tolerant: they
accept text around the JSON object, and salvage the complete entities of a reply cut off at ``max_tokens``
(reported as truncated).
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args

from smallext.doc import Document
from smallext.schema import Schema
from smallext.teachers.grounding import Occurrences, ground
from smallext.teachers.tasks.base import FewShotTask, Grounded, ParsedReply, ReplyFormat, read_json_object

_RULES = (
    "You are a careful annotator. Find every mention of the entity types below in the user's text and "
    "return them as JSON.\n"
    "Rules:\n"
    "- Copy each entity's text exactly as it is written in the input: same spelling, same case, no extra words.\n"
)
INSTRUCTIONS = (
    _RULES + "- List entities in the order they appear; list a name again each time it appears.\n"
    "- Use only the types listed; ignore mentions that fit none of them.\n"
    '- Reply with JSON only, in the form {"entities": [{"text": "...", "type": "..."}]}; '
    'if there are none, reply {"entities": []}.'
)
GROUPED_INSTRUCTIONS = (
    _RULES + "- List each distinct name once, under its type, in the order of first appearance.\n"
    "- Use only the types listed; leave out types with no mention; ignore mentions that fit none of them.\n"
    '- Reply with JSON only, in the form {"TYPE": ["text", ...], ...}; if there are none, reply {}.'
)
PAIRS_INSTRUCTIONS = (
    _RULES + "- List entities in the order they appear; list a name again each time it appears.\n"
    "- Use only the types listed; ignore mentions that fit none of them.\n"
    '- Reply with JSON only, in the form {"entities": [["text", "TYPE"], ...]}; '
    'if there are none, reply {"entities": []}.'
)
REPLY_FORMATS: tuple[str, ...] = get_args(ReplyFormat)
"""The reply formats of the entity task (see the module docstring)."""


def render_types(schema: Schema, guidelines: bool = True, variant: int = 0) -> str:
    """The entity-type section of the system prompt: the schema's rules for every type (once), then each type
    with its definition and own guidelines; ``variant`` k > 0 lists the types in another order (seeded by k),
    a prompt variant whose replies can be compared with the original's."""
    lines = []
    if guidelines and schema.guidelines:
        lines += ["Rules for every type:", *(f"- {g}" for g in schema.guidelines), "", "Types:"]
    types = list(schema.entity_types)
    if variant:
        import random

        random.Random(variant).shuffle(types)
    for t in types:
        lines.append(f"- {t.name}: {t.definition}")
        if guidelines:
            lines += [f"    * {g}" for g in t.guidelines]
    return "\n".join(lines)


def reply_for(doc: Document, reply_format: str = "list") -> str:
    """The ideal reply for a labelled example (used for few-shot turns), in ``reply_format``."""
    ents = [{"text": doc.span_text(s), "type": s.label} for s in sorted(doc.spans, key=lambda s: s.start)]
    if reply_format == "grouped":
        groups: dict[str, list[str]] = {}
        for e in ents:
            if e["text"] not in groups.setdefault(e["type"], []):
                groups[e["type"]].append(e["text"])
        return json.dumps(groups, ensure_ascii=False)
    if reply_format == "pairs":
        return json.dumps({"entities": [[e["text"], e["type"]] for e in ents]}, ensure_ascii=False)
    return json.dumps({"entities": ents}, ensure_ascii=False)


_ENTITY = re.compile(r'\{\s*"text"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"type"\s*:\s*"((?:[^"\\]|\\.)*)"\s*\}')


_PAIR = re.compile(r'\[\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\]')


def parse_reply(text: str) -> ParsedReply:
    """Read ``{"entities": [...]}`` from a model reply; entities are ``{"text", "type"}`` objects or
    ``["text", "type"]`` pairs (the ``pairs`` format).

    Accepts surrounding prose or code fences. A reply that is not valid JSON (for example cut off at
    ``max_tokens``) yields its complete ``{"text", "type"}`` objects with ``truncated=True``, and ``error``
    set: the caller decides whether to retry. Entities that are not objects with string ``text`` and
    ``type`` are skipped.
    """
    body, obj, error = read_json_object(text)
    if body is None:
        return ParsedReply([], False, error)
    if error is not None:
        found = _ENTITY.findall(body) or _PAIR.findall(body)
        salvaged = [{"text": json.loads(f'"{a}"'), "type": json.loads(f'"{b}"')} for a, b in found]
        return ParsedReply(salvaged, True, error)
    if not isinstance(obj, dict) or not isinstance(obj.get("entities"), list):
        return ParsedReply([], False, "the reply JSON has no 'entities' list")
    ents = []
    for e in obj["entities"]:
        if isinstance(e, dict) and isinstance(e.get("text"), str) and isinstance(e.get("type"), str):
            ents.append({"text": e["text"], "type": e["type"]})
        elif isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e):
            ents.append({"text": e[0], "type": e[1]})
    return ParsedReply(ents)


_GROUP = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*\[')
_STRING = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*(,|\])')


def parse_grouped_reply(text: str) -> ParsedReply:
    """Read ``{"TYPE": ["text", ...], ...}`` from a model reply (the ``grouped`` format).

    Tolerant like :func:`parse_reply`: surrounding prose is ignored, and a reply cut off mid-way yields the
    strings completed before the cut with ``truncated=True`` and ``error`` set. Values that are not lists of
    strings are skipped.
    """
    body, obj, error = read_json_object(text)
    if body is None:
        return ParsedReply([], False, error)
    if error is not None:
        salvaged = []
        for m in _GROUP.finditer(body):
            pos = m.end()
            while (sm := _STRING.match(body, pos)) is not None:
                salvaged.append({"text": json.loads(f'"{sm.group(1)}"'), "type": json.loads(f'"{m.group(1)}"')})
                pos = sm.end()
                if sm.group(2) == "]":
                    break
        return ParsedReply(salvaged, True, error)
    if not isinstance(obj, dict):
        return ParsedReply([], False, "the reply JSON is not an object of type -> list of strings")
    ents = [{"text": t, "type": k} for k, v in obj.items() if isinstance(v, list) for t in v if isinstance(t, str)]
    return ParsedReply(ents)


class EntityTask(FewShotTask):
    """Prompts for a schema's entity types, parses replies, grounds them as spans.

    Args:
        schema: what to extract.
        selector: a :class:`~smallext.teachers.shots.ShotSelector` (or None for zero-shot).
        shots: examples per prompt (k).
        guidelines: include the types' guidelines in the system prompt.
        reply_format: ``list``, ``pairs`` or ``grouped`` (see the module docstring).
        occurrences: grounding of a string found several times: ``all`` labels each, ``first`` only the first
            (see :mod:`smallext.teachers.grounding`).
        shot_groups: 0: each call gets the shots most similar to its text; N > 0: calls are grouped about N at a
            time by similarity and each group shares the shots nearest to it, sent in group order, so that a
            backend that caches prompt prefixes evaluates the shots once per group
            (:meth:`~smallext.teachers.shots.ShotSelector.select_groups`).
        prompt_variant: 0 for the prompt as written; k > 0 lists the entity types in another order (CoAnnotating's
            prompt variants, Li et al. EMNLP 2023: the spread of replies over variants measures the LLM's doubt).

    Raises:
        ValueError: unknown ``reply_format`` or ``occurrences``.
    """

    name = "entities"

    def __init__(self, schema: Schema, selector=None, shots: int = 0, guidelines: bool = True,
                 reply_format: str = "list", occurrences: Occurrences = "all", shot_groups: int = 0,
                 prompt_variant: int = 0) -> None:
        if reply_format not in REPLY_FORMATS:
            raise ValueError(f"reply_format must be one of {REPLY_FORMATS}, not {reply_format!r}")
        if occurrences not in get_args(Occurrences):
            raise ValueError(f"occurrences must be one of {get_args(Occurrences)}, not {occurrences!r}")
        self.schema = schema
        self.selector = selector
        self.shots = shots if selector is not None else 0
        self.reply_format = reply_format
        self.occurrences = occurrences
        self.shot_groups = shot_groups
        self.prompt_variant = prompt_variant
        self._shots: dict[str, list[Document]] = {}
        self.system = (
            f"{self.instructions()}\n\nEntity types of the schema '{schema.name}'"
            + (f" ({schema.description})" if schema.description else "")
            + f":\n{render_types(schema, guidelines, prompt_variant)}"
        )

    def instructions(self) -> str:
        """The fixed rules at the head of the system prompt, for this task's reply format."""
        return {"list": INSTRUCTIONS, "pairs": PAIRS_INSTRUCTIONS, "grouped": GROUPED_INSTRUCTIONS}[self.reply_format]

    def json_schema(self, text: str | None = None) -> dict:
        """JSON Schema of a valid reply: types restricted to the schema's names and, given the input text, at
        most :meth:`max_entities` entities, so that a model that loops still closes its JSON within
        :meth:`max_tokens`."""
        if self.reply_format == "grouped":
            items: dict = {"type": "array", "items": {"type": "string"}}
            if text is not None:
                items["maxItems"] = self.max_entities(text)
            return {"type": "object", "properties": {t: items for t in self.schema.labels},
                    "additionalProperties": False}
        item = ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "string", "enum": self.schema.labels}],
                 "minItems": 2, "maxItems": 2} if self.reply_format == "pairs" else
                {"type": "object", "properties": {"text": {"type": "string"},
                                                  "type": {"type": "string", "enum": self.schema.labels}},
                 "required": ["text", "type"]})
        schema = {"type": "object", "properties": {"entities": {"type": "array", "items": item}},
                  "required": ["entities"]}
        if text is not None:
            schema["properties"]["entities"]["maxItems"] = self.max_entities(text)
        return schema

    def max_entities(self, text: str) -> int:
        """Entities a reply may hold: one per three words plus two, and no more than fit in the token budget
        at 16 tokens per entity (CoNLL-2003 has 0.12 entities per word, CrossNER-AI 0.14)."""
        return max(2, min(2 + len(text.split()) // 3, (self.max_tokens(text) - 16) // 16))

    def reply_for(self, doc: Document) -> str:
        """The ideal reply for a labelled example (a few-shot turn), in this task's format."""
        return reply_for(doc, self.reply_format)

    def parse(self, reply: str) -> ParsedReply:
        """Parse a reply in this task's format (:func:`parse_grouped_reply` for ``grouped``, else
        :func:`parse_reply`)."""
        return parse_grouped_reply(reply) if self.reply_format == "grouped" else parse_reply(reply)

    def max_tokens(self, text: str) -> int:
        """The reply budget in tokens for ``text``: 64 plus one per two characters, at most 2048."""
        return int(min(2048, 64 + len(text) // 2))

    def ground(self, text: str, parsed: ParsedReply, *, source: str | None = None) -> Grounded:
        """The entities of a parsed reply as spans of ``text`` (:func:`~smallext.teachers.grounding.ground`)."""
        spans, stats, aligns = ground(text, parsed.entities, self.schema.resolve_label,
                                      occurrences=self.occurrences, source=source)
        return Grounded(spans, stats, aligns)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "reply_format": self.reply_format, "occurrences": self.occurrences,
                "shot_groups": self.shot_groups, "prompt_variant": self.prompt_variant}
