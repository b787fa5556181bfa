"""A spaCy pipeline component that runs a packaged student: ``nlp.add_pipe("smallext", config={"model": DIR})``.

The factory ``smallext`` is registered by the package's ``spacy_factories`` entry point, so after
``pip install smallext[spacy]`` a pipeline can name it (in ``add_pipe`` or in a ``config.cfg`` that ``spacy.load``
reads) without importing smallext first::

    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("smallext", config={"model": "runs/crossner-ai/model", "threads": 2})
    doc = nlp("Geoffrey Hinton works at the University of Toronto.")
    print([(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents])
    print(doc._.relations)          # [(head Span, label, tail Span, score)] for a relation student, else []

The student runs on ``doc.text`` through the torch-free :class:`~smallext.students.extractor.Extractor`;
:meth:`SmallextComponent.pipe` (what ``nlp.pipe`` calls) sends each batch of documents to one
:meth:`~smallext.students.extractor.Extractor.extract` call.

Config (``add_pipe(..., config={...})``):

======================  ============  ==============================================================================
key                     default       what
======================  ============  ==============================================================================
``model``               (required)    a packaged student's directory, as a string (what ``Extractor.load`` takes)
``threads``             ``null``      onnxruntime intra-op threads (``null``: onnxruntime's default, all cores)
``batch_size``          ``32``        windows per onnxruntime call (``nlp.pipe(batch_size=)`` is documents per call)
``overwrite_ents``      ``true``      ``true``: the student's spans replace ``doc.ents``; ``false``: existing
                                      entities are kept and a predicted span that overlaps one is not added (as
                                      spaCy's ``entity_ruler`` does)
``alignment_mode``      ``expand``    how a span whose edge falls inside a spaCy token is put on tokens: ``expand``
                                      (to the tokens it touches) or ``contract`` (to the tokens wholly inside it)
``spans_key``           ``smallext``  every aligned predicted span, overlapping or not, also goes to
                                      ``doc.spans[spans_key]`` with ``attrs["scores"]`` (the student's scores in
                                      [0, 1], as spaCy's ``spancat`` keeps them); ``null`` or ``""``: not written
======================  ============  ==============================================================================

What it sets on each Doc:

* ``doc.ents``: the predicted spans on spaCy tokens (labels are the student's entity types). Tokens outside them are
  ``O`` (with ``overwrite_ents`` false, existing entities stay as they were).
* ``doc._.relations``: ``[(head, label, tail, score)]``, ``head`` and ``tail`` being spaCy ``Span`` objects of
  ``doc.ents``, ``label`` a relation type, ``score`` in [0, 1]; empty for a student without relation types. A
  relation one of whose arguments did not become an entity is left out (and counted, see below). It is read from
  ``doc._.smallext_relations``, token offsets ``[head_start, head_end, head_label, label, tail_start, tail_end,
  tail_label, score]``, so a Doc with its relations survives ``doc.to_bytes`` and a ``DocBin`` with user data.
* ``doc._.smallext_misaligned`` (int): predicted spans with an edge inside a spaCy token or on whitespace, so
  ``doc.char_span(start, end)`` found no span; each was aligned by ``alignment_mode``.
* ``doc._.smallext_dropped`` (int): predicted spans that are not in ``doc.ents``: alignment left no token
  (``contract`` of a span inside one token), they overlapped an earlier predicted span after alignment, or they
  overlapped an entity that ``overwrite_ents`` false kept.

Nothing is dropped silently: the component adds these counts up (:attr:`SmallextComponent.misaligned`,
``dropped``, ``relations_dropped``) and logs a warning (logger ``smallext.integrations.spacy``) for each call or
batch in which a span was misaligned or dropped.

Serialization: ``nlp.to_disk(path)`` copies the student's files into ``path/<component name>/model``, so the saved
pipeline is self-contained; ``spacy.load(path)`` reads the student from there, whether or not the directory named
in ``model`` still exists (the student is loaded on first use, not when the component is made).
"""

# no ``from __future__ import annotations``: spaCy (confection, pydantic) validates the factory's config against its
# annotations, which must be real types

import logging
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    from spacy.language import Language
    from spacy.tokens import Doc, SpanGroup
    from spacy.tokens import Span as SpacySpan
    from spacy.util import minibatch
except ImportError:  # pragma: no cover - the spacy extra is part of `all`
    raise ImportError("the spaCy component needs spaCy: pip install 'smallext[spacy]'") from None

from smallext.doc import Document, Span
from smallext.errors import ConfigError
from smallext.io.atomic import atomic_directory
from smallext.students.extractor import FILE_CHUNK, Extractor
from smallext.students.head import student_heads
from smallext.students.package import read_config

__all__ = ["ALIGNMENT_MODES", "MODEL_FOLDER", "Alignment", "Annotated", "SmallextComponent", "align_spans",
           "annotate_doc", "make_smallext"]

logger = logging.getLogger(__name__)

ALIGNMENT_MODES = ("expand", "contract")
"""The values of ``alignment_mode``: spaCy's ``Doc.char_span`` modes that always give a span or none."""

MODEL_FOLDER = "model"
"""The folder of a saved component (``nlp.to_disk(path)``: ``path/<component name>/model``) holding the student."""

_STUDENT_FILES = ("config.json", "tokenizer.json", "model.onnx")


def _relations(doc: Doc) -> list[tuple[SpacySpan, str, SpacySpan, float | None]]:
    """``doc._.relations``: the stored token offsets of ``doc._.smallext_relations`` as spaCy Spans."""
    return [(SpacySpan(doc, hs, he, label=hl), label, SpacySpan(doc, ts, te, label=tl), score)
            for hs, he, hl, label, ts, te, tl, score in doc._.smallext_relations or ()]


def _register_extensions() -> None:
    for name, default in (("smallext_misaligned", 0), ("smallext_dropped", 0), ("smallext_relations", None)):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=default)
    if not Doc.has_extension("relations"):
        Doc.set_extension("relations", getter=_relations)


def _check_extensions() -> None:
    """Raise ConfigError when another library registered ``Doc._.relations`` with a meaning of its own."""
    _register_extensions()
    getter = Doc.get_extension("relations")[2]
    if getattr(getter, "__module__", None) != __name__ or getattr(getter, "__qualname__", None) != "_relations":
        raise ConfigError("Doc._.relations is already registered by another library; the smallext component "
                          "writes its relations there: remove that extension (Doc.remove_extension('relations')) "
                          "before adding the component")


_register_extensions()


def _check_student(model_dir: Path) -> None:
    """Raise ConfigError (naming the path) unless ``model_dir`` holds a packaged student's files and a
    ``config.json`` this release reads."""
    if not model_dir.is_dir():
        raise ConfigError(f"not a smallext student directory: {model_dir} is not a directory")
    for name in _STUDENT_FILES:
        if not (model_dir / name).is_file():
            raise ConfigError(f"not a smallext student directory: {model_dir / name} is missing")
    read_config(model_dir)


@dataclass(frozen=True)
class Alignment:
    """Predicted spans put on a Doc's tokens (:func:`align_spans`).

    Attributes:
        spans: one item per predicted span, in the same order: its spaCy ``Span`` (label set), or ``None`` where
            the alignment mode left no token.
        misaligned: how many predicted spans had an edge inside a token or on whitespace (no span in
            ``doc.char_span``'s strict mode).
    """

    spans: list[SpacySpan | None]
    misaligned: int


def align_spans(doc: Doc, spans: Sequence[Span], alignment_mode: str = "expand") -> Alignment:
    """Put character spans on ``doc``'s tokens: ``doc.char_span(start, end, label)`` where both edges are token
    edges, else ``doc.char_span(..., alignment_mode=alignment_mode)``, counted as misaligned.

    Args:
        doc: the spaCy Doc of the text the spans index.
        spans: smallext :class:`~smallext.doc.Span` objects, character offsets into ``doc.text``.
        alignment_mode: ``expand`` (a misaligned span grows to the tokens it touches) or ``contract`` (it shrinks
            to the tokens wholly inside it; ``None`` if there are none).

    Returns:
        An :class:`Alignment`: one spaCy Span or ``None`` per input span, and the count of misaligned ones.

    Raises:
        ConfigError: ``alignment_mode`` is not one of :data:`ALIGNMENT_MODES`.
        ValueError: a span lies outside ``doc.text``.
    """
    if alignment_mode not in ALIGNMENT_MODES:
        raise ConfigError(f"alignment_mode: {alignment_mode!r} is not one of {', '.join(ALIGNMENT_MODES)}")
    out: list[SpacySpan | None] = []
    misaligned = 0
    for s in spans:
        if not 0 <= s.start < s.end <= len(doc.text):
            raise ValueError(f"span [{s.start}, {s.end}) {s.label} is outside the text ({len(doc.text)} characters)")
        span = doc.char_span(s.start, s.end, label=s.label)
        if span is None:
            misaligned += 1
            span = doc.char_span(s.start, s.end, label=s.label, alignment_mode=alignment_mode)
        out.append(span if span is not None and len(span) > 0 else None)
    return Alignment(out, misaligned)


@dataclass(frozen=True)
class Annotated:
    """What :func:`annotate_doc` did to one Doc.

    Attributes:
        spans: predicted spans (the student's).
        misaligned: of them, those with an edge inside a token (aligned by the mode).
        dropped: of them, those not set in ``doc.ents`` (no token after alignment, overlapping an earlier one after
            alignment, or overlapping a kept entity).
        relations: relations set in ``doc._.relations``.
        relations_dropped: predicted relations left out because an argument is not in ``doc.ents``.
    """

    spans: int
    misaligned: int
    dropped: int
    relations: int
    relations_dropped: int


def annotate_doc(doc: Doc, predicted: Document, *, alignment_mode: str = "expand", overwrite_ents: bool = True,
                 spans_key: str | None = "smallext") -> Annotated:
    """Set a student's predictions for ``doc.text`` on ``doc``: ``doc.ents``, ``doc._.relations`` (through
    ``doc._.smallext_relations``), ``doc._.smallext_misaligned``, ``doc._.smallext_dropped`` and, with a
    ``spans_key``, ``doc.spans[spans_key]`` (see the module docstring for each).

    Predicted spans are taken in order (the extractor sorts them by offset); one that overlaps an entity already
    taken (after alignment) is dropped.

    Args:
        doc: the Doc to annotate (changed in place).
        predicted: the student's Document for ``doc.text`` (:meth:`Extractor.extract`).
        alignment_mode, overwrite_ents, spans_key: as in the component's config.

    Returns:
        The counts (:class:`Annotated`).

    Raises:
        ValueError: ``predicted.text`` is not ``doc.text``.
        ConfigError: an unknown ``alignment_mode``.
    """
    if predicted.text != doc.text:
        raise ValueError(f"document {predicted.id!r}: the predictions are for another text than the Doc's")
    aligned = align_spans(doc, predicted.spans, alignment_mode)
    kept = [] if overwrite_ents else list(doc.ents)
    taken = {t for e in kept for t in range(e.start, e.end)}
    ents: dict[int, SpacySpan] = {}  # predicted span index -> its entity
    for i, span in enumerate(aligned.spans):
        if span is None or any(t in taken for t in range(span.start, span.end)):
            continue
        taken.update(range(span.start, span.end))
        ents[i] = span
    doc.ents = sorted([*kept, *ents.values()], key=lambda e: e.start)
    relations = []
    for r in predicted.relations:
        h, t = ents.get(r.head), ents.get(r.tail)
        if h is not None and t is not None:
            relations.append([h.start, h.end, h.label_, r.label, t.start, t.end, t.label_, r.score])
    doc._.smallext_relations = relations
    dropped = len(predicted.spans) - len(ents)
    doc._.smallext_misaligned = aligned.misaligned
    doc._.smallext_dropped = dropped
    if spans_key:
        group = [(span, s.score) for span, s in zip(aligned.spans, predicted.spans, strict=True) if span is not None]
        doc.spans[spans_key] = SpanGroup(doc, name=spans_key, spans=[g for g, _ in group],
                                         attrs={"scores": [score for _, score in group]})
    return Annotated(len(predicted.spans), aligned.misaligned, dropped, len(relations),
                     len(predicted.relations) - len(relations))


class SmallextComponent:
    """The ``smallext`` pipeline component: a packaged student's spans as ``doc.ents``, its relations as
    ``doc._.relations`` (see the module docstring for the config and what is set). Made by the factory
    (:func:`make_smallext`) from ``nlp.add_pipe("smallext", config={...})``.

    Attributes:
        model_dir: the student's directory (after ``from_disk``, the copy in the saved pipeline).
        misaligned: predicted spans with an edge inside a spaCy token, over every Doc this component annotated.
        dropped: predicted spans not set in ``doc.ents``, over every Doc.
        relations_dropped: predicted relations left out because an argument is not in ``doc.ents``, over every Doc.

    Raises:
        ConfigError: ``model`` is empty or names an existing path that is not a student (the message names the
            file that is missing or wrong); ``alignment_mode``, ``batch_size`` or ``threads`` out of range; another
            library registered ``Doc._.relations``. A ``model`` path that does not exist is an error on first use
            unless ``from_disk`` gives the student first (as ``spacy.load`` does).
    """

    def __init__(self, nlp: Language, name: str = "smallext", model: str | Path | None = None, *,
                 threads: int | None = None, batch_size: int = 32, overwrite_ents: bool = True,
                 alignment_mode: str = "expand", spans_key: str | None = "smallext") -> None:
        if not model:
            raise ConfigError(f"{name}: config 'model' is required: a packaged student's directory")
        if alignment_mode not in ALIGNMENT_MODES:
            raise ConfigError(f"{name}: alignment_mode {alignment_mode!r} is not one of {', '.join(ALIGNMENT_MODES)}")
        if batch_size < 1:
            raise ConfigError(f"{name}: batch_size must be at least 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise ConfigError(f"{name}: threads must be at least 1 or null, got {threads}")
        _check_extensions()
        self.name = name
        self.model_dir = Path(model)
        self.threads = threads
        self.batch_size = batch_size
        self.overwrite_ents = overwrite_ents
        self.alignment_mode = alignment_mode
        self.spans_key = spans_key or None
        self.misaligned = 0
        self.dropped = 0
        self.relations_dropped = 0
        self._extractor: Extractor | None = None
        if self.model_dir.exists():
            _check_student(self.model_dir)

    @property
    def extractor(self) -> Extractor:
        """The student's :class:`~smallext.students.extractor.Extractor`, loaded on first use.

        Raises:
            ConfigError: the model directory does not exist or is not a student (names the path).
        """
        if self._extractor is None:
            if not self.model_dir.exists():
                raise ConfigError(f"{self.name}: model directory {self.model_dir} does not exist")
            _check_student(self.model_dir)
            self._extractor = Extractor.load(self.model_dir, threads=self.threads)
        return self._extractor

    @property
    def labels(self) -> tuple[str, ...]:
        """The student's entity types (what ``doc.ents`` labels can be), read from its ``config.json`` without
        loading it; empty while the model directory does not exist (``spacy.load`` reads ``nlp.meta``, and so the
        labels, before ``from_disk`` gives the component its student)."""
        if self._extractor is not None:
            return tuple(self._extractor.entity_types)
        if not (self.model_dir / "config.json").is_file():
            return ()
        return tuple(student_heads(read_config(self.model_dir))[0].entity_types)

    def __call__(self, doc: Doc) -> Doc:
        """Annotate one Doc (one extractor call on ``doc.text``). Returns the same Doc."""
        self._annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = FILE_CHUNK) -> Iterator[Doc]:
        """Annotate Docs in batches of ``batch_size`` documents, one :meth:`Extractor.extract` call per batch
        (``nlp.pipe(texts, batch_size=)`` passes its own). Yields the Docs in order.

        The result for a Doc is what :meth:`Extractor.extract` gives it in that batch. The int8 student quantizes
        the activations of each onnxruntime call together, so a score or a span can differ from annotating the Doc
        alone (the test's tiny student: 2 of 40 sentences); with ``batch_size`` 1 in the config (one window per
        onnxruntime call) it is the same, at the cost of throughput.
        """
        for batch in minibatch(stream, size=batch_size):
            self._annotate(batch)
            yield from batch

    def _annotate(self, docs: Sequence[Doc]) -> None:
        if not docs:
            return
        predicted = self.extractor.extract([d.text for d in docs], batch_size=self.batch_size)
        done = [annotate_doc(d, p, alignment_mode=self.alignment_mode, overwrite_ents=self.overwrite_ents,
                             spans_key=self.spans_key) for d, p in zip(docs, predicted, strict=True)]
        spans, misaligned, dropped, rel_dropped = (sum(getattr(a, f) for a in done)
                                                   for f in ("spans", "misaligned", "dropped", "relations_dropped"))
        self.misaligned += misaligned
        self.dropped += dropped
        self.relations_dropped += rel_dropped
        if misaligned or dropped:
            logger.warning(
                "%s: of %d predicted spans in %d document(s), %d had an edge inside a spaCy token (aligned with "
                "alignment_mode=%r) and %d were not set as entities (no token after alignment, or overlapping "
                "another entity), with %d relation(s); see doc._.smallext_misaligned and doc._.smallext_dropped",
                self.name, spans, len(docs), misaligned, self.alignment_mode, dropped, rel_dropped)

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Save the component: the student's directory copied to ``path/model`` (atomically; skipped with
        ``exclude=["model"]``).

        Raises:
            ConfigError: the model directory does not exist or is not a student (names the path).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "model" in exclude:
            return
        _check_student(self.model_dir)
        target = path / MODEL_FOLDER
        if target.exists() and target.resolve() == self.model_dir.resolve():
            return
        with atomic_directory(target) as tmp:
            shutil.copytree(self.model_dir, tmp, dirs_exist_ok=True)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "SmallextComponent":
        """Use the student saved by :meth:`to_disk` in ``path/model`` (loaded on first use). Returns ``self``.

        Raises:
            ConfigError: ``path/model`` is not a student directory (names the path).
        """
        if "model" in exclude:
            return self
        model_dir = Path(path) / MODEL_FOLDER
        _check_student(model_dir)
        self.model_dir = model_dir
        self._extractor = None
        return self


@Language.factory(
    "smallext",
    default_config={"model": None, "threads": None, "batch_size": 32, "overwrite_ents": True,
                    "alignment_mode": "expand", "spans_key": "smallext"},
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans", "doc._.relations"],
)
def make_smallext(nlp: Language, name: str, model: str | None, threads: int | None, batch_size: int,
                  overwrite_ents: bool, alignment_mode: str, spans_key: str | None) -> SmallextComponent:
    """The ``smallext`` factory: a :class:`SmallextComponent` for the config (see the module docstring).

    Raises:
        ConfigError: as :class:`SmallextComponent`.
    """
    return SmallextComponent(nlp, name, model, threads=threads, batch_size=batch_size,
                             overwrite_ents=overwrite_ents, alignment_mode=alignment_mode, spans_key=spans_key)
