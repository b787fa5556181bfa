"""The relations kind's scorer, in the two settings of Taillé et al. (2020), "Let's Stop Incorrect Comparisons in
End-to-end Relation Extraction!" (EMNLP).

**strict**: both arguments' boundaries and entity types and the relation type match; **boundaries**: the
arguments' boundaries and the relation type match (their entity types are ignored). A relation type named
symmetric matches in either direction: both sides are put in one canonical order first, as SpERT's evaluator does
(Eberts & Ulges, 2020, ``spert/evaluator.py``). Micro scores get the document bootstrap interval of
:mod:`smallext.evaluate`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from smallext.doc import Document
from smallext.evaluate import Scoring, counted_scores

__all__ = ["RELATION_SETTINGS", "relation_keys", "score", "primary"]

RELATION_SETTINGS = ("strict", "boundaries")


def relation_keys(doc: Document, setting: str = "strict", symmetric: Iterable[str] = ()) -> set[tuple]:
    """The relations of ``doc`` as comparable keys.

    ``strict``: ``(label, (start, end, type) of one argument, (start, end, type) of the other)``;
    ``boundaries``: the same without the entity types. For a relation type in ``symmetric`` the two arguments are
    sorted, so either direction gives the same key; otherwise the head comes first.

    Raises:
        ValueError: an unknown ``setting`` (one of :data:`RELATION_SETTINGS`).
    """
    if setting not in RELATION_SETTINGS:
        raise ValueError(f"unknown relation setting {setting!r}; expected one of {', '.join(RELATION_SETTINGS)}")
    sym = set(symmetric)
    keys = set()
    for r in doc.relations:
        h, t = doc.spans[r.head], doc.spans[r.tail]
        a, b = (h.key, t.key) if setting == "strict" else ((h.start, h.end), (t.start, t.end))
        if r.label in sym and b < a:
            a, b = b, a
        keys.add((r.label, a, b))
    return keys


def _counts(pairs, setting: str, sym: list[str], keep: set[str] | None):
    for g, p in pairs:
        gk, pk = relation_keys(g, setting, sym), relation_keys(p, setting, sym)
        if keep is not None:
            gk, pk = {k for k in gk if k[0] in keep}, {k for k in pk if k[0] in keep}
        yield tuple(Counter(k[0] for k in ks) for ks in (gk & pk, pk - gk, gk - pk))


def score(pairs: Sequence[tuple[Document, Document]], ctx: Scoring) -> dict[str, Any] | None:
    """Relation scores of aligned ``(gold, prediction)`` pairs in both settings, or None when there is nothing to
    score (no relation on either side, no relation type in the schema and none asked for).

    Symmetric types come from ``ctx.schema`` (its symmetric relation types) and ``ctx.symmetric``. With
    ``ctx.labels["relations"]`` only those types count, each listed even when absent.

    Returns:
        ``{"strict": {"micro", "macro", "per_type"}, "boundaries": {...}}``; all scores in [0, 1].
    """
    keep = ctx.labels.get("relations")
    declared = ctx.schema is not None and bool(ctx.schema.relation_types)
    if keep is None and not declared and not any(g.relations or p.relations for g, p in pairs):
        return None
    sym = list(ctx.symmetric)
    if ctx.schema is not None:
        sym += [r.name for r in ctx.schema.relation_types if r.symmetric]
    return {setting: counted_scores(_counts(pairs, setting, sym, None if keep is None else set(keep)), len(pairs),
                                    keep, ctx)
            for setting in RELATION_SETTINGS}


def primary(section: dict[str, Any]) -> float:
    """The one number of the section: strict micro F1."""
    return section["strict"]["micro"]["f1"]


def summary(section: dict[str, Any]) -> str:
    """One line of the section for a terminal: ``relation strict micro F1 0.5123``."""
    return f"relation strict micro F1 {section['strict']['micro']['f1']:.4f}"


def card_rows(name: str, section: dict[str, Any], documents: Any) -> list[str]:
    """The section's rows in a model card's score table: strict scores, with the boundaries F1 beside them."""
    r, b = section["strict"]["micro"], section["boundaries"]["micro"]
    return [f"| {name}, relations strict | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} "
            f"(boundaries {b['f1']:.4f}) | {documents} |"]
