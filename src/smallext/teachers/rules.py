"""Rules as a teacher: gazetteers (phrase lists) and regular expressions from a YAML file.

Gazetteer phrases are matched with spaCy's EntityRuler on a blank English pipeline (token-based, optionally
case-insensitive through the LOWER attribute); regular expressions run on the raw text with Python's ``re``.
File shape::

    ignore_case: true            # gazetteers match case-insensitively (default false)
    patterns:
      - {label: LOC, phrases: [New York, Paris]}
      - {label: ORG, regex: '\\b[A-Z][a-z]+ (?:Inc|Corp|Ltd)\\.?'}

Overlaps are resolved by the one overlap rule (:func:`smallext.doc.non_overlapping`), with the priority of
grounding: the longest match wins, then the earlier pattern.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smallext.doc import Document, Span, non_overlapping
from smallext.errors import ConfigError, field_problems
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.store import CallCache


class RulesOptions(BaseModel):
    """Options of ``rules:`` teachers: none besides the file (its own settings are in the file)."""

    model_config = ConfigDict(extra="forbid")


class Pattern(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    phrases: list[str] = Field(default_factory=list)
    regex: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Pattern:
        if not self.phrases and not self.regex:
            raise ValueError("a pattern needs 'phrases' or 'regex'")
        if self.regex:
            try:
                re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from None
        return self


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ignore_case: bool = False
    patterns: list[Pattern] = Field(min_length=1)


def load_rules(path: str | Path) -> RulesFile:
    """Read and validate a rules file. Raises ConfigError naming the file and field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"rules file not found: {path}")
    try:
        return RulesFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    except ValidationError as e:
        raise ConfigError(f"{path}: {field_problems(e)}") from None


class RulesTeacher(Teacher):
    """Annotate with gazetteers and regular expressions (see module docstring)."""

    def __init__(self, path: str | Path, schema) -> None:
        import spacy

        self.spec = f"rules:{path}"
        self.rules = load_rules(path)
        for i, p in enumerate(self.rules.patterns):
            if schema.resolve_label(p.label) is None:
                raise ConfigError(
                    f"{path}: field patterns.{i}.label: {p.label!r} is not a type of schema {schema.name!r}"
                )
        self.schema = schema
        self.nlp = spacy.blank("en")
        ruler = self.nlp.add_pipe("entity_ruler", config={
            "phrase_matcher_attr": "LOWER" if self.rules.ignore_case else None})
        ruler.add_patterns([{"label": f"{i}", "pattern": ph} for i, p in enumerate(self.rules.patterns)
                            for ph in p.phrases])
        self.regexes = [(i, re.compile(p.regex)) for i, p in enumerate(self.rules.patterns) if p.regex]

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache | None = None) -> ChunkResult:
        res = ChunkResult()
        for d, sdoc in zip(docs, self.nlp.pipe([d.text for d in docs]), strict=True):
            cands = [(e.start_char, e.end_char, int(e.label_)) for e in sdoc.ents]
            for i, rx in self.regexes:
                cands += [(m.start(), m.end(), i) for m in rx.finditer(d.text) if m.end() > m.start()]
            kept = non_overlapping(cands, lambda c: (c[0], c[1]), lambda c: (-(c[1] - c[0]), c[2], c[0]))
            spans = [Span(a, b, self.schema.resolve_label(self.rules.patterns[i].label), None, self.spec)
                     for a, b, i in kept]
            res.docs.append(d.unlabelled().with_spans(spans))
        return res


def load_rules_teacher(arg: str, schema, opts: RulesOptions, load_member=None) -> RulesTeacher:
    """The ``rules:FILE`` teacher (the registry's loader)."""
    return RulesTeacher(arg, schema)
