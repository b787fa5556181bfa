"""How much annotators agree: span-level P/R/F1 and chance-corrected token-level agreement.

- Span level: strict-match precision, recall and F1 of one annotator against another, per type
  (:func:`smallext.evaluate.evaluate`).
- Token level: each token (the document's own ``tokens``, else whitespace-separated pieces) gets the type of
  the span that covers it, or ``O`` (IO labels, as token-level agreement for named entities is usually
  reported, e.g. Brandsen et al., LREC 2020). On those labels: Cohen's kappa for two annotators (Cohen, 1960;
  ``sklearn.metrics.cohen_kappa_score``) and Krippendorff's alpha, nominal, for two or more (Krippendorff,
  2011; the ``krippendorff`` package), overall and per type (a type against everything else).

Only documents every annotator labelled are compared; their texts must be identical.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smallext.doc import Document
from smallext.errors import SmallextError
from smallext.evaluate import evaluate, slim
from smallext.io.columns import tokenize_for_tags

__all__ = ["agreement", "common_documents", "krippendorff_alpha", "cohen_kappa", "token_labels"]


def token_labels(doc: Document) -> list[str]:
    """The IO label of each token of ``doc``: the type of the first span that overlaps it, else ``O``."""
    out = []
    spans = sorted(doc.spans, key=lambda s: s.key)
    for a, b in tokenize_for_tags(doc):
        out.append(next((s.label for s in spans if s.start < b and a < s.end), "O"))
    return out


def common_documents(annotations: Mapping[str, Sequence[Document]]) -> dict[str, list[Document]]:
    """Each annotator's documents restricted to the ids every annotator labelled, in the first one's order.

    Raises:
        SmallextError: fewer than two annotators, no document in common, or a document whose text differs
            between annotators (named).
    """
    if len(annotations) < 2:
        raise SmallextError("agreement needs at least two annotators")
    by_id = {name: {d.id: d for d in docs} for name, docs in annotations.items()}
    first = next(iter(annotations.values()))
    ids = [d.id for d in first if all(d.id in m for m in by_id.values())]
    if not ids:
        raise SmallextError(f"the annotators {', '.join(annotations)} have no document in common")
    for i in ids:
        texts = {m[i].text for m in by_id.values()}
        if len(texts) > 1:
            raise SmallextError(f"document {i!r} has a different text in different annotations")
    return {name: [m[i] for i in ids] for name, m in by_id.items()}


def _nan_to_none(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _labels(docs: Sequence[Document]) -> list[str]:
    return [t for d in docs for t in token_labels(d)]


def cohen_kappa(a: Sequence[Document], b: Sequence[Document], types: Sequence[str] | None = None) -> dict[str, Any]:
    """Cohen's kappa of two annotators' token labels: ``{"overall": k, "per_type": {T: k_T}}``; a kappa that is
    undefined (both annotators constant) is ``None``. ``a`` and ``b`` must be the same documents in order."""
    from sklearn.metrics import cohen_kappa_score

    la, lb = _labels(a), _labels(b)
    types = types if types is not None else sorted((set(la) | set(lb)) - {"O"})
    def kappa(xa: list, xb: list) -> float | None:
        if len(set(xa) | set(xb)) < 2:  # one label only: no chance correction is defined
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return _nan_to_none(cohen_kappa_score(xa, xb))

    return {"overall": kappa(la, lb), "per_type": {t: kappa([x == t for x in la], [x == t for x in lb])
                                                   for t in types}}


def krippendorff_alpha(annotations: Sequence[Sequence[Document]], types: Sequence[str] | None = None) -> dict[str, Any]:
    """Krippendorff's alpha (nominal) over two or more annotators' token labels: ``{"overall": a, "per_type":
    {T: a_T}}`` (``None`` where undefined). Each element of ``annotations`` lists the same documents in order."""
    import krippendorff

    rows = [_labels(docs) for docs in annotations]
    values = sorted({x for r in rows for x in r})
    index = {v: k for k, v in enumerate(values)}
    types = types if types is not None else [v for v in values if v != "O"]

    def alpha(data: np.ndarray) -> float | None:
        if len(np.unique(data)) < 2:
            return None
        return _nan_to_none(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))

    data = np.array([[index[x] for x in r] for r in rows], dtype=float)
    return {"overall": alpha(data),
            "per_type": {t: alpha((data == index[t]).astype(float)) if t in index else None for t in types}}


def agreement(annotations: Mapping[str, Sequence[Document]]) -> dict[str, Any]:
    """Agreement of two or more annotators on the documents they all labelled.

    Args:
        annotations: annotator name -> its documents. The first one is the reference of the span scores
            (``gold`` when there is one).

    Returns:
        ``{"documents", "tokens", "annotators", "spans": {name: evaluate result of it against the first},
        "kappa": {"A|B": cohen_kappa}, "alpha": krippendorff_alpha over all}``; every score in [-1, 1]
        (kappa, alpha) or [0, 1] (P/R/F1), ``None`` where undefined.

    Raises:
        SmallextError: see :func:`common_documents`.
    """
    docs = common_documents(annotations)
    names = list(docs)
    types = sorted({s.label for ds in docs.values() for d in ds for s in d.spans})
    ref = names[0]
    out: dict[str, Any] = {
        "documents": len(docs[ref]), "tokens": sum(len(tokenize_for_tags(d)) for d in docs[ref]),
        "annotators": names, "reference": ref,
        "spans": {n: slim(evaluate(docs[ref], docs[n], n_boot=1000)) for n in names[1:]},
        "kappa": {f"{a}|{b}": cohen_kappa(docs[a], docs[b], types)
                  for i, a in enumerate(names) for b in names[i + 1:]},
        "alpha": krippendorff_alpha([docs[n] for n in names], types),
    }
    return out
