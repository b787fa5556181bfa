"""The one data model every stage speaks: :class:`Document` with :class:`Span` and one field per kind of output.

Offsets are **character offsets** into ``Document.text``: 0-based, end-exclusive, so ``span.text`` is
``doc.text[span.start:span.end]``. Token tags (BIO/IOB) exist only inside format converters and the student.

Native file format (JSON Lines, one document per line)::

    {"id": "d1", "text": "Werner Zwingmann said ...",
     "spans": [{"start": 0, "end": 16, "label": "PER", "score": 0.93, "source": "llamacpp:qwen",
                "alignment": "exact"}],
     "meta": {}}

Optional keys: ``"tokens"`` (a list of ``[start, end]`` character offsets, present when the document came
from a tokenised corpus) and one key per registered :class:`Layer` beyond the spans (``"relations"``, a list of
``{"head": i, "tail": j, "label": ..}`` with indices into ``spans``, is the relations kind's,
:mod:`smallext.kinds.relations`). A span's optional ``"alignment"`` says how a teacher's string was located in
the text (:data:`ALIGNMENTS`, as LangExtract's ``alignment_status``).

**Layers.** Each kind of output that needs a field of its own in a Document registers a :class:`Layer` (its
JSON form, its checks, and, when its items refer to spans by index, how they follow the spans) with
:func:`register_layer`; the field is then a keyword of the constructor and an attribute (``doc.relations``).
Spans are kept sorted by ``(start, end, label)``; every operation that reorders, filters or maps spans
(construction, :meth:`Document.map_spans`) lets each span-dependent layer remap its items, and one whose
argument is dropped is dropped with it. :meth:`Document.with_spans` refuses to drop a span-dependent layer's
items silently; :meth:`Document.unlabelled` drops every layer, as its name says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from smallext.errors import DocumentError

__all__ = ["ALIGNMENTS", "Document", "Layer", "LAYERS", "Span", "non_overlapping", "register_layer"]

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


class Layer(Protocol):
    """A kind of output's field in :class:`Document` (registered with :func:`register_layer`).

    Attributes:
        field: the attribute, constructor keyword and JSON key (``"relations"``).
        on_spans: whether the items refer to spans by index (then :meth:`follow` remaps them).
    """

    field: str
    on_spans: bool

    def from_json(self, value: Any) -> list:
        """Items from the JSON value of :attr:`field`. Raises ``KeyError``, ``TypeError`` or ``ValueError``."""

    def to_json(self, items: Sequence) -> list:
        """The JSON value of :attr:`field` (written only when ``items`` is not empty)."""

    def check(self, doc: Document, items: Sequence) -> None:
        """Raise :class:`~smallext.errors.DocumentError` (naming ``doc.id``) when an item is invalid in ``doc``."""

    def follow(self, items: Sequence, new_index: Mapping[int, int]) -> list:
        """The items after the spans moved: ``new_index`` maps old span indices to new ones; an item whose span
        is not in it is dropped (only called when :attr:`on_spans`)."""


LAYERS: dict[str, Layer] = {}
"""Field name -> :class:`Layer`, filled by the kinds of output (:mod:`smallext.kinds`)."""


def register_layer(layer: Layer) -> Layer:
    """Make ``layer.field`` a field of every :class:`Document` (the registration of a kind's field). Returns it.

    Raises:
        ValueError: the name is taken by a core field or another layer.
    """
    if layer.field in _CORE or (layer.field in LAYERS and LAYERS[layer.field] is not layer):
        raise ValueError(f"document field {layer.field!r} is already taken")
    LAYERS[layer.field] = layer
    return layer


_CORE = ("id", "text", "spans", "meta", "tokens")


class Document:
    """A text with labelled character spans, and one field per registered :class:`Layer` (relations, ...).

    Args:
        id: unique identifier within a corpus (a string; other values are converted).
        text: the raw text; spans index into it.
        spans: labelled spans, kept sorted by ``(start, end, label)`` (span-dependent layers are remapped when
            sorting moves their arguments). Overlapping spans are allowed here; converters that cannot express
            them (IOB tags) raise :class:`~smallext.errors.DocumentError`.
        meta: free-form JSON-serialisable metadata (source file, sentence index, teacher statistics, ...).
        tokens: optional token character offsets ``[(start, end), ...]`` from a tokenised corpus.
        **layers: the items of registered layers by field name (``relations=[...]``, indices into ``spans`` as
            given).

    Raises:
        DocumentError: on construction, when a span is empty, out of range, or has an empty label, a layer's item
            is invalid (a relation's index out of range), or a keyword names no registered layer; the message
            names the document id.
    """

    __slots__ = ("id", "text", "spans", "meta", "tokens", "_layers")

    def __init__(self, id: str, text: str, spans: Iterable[Span] = (), meta: dict[str, Any] | None = None,
                 tokens: list[tuple[int, int]] | None = None, **layers: Iterable) -> None:
        self.id = id if isinstance(id, str) else str(id)
        if not isinstance(text, str):
            raise DocumentError(f"document {self.id!r}: text must be a string, got {type(text).__name__}")
        self.text = text
        self.meta = {} if meta is None else meta
        self.tokens = tokens
        unknown = sorted(set(layers) - set(LAYERS))
        if unknown:
            raise DocumentError(f"document {self.id!r}: unknown field(s) {unknown} (fields: "
                                f"{', '.join([*_CORE, *LAYERS])})")
        given = list(spans)
        order = sorted(range(len(given)), key=lambda i: given[i].key)
        self.spans = [given[i] for i in order]
        self._layers = {f: list(layers.get(f) or ()) for f in LAYERS}
        if order != list(range(len(order))):
            new = {old: k for k, old in enumerate(order)}
            for f, layer in LAYERS.items():
                if layer.on_spans and self._layers[f]:
                    layer.check(_Given(self, len(given)), self._layers[f])  # indices refer to the spans as given
                    self._layers[f] = layer.follow(self._layers[f], new)
        self.validate()

    def __getattr__(self, name: str) -> list:
        if name in LAYERS:  # a layer registered after this document was made
            return self._layers.setdefault(name, [])
        raise AttributeError(f"'Document' object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in LAYERS:
            self._layers[name] = list(value)
        else:
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return (self.id, self.text, self.spans, self.meta, self.tokens, self._filled()) == (
            other.id, other.text, other.spans, other.meta, other.tokens, other._filled())

    __hash__ = None  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        layers = "".join(f", {f}={v!r}" for f, v in self._filled().items())
        return (f"Document(id={self.id!r}, text={self.text!r}, spans={self.spans!r}, meta={self.meta!r}, "
                f"tokens={self.tokens!r}{layers})")

    def _filled(self) -> dict[str, list]:
        return {f: v for f, v in self._layers.items() if v}

    @property
    def layers(self) -> dict[str, list]:
        """The non-empty layers' items by field name (a copy)."""
        return {f: list(v) for f, v in self._filled().items()}

    def replace(self, **changes: Any) -> Document:
        """A copy with the given fields (core or layer) replaced, checked like a new document.

        Span-dependent layers are kept as they are, so they must still fit the spans: to change spans and keep
        what hangs on them, use :meth:`map_spans`.
        """
        fields = {"id": self.id, "text": self.text, "spans": self.spans, "meta": self.meta, "tokens": self.tokens,
                  **self._layers, **changes}
        return Document(**fields)

    def validate(self) -> None:
        """Check every span and layer item; raise :class:`DocumentError` naming the document and span."""
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
        for f, items in self._layers.items():
            if items:
                LAYERS[f].check(self, items)
        if self.tokens is not None:
            for ts, te in self.tokens:
                if not (0 <= ts < te <= n):
                    raise DocumentError(f"document {self.id!r}: token [{ts}, {te}) out of range (length {n})")

    def span_text(self, span: Span) -> str:
        """The covered text ``self.text[span.start:span.end]``."""
        return self.text[span.start : span.end]

    def with_spans(self, spans: Iterable[Span], **layers: Any) -> Document:
        """A copy with new ``spans``, the given layers' items (``relations=``: indices into ``spans`` as given),
        and ``meta`` merged in: keywords that name no layer are meta keys.

        Layers not given are kept when they do not refer to spans; a span-dependent layer (relations) must be
        given when the document has items in it, since they index the old spans.

        Raises:
            DocumentError: a span-dependent layer has items and is not given (it would be lost silently): pass it
                (``relations=[]`` to drop it on purpose), or use :meth:`map_spans` to keep it as the spans change.
        """
        given = {k: v for k, v in layers.items() if k in LAYERS}
        meta = {k: v for k, v in layers.items() if k not in LAYERS}
        for f, layer in LAYERS.items():
            if layer.on_spans and f not in given and self._layers.get(f):
                raise DocumentError(f"document {self.id!r}: new spans would drop its {len(self._layers[f])} {f}; "
                                    f"pass {f}= (empty to drop them) or use map_spans to keep them")
        return self.replace(spans=list(spans), meta={**self.meta, **meta}, **given)

    def with_labels_of(self, other: Document, **meta: Any) -> Document:
        """A copy with every label of ``other`` (its spans and all its layers: a document of the same text
        labelled by someone else) and ``meta`` merged in.

        Raises:
            DocumentError: ``other``'s text differs from this document's.
        """
        if other.text != self.text:
            raise DocumentError(f"document {self.id!r}: cannot take the labels of document {other.id!r}, whose text "
                                "differs")
        layers = {f: other._layers.get(f, []) for f in LAYERS}
        return self.replace(spans=list(other.spans), meta={**self.meta, **meta}, **layers)

    def map_spans(self, fn: Callable[[Span], Span | None], **meta: Any) -> Document:
        """A copy with each span replaced by ``fn(span)`` (``None`` drops it) and every layer kept: items of a
        span-dependent layer follow their spans, and one whose span is dropped is dropped too."""
        spans: list[Span] = []
        new: dict[int, int] = {}
        for i, s in enumerate(self.spans):
            m = fn(s)
            if m is not None:
                new[i] = len(spans)
                spans.append(m)
        layers = {f: (LAYERS[f].follow(v, new) if LAYERS[f].on_spans else v) for f, v in self._layers.items()}
        return self.replace(spans=spans, meta={**self.meta, **meta}, **layers)

    def unlabelled(self, **meta: Any) -> Document:
        """A copy with no spans and nothing in any layer, and ``meta`` merged in: what a teacher or student receives
        as unlabelled input, or what a failed teacher returns."""
        return self.replace(spans=[], meta={**self.meta, **meta}, **{f: [] for f in LAYERS})

    def without_spans(self) -> Document:
        """Deprecated alias of :meth:`unlabelled` (it drops every layer, not only the spans)."""
        return self.unlabelled()

    def entities(self) -> list[tuple[int, int, str, str]]:
        """``[(start, end, label, text), ...]`` in document order."""
        return [(s.start, s.end, s.label, self.span_text(s)) for s in self.spans]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring): layers with items only."""
        d: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "spans": [s.to_dict() for s in self.spans],
            "meta": self.meta,
        }
        if self.tokens is not None:
            d["tokens"] = [list(t) for t in self.tokens]
        for f, items in self._filled().items():
            d[f] = LAYERS[f].to_json(items)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Document:
        """Build a document from its JSON form.

        Raises:
            DocumentError: a required field is missing or has the wrong type, a key names no field, or a span or
                layer item is invalid; the message names the document and the field.
        """
        if not isinstance(d, Mapping):
            raise DocumentError(f"a document must be a JSON object, got {type(d).__name__}")
        for key in ("id", "text"):
            if key not in d:
                raise DocumentError(f"document is missing the field {key!r}")
        doc_id = str(d["id"])
        unknown = set(d) - {*_CORE, *LAYERS}
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
        except (TypeError, ValueError) as e:
            raise DocumentError(f"document {doc_id!r}: field 'tokens': {e}") from None
        layers = {}
        for f, layer in LAYERS.items():
            if d.get(f):
                try:
                    layers[f] = layer.from_json(d[f])
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    raise DocumentError(f"document {doc_id!r}: field {f!r}: {e}") from None
        return cls(doc_id, d["text"], spans, dict(meta), tokens, **layers)


class _Given:
    """A document's id and its span count before sorting: what a layer's check sees at construction."""

    def __init__(self, doc: Document, n_spans: int) -> None:
        self.id = doc.id
        self.spans = range(n_spans)


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
