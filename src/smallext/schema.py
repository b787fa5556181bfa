"""What to extract: entity types with definitions, guidelines, examples and label aliases.

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

``guidelines`` at the top level hold the rules shared by every entity type; the teacher's prompt states them
once instead of under each type (on CrossNER-AI the system prompt shrinks from 1,228 to 622 tokens). Field
names are part of the interface. ``aliases`` map other label names (a dataset's tags, a pretrained
model's types) to the entity type; matching of aliases is case-insensitive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smallext.doc import Document, Relation, Span
from smallext.errors import ConfigError, field_problems

__all__ = ["Schema", "EntityType", "Example", "ExampleSpan", "ExampleRelation", "RelationType", "load_schema"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExampleSpan(_Strict):
    """A labelled span of an example: character offsets into the example's text (end-exclusive)."""

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    label: str


class ExampleRelation(_Strict):
    """A relation of an example: ``head`` and ``tail`` index the example's ``spans`` (0-based)."""

    head: int = Field(ge=0)
    tail: int = Field(ge=0)
    label: str


class Example(_Strict):
    """A worked example: a text, all of its entities (of every type in the schema) and, in a schema with relation
    types, all of its relations."""

    text: str = Field(min_length=1)
    spans: list[ExampleSpan] = Field(default_factory=list)
    relations: list[ExampleRelation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _spans_in_text(self) -> Example:
        for i, s in enumerate(self.spans):
            if not (s.start < s.end <= len(self.text)):
                raise ValueError(
                    f"spans.{i}: [{s.start}, {s.end}) is empty or outside the text (length {len(self.text)})"
                )
        for i, r in enumerate(self.relations):
            if r.head >= len(self.spans) or r.tail >= len(self.spans):
                raise ValueError(f"relations.{i}: head {r.head} or tail {r.tail} is not one of the "
                                 f"{len(self.spans)} spans")
        return self

    def to_document(self, doc_id: str) -> Document:
        """The example as a gold :class:`~smallext.doc.Document` (spans and relations)."""
        return Document(doc_id, self.text, [Span(s.start, s.end, s.label, None, "schema") for s in self.spans],
                        relations=[Relation(r.head, r.tail, r.label, None, "schema") for r in self.relations])


class EntityType(_Strict):
    """One entity type: its name (the label), what it means, and how to mark it."""

    name: str = Field(min_length=1, pattern=r"^[^\s]+$")
    definition: str = Field(min_length=1)
    guidelines: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)


class RelationType(_Strict):
    """One relation type: its name, what it means, the entity types of its head and tail, and whether it is
    symmetric (the same fact either way round: evaluation matches it in either direction)."""

    name: str = Field(min_length=1, pattern=r"^[^\s]+$")
    definition: str = Field(min_length=1)
    guidelines: list[str] = Field(default_factory=list)
    head: list[str] = Field(min_length=1, description="entity types allowed as the head (first argument)")
    tail: list[str] = Field(min_length=1, description="entity types allowed as the tail (second argument)")
    symmetric: bool = False
    aliases: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)

    def allows(self, head_type: str, tail_type: str) -> bool:
        """Whether a relation of this type may hold between a ``head_type`` and a ``tail_type`` entity (either
        way round for a symmetric type)."""
        return (head_type in self.head and tail_type in self.tail) or (
            self.symmetric and tail_type in self.head and head_type in self.tail)


class Schema(_Strict):
    """The extraction schema: a name, an optional description, guidelines for every type, and the entity types.

    Raises (on construction):
        pydantic.ValidationError: duplicate type names or aliases, example spans with unknown labels.
        Use :func:`load_schema` to get :class:`~smallext.errors.ConfigError` with the file and field.
    """

    name: str = Field(min_length=1)
    description: str | None = None
    guidelines: list[str] = Field(default_factory=list)
    entity_types: list[EntityType] = Field(min_length=1)
    relation_types: list[RelationType] = Field(default_factory=list)

    @field_validator("entity_types")
    @classmethod
    def _unique(cls, types: list[EntityType]) -> list[EntityType]:
        seen: dict[str, str] = {}
        for t in types:
            for key in [t.name, *t.aliases]:
                k = key.lower()
                if k in seen and seen[k] != t.name:
                    raise ValueError(f"label {key!r} of type {t.name!r} is already used by type {seen[k]!r}")
                if k in seen and key == t.name:
                    raise ValueError(f"entity type {t.name!r} is defined twice")
                seen[k] = t.name
        return types

    @model_validator(mode="after")
    def _example_labels(self) -> Schema:
        names = set(self.labels)
        rel_names: dict[str, str] = {}
        for i, r in enumerate(self.relation_types):
            for key in [r.name, *r.aliases]:
                if key.lower() in rel_names:
                    raise ValueError(f"relation_types.{i}.name: label {key!r} is already used by relation type "
                                     f"{rel_names[key.lower()]!r}")
                rel_names[key.lower()] = r.name
            for side in ("head", "tail"):
                for k, t in enumerate(getattr(r, side)):
                    if t not in names:
                        raise ValueError(f"relation_types.{i}.{side}.{k}: {t!r} is not an entity type of the schema "
                                         f"(types: {', '.join(self.labels)})")
        groups = [("entity_types", self.entity_types), ("relation_types", self.relation_types)]
        for group, types in groups:
            for i, t in enumerate(types):
                for j, ex in enumerate(t.examples):
                    for k, s in enumerate(ex.spans):
                        if s.label not in names:
                            raise ValueError(
                                f"{group}.{i}.examples.{j}.spans.{k}.label: unknown entity type {s.label!r}"
                            )
                    for k, rel in enumerate(ex.relations):
                        if rel.label not in rel_names.values():
                            raise ValueError(
                                f"{group}.{i}.examples.{j}.relations.{k}.label: unknown relation type {rel.label!r}"
                            )
        return self

    @property
    def relation_labels(self) -> list[str]:
        """Relation type names in schema order (empty when the schema has none)."""
        return [r.name for r in self.relation_types]

    @property
    def symmetric_relations(self) -> list[str]:
        """Names of the symmetric relation types (matched in either direction by evaluation)."""
        return [r.name for r in self.relation_types if r.symmetric]

    def relation(self, name: str) -> RelationType:
        """The relation type called ``name`` (exact name). Raises ``KeyError``."""
        return _named(self.relation_types, name)

    def resolve_relation(self, label: str) -> str | None:
        """The relation type a label means: its exact name, or a case-insensitive name or alias; else None."""
        if label in self.relation_labels:
            return label
        for r in self.relation_types:
            if label.strip().lower() in {r.name.lower(), *(a.lower() for a in r.aliases)}:
                return r.name
        return None

    @property
    def labels(self) -> list[str]:
        """Entity type names in schema order."""
        return [t.name for t in self.entity_types]

    def get(self, name: str) -> EntityType:
        """The entity type called ``name`` (exact name). Raises ``KeyError``."""
        return _named(self.entity_types, name)

    def resolve_label(self, label: str) -> str | None:
        """The entity type a label means: its exact name, or a case-insensitive name or alias; else None."""
        if label in self.labels:
            return label
        return self._alias_map().get(label.strip().lower())

    def _alias_map(self) -> dict[str, str]:
        m = {}
        for t in self.entity_types:
            m[t.name.lower()] = t.name
            for a in t.aliases:
                m[a.lower()] = t.name
        return m

    def examples(self) -> list[Document]:
        """All schema examples as gold Documents (ids ``schema:TYPE:k``, entity types' then relation types')."""
        return [ex.to_document(f"schema:{t.name}:{k}") for t in [*self.entity_types, *self.relation_types]
                for k, ex in enumerate(t.examples)]

    def map_documents(self, docs: Iterable[Document], *, strict: bool = True) -> list[Document]:
        """Rename span labels to the schema's type names through names and aliases. Relations are kept (one whose
        head or tail is dropped goes with it); in a schema with relation types their labels are renamed the same
        way (a schema without relation types passes them through unchanged).

        Args:
            docs: documents whose labels may use aliases (e.g. a dataset's tags).
            strict: raise on a label the schema does not know; otherwise drop such spans and relations.

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

        def relabel(d: Document) -> Document:
            if not self.relation_types or not d.relations:
                return d
            kept = []
            for r in d.relations:
                name = self.resolve_relation(r.label)
                if name is None and strict:
                    raise ConfigError(
                        f"document {d.id!r}: relation label {r.label!r} is not a relation type or alias of schema "
                        f"{self.name!r} (types: {', '.join(self.relation_labels)})"
                    )
                if name is not None:
                    kept.append(r if name == r.label else replace(r, label=name))
            return replace(d, relations=kept)

        return [relabel(d.map_spans(lambda s, d=d: rename(d, s))) for d in docs]


def _named(types, name: str):
    """The type called ``name`` among ``types``. Raises ``KeyError``."""
    for t in types:
        if t.name == name:
            return t
    raise KeyError(name)


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
        raise ConfigError(f"{path}: expected a mapping with 'name' and 'entity_types' at the top level")
    try:
        return Schema.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path}: {field_problems(e)}") from None

