"""The entities kind's scorer: strict-match span precision, recall and F1 (see :mod:`smallext.evaluate`).

A predicted span counts as correct only when its ``(start, end, label)`` equals a gold span's (exact boundaries
and type), the CoNLL-2000/2003 shared-task measure (Tjong Kim Sang & De Meulder, 2003); on IOB2 token sequences
it agrees with ``seqeval``'s default mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from smallext.doc import Document
from smallext.evaluate import Scoring, counted_scores

__all__ = ["score", "span_counts"]


def span_counts(g: Document, p: Document) -> tuple[Counter, Counter, Counter]:
    """Per-type true positives, false positives and false negatives of one document's spans (strict match)."""
    gk = {s.key for s in g.spans}
    pk = {s.key for s in p.spans}
    return Counter(k[2] for k in gk & pk), Counter(k[2] for k in pk - gk), Counter(k[2] for k in gk - pk)


def score(pairs: Sequence[tuple[Document, Document]], ctx: Scoring) -> dict[str, Any]:
    """Span scores of aligned ``(gold, prediction)`` pairs.

    Returns:
        ``{"micro": {precision, recall, f1, ci95, tp, fp, fn}, "macro": {...}, "per_type": {...}, "support":
        {type: gold count}}``; all scores in [0, 1]. With ``ctx.labels["entities"]``, only those types count (the
        others are ignored on both sides) and each is listed even when absent.
    """
    keep = ctx.labels.get("entities")
    result = counted_scores((span_counts(g, p) for g, p in pairs), len(pairs), keep, ctx)
    result["support"] = {t: v["support"] for t, v in result["per_type"].items()}
    return result


def primary(section: dict[str, Any]) -> float:
    """The one number of the section: micro F1 (strict)."""
    return section["micro"]["f1"]


def summary(section: dict[str, Any]) -> str:
    """One line of the section for a terminal: ``micro F1 0.8123``."""
    return f"micro F1 {section['micro']['f1']:.4f}"


def card_rows(name: str, section: dict[str, Any], documents: Any) -> list[str]:
    """The section's rows in a model card's score table (columns: scores, P, R, F1 with its 95% CI, documents)."""
    m = section["micro"]
    ci = m.get("ci95") or [0, 0]
    ci_s = f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci != [0.0, 0.0] else ""
    return [f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f}{ci_s} | {documents} |"]
