"""MOLE's per-attribute soft score of a paper's metadata record, as MeXtract computes it.

Source: github.com/zaidalyafeai/MeXtract at commit ``83d564f084faf332ead58427a61c361920ab8673`` (2025-12-04):
``src/schema.py`` (``Schema.compare_with``, ``evaluate_length``, the ``validate_a`` validator) and
``src/type_classes.py`` (each type's ``compare``, ``cast``, ``get_default`` and ``validate_length``); the mean
over papers as in ``src/finetune.py`` (``compute_metrics``: each metric summed ``/ num_preds``).

Per paper: the predicted record is first made a MeXtract schema object (``validate_a``): a missing or unreadable
attribute takes its type's default (string ``""``, float ``0.0``, int ``0``, year ``2025``, bool ``False``, list
``[]``); then each attribute of the gold gets a score in [0, 1] from its type (:func:`smallext.io.mole.field_kind`):

- ``str`` (with or without options: MeXtract scores an option like any string, not by exact match) and ``url``:
  ``1 - Levenshtein(gold, pred) / max(len(gold), len(pred))``, 1 when both are empty (``rapidfuzz``'s Levenshtein
  distance, unit costs, as the ``Levenshtein`` package's);
- ``longstr`` (Description, Paper_Title, Abstract): ROUGE-1 F-measure (``rouge_score.RougeScorer(['rouge1'],
  use_stemmer=True)``). ``rouge-score`` is not installed here, so :func:`rouge1` computes what it computes with its
  default tokenizer (lower case, every character outside ``a-z0-9`` a separator; a text with no such token, in
  Japanese or Arabic script say, scores 0, and so do two empty strings) **without the Porter stemmer**: two
  inflections of one word (``datasets``/``dataset``) do not match here where they would there;
- ``float``, ``int``: 1 when equal, else ``1 - |gold - pred| / max(gold, pred)``;
- ``year``: the same on ``|year - 2010|`` (so 2011 and 2009 score 1, 2010 and 2011 score 0);
- ``bool``: 1 when equal, else 0;
- ``list`` and ``list[dict]`` (Subsets, Models: objects compared as whole objects): the number of gold items that
  are in the prediction over ``max(len(gold), len(pred))``, 1 when both are empty.

``precision`` is the mean score over all the gold's attributes; ``recall`` the mean over the attributes the gold
file marks as stated by the paper (``annotations_from_paper``: 1); ``f1`` their harmonic mean; ``length`` the share
of predicted attributes within the schema's ``answer_min``/``answer_max`` (words for strings, items for lists,
the range for numbers; a string with options always passes; booleans always pass). The dataset's figure is the
mean of each over the papers.

Oddities copied: a string with options is scored by edit distance (a wrong licence close in spelling earns
credit); the year score's reference 2010; the unstated attributes count in precision (an attribute the paper does
not state but the gold fills from the web, a licence, counts against a prediction from the paper alone); a missing
year becomes 2025. Departures: where their number score divides by zero (``max(gold, pred)`` is 0 with the two
different, only for negative numbers) and where their F1 does (precision and recall both 0), the score is 0
instead of an error.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from smallext.doc import Document
from smallext.io.mole import field_kind
from smallext.kinds.records.document import Record, Value

__all__ = ["DEFAULTS", "attribute_score", "mole_scores", "paper_scores", "rouge1"]

DEFAULTS: dict[str, Any] = {"str": "", "longstr": "", "url": "", "float": 0.0, "int": 0, "year": 2025,
                            "bool": False, "list": [], "list[dict]": []}
"""MeXtract's default per type (``get_default``): what a missing or unreadable predicted attribute becomes."""

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _tokens(s: str) -> list[str]:
    return [t for t in _NON_ALNUM.sub(" ", str(s).lower()).split() if t]


def rouge1(gold: str, pred: str) -> float:
    """ROUGE-1 F-measure of ``pred`` against ``gold``, in [0, 1]: unigram overlap (a multiset) over the tokens of
    ``rouge_score``'s default tokenizer, without stemming (see the module docstring); 0 when either has no token."""
    g, p = Counter(_tokens(gold)), Counter(_tokens(pred))
    overlap = sum((g & p).values())
    precision = overlap / max(sum(p.values()), 1)
    recall = overlap / max(sum(g.values()), 1)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _cast(kind: str, values: Sequence[Value]) -> Any:
    """The attribute as MeXtract's ``validate_a`` leaves it (``cast``, else the default)."""
    if not values:
        return DEFAULTS[kind]
    if kind in ("list", "list[dict]"):
        out = []
        for v in values:
            x = v.value
            if kind == "list[dict]" and isinstance(x, str):
                with contextlib.suppress(json.JSONDecodeError):
                    x = json.loads(x)
            out.append(x)
        return out
    x = values[0].value
    try:
        if kind in ("str", "longstr", "url"):
            return str(x)
        if kind == "float":
            return float(x)
        if kind in ("int", "year"):
            return int(x)
        if kind == "bool":
            return x.lower() in ("true", "yes") if isinstance(x, str) else bool(x)
    except (TypeError, ValueError, OverflowError):
        return DEFAULTS[kind]
    raise ValueError(f"unknown kind {kind!r}")


def _number(a: Any, b: Any) -> float:
    if a == b:
        return 1.0
    top = max(float(a), float(b))
    return 1 - abs(float(a) - float(b)) / top if top != 0 else 0.0


def attribute_score(kind: str, gold: Any, pred: Any) -> float:
    """MeXtract's ``compare(gold, pred)`` of one attribute of type ``kind`` (:func:`smallext.io.mole.field_kind`),
    on values as MeXtract holds them (strings, numbers, booleans, lists); in [0, 1] for non-negative numbers.

    Raises:
        ValueError: an unknown kind.
    """
    if kind in ("str", "url"):
        from rapidfuzz.distance import Levenshtein

        gold, pred = str(gold), str(pred)
        if not gold and not pred:
            return 1.0
        return 1 - Levenshtein.distance(gold, pred) / max(len(gold), len(pred))
    if kind == "longstr":
        return rouge1(str(gold), str(pred))
    if kind in ("float", "int"):
        return _number(gold, pred)
    if kind == "year":
        return _number(abs(gold - 2010), abs(pred - 2010))
    if kind == "bool":
        return float(bool(gold) == bool(pred))
    if kind in ("list", "list[dict]"):
        if not gold and not pred:
            return 1.0
        return sum(1 for item in gold if item in pred) / max(len(gold), len(pred))
    raise ValueError(f"unknown kind {kind!r}")


def _length_ok(kind: str, spec: dict[str, Any], value: Any) -> int:
    lo, hi = spec.get("answer_min", 0), spec.get("answer_max", -1)
    if kind in ("str", "longstr", "url"):
        n = len(str(value).split(" "))
        return int(lo <= n <= hi or spec.get("options") is not None)
    if kind in ("float", "int", "year"):
        return int(value >= lo and (hi < 0 or value <= hi))
    if kind == "bool":
        return 1
    return int(lo <= len(value) <= hi)


def _record(doc: Document | None, rtype: str) -> Record | None:
    if doc is None or not doc.records:
        return None
    return next((r for r in doc.records if r.type == rtype), doc.records[0])


def paper_scores(gold: Document, pred: Document | None) -> dict[str, Any]:
    """One paper's scores (``compare_with(..., return_metrics_only=False)``).

    Args:
        gold: a paper read by :func:`smallext.io.mole.read_mole` (``meta["input_schema"]``, ``meta["schema"]``,
            ``meta["annotations_from_paper"]`` for recall; one gold record).
        pred: the predicted paper (its first record of the gold's type, else its first record), or None: every
            attribute its default, as MeXtract does with a reply that does not parse.

    Returns:
        ``{"scores": {attribute: score}, "precision", "recall", "f1", "length"}``; ``recall`` and ``f1`` None when
        the gold has no ``annotations_from_paper``.

    Raises:
        ValueError: the gold has no ``input_schema`` or no record.
    """
    spec = gold.meta.get("input_schema")
    g = _record(gold, "")
    if not isinstance(spec, dict) or g is None:
        raise ValueError(f"document {gold.id!r}: a MOLE gold paper needs meta['input_schema'] and a gold record")
    p = _record(pred, g.type)
    name = gold.meta.get("schema", "")
    scores, length = {}, 0
    for attr, s in spec.items():
        kind = field_kind(attr, s, name)
        pv = _cast(kind, p.get(attr) if p is not None else ())
        scores[attr] = attribute_score(kind, _cast(kind, g.get(attr)), pv)
        length += _length_ok(kind, s, pv)
    precision = sum(scores.values()) / len(scores) if scores else 0.0
    ann = gold.meta.get("annotations_from_paper")
    recall = f1 = None
    if isinstance(ann, dict):
        stated = [a for a in scores if ann.get(a)]
        recall = sum(scores[a] for a in stated) / len(stated) if stated else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"scores": scores, "precision": precision, "recall": recall, "f1": f1,
            "length": length / len(spec) if spec else 0.0}


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    xs = [r[key] for r in rows if r[key] is not None]
    return sum(xs) / len(xs) if xs and len(xs) == len(rows) else None


def mole_scores(gold_docs: Sequence[Document], pred_docs: Sequence[Document]) -> dict[str, Any]:
    """MeXtract's scores of predicted MOLE records (see the module docstring), averaged over the gold papers.

    Args:
        gold_docs: papers read by :func:`smallext.io.mole.read_mole`.
        pred_docs: predicted papers, matched by document id; a gold paper with none gets MeXtract's defaults.

    Returns:
        ``{"papers", "precision", "recall", "f1", "length", "per_schema": {schema: {"papers", "precision", ...}},
        "per_attribute": {attribute: mean score over the papers that have it}, "per_paper": {id: paper_scores}}``;
        scores in [0, 1] (MeXtract reports x100); ``recall``/``f1`` None when a paper lacks
        ``annotations_from_paper``.

    Raises:
        ValueError: a predicted id no gold paper has; see :func:`paper_scores`.
    """
    ids = {d.id for d in gold_docs}
    preds = {}
    for d in pred_docs:
        if d.id not in ids:
            raise ValueError(f"predicted document {d.id!r} is not among the gold papers")
        preds[d.id] = d
    per_paper = {g.id: paper_scores(g, preds.get(g.id)) for g in gold_docs}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    attrs: dict[str, list[float]] = defaultdict(list)
    for g in gold_docs:
        groups[g.meta.get("schema", "")].append(per_paper[g.id])
        for a, s in per_paper[g.id]["scores"].items():
            attrs[a].append(s)
    rows = list(per_paper.values())
    keys = ("precision", "recall", "f1", "length")
    out: dict[str, Any] = {"papers": len(rows), **{k: _mean(rows, k) for k in keys}}
    out["per_schema"] = {s: {"papers": len(rs), **{k: _mean(rs, k) for k in keys}} for s, rs in groups.items()}
    out["per_attribute"] = {a: sum(v) / len(v) for a, v in attrs.items()}
    out["per_paper"] = per_paper
    return out
