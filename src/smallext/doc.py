"""The one data model every stage speaks: :class:`Document` with :class:`Span` and :class:`Relation`.

Offsets are **character offsets** into ``Document.text``: 0-based, end-exclusive, so ``span.text`` is
``doc.text[span.start:span.end]``. Token tags (BIO/IOB) exist only inside format converters and the student.

Native file format (JSON Lines, one document per line)::

    {"id": "d1", "text": "Werner Zwingmann said ...",
     "spans": [{"start": 0, "end": 16, "label": "PER", "score": 0.93, "source": "llamacpp:qwen",
                "alignment": "exact"}],
     "meta": {}}

Optional keys: ``"tokens"`` (a list of ``[start, end]`` character offsets, present when the document came
from a tokenised corpus) and ``"relations"`` (``[{"head": i, "tail": j, "label": ..}]``, indices into
``spans``). A span's optional ``"alignment"`` says how a teacher's string was located in the text
(:data:`ALIGNMENTS`, as LangExtract's ``alignment_status``).

Spans are kept sorted by ``(start, end, label)``; every operation that reorders, filters or maps spans
(construction, :meth:`Document.map_spans`) remaps the relations' ``head``/``tail`` indices with them, and
drops a relation whose argument is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from smallext.errors import DocumentError

__all__ = ["ALIGNMENTS", "Document", "Span", "Relation", "non_overlapping"]

ALIGNMENTS = ("exact", "fuzzy")
"""How a teacher's returned string was located in the text: ``exact`` (the same characters), ``fuzzy`` (a case-
and whitespace-insensitive match; see :mod:`smallext.teachers.grounding`). ``None`` on a span means its
producer gave offsets itself (a tagger, a rule, a person)."""


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled character span.

    Attributes:
        start: first character, 0-based, inclusive.
        end: one past the last character (end-exclusive); ``end > start``.
        label: entity type name, e.g. ``"PER"``.
        score: confidence in [0, 1], or ``None`` when the producer has none.
        source: who produced the span (a teacher spec, ``"gold"``, a model directory), or ``None``.
        alignment: how the span was grounded in the text (one of :data:`ALIGNMENTS`), or ``None`` when its
            producer gave character offsets itself.
    """

    start: int
    end: int
    label: str
    score: float | None = None
    source: str | None = None
    alignment: str | None = None

    @property
    def key(self) -> tuple[int, int, str]:
        """``(start, end, label)``: what strict-match evaluation compares."""
        return (self.start, self.end, self.label)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.score is not None:
            d["score"] = self.score
        if self.source is not None:
            d["source"] = self.source
        if self.alignment is not None:
            d["alignment"] = self.alignment
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Span:
        """Build a span from its JSON form. Raises ``KeyError``/``TypeError`` on a malformed mapping."""
        unknown = set(d) - {"start", "end", "label", "score", "source", "alignment", "text"}
        if unknown:
            raise TypeError(f"unknown span field(s) {sorted(unknown)}")
        start, end, label = d["start"], d["end"], d["label"]
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            raise TypeError(f"span offsets must be integers, got start={start!r} end={end!r}")
        if not isinstance(label, str):
            raise TypeError(f"span label must be a string, got {label!r}")
        score = d.get("score")
        if score is not None and not isinstance(score, (int, float)):
            raise TypeError(f"span score must be a number, got {score!r}")
        alignment = d.get("alignment")
        if alignment is not None and alignment not in ALIGNMENTS:
            raise TypeError(f"span alignment must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
        return cls(start, end, label, None if score is None else float(score), d.get("source"), alignment)


@dataclass(frozen=True, slots=True)
class Relation:
    """A directed, labelled relation between two spans of the same document.

    Attributes:
        head: index into ``Document.spans`` of the first argument.
        tail: index into ``Document.spans`` of the second argument.
        label: relation type name.
        score: confidence in [0, 1] or ``None``.
        source: producer, as for :class:`Span`.
    """

    head: int
    tail: int
    label: str
    score: float | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"head": self.head, "tail": self.tail, "label": self.label}
        if self.score is not None:
            d["score"] = self.score
        if self.source is not None:
            d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Relation:
        return cls(int(d["head"]), int(d["tail"]), str(d["label"]), d.get("score"), d.get("source"))


@dataclass(slots=True)
class Document:
    """A text with labelled character spans.

    Attributes:
        id: unique identifier within a corpus (string).
        text: the raw text; spans index into it.
        spans: labelled spans, kept sorted by ``(start, end, label)`` (relations are remapped when sorting
            moves their arguments). Overlapping spans are allowed here; converters that cannot express them
            (IOB tags) raise :class:`~smallext.errors.DocumentError`.
        meta: free-form JSON-serialisable metadata (source file, sentence index, teacher statistics, ...).
        tokens: optional token character offsets ``[(start, end), ...]`` from a tokenised corpus.
        relations: relations between spans (indices into ``spans``).

    Raises:
        DocumentError: on construction, when a span is empty, out of range, or has an empty label; the
            message names the document id.
    """

    id: str
    text: str
    spans: list[Span] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    tokens: list[tuple[int, int]] | None = None
    relations: list[Relation] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            self.id = str(self.id)
        if not isinstance(self.text, str):
            raise DocumentError(f"document {self.id!r}: text must be a string, got {type(self.text).__name__}")
        spans = list(self.spans)
        order = sorted(range(len(spans)), key=lambda i: spans[i].key)
        self.spans = [spans[i] for i in order]
        if self.relations and order != list(range(len(order))):
            self._check_relations(len(spans))  # indices refer to the spans as given: check before remapping
            new = {old: k for k, old in enumerate(order)}
            self.relations = [replace(r, head=new[r.head], tail=new[r.tail]) for r in self.relations]
        else:
            self.relations = list(self.relations)
        self.validate()

    def validate(self) -> None:
        """Check every span and relation; raise :class:`DocumentError` naming the document and span."""
        n = len(self.text)
        for s in self.spans:
            if not (0 <= s.start < s.end <= n):
                what = "empty" if s.start >= s.end else "out of range"
                raise DocumentError(
                    f"document {self.id!r}: span [{s.start}, {s.end}) {s.label!r} is {what} "
                    f"(text length {n})"
                )
            if not s.label:
                raise DocumentError(f"document {self.id!r}: span [{s.start}, {s.end}) has an empty label")
        self._check_relations(len(self.spans))
        if self.tokens is not None:
            for ts, te in self.tokens:
                if not (0 <= ts < te <= n):
                    raise DocumentError(f"document {self.id!r}: token [{ts}, {te}) out of range (length {n})")

    def _check_relations(self, n_spans: int) -> None:
        for r in self.relations:
            if not (0 <= r.head < n_spans and 0 <= r.tail < n_spans):
                raise DocumentError(
                    f"document {self.id!r}: relation {r.label!r} refers to span {r.head} or {r.tail}, "
                    f"but the document has {n_spans} spans"
                )

    def span_text(self, span: Span) -> str:
        """The covered text ``self.text[span.start:span.end]``."""
        return self.text[span.start : span.end]

    def with_spans(self, spans: Iterable[Span], relations: Iterable[Relation] = (), **meta: Any) -> Document:
        """A copy with new ``spans`` and ``relations`` (indices into ``spans`` as given) and ``meta`` merged in.

        The current relations are not kept: they index the current spans. To keep them while changing the
        spans one by one, use :meth:`map_spans`.
        """
        return replace(self, spans=list(spans), relations=list(relations), meta={**self.meta, **meta})

    def map_spans(self, fn: Callable[[Span], Span | None], **meta: Any) -> Document:
        """A copy with each span replaced by ``fn(span)`` (``None`` drops it) and the relations kept: their
        indices follow their spans, and a relation whose head or tail is dropped is dropped too."""
        spans: list[Span] = []
        new: dict[int, int] = {}
        for i, s in enumerate(self.spans):
            m = fn(s)
            if m is not None:
                new[i] = len(spans)
                spans.append(m)
        relations = [replace(r, head=new[r.head], tail=new[r.tail]) for r in self.relations
                     if r.head in new and r.tail in new]
        return replace(self, spans=spans, relations=relations, meta={**self.meta, **meta})

    def without_spans(self) -> Document:
        """A copy with no spans or relations: what a teacher or student receives as unlabelled input."""
        return replace(self, spans=[], relations=[])

    def entities(self) -> list[tuple[int, int, str, str]]:
        """``[(start, end, label, text), ...]`` in document order."""
        return [(s.start, s.end, s.label, self.span_text(s)) for s in self.spans]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "spans": [s.to_dict() for s in self.spans],
            "meta": self.meta,
        }
        if self.tokens is not None:
            d["tokens"] = [list(t) for t in self.tokens]
        if self.relations:
            d["relations"] = [r.to_dict() for r in self.relations]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Document:
        """Build a document from its JSON form.

        Raises:
            DocumentError: a required field is missing or has the wrong type, or a span is invalid.
        """
        if not isinstance(d, Mapping):
            raise DocumentError(f"a document must be a JSON object, got {type(d).__name__}")
        for key in ("id", "text"):
            if key not in d:
                raise DocumentError(f"document is missing the field {key!r}")
        doc_id = str(d["id"])
        unknown = set(d) - {"id", "text", "spans", "meta", "tokens", "relations"}
        if unknown:
            raise DocumentError(f"document {doc_id!r}: unknown field(s) {sorted(unknown)}")
        try:
            spans = [Span.from_dict(s) for s in d.get("spans") or []]
        except (KeyError, TypeError, AttributeError) as e:
            raise DocumentError(f"document {doc_id!r}: field 'spans': {e}") from None
        meta = d.get("meta") or {}
        if not isinstance(meta, Mapping):
            raise DocumentError(f"document {doc_id!r}: field 'meta' must be an object")
        tokens = d.get("tokens")
        try:
            tokens = None if tokens is None else [(int(a), int(b)) for a, b in tokens]
            relations = [Relation.from_dict(r) for r in d.get("relations") or []]
        except (KeyError, TypeError, ValueError) as e:
            raise DocumentError(f"document {doc_id!r}: field 'tokens' or 'relations': {e}") from None
        return cls(doc_id, d["text"], spans, dict(meta), tokens, relations)


T = TypeVar("T")


def non_overlapping(
    items: Sequence[T], bounds: Callable[[T], tuple[int, int]], priority: Callable[[T], Any]
) -> list[T]:
    """The items to keep when overlapping spans compete: in order of ``priority`` (lowest first), an item is
    kept unless its ``bounds`` (``(start, end)``, end-exclusive) overlap an item kept before it.

    The one overlap rule of every producer that must return non-overlapping spans (grounding of an LLM's
    reply, ensemble voting, rules), each with its own priority. Returns the kept items in priority order.
    """
    kept: list[T] = []
    taken: list[tuple[int, int]] = []
    for item in sorted(items, key=priority):
        a, b = bounds(item)
        if not any(a < y and x < b for x, y in taken):
            kept.append(item)
            taken.append((a, b))
    return kept
