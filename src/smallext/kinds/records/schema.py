"""The records kind's section of the schema: ``record_types`` (:class:`RecordType`, each with typed
:class:`RecordField` s) and its checks.

A record type is a form to fill in from a document (a receipt's company, date and total)::

    record_types:
      - name: Receipt
        definition: A shop receipt.
        fields:
          - {name: company, type: string, description: The seller's company name, as printed., required: true}
          - {name: date, type: date, description: Date of purchase., date_order: DMY}
          - {name: total, type: money, description: Total amount paid, tax included., currency: MYR}
          - {name: paid_by_card, type: boolean, description: Whether a card paid it.}
          - {name: items, type: string, list: true, description: Names of the items bought.}
          - {name: category, type: enum, choices: [food, fuel, other], description: What was bought.}

Field types (:data:`FIELD_TYPES`): ``string`` (verbatim from the text), ``text`` (free, abstractive: no
offsets), ``integer``, ``number``, ``money`` (a decimal amount with an optional currency), ``date`` (ISO 8601;
``date_order`` ``DMY``/``MDY``/``YMD`` or a ``locale`` says how to read ``02/12/2017``), ``boolean`` and
``enum`` (one of ``choices``). ``list: true`` lets a field hold several values; otherwise it holds at most one.
The types follow NuExtract's template leaves (``verbatim-string``, ``string``, ``integer``, ``number``,
``date-time``, enums) and GLiNER2's ``field(name, dtype, choices)``.

An example of a record type is a text with its records, in the JSON form of
:mod:`smallext.kinds.records.document` (``records: [{type, fields: {name: [{value, start, end}]}}]``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smallext.schema import Example, Schema, Section, named, resolve, unique_labels

__all__ = ["DateOrder", "EXTRACTIVE", "FIELD_TYPES", "FieldType", "RecordField", "RecordType", "SECTION",
           "record_labels", "record_type", "resolve_record"]

FieldType = Literal["string", "text", "integer", "number", "money", "date", "boolean", "enum"]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__
"""The field types, in the order of the module docstring."""

EXTRACTIVE = frozenset({"string", "integer", "number", "money", "date"})
"""Field types whose values are read from a stretch of the text (grounded to character offsets). ``enum`` and
``boolean`` values may be stated by meaning alone and ``text`` values are abstractive: none of the three is
grounded."""

DateOrder = Literal["DMY", "MDY", "YMD"]


class RecordField(BaseModel):
    """One field of a record type.

    Attributes:
        name: the field's key in a record (no spaces).
        description: what the field holds, for the prompt and the documentation.
        type: one of :data:`FIELD_TYPES`.
        list: the field holds several values (items bought); otherwise at most one.
        required: every record of the type should have the field (the prompt says so; evaluation does not care).
        choices: the allowed values of an ``enum`` field (required for it, forbidden for other types).
        date_order: how an all-numeric ``date`` is read (``DMY``: 02/12/2017 is 2 December); default: the locale's,
            else dateparser's default (month first).
        locale: a language or locale code for dates and amounts (``ms``, ``en-GB``, ``de``).
        currency: the currency of a ``money`` field when the text gives none (ISO 4217 code, ``MYR``).
        aliases: other names of the field (a dataset's keys), matched case-insensitively.
        examples: example values, as written in a text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(min_length=1, pattern=r"^[^\s]+$")
    description: str = Field(min_length=1)
    type: FieldType = "string"
    is_list: bool = Field(False, alias="list")
    required: bool = False
    choices: list[str] = Field(default_factory=list)
    date_order: DateOrder | None = None
    locale: str | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    aliases: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _by_type(self) -> RecordField:
        if self.type == "enum" and not self.choices:
            raise ValueError(f"field {self.name!r}: an enum field needs its choices")
        if self.type != "enum" and self.choices:
            raise ValueError(f"field {self.name!r}: choices are for enum fields, not {self.type!r}")
        if len({c.lower() for c in self.choices}) != len(self.choices):
            raise ValueError(f"field {self.name!r}: choices repeat (case-insensitively)")
        if self.type != "date" and self.date_order is not None:
            raise ValueError(f"field {self.name!r}: date_order is for date fields, not {self.type!r}")
        if self.type != "money" and self.currency is not None:
            raise ValueError(f"field {self.name!r}: currency is for money fields, not {self.type!r}")
        return self

    @property
    def extractive(self) -> bool:
        """Whether the field's values are read from the text (:data:`EXTRACTIVE`)."""
        return self.type in EXTRACTIVE

    def dump(self) -> dict:
        """The field's schema form (``list`` under its file key)."""
        return self.model_dump(by_alias=True, exclude_defaults=True)


class RecordType(BaseModel):
    """One record type: its name, what it is, its fields, guidelines, aliases, examples and (optionally) the most
    records of the type one document holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[^\s]+$")
    definition: str = Field(min_length=1)
    fields: list[RecordField] = Field(min_length=1)
    guidelines: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    max_records: int | None = Field(None, ge=1, description="the most records of this type a document holds "
                                                            "(a receipt: 1); bounds a teacher's reply")

    def field(self, name: str) -> RecordField:
        """The field called ``name`` (exact name). Raises ``KeyError``."""
        return named(self.fields, name)

    def resolve_field(self, key: str) -> str | None:
        """The field a key means: its exact name, or a case-insensitive name or alias; else None."""
        return resolve(self.fields, key)


def record_labels(schema: Schema) -> list[str]:
    """Record type names in schema order (empty when the schema has none)."""
    return [r.name for r in schema.record_types]


def record_type(schema: Schema, name: str) -> RecordType:
    """The record type called ``name`` (exact name). Raises ``KeyError``."""
    return named(schema.record_types, name)


def resolve_record(schema: Schema, label: str) -> str | None:
    """The record type a label means: its exact name, or a case-insensitive name or alias; else None."""
    return resolve(schema.record_types, label)


def _check(schema: Schema) -> None:
    """Record type names and aliases unique; field names and aliases unique within a type; example records of
    known types whose fields exist.

    Raises:
        ValueError: with the field path (``record_types.0.fields.2.name: ...``).
    """
    seen = unique_labels(schema.record_types, lambda i: f"record_types.{i}.name",
                         lambda key, owner: f"label {key!r} is already used by record type {owner!r}")
    for i, r in enumerate(schema.record_types):
        unique_labels(r.fields, lambda j, i=i: f"record_types.{i}.fields.{j}.name",
                      lambda key, owner, r=r: f"{key!r} is already a field of {r.name!r} ({owner!r})")
    for group, types in schema.sections().items():
        for i, t in enumerate(types):
            for j, ex in enumerate(getattr(t, "examples", None) or []):
                for k, rec in enumerate((ex.model_extra or {}).get("records") or []):
                    name = rec.get("type")
                    if name not in seen.values():
                        raise ValueError(f"{group}.{i}.examples.{j}.records.{k}.type: unknown record type {name!r}")
                    rt = record_type(schema, name)
                    for key in rec.get("fields") or {}:
                        if key not in {f.name for f in rt.fields}:
                            raise ValueError(f"{group}.{i}.examples.{j}.records.{k}.fields.{key}: not a field of "
                                             f"record type {name!r} (fields: {', '.join(f.name for f in rt.fields)})")


SECTION = Section("record_types", RecordType, _check)
