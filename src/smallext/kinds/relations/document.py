"""The relations kind's field in a :class:`~smallext.doc.Document`: :class:`Relation` and its :class:`RelationLayer`.

JSON form (the document's ``"relations"`` key)::

    "relations": [{"head": 0, "tail": 1, "label": "Work_For", "score": 0.91, "source": "llamacpp:qwen"}]

``head`` and ``tail`` are indices into the document's ``spans``: the layer is span-dependent, so every operation
that reorders, filters or maps spans remaps the relations with them (and drops one whose argument is dropped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from smallext.doc import Document
from smallext.errors import ConfigError, DocumentError

__all__ = ["Relation", "RelationLayer", "LAYER"]


@dataclass(frozen=True, slots=True)
class Relation:
    """A directed, labelled relation between two spans of the same document.

    Attributes:
        head: index into ``Document.spans`` of the first argument.
        tail: index into ``Document.spans`` of the second argument.
        label: relation type name.
        score: confidence in [0, 1] or ``None``.
        source: producer, as for :class:`~smallext.doc.Span`.
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
        """Build a relation from its JSON form.

        Raises:
            TypeError: an unknown key, a non-integer index, a non-string label or a non-numeric score.
            KeyError: ``head``, ``tail`` or ``label`` is missing.
        """
        unknown = set(d) - {"head", "tail", "label", "score", "source"}
        if unknown:
            raise TypeError(f"unknown relation field(s) {sorted(unknown)}")
        head, tail, label, score = d["head"], d["tail"], d["label"], d.get("score")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (head, tail)):
            raise TypeError(f"relation head and tail must be span indices (integers), got {head!r} and {tail!r}")
        if not isinstance(label, str):
            raise TypeError(f"relation label must be a string, got {label!r}")
        if score is not None and not isinstance(score, (int, float)):
            raise TypeError(f"relation score must be a number, got {score!r}")
        return cls(head, tail, label, None if score is None else float(score), d.get("source"))


class RelationLayer:
    """The ``relations`` field of a Document (a :class:`~smallext.doc.Layer` that hangs on spans)."""

    field = "relations"
    on_spans = True

    def from_json(self, value: Any) -> list[Relation]:
        if not isinstance(value, list):
            raise TypeError(f"must be a list, got {type(value).__name__}")
        return [Relation.from_dict(r) for r in value]

    def to_json(self, items: Sequence[Relation]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in items]

    def check(self, doc: Document, items: Sequence[Relation]) -> None:
        n = len(doc.spans)
        for r in items:
            if not (0 <= r.head < n and 0 <= r.tail < n):
                raise DocumentError(f"document {doc.id!r}: relation {r.label!r} refers to span {r.head} or {r.tail}, "
                                    f"but the document has {n} spans")

    def follow(self, items: Sequence[Relation], new_index: Mapping[int, int]) -> list[Relation]:
        return [replace(r, head=new_index[r.head], tail=new_index[r.tail]) for r in items
                if r.head in new_index and r.tail in new_index]

    def relabel(self, schema, doc: Document, items: Sequence[Relation], strict: bool) -> list[Relation]:
        """Relation labels renamed to the schema's relation type names through names and aliases (what
        :meth:`~smallext.schema.Schema.map_documents` asks of each layer). A schema without relation types passes
        them through unchanged.

        Raises:
            ConfigError: (``strict``) a label matches no relation type or alias; names the document and label.
        """
        from smallext.kinds.relations.schema import relation_labels, resolve_relation

        if not schema.relation_types:
            return list(items)
        kept = []
        for r in items:
            name = resolve_relation(schema, r.label)
            if name is None and strict:
                raise ConfigError(f"document {doc.id!r}: relation label {r.label!r} is not a relation type or alias "
                                  f"of schema {schema.name!r} (types: {', '.join(relation_labels(schema))})")
            if name is not None:
                kept.append(r if name == r.label else replace(r, label=name))
        return kept


LAYER = RelationLayer()
