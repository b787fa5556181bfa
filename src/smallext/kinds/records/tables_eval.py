"""MlTables' attribute-level precision, recall and F1, computed as the authors of Schema-to-JSON compute them.

Source: github.com/bflashcp3f/schema-to-json at commit ``66e610d937e4dfbd4c553410596c3ae8af556a90``
(2024-12-05): ``src/schema2json/methods/eval.py`` (``eval``: per-table counts, then micro and macro averages) and
``src/schema2json/tasks/mltables.py`` (``MlTablesItem.eval``, ``get_pair_attribute_result``,
``count_valid_attributes``, ``process_eval_string``, ``word_f1``); ``scripts/mltables/eval.sh`` runs it twice,
``--metric f1 --threshold 0.25`` and ``--metric exact_match``. (The brief's ``methods/eval.py`` is under
``src/schema2json/``; the scoring itself is in ``tasks/mltables.py``.)

What it computes, per table (one smallext Document, records per cell):

1. Predicted and gold records are paired by cell (their code: by the cell's character offsets in the LaTeX). A
   gold record's cell is its ``value``'s offsets. A predicted record takes the gold cell at its ``value``'s offsets;
   a predicted record left over (no offsets, offsets of no gold cell, or a second record at a taken cell) then
   takes the first free gold cell, in the gold's order, whose value is the same string (whitespace-stripped).
   This second step is ours: their pipeline prompts cell by cell, so a prediction's cell is known from the prompt
   (``generate_cell_index``) and two predictions never share one.
2. A record is the cell's attributes without ``value``: ``type`` (the dataset's name: ``Result``, ``Data Stat.``,
   ``Hyper-parameter/Architecture``, ``Other``) and the type's attributes under the dataset's names (``training
   data/set`` ...). A field with nothing found is their placeholder ``"xx"`` (``{"xx": "yy"}`` for a settings
   field). A predicted type outside the three templates (``Other`` included) keeps only ``type: Other``, as their
   ``eval`` does; a predicted field outside its type's template is dropped.
3. An unmatched predicted cell adds its valid attributes (``type`` always counts; others when not a placeholder)
   to FP; an unmatched gold cell adds its valid attributes to FN.
4. A matched pair, per attribute in both (``type`` included): both placeholders -> nothing; one placeholder ->
   FP (predicted only) or FN (gold only); both given -> TP when they match, else FP + FN. An attribute in only one
   of the two (the types differ) -> FP or FN unless a placeholder. Two attribute values match when, after
   ``process_eval_string`` (``\\cite...{...}`` and ``\\ref{...}`` removed, the characters ``{}[],()@$-+%&#_^~|<>\\/``
   not preceded by a backslash made spaces, lower-cased), their word F1 (bag of words) is at least ``threshold``
   against any one of the gold's names (the gold's alternatives, :mod:`smallext.io.schema_to_json`'s
   ``meta["alternatives"]``); in ``exact_match`` mode when the processed string equals one of them.
5. A settings attribute (``experimental settings``, ``model settings``, ``dataset features``; smallext's ``"name:
   value"`` strings, split at the first ``": "``): each entry is ``"name value"`` processed; gold and predicted
   entries are paired by a maximum matching over the pairs whose word F1 is above ``threshold``; the attribute is a
   TP when the F1 of (pairs / predicted entries, pairs / gold entries) is at least 0.5, else FP + FN.

Then micro P/R/F1 over the summed counts of all tables and macro P/R/F1, the mean of the per-table values.

Oddities of their code, copied:

- ``type`` is scored as an attribute, so a record of the right type earns a TP even if every other attribute is
  wrong, and a cell of type ``Other`` counts one attribute.
- In a settings attribute, a pair needs a word F1 strictly above ``threshold`` (``score > threshold``); the other
  attributes need at least ``threshold`` (``>=``).
- In ``exact_match`` mode a settings pair compares the sorted set of the gold entry's *words* with the sorted set
  of the predicted entry's *characters* (``sorted(set(pred_attribute))``), so it almost never matches.
- An attribute value that ``process_eval_string`` empties (only punctuation) has word F1 0 against itself: such a
  gold attribute is a FP + FN even when predicted exactly.
- Macro averages include tables with no gold and no predicted cell, at 0.
- Their ``max_weight_matching(..., maxcardinality=True)`` weighs pairs by F1 but counts every matched pair as 1, so
  the number of pairs is that of a maximum-cardinality matching: computed here with
  ``scipy.optimize.linear_sum_assignment`` on the 0/1 matrix (same count, no networkx).

Not copied: their prediction post-processing (``check_free_form_attribute`` keeps at most 5 settings entries whose
words occur in the table source) belongs to their prompting pipeline, not to the evaluation; apply it to the
predictions first if a comparison needs it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from smallext.doc import Document
from smallext.kinds.records.document import Record

__all__ = ["ATTRIBUTES", "FREE_FORM", "METRICS", "TYPES", "cell_counts", "mltables_scores", "process_eval_string",
           "record_cell", "word_f1"]

METRICS = ("f1", "exact_match")

TYPES: dict[str, str] = {"Result": "Result", "DataStat": "Data Stat.", "HyperParameter": "Hyper-parameter/Architecture",
                         "Other": "Other"}
"""smallext record type (:file:`schemas/mltables.yaml`) -> the dataset's type name."""

ATTRIBUTES: dict[str, dict[str, str]] = {
    "Result": {"training_data": "training data/set", "test_data": "test data/set", "task": "task",
               "metric": "metric", "model": "model", "experimental_settings": "experimental settings",
               "model_settings": "model settings"},
    "DataStat": {"dataset": "dataset", "attribute": "attribute name", "subset": "sub-set/group name",
                 "dataset_features": "dataset features"},
    "HyperParameter": {"model": "model", "parameter": "parameter/architecture name", "dataset": "dataset"},
}
"""smallext record type -> its fields other than ``value`` -> the dataset's attribute names (their
``ANNOTATION_ATTRIBUTES``, ``TEMPLATE_ATTRIBUTES`` and ``TEMP_ANNO_ALIGNMENT``). ``Other`` has none."""

FREE_FORM = frozenset({"experimental settings", "model settings", "dataset features"})
"""The settings attributes (their ``FREE_FORM_ANNO``), scored entry by entry."""

_CHARS = re.compile(r"(?<!\\)([{}[\],()@$\-+%&#_^~|<>\\/])")


def process_eval_string(s: str) -> str:
    """Their ``process_eval_string``: ``\\cite...{...}`` and ``\\ref{...}`` removed, the characters
    ``{}[],()@$-+%&#_^~|<>\\/`` not preceded by a backslash made spaces, whitespace runs one space, lower case."""
    s = re.sub(r"\\cite.*?\{.*?\}", "", s)
    s = re.sub(r"\\ref\{.*?\}", "", s)
    return " ".join(_CHARS.sub(" ", s).split()).lower()


def word_f1(gold: str, pred: str) -> float:
    """Their ``word_f1``: F1 of the two bags of whitespace-separated words, in [0, 1] (0 when either is empty)."""
    g, p = gold.split(), pred.split()
    tp = sum((Counter(g) & Counter(p)).values())
    precision = tp / len(p) if p else 0
    recall = tp / len(g) if g else 0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0


def _entry(s: str) -> tuple[str, str]:
    key, sep, value = str(s).partition(": ")
    return (key, value) if sep else (key, "")


def record_cell(record: Record, alternatives: Mapping[str, Sequence[str]] | None = None,
                gold: bool = False) -> dict[str, Any]:
    """A record in the authors' cell form, placeholders left out: ``{"type": dataset type, attribute: str | [names]
    | [(name, value), ...]}``.

    Args:
        record: a record of :file:`schemas/mltables.yaml`'s types (a type outside :data:`ATTRIBUTES` becomes
            ``{"type": "Other"}``).
        alternatives: field -> the gold's names of the value (from ``meta["alternatives"]``); replaces the value.
        gold: the gold side: a type outside :data:`TYPES` is kept under its own name (a predicted one becomes
            ``Other``).

    Returns:
        The cell: a non-settings attribute holds the first value's string (several names: a list, gold side); a
        settings attribute the ``(name, value)`` entries of its ``"name: value"`` strings.
    """
    fields = ATTRIBUTES.get(record.type)
    if fields is None:
        return {"type": TYPES.get(record.type, record.type) if gold else "Other"}
    cell: dict[str, Any] = {"type": TYPES[record.type]}
    for name, attr in fields.items():
        values = record.get(name)
        if not values:
            continue
        if attr in FREE_FORM:
            cell[attr] = [_entry(v.value) for v in values]
        elif alternatives and name in alternatives:
            cell[attr] = [str(x) for x in alternatives[name]]
        else:
            cell[attr] = str(values[0].value)
    return cell


def _settings_tp(gold: list[tuple[str, str]], pred: list[tuple[str, str]], metric: str, threshold: float) -> bool:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    g = [process_eval_string(" ".join(kv)) for kv in gold]
    p = [process_eval_string(" ".join(kv)) for kv in pred]
    edges = np.zeros((len(g), len(p)))
    for i, ga in enumerate(g):
        for j, pa in enumerate(p):
            # exact match, as their code: the gold's words against the prediction's characters
            score = int(sorted(set(ga.split())) == sorted(set(pa))) if metric == "exact_match" else word_f1(ga, pa)
            if score > threshold:
                edges[i, j] = 1
    tp = 0
    if edges.size:
        rows, cols = linear_sum_assignment(edges, maximize=True)
        tp = int(edges[rows, cols].sum())
    precision = tp / len(p) if p else 0
    recall = tp / len(g) if g else 0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0
    return f1 >= 0.5


def cell_counts(gold: Mapping[str, Any] | None, pred: Mapping[str, Any] | None, metric: str = "f1",
                threshold: float = 0.25) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` of one cell (their ``get_pair_attribute_result``; with ``pred`` None their
    ``count_valid_attributes`` of the gold as FN, with ``gold`` None of the prediction as FP).

    Args:
        gold, pred: cells in :func:`record_cell`'s form (an absent attribute is a placeholder).
        metric: ``"f1"`` or ``"exact_match"``.
        threshold: the word F1 an attribute needs (their default 0.25).

    Raises:
        ValueError: an unknown metric.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if pred is None:
        return 0, 0, len(gold or {})
    if gold is None:
        return 0, len(pred), 0
    tp = fp = fn = 0
    for attr in set(gold) | set(pred):
        if attr not in pred:
            fn += 1
        elif attr not in gold:
            fp += 1
        elif attr in FREE_FORM:
            p = [kv for kv in pred[attr] if isinstance(kv[1], str)]
            if _settings_tp(list(gold[attr]), p, metric, threshold):
                tp += 1
            else:
                fp, fn = fp + 1, fn + 1
        else:
            names = gold[attr] if isinstance(gold[attr], list) else [gold[attr]]
            names = [process_eval_string(x) for x in names]
            p = process_eval_string(pred[attr])
            ok = p in names if metric == "exact_match" else max(word_f1(g, p) for g in names) >= threshold
            if ok:
                tp += 1
            else:
                fp, fn = fp + 1, fn + 1
    return tp, fp, fn


def _key(r: Record) -> tuple[tuple[int, int] | None, str | None]:
    vs = r.get("value")
    if not vs:
        return None, None
    v = vs[0]
    return ((v.start, v.end) if v.start is not None else None), str(v.value).strip()


def _table_counts(gold: Document, pred: Document | None, metric: str, threshold: float) -> tuple[int, int, int]:
    alts: dict[int, dict[str, list[str]]] = {}
    for i, name, names in gold.meta.get("alternatives") or []:
        alts.setdefault(i, {})[name] = names
    gcells = [(_key(r), record_cell(r, alts.get(i), gold=True)) for i, r in enumerate(gold.records)]
    by_offsets: dict[tuple[int, int], int] = {}
    for i, ((span, _), _) in enumerate(gcells):
        if span is None or span in by_offsets:
            raise ValueError(f"document {gold.id!r}: gold record {i} has no cell offsets or shares its cell's "
                             "offsets with another (the authors' evaluation needs one gold record per cell)")
        by_offsets[span] = i
    precs = list(pred.records) if pred is not None else []
    taken: dict[int, int] = {}
    left = []
    for j, r in enumerate(precs):
        span, _ = _key(r)
        i = by_offsets.get(span) if span is not None else None
        if i is not None and i not in taken:
            taken[i] = j
        else:
            left.append(j)
    unmatched = []
    for j in left:
        _, value = _key(precs[j])
        i = next((i for i, ((_, gv), _) in enumerate(gcells) if i not in taken and gv == value), None)
        if i is None or value is None:
            unmatched.append(j)
        else:
            taken[i] = j
    tp = fp = fn = 0
    for i, (_, gcell) in enumerate(gcells):
        j = taken.get(i)
        c = cell_counts(gcell, None if j is None else record_cell(precs[j]), metric, threshold)
        tp, fp, fn = tp + c[0], fp + c[1], fn + c[2]
    for j in unmatched:
        fp += cell_counts(None, record_cell(precs[j]), metric, threshold)[1]
    return tp, fp, fn


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp > 0 else 0.0
    r = tp / (tp + fn) if tp + fn > 0 else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0}


def mltables_scores(gold_docs: Sequence[Document], pred_docs: Sequence[Document], *, metric: str = "f1",
                    threshold: float = 0.25) -> dict[str, Any]:
    """The authors' attribute-level scores of MlTables predictions (see the module docstring).

    Args:
        gold_docs: gold tables, as :func:`smallext.io.schema_to_json.read_mltables` reads them (one record per gold
            cell, its ``value`` at the cell's offsets; ``meta["alternatives"]`` for several names of a value).
        pred_docs: predicted tables, matched to the gold by document id; a gold table with no predicted document
            has no predicted cell (their code: an empty prediction).
        metric: ``"f1"`` (their default; ``threshold`` applies) or ``"exact_match"``.
        threshold: the word F1 an attribute needs, in [0, 1] (their default 0.25).

    Returns:
        ``{"metric", "threshold", "tables", "tp", "fp", "fn", "micro": {"precision", "recall", "f1"},
        "macro": {...}, "per_table": {doc id: {"tp", "fp", "fn"}}}``; scores in [0, 1] (their printout is x100).

    Raises:
        ValueError: an unknown metric, a predicted document id that no gold document has, or a gold table whose
            records lack cell offsets or share a cell.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    gold_ids = {d.id for d in gold_docs}
    preds = {}
    for d in pred_docs:
        if d.id not in gold_ids:
            raise ValueError(f"predicted document {d.id!r} is not among the gold documents")
        preds[d.id] = d
    per_table = {}
    for g in gold_docs:
        tp, fp, fn = _table_counts(g, preds.get(g.id), metric, threshold)
        per_table[g.id] = {"tp": tp, "fp": fp, "fn": fn}
    tp, fp, fn = (sum(t[k] for t in per_table.values()) for k in ("tp", "fp", "fn"))
    tables = [_prf(t["tp"], t["fp"], t["fn"]) for t in per_table.values()]
    macro = {k: sum(t[k] for t in tables) / len(tables) if tables else 0.0 for k in ("precision", "recall", "f1")}
    return {"metric": metric, "threshold": threshold, "tables": len(per_table), "tp": tp, "fp": fp, "fn": fn,
            "micro": _prf(tp, fp, fn), "macro": macro, "per_table": per_table}
