"""Entity-level evaluation: strict-match precision, recall and F1 over character spans.

A predicted span counts as correct only when its ``(start, end, label)`` equals a gold span's (exact
boundaries and type), the CoNLL-2000/2003 shared-task measure (Tjong Kim Sang & De Meulder, 2003). On
IOB2 token sequences it agrees with ``seqeval``'s default mode.

Scores are reported micro-averaged (over all spans), per entity type, and macro-averaged (unweighted mean
of the per-type scores over the types present in gold or predictions; with ``labels``, those of them in
``labels``). A type named in ``labels`` but absent from both sides is listed per type with zero counts and
left out of the macro average: it has no score to average, not a score of zero. Micro F1 also gets a 95% confidence
interval from a document-level percentile bootstrap (Efron & Tibshirani, 1993; Koehn, 2004 for its use in
NLP): documents are resampled with replacement and micro F1 recomputed.

Relations (when the gold or the predictions have any) are scored in the two settings of Taillé et al. (2020),
"Let's Stop Incorrect Comparisons in End-to-end Relation Extraction!" (EMNLP): **strict** (both arguments'
boundaries and entity types and the relation type match) and **boundaries** (the arguments' boundaries and the
relation type match; their entity types are ignored). A relation type named symmetric matches in either
direction: both sides are put in one canonical order first, as SpERT's evaluator does (Eberts & Ulges, 2020,
``spert/evaluator.py``). Micro scores get the same bootstrap interval.

JSON form::

    {"micro": {"precision", "recall", "f1", "ci95": [lo, hi], "tp", "fp", "fn"},
     "macro": {"precision", "recall", "f1"},
     "per_type": {"PER": {"precision", "recall", "f1", "tp", "fp", "fn", "support"}},
     "support": {"PER": 1617, ...}, "documents": 3453,
     "relations": {"strict": {"micro": {...}, "macro": {...}, "per_type": {...}},
                   "boundaries": {...}}}          # only when there are relations
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from smallext.doc import Document
from smallext.errors import SmallextError

__all__ = ["evaluate", "evaluate_relations", "relation_keys", "prf", "render_table", "align", "slim"]

RELATION_SETTINGS = ("strict", "boundaries")


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; each is 0.0 when its denominator is 0."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def align(
    gold: Iterable[Document], pred: Iterable[Document], *, subset: bool = False
) -> list[tuple[Document, Document]]:
    """Pair gold and predicted documents by id.

    Args:
        gold: gold documents.
        pred: predicted documents (any order).
        subset: allow predictions for only some gold documents (the rest of the gold is left out of the
            evaluation); by default every gold document needs a prediction.

    Raises:
        SmallextError: a prediction's id is not in the gold, its text differs from the gold's, an id repeats,
            or (unless ``subset``) gold documents have no prediction. The message names the documents.
    """
    gold_by_id: dict[str, Document] = {}
    for g in gold:
        if g.id in gold_by_id:
            raise SmallextError(f"gold document id {g.id!r} appears twice")
        gold_by_id[g.id] = g
    pairs: dict[str, tuple[Document, Document]] = {}
    for p in pred:
        g = gold_by_id.get(p.id)
        if g is None:
            raise SmallextError(f"prediction for document {p.id!r}, which is not in the gold set")
        if p.id in pairs:
            raise SmallextError(f"prediction for document {p.id!r} appears twice")
        if p.text != g.text:
            pairs_ = enumerate(zip(p.text, g.text, strict=False))
            at = next((i for i, (a, b) in pairs_ if a != b), min(len(p.text), len(g.text)))
            raise SmallextError(
                f"document {p.id!r}: prediction text differs from the gold text at character {at}"
            )
        pairs[p.id] = (g, p)
    if not subset:
        missing = [i for i in gold_by_id if i not in pairs]
        if missing:
            raise SmallextError(
                f"{len(missing)} gold document(s) have no prediction (first: {missing[0]!r}); "
                "pass subset=True (--subset) to evaluate only the predicted documents"
            )
    return [pairs[i] for i in gold_by_id if i in pairs]


def _counts(g: Document, p: Document) -> tuple[Counter, Counter, Counter]:
    gk = {s.key for s in g.spans}
    pk = {s.key for s in p.spans}
    tp = Counter(k[2] for k in gk & pk)
    fp = Counter(k[2] for k in pk - gk)
    fn = Counter(k[2] for k in gk - pk)
    return tp, fp, fn


def _bootstrap_ci(per_doc: np.ndarray, n_boot: int, seed: int) -> list[float]:
    """Percentile 95% interval of micro F1 over ``n_boot`` document resamples; ``per_doc`` is (docs, 3)."""
    n = per_doc.shape[0]
    if n == 0 or n_boot <= 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    f1s = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for lo in range(0, n_boot, chunk):
        hi = min(n_boot, lo + chunk)
        idx = rng.integers(0, n, size=(hi - lo, n))
        sums = per_doc[idx].sum(axis=1)  # (b, 3): tp, fp, fn
        tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
        denom = 2 * tp + fp + fn
        f1s[lo:hi] = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    lo_, hi_ = np.percentile(f1s, [2.5, 97.5])
    return [float(lo_), float(hi_)]


def _scores(tp: Counter, fp: Counter, fn: Counter, per_doc: np.ndarray, types: Iterable[str], n_boot: int,
            seed: int) -> dict[str, Any]:
    """Micro (with its bootstrap interval), macro and per-type scores from per-type counts."""
    per_type = {}
    for t in sorted(set(types)):
        p_, r_, f_ = prf(tp[t], fp[t], fn[t])
        per_type[t] = {
            "precision": p_, "recall": r_, "f1": f_,
            "tp": tp[t], "fp": fp[t], "fn": fn[t], "support": tp[t] + fn[t],
        }
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    mp, mr, mf = prf(T, F, N)
    present = [v for v in per_type.values() if v["tp"] + v["fp"] + v["fn"]]
    macro = {k: float(np.mean([v[k] for v in present])) if present else 0.0 for k in ("precision", "recall", "f1")}
    return {
        "micro": {
            "precision": mp, "recall": mr, "f1": mf,
            "ci95": _bootstrap_ci(per_doc, n_boot, seed), "tp": T, "fp": F, "fn": N,
        },
        "macro": macro,
        "per_type": per_type,
    }


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


def evaluate_relations(
    pairs: Sequence[tuple[Document, Document]], *, symmetric: Iterable[str] = (), n_boot: int = 1000, seed: int = 0,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Relation scores of aligned ``(gold, prediction)`` pairs (see :func:`align`), in both settings.

    Args:
        symmetric: relation types that match in either direction.
        labels: restrict to these relation types (others ignored on both sides); they are listed per type even
            when absent.

    Returns:
        ``{"strict": {"micro", "macro", "per_type"}, "boundaries": {...}}``; all scores in [0, 1].
    """
    sym = list(symmetric)
    keep = set(labels) if labels is not None else None
    out = {}
    for setting in RELATION_SETTINGS:
        tp, fp, fn = Counter(), Counter(), Counter()
        per_doc = np.zeros((len(pairs), 3), dtype=np.int64)
        for i, (g, p) in enumerate(pairs):
            gk, pk = relation_keys(g, setting, sym), relation_keys(p, setting, sym)
            if keep is not None:
                gk, pk = {k for k in gk if k[0] in keep}, {k for k in pk if k[0] in keep}
            dtp, dfp, dfn = (Counter(k[0] for k in ks) for ks in (gk & pk, pk - gk, gk - pk))
            tp, fp, fn = tp + dtp, fp + dfp, fn + dfn
            per_doc[i] = (len(gk & pk), len(pk - gk), len(gk - pk))
        types = set(tp) | set(fp) | set(fn) | (keep or set())
        out[setting] = _scores(tp, fp, fn, per_doc, types, n_boot, seed)
    return out


def evaluate(
    gold: Iterable[Document],
    pred: Iterable[Document],
    *,
    subset: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    relation_labels: Sequence[str] | None = None,
    symmetric: Iterable[str] = (),
) -> dict[str, Any]:
    """Strict-match entity-level scores of ``pred`` against ``gold``, and relation scores when either side has
    relations (see :func:`evaluate_relations`).

    Args:
        gold: gold documents.
        pred: predictions for the same documents (matched by id; texts must be identical).
        subset: evaluate only the gold documents that have a prediction (see :func:`align`).
        n_boot: bootstrap resamples for the micro-F1 95% interval (0 disables it).
        seed: random seed of the bootstrap.
        labels: restrict the evaluation to these entity types (others are ignored on both sides).
        relation_labels: restrict the relation scores to these relation types; given, relation scores are
            reported even when neither side has a relation.
        symmetric: relation types that match in either direction.

    Returns:
        The JSON-ready dict described in the module docstring. All scores are in [0, 1].

    Raises:
        SmallextError: mismatched documents (see :func:`align`).
    """
    pairs = align(gold, pred, subset=subset)
    keep = set(labels) if labels is not None else None
    tp, fp, fn = Counter(), Counter(), Counter()
    per_doc = np.zeros((len(pairs), 3), dtype=np.int64)
    for i, (g, p) in enumerate(pairs):
        dtp, dfp, dfn = _counts(g, p)
        if keep is not None:
            dtp, dfp, dfn = (Counter({k: v for k, v in c.items() if k in keep}) for c in (dtp, dfp, dfn))
        tp += dtp
        fp += dfp
        fn += dfn
        per_doc[i] = (sum(dtp.values()), sum(dfp.values()), sum(dfn.values()))
    result = _scores(tp, fp, fn, per_doc, set(tp) | set(fp) | set(fn) | (keep or set()), n_boot, seed)
    result["support"] = {t: v["support"] for t, v in result["per_type"].items()}
    result["documents"] = len(pairs)
    if relation_labels is not None or any(g.relations or p.relations for g, p in pairs):
        result["relations"] = evaluate_relations(pairs, symmetric=symmetric, n_boot=n_boot, seed=seed,
                                                 labels=relation_labels)
    return result


def slim(result: dict[str, Any]) -> dict[str, Any]:
    """An :func:`evaluate` result without its top-level ``support`` table (the per-type entries keep theirs):
    what model cards, ``config.json`` and benchmark files store."""
    return {k: result[k] for k in ("micro", "macro", "per_type", "documents", "relations") if k in result}


def render_table(result: dict[str, Any], title: str = "Entity-level scores (strict match)"):
    """A :class:`rich.table.Table` of per-type, micro and macro scores from :func:`evaluate`'s result."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("type", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "type" else "right")
    for t, v in result["per_type"].items():
        table.add_row(t, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", str(v["support"]))
    m = result["micro"]
    lo, hi = m["ci95"]
    table.add_section()
    table.add_row(
        "micro", f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}  [{lo:.4f}, {hi:.4f}]",
        str(m["tp"] + m["fn"]),
    )
    a = result["macro"]
    table.add_row("macro", f"{a['precision']:.4f}", f"{a['recall']:.4f}", f"{a['f1']:.4f}", "")
    return table


def render_relation_table(result: dict[str, Any]):
    """A :class:`rich.table.Table` of the relation scores in :func:`evaluate`'s result (strict and boundaries,
    per relation type and micro)."""
    from rich.table import Table

    rel = result["relations"]
    table = Table(title="Relation scores (strict | boundaries)")
    for col in ("relation type", "P strict", "R strict", "F1 strict", "F1 boundaries", "support"):
        table.add_column(col, justify="left" if col == "relation type" else "right")
    for t, v in rel["strict"]["per_type"].items():
        b = rel["boundaries"]["per_type"][t]
        table.add_row(t, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", f"{b['f1']:.4f}",
                      str(v["support"]))
    m, b = rel["strict"]["micro"], rel["boundaries"]["micro"]
    lo, hi = m["ci95"]
    table.add_section()
    table.add_row("micro", f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}  [{lo:.4f}, {hi:.4f}]",
                  f"{b['f1']:.4f}", str(m["tp"] + m["fn"]))
    return table
