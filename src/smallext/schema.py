"""What to extract: one section per kind of output (entity types, relation types, ...), each type with a
definition, guidelines, examples and label aliases.

A schema is a YAML or JSON file::

    name: conll2003
    guidelines: ["Mark every mention, including names inside lists and parentheses."]   # for every type
    entity_types:
      - name: PER
        definition: Names of people, including fictional characters and family names used alone.
        guidelines: ["Titles such as Mr. or President are not part of the span."]
        aliases: [person]
        examples:
          - text: "Werner Zwingmann said on Wednesday ..."
            spans: [{start: 0, end: 16, label: PER}]

Relation types (optional) sit beside the entity types; ``head`` and ``tail`` name the entity types allowed as
the relation's arguments, ``symmetric`` says the direction carries no meaning (evaluation then matches either
direction), and an example holds a text, all its spans and its relations (indices into its spans)::

    relation_types:
      - name: Work_For
        definition: The person (head) is employed by or works for the organisation (tail).
        head: [PER]
        tail: [ORG]
        symmetric: false
        examples:
          - text: "Jane Doe , a spokeswoman for Acme , said ..."
            spans: [{start: 0, end: 8, label: PER}, {start: 29, end: 33, label: ORG}]
            relations: [{head: 0, tail: 1, label: Work_For}]

Every section is optional, and a schema needs at least one type in one of them. The sections are registered by
the kinds of output (:mod:`smallext.kinds`: ``entity_types`` by entities, ``relation_types`` by relations) with
:func:`register_section`; a key that is neither a top-level field nor a registered section is an error.

``guidelines`` at the top level hold the rules shared by every entity type; the teacher's prompt states them
once instead of under each type (on CrossNER-AI the system prompt shrinks from 1,228 to 622 tokens). Field
names are part of the interface. ``aliases`` map other label names (a dataset's tags, a pretrained
model's types) to the entity type; matching of aliases is case-insensitive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from smallext.doc import LAYERS, Document, Span
from smallext.errors import ConfigError, field_problems

__all__ = ["Schema", "EntityType", "Example", "ExampleSpan", "Section", "SECTIONS", "load_schema",
           "register_section"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExampleSpan(_Strict):
    """A labelled span of an example: character offsets into the example's text (end-exclusive)."""

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    label: str


class Example(BaseModel):
    """A worked example: a text, all of its entities (of every type in the schema) and, for each other kind of
    output the schema declares, its items under the kind's document field (``relations: [{head, tail, label}]``,
    indices into ``spans``), in the field's JSON form (:mod:`smallext.doc`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    text: str = Field(min_length=1)
    spans: list[ExampleSpan] = Field(default_factory=list)

    @model_validator(mode="after")
    def _spans_in_text(self) -> Example:
        for i, s in enumerate(self.spans):
            if not (s.start < s.end <= len(self.text)):
                raise ValueError(
                    f"spans.{i}: [{s.start}, {s.end}) is empty or outside the text (length {len(self.text)})"
                )
        for key in self.model_extra or {}:
            if key not in LAYERS:
                raise ValueError(f"{key}: not a field of an example (fields: text, spans, {', '.join(LAYERS)})")
        try:
            self.to_document("example")
        except Exception as e:  # a layer's item that does not fit the spans
            raise ValueError(str(e).removeprefix("document 'example': ")) from None
        return self

    def to_document(self, doc_id: str) -> Document:
        """The example as a gold :class:`~smallext.doc.Document` (spans and every layer, source ``schema``)."""
        layers = {f: [_sourced(x) for x in LAYERS[f].from_json(v)] for f, v in (self.model_extra or {}).items() if v}
        return Document(doc_id, self.text, [Span(s.start, s.end, s.label, None, "schema") for s in self.spans],
                        **layers)


def _sourced(item):
    return replace(item, source="schema") if is_dataclass(item) and hasattr(item, "source") else item


class EntityType(_Strict):
    """One entity type: its name (the label), what it means, and how to mark it."""

    name: str = Field(min_length=1, pattern=r"^[^\s]+$")
    definition: str = Field(min_length=1)
    guidelines: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """A kind of output's section of the schema (registered with :func:`register_section`).

    Attributes:
        field: the top-level key (``"relation_types"``).
        item: the pydantic model of one type in it.
        check: called with the built schema; raises ``ValueError`` with a field path (``relation_types.0.head.0:
            ...``) when the section does not fit the rest of the schema.
    """

    field: str
    item: type[BaseModel]
    check: Callable[[Schema], None] | None = None


SECTIONS: dict[str, Section] = {}
"""Top-level key -> :class:`Section`, filled by the kinds of output (:mod:`smallext.kinds`)."""


def register_section(section: Section) -> Section:
    """Make ``section.field`` a section of every :class:`Schema` (the registration of a kind's section).

    Raises:
        ValueError: the key is a top-level field of the schema or another kind's section.
    """
    if section.field in Schema.model_fields or (section.field in SECTIONS and SECTIONS[section.field] != section):
        raise ValueError(f"schema section {section.field!r} is already taken")
    SECTIONS[section.field] = section
    return section


class Schema(BaseModel):
    """The extraction schema: a name, an optional description, guidelines for every type, and one section per kind
    of output (``entity_types``, ``relation_types``, ...: attributes of the schema, an empty list when absent).

    Raises (on construction):
        pydantic.ValidationError: no type in any section, an unknown top-level key, duplicate type names or
            aliases, example spans with unknown labels. Use :func:`load_schema` to get
            :class:`~smallext.errors.ConfigError` with the file and field.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1)
    description: str | None = None
    guidelines: list[str] = Field(default_factory=list)
    entity_types: list[EntityType] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in list(data):
            if key in cls.model_fields:
                continue
            if key not in SECTIONS:
                raise ValueError(f"{key}: not a field or section of a schema (sections: "
                                 f"{', '.join(['entity_types', *SECTIONS])})")
        for key, section in SECTIONS.items():
            raw = data.get(key) or []
            if raw and all(isinstance(x, section.item) for x in raw):
                continue
            try:
                data[key] = TypeAdapter(list[section.item]).validate_python(raw)
            except ValidationError as e:
                raise ValueError(_prefixed(key, e)) from None
        return data

    @model_validator(mode="after")
    def _checks(self) -> Schema:
        if not any(self.sections().values()):
            raise ValueError(f"a schema needs at least one type in one of its sections "
                             f"({', '.join(['entity_types', *SECTIONS])})")
        seen: dict[str, str] = {}
        for i, t in enumerate(self.entity_types):
            for key in [t.name, *t.aliases]:
                k = key.lower()
                if k in seen and seen[k] != t.name:
                    raise ValueError(f"entity_types.{i}: label {key!r} of type {t.name!r} is already used by type "
                                     f"{seen[k]!r}")
                if k in seen and key == t.name:
                    raise ValueError(f"entity_types.{i}: entity type {t.name!r} is defined twice")
                seen[k] = t.name
        names = set(self.labels)
        for group, types in self.sections().items():
            for i, t in enumerate(types):
                for j, ex in enumerate(getattr(t, "examples", None) or []):
                    for k, s in enumerate(ex.spans):
                        if s.label not in names:
                            raise ValueError(f"{group}.{i}.examples.{j}.spans.{k}.label: unknown entity type "
                                             f"{s.label!r}")
        for section in SECTIONS.values():
            if section.check is not None:
                section.check(self)
        return self

    def sections(self) -> dict[str, list[BaseModel]]:
        """Every section by its key (``entity_types`` first, then the registered kinds' in registration order)."""
        return {"entity_types": self.entity_types, **{k: getattr(self, k) for k in SECTIONS}}

    def __getattr__(self, name: str) -> Any:
        extra = self.__pydantic_extra__ or {}
        if name in extra:
            return extra[name]
        if name in SECTIONS:  # a section registered after this schema was built
            return []
        return super().__getattr__(name)

    @property
    def labels(self) -> list[str]:
        """Entity type names in schema order."""
        return [t.name for t in self.entity_types]

    def get(self, name: str) -> EntityType:
        """The entity type called ``name`` (exact name). Raises ``KeyError``."""
        return named(self.entity_types, name)

    def resolve_label(self, label: str) -> str | None:
        """The entity type a label means: its exact name, or a case-insensitive name or alias; else None."""
        return resolve(self.entity_types, label)

    def examples(self) -> list[Document]:
        """All schema examples as gold Documents (ids ``schema:TYPE:k``, section by section)."""
        return [ex.to_document(f"schema:{t.name}:{k}") for types in self.sections().values() for t in types
                for k, ex in enumerate(getattr(t, "examples", None) or [])]

    def map_documents(self, docs: Iterable[Document], *, strict: bool = True) -> list[Document]:
        """Rename span labels to the schema's entity type names through names and aliases, and let each kind of
        output rename its own labels (relations: through relation type names and aliases; a schema without relation
        types passes relations through unchanged). What hangs on a dropped span is dropped with it.

        Args:
            docs: documents whose labels may use aliases (e.g. a dataset's tags).
            strict: raise on a label the schema does not know; otherwise drop such spans and items.

        Raises:
            ConfigError: (strict) a label matches no type or alias; names the document and label.
        """
        def rename(d: Document, s: Span) -> Span | None:
            name = self.resolve_label(s.label)
            if name is None and strict:
                raise ConfigError(
                    f"document {d.id!r}: label {s.label!r} is not an entity type or alias of schema "
                    f"{self.name!r} (types: {', '.join(self.labels)})"
                )
            if name is None:
                return None
            return s if name == s.label else replace(s, label=name)

        out = []
        for d in docs:
            d = d.map_spans(lambda s, d=d: rename(d, s))
            for f, layer in LAYERS.items():
                relabel = getattr(layer, "relabel", None)
                if relabel is not None and getattr(d, f):
                    d = d.replace(**{f: relabel(self, d, getattr(d, f), strict)})
            out.append(d)
        return out


def _prefixed(key: str, e: ValidationError) -> str:
    """A section's validation errors with its key before each field path."""
    return "; ".join(f"{'.'.join([key, *map(str, err['loc'])])}: {err['msg'].removeprefix('Value error, ')}"
                     for err in e.errors())


def unique_labels(types, where: Callable[[int], str], taken: Callable[[str, str], str]) -> dict[str, str]:
    """``{name or alias, lower-cased: the type's name}`` over ``types`` (items with ``name`` and ``aliases``).

    Raises:
        ValueError: a name or alias is used twice (case-insensitively): ``f"{where(i)}: {taken(key, owner)}"``,
            ``i`` the index of the type that uses it again, ``owner`` the name of the type that used it first.
    """
    seen: dict[str, str] = {}
    for i, t in enumerate(types):
        for key in [t.name, *t.aliases]:
            if key.lower() in seen:
                raise ValueError(f"{where(i)}: {taken(key, seen[key.lower()])}")
            seen[key.lower()] = t.name
    return seen


def named(types, name: str):
    """The type called ``name`` among ``types`` (exact name). Raises ``KeyError``."""
    for t in types:
        if t.name == name:
            return t
    raise KeyError(name)


def resolve(types, label: str) -> str | None:
    """The name of the type among ``types`` that ``label`` means: its exact name, or a case-insensitive name or
    alias; else None."""
    for t in types:
        if t.name == label:
            return label
    key = label.strip().lower()
    for t in types:
        if key in {t.name.lower(), *(a.lower() for a in t.aliases)}:
            return t.name
    return None


def load_schema(path: str | Path | Schema) -> Schema:
    """Load and validate a schema from a YAML or JSON file (an already built :class:`Schema` passes through).

    Raises:
        ConfigError: the file is missing, unreadable, not YAML/JSON, or fails validation; the message
            names the file and the field (e.g. ``entity_types.2.definition``).
    """
    if isinstance(path, Schema):
        return path
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"schema file not found: {path}")
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML/JSON: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'name' and its type sections at the top level")
    try:
        return Schema.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path}: {field_problems(e)}") from None
