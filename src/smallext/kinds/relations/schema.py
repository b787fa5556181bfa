"""The relations kind's section of the schema: ``relation_types`` (:class:`RelationType`) and its checks.

Each relation type names the entity types allowed as its ``head`` and ``tail``; ``symmetric`` says the direction
carries no meaning (evaluation then matches either direction). See :mod:`smallext.schema` for the file format.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from smallext.schema import Example, Schema, Section, named, resolve, unique_labels

__all__ = ["RelationType", "SECTION", "relation_labels", "relation_type", "resolve_relation", "symmetric_relations"]


class RelationType(BaseModel):
    """One relation type: its name, what it means, the entity types of its head and tail, and whether it is
    symmetric (the same fact either way round: evaluation matches it in either direction)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
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


def relation_labels(schema: Schema) -> list[str]:
    """Relation type names in schema order (empty when the schema has none)."""
    return [r.name for r in schema.relation_types]


def symmetric_relations(schema: Schema) -> list[str]:
    """Names of the symmetric relation types (matched in either direction by evaluation)."""
    return [r.name for r in schema.relation_types if r.symmetric]


def relation_type(schema: Schema, name: str) -> RelationType:
    """The relation type called ``name`` (exact name). Raises ``KeyError``."""
    return named(schema.relation_types, name)


def resolve_relation(schema: Schema, label: str) -> str | None:
    """The relation type a label means: its exact name, or a case-insensitive name or alias; else None."""
    return resolve(schema.relation_types, label)


def _check(schema: Schema) -> None:
    """Names and aliases unique; heads and tails entity types of the schema; example relations of known types.

    Raises:
        ValueError: with the field path (``relation_types.0.tail.0: ...``).
    """
    names = set(schema.labels)
    rel_names = unique_labels(schema.relation_types, lambda i: f"relation_types.{i}.name",
                              lambda key, owner: f"label {key!r} is already used by relation type {owner!r}")
    for i, r in enumerate(schema.relation_types):
        for side in ("head", "tail"):
            for k, t in enumerate(getattr(r, side)):
                if t not in names:
                    raise ValueError(f"relation_types.{i}.{side}.{k}: {t!r} is not an entity type of the schema "
                                     f"(types: {', '.join(schema.labels)})")
    for group, types in schema.sections().items():
        for i, t in enumerate(types):
            for j, ex in enumerate(getattr(t, "examples", None) or []):
                for k, rel in enumerate((ex.model_extra or {}).get("relations") or []):
                    if rel.get("label") not in rel_names.values():
                        raise ValueError(f"{group}.{i}.examples.{j}.relations.{k}.label: unknown relation type "
                                         f"{rel.get('label')!r}")


SECTION = Section("relation_types", RelationType, _check)
