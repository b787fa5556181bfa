"""The records kind's scorer: field-level and record-level precision, recall and F1, in two settings.

**Field level** (KIEval's entity level, SROIE task 3): each value of a record is a ``(record type, field,
value)`` item; a predicted item is a true positive when the same document's gold has the same item (a multiset:
two equal gold values need two predicted ones). Micro and per-field (``Type.field``) P/R/F1.

**Record level** (KIEval's group level, arXiv 2503.05488): in each document the gold and predicted records of
each type are matched one to one by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``), the cost
of a pair being minus the number of items they share; a matched pair is a true positive when the two records
hold exactly the same items, else a false positive and a false negative; an unmatched record is a false
positive (predicted) or a false negative (gold). Micro and per record type.

Two settings, both reported:

- ``normalized`` (the section's top level): values compared as values (:func:`~smallext.kinds.records.normalize.
  value_key`: dates as ISO dates, numbers and money as decimals, strings case-folded with whitespace runs as one
  space);
- ``protocol`` (the SROIE task 3 protocol): a value counts when its string equals the gold string after
  whitespace and case folding: a string, enum or boolean field's value, and the text as written (``text``, else
  the value) of a number, money or date field.

``grounding_precision``: the share of predicted values with offsets whose offsets cover their text (the text at
``[start, end)`` equals the value's ``text``, else its value); 1.0 when no value has offsets. Micro scores get the
document bootstrap interval of :mod:`smallext.evaluate`.

JSON form (``smallext evaluate --json``)::

    "records": {"fields": {"micro", "macro", "per_field"}, "records": {"micro", "macro", "per_type"},
                "protocol": {"fields": {...}, "records": {...}}, "grounding_precision": 0.998, "values": 504}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from smallext.doc import Document
from smallext.evaluate import Scoring, counted_scores
from smallext.kinds.records.document import Record, Value
from smallext.kinds.records.normalize import value_key

__all__ = ["SETTINGS", "grounding_precision", "item_keys", "match_records", "primary", "score", "summary"]

SETTINGS = ("normalized", "protocol")


def _fold(s: Any) -> str:
    s = str(s).lower() if isinstance(s, bool) else str(s)
    return " ".join(s.split()).casefold()


def _key(ftype: str, v: Value, setting: str) -> Any:
    if setting == "normalized":
        return value_key(v.value)
    return _fold(v.surface if ftype in ("integer", "number", "money", "date") else v.value)


def item_keys(r: Record, types: dict[tuple[str, str], str], setting: str) -> Counter:
    """The items of record ``r`` as a multiset of ``(field, key)`` (``types``: ``(record type, field)`` -> field
    type, ``string`` when absent; ``setting``: one of :data:`SETTINGS`)."""
    return Counter((f, _key(types.get((r.type, f), "string"), v, setting)) for f, v in r.values())


def match_records(gold: Sequence[Counter], pred: Sequence[Counter]) -> list[tuple[int, int]]:
    """One-to-one ``(gold index, predicted index)`` pairs of the records of one type, by the Hungarian algorithm on
    minus the items each pair shares; pairs that share nothing are left unmatched."""
    if not gold or not pred:
        return []
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    cost = np.array([[-sum((g & p).values()) for p in pred] for g in gold], dtype=float)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if cost[i, j] < 0]


def _counts(g: Document, p: Document, types, setting: str, keep: set[str] | None):
    grecs = [r for r in g.records if keep is None or r.type in keep]
    precs = [r for r in p.records if keep is None or r.type in keep]
    gi = Counter((r.type, f, k) for r in grecs for (f, k), n in item_keys(r, types, setting).items() for _ in range(n))
    pi = Counter((r.type, f, k) for r in precs for (f, k), n in item_keys(r, types, setting).items() for _ in range(n))
    field = (_per_field(gi & pi), _per_field(pi - gi), _per_field(gi - pi))
    rtp, rfp, rfn = Counter(), Counter(), Counter()
    for t in {r.type for r in grecs} | {r.type for r in precs}:
        gk = [item_keys(r, types, setting) for r in grecs if r.type == t]
        pk = [item_keys(r, types, setting) for r in precs if r.type == t]
        pairs = match_records(gk, pk)
        same = sum(gk[i] == pk[j] for i, j in pairs)
        rtp[t] += same
        rfp[t] += len(pk) - same
        rfn[t] += len(gk) - same
    return field, (rtp, rfp, rfn)


def _per_field(items: Counter) -> Counter:
    out: Counter = Counter()
    for (t, f, _), n in items.items():
        out[f"{t}.{f}"] += n
    return out


def grounding_precision(docs: Sequence[Document]) -> tuple[float, int]:
    """``(share of values with offsets whose offsets cover their text, values with offsets)`` over ``docs``."""
    n = ok = 0
    for d in docs:
        for r in d.records:
            for _, v in r.values():
                if v.start is None:
                    continue
                n += 1
                ok += d.text[v.start:v.end] == v.surface
    return (ok / n if n else 1.0), n


def _types(schema) -> dict[tuple[str, str], str]:
    if schema is None:
        return {}
    return {(r.name, f.name): f.type for r in getattr(schema, "record_types", []) for f in r.fields}


def score(pairs: Sequence[tuple[Document, Document]], ctx: Scoring) -> dict[str, Any] | None:
    """Record scores of aligned ``(gold, prediction)`` pairs (see the module docstring), or None when there is
    nothing to score (no record on either side, no record type in the schema and none asked for).

    With ``ctx.labels["records"]`` only those record types count (their fields on both sides).

    Returns:
        ``{"fields": {"micro", "macro", "per_field"}, "records": {"micro", "macro", "per_type"}, "protocol":
        {"fields", "records"}, "grounding_precision": float, "values": int}``; all scores in [0, 1].
    """
    keep = ctx.labels.get("records")
    declared = ctx.schema is not None and bool(getattr(ctx.schema, "record_types", []))
    if keep is None and not declared and not any(g.records or p.records for g, p in pairs):
        return None
    types = _types(ctx.schema)
    only = None if keep is None else set(keep)
    fields_of = None if keep is None else [f"{t}.{f}" for (t, f) in types if t in only]
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        counts = [_counts(g, p, types, setting, only) for g, p in pairs]
        fields = counted_scores((c[0] for c in counts), len(pairs), fields_of, ctx)
        fields["per_field"] = fields.pop("per_type")
        records = counted_scores((c[1] for c in counts), len(pairs), keep, ctx)
        section = {"fields": fields, "records": records}
        if setting == "normalized":
            out.update(section)
        else:
            out["protocol"] = section
    out["grounding_precision"], out["values"] = grounding_precision([p for _, p in pairs])
    return out


def primary(section: dict[str, Any]) -> float:
    """The one number of the section: field-level micro F1, normalised setting."""
    return section["fields"]["micro"]["f1"]


def summary(section: dict[str, Any]) -> str:
    """One line of the section for a terminal: ``record field micro F1 0.8123 (protocol 0.8011)``."""
    return (f"record field micro F1 {section['fields']['micro']['f1']:.4f} "
            f"(protocol {section['protocol']['fields']['micro']['f1']:.4f}), "
            f"record F1 {section['records']['micro']['f1']:.4f}")


def card_rows(name: str, section: dict[str, Any], documents: Any) -> list[str]:
    """The section's rows in a model card's score table: field level, then record level."""
    f, r = section["fields"]["micro"], section["records"]["micro"]
    return [f"| {name}, record fields | {f['precision']:.4f} | {f['recall']:.4f} | {f['f1']:.4f} | {documents} |",
            f"| {name}, records | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {documents} |"]
