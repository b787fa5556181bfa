"""Evaluation: precision, recall and F1 (strict match) per kind of output, each kind's scorer a section.

:func:`evaluate` aligns gold and predicted documents by id and lets each kind of output the schema (or the data)
has score them (:mod:`smallext.kinds`: ``kinds/<kind>/scorer.py``). The entity scores are the ``entities`` section
and, for one release, also the top level of the result (the documented alias older readers use); ``selection``
names the score that represents the whole result (the best epoch, ensemble weights and review rounds use it:
:func:`selection_score`).

A predicted span counts as correct only when its ``(start, end, label)`` equals a gold span's (exact
boundaries and type), the CoNLL-2000/2003 shared-task measure (Tjong Kim Sang & De Meulder, 2003). On
IOB2 token sequences it agrees with ``seqeval``'s default mode.

Scores are reported micro-averaged (over all spans), per entity type, and macro-averaged (unweighted mean
of the per-type scores over the types present in gold or predictions; with ``labels``, those of them in
``labels``). A type named in ``labels`` but absent from both sides is listed per type with zero counts and
left out of the macro average: it has no score to average, not a score of zero. Micro F1 also gets a 95% confidence
interval from a document-level percentile bootstrap (Efron & Tibshirani, 1993; Koehn, 2004 for its use in
NLP): documents are resampled with replacement and micro F1 recomputed.

Every other kind's scorer documents its own section (the relations kind's: strict and boundaries settings,
:mod:`smallext.kinds.relations.scorer`). :class:`Evaluation` is the typed form of a result: each kind's section is
validated into the model its kind registers (its ``scores`` part), and readers use
``Evaluation.model_validate(result)`` and attributes rather than string keys.

JSON form::

    {"entities": {"micro", "macro", "per_type", "support"},          # the entities kind's section
     "selection": {"kind": "entities", "score": 0.87},                # the score that represents the result
     "micro": {"precision", "recall", "f1", "ci95": [lo, hi], "tp", "fp", "fn"},
     "macro": {"precision", "recall", "f1"},
     "per_type": {"PER": {"precision", "recall", "f1", "tp", "fp", "fn", "support"}},
     "support": {"PER": 1617, ...}, "documents": 3453,
     "relations": {"strict": {"micro": {...}, "macro": {...}, "per_type": {...}},
                   "boundaries": {...}}}          # each other kind's section, when it has one
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from smallext.doc import Document
from smallext.errors import SmallextError
from smallext.kinds import KINDS

__all__ = ["CountedScores", "Evaluation", "MicroScores", "Scores", "Scoring", "Selection", "TypeScores", "align",
           "counted_scores", "evaluate", "prf", "render_table", "sections", "selection_score", "slim", "summary"]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; each is 0.0 when its denominator is 0."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


class Scores(BaseModel):
    """Precision, recall and F1, each in [0, 1] (0.0 when its denominator is 0)."""

    model_config = ConfigDict(extra="forbid")

    precision: float
    recall: float
    f1: float


class TypeScores(Scores):
    """One type's scores and counts; ``support`` is its gold count (``tp + fn``)."""

    tp: int
    fp: int
    fn: int
    support: int


class MicroScores(Scores):
    """Scores over every item, with the document-bootstrap 95% interval of F1 (``[0.0, 0.0]`` without resamples)."""

    ci95: list[float]
    tp: int
    fp: int
    fn: int


class CountedScores(BaseModel):
    """What :func:`counted_scores` returns, the building block of every kind's section: ``micro``, ``macro`` (the
    unweighted mean over the types present) and ``per_type``."""

    model_config = ConfigDict(extra="forbid")

    micro: MicroScores
    macro: Scores
    per_type: dict[str, TypeScores]


class Selection(BaseModel):
    """The score that represents an evaluation: the ``primary`` score of the ``kind`` section it comes from."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    score: float


_ALIAS = ("micro", "macro", "per_type", "support")
"""The entities section's keys, also at the top level of a result (the documented alias, for one release)."""


class Evaluation(BaseModel):
    """An :func:`evaluate` result: ``documents``, ``selection`` and one section per kind of output scored.

    A kind's section is an attribute named for the kind (``ev.entities``, ``ev.relations``; :meth:`section` names it
    by a string) and is validated into the model its kind registers as its ``scores`` part
    (:class:`smallext.kinds.entities.report.EntityScores`, :class:`smallext.kinds.relations.report.RelationScores`);
    the section of a kind without one, or of a kind not registered, is kept as it came. The JSON dump has the entity
    scores at the top level too (the alias) and keys in the order :func:`evaluate` has always written them.

    Results written before sections existed (entity scores at the top level only, no ``selection``) validate too:
    their top level is the entities section and their selection its micro F1.
    """

    model_config = ConfigDict(extra="allow")

    documents: int
    selection: Selection

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        alias = {k: data.pop(k) for k in _ALIAS if k in data}
        if "entities" not in data and "micro" in alias:  # written before sections: the top level is the section
            data["entities"] = alias
        out: dict[str, Any] = {"documents": data.pop("documents", None)}
        selection = data.pop("selection", None)
        for name, section in data.items():
            kind = KINDS.get(name)
            out[name] = (kind.load("scores").model_validate(section)
                         if kind is not None and kind.has("scores") and section is not None else section)
        if selection is None and "entities" in data:  # written before sections: entity micro F1 represented it
            raw = data["entities"]
            raw = raw.model_dump() if isinstance(raw, BaseModel) else raw
            selection = {"kind": "entities", "score": KINDS["entities"].load("primary")(raw)}
        out["selection"] = selection
        return out

    def section(self, kind: str) -> Any:
        """The section of the kind called ``kind`` (its ``scores`` model), or None when the result has none."""
        return (self.__pydantic_extra__ or {}).get(kind)

    @property
    def sections(self) -> dict[str, Any]:
        """Kind name -> its section, in the result's order."""
        return dict(self.__pydantic_extra__ or {})

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        entities = data.get("entities")
        alias = {k: entities[k] for k in _ALIAS if k in entities} if isinstance(entities, dict) else {}
        rest = {k: v for k, v in data.items() if k not in ("documents", "selection")}
        return {**alias, "documents": data["documents"], **rest, "selection": data["selection"]}


@dataclass
class Scoring:
    """What every kind's scorer is given beside the aligned pairs.

    Attributes:
        schema: the schema the documents follow (its symmetric relation types, ...), or None.
        labels: kind name -> the only type names to score for that kind (others ignored on both sides).
        n_boot: bootstrap resamples for the micro-F1 95% interval (0 disables it).
        seed: random seed of the bootstrap.
        symmetric: relation types that match in either direction besides the schema's.
    """

    schema: Any = None
    labels: dict[str, Sequence[str] | None] = field(default_factory=dict)
    n_boot: int = 1000
    seed: int = 0
    symmetric: Sequence[str] = ()


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


def counted_scores(per_doc: Iterable[tuple[Counter, Counter, Counter]], n_docs: int, labels: Sequence[str] | None,
                   ctx: Scoring) -> dict[str, Any]:
    """Micro (with its document-bootstrap interval), macro and per-type scores from each document's per-type
    ``(tp, fp, fn)`` counters: what every kind's scorer reports. With ``labels`` only those types count, and each of
    them is listed even when absent from both sides (left out of the macro average: it has no score)."""
    keep = set(labels) if labels is not None else None
    tp, fp, fn = Counter(), Counter(), Counter()
    sums = np.zeros((n_docs, 3), dtype=np.int64)
    for i, (dtp, dfp, dfn) in enumerate(per_doc):
        if keep is not None:
            dtp, dfp, dfn = (Counter({k: v for k, v in c.items() if k in keep}) for c in (dtp, dfp, dfn))
        tp += dtp
        fp += dfp
        fn += dfn
        sums[i] = (sum(dtp.values()), sum(dfp.values()), sum(dfn.values()))
    return _scores(tp, fp, fn, sums, set(tp) | set(fp) | set(fn) | (keep or set()), ctx.n_boot, ctx.seed)


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
    schema: Any = None,
    kind_labels: dict[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Scores of ``pred`` against ``gold``: one section per kind of output (see the module docstring).

    Args:
        gold: gold documents.
        pred: predictions for the same documents (matched by id; texts must be identical).
        subset: evaluate only the gold documents that have a prediction (see :func:`align`).
        n_boot: bootstrap resamples for the micro-F1 95% interval (0 disables it).
        seed: random seed of the bootstrap.
        labels: restrict the entity scores to these entity types (others are ignored on both sides).
        relation_labels: restrict the relation scores to these relation types; given, relation scores are
            reported even when neither side has a relation.
        symmetric: relation types that match in either direction (besides the schema's symmetric ones).
        schema: the documents' schema: each kind it declares is scored even when neither side has an item of it.
        kind_labels: kind name -> type names, for kinds other than entities and relations.

    Returns:
        The JSON-ready dict described in the module docstring, the dump of an :class:`Evaluation` (read one back
        with ``Evaluation.model_validate(result)``). All scores are in [0, 1]. A kind with nothing to score (not in
        the schema, no item on either side) has no section; so has entities for a schema of other kinds only
        (records) when no span is on either side (and then no top-level alias).

    Raises:
        SmallextError: mismatched documents (see :func:`align`).
    """
    pairs = align(gold, pred, subset=subset)
    wanted = {"entities": labels, **(kind_labels or {})}
    if relation_labels is not None:
        wanted["relations"] = relation_labels
    ctx = Scoring(schema, wanted, n_boot, seed, list(symmetric))
    sections: dict[str, Any] = {}
    for name, kind in KINDS.items():
        if kind.has("scorer"):
            section = kind.load("scorer")(pairs, ctx)
            if section is not None:
                sections[name] = section
    entities = sections.pop("entities")
    declared = [k for k in KINDS if k in sections and (schema is None or KINDS[k].declared(schema))]
    first = "entities" if schema is None or KINDS["entities"].declared(schema) or not declared else declared[0]
    selected = entities if first == "entities" else sections[first]
    m = entities["micro"]
    if first != "entities" and labels is None and not (m["tp"] or m["fp"] or m["fn"]):
        entities = None  # a schema of other kinds only (records), and no span on either side: no entity section
    result = Evaluation.model_validate({
        "documents": len(pairs), **({"entities": entities} if entities is not None else {}), **sections,
        "selection": {"kind": first, "score": KINDS[first].load("primary")(selected)}})
    return result.model_dump()  # the typed contract's JSON form: the entities alias at the top level, then the rest


def sections(result: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """``[(kind, its section), ...]`` of an :func:`evaluate` result, in registration order (results written before
    sections existed: their top level is the entities section)."""
    out = []
    for name, kind in KINDS.items():
        section = result.get(name)
        if section is None and name == "entities" and "micro" in result:
            section = result
        if section is not None:
            out.append((kind, section))
    return out


def summary(result: dict[str, Any]) -> str:
    """One line for a terminal: each kind's headline score (``micro F1 0.8123, relation strict micro F1 0.5123``)."""
    return ", ".join(kind.load("summary")(s) for kind, s in sections(result) if kind.has("summary"))


def selection_score(result: dict[str, Any] | Evaluation) -> float:
    """The score that represents an :func:`evaluate` result (its ``selection``; entity micro F1 in results written
    before sections existed). A dict is read as it is, not validated: model cards of earlier releases keep slimmed
    results whose shape no release checked."""
    if isinstance(result, Evaluation):
        return result.selection.score
    sel = result.get("selection")
    return sel["score"] if sel else result["micro"]["f1"]


def slim(result: dict[str, Any]) -> dict[str, Any]:
    """An :func:`evaluate` result without its ``support`` tables (the per-type entries keep theirs): what model
    cards, ``config.json`` and benchmark files store."""
    out = {k: v for k, v in result.items() if k != "support"}
    if isinstance(out.get("entities"), dict):
        out["entities"] = {k: v for k, v in out["entities"].items() if k != "support"}
    return out


def render_table(result: dict[str, Any] | Evaluation, title: str = "Entity-level scores (strict match)"):
    """A :class:`rich.table.Table` of per-type, micro and macro entity scores from :func:`evaluate`'s result: the
    entities kind's ``table`` part (:func:`smallext.kinds.entities.report.table`), kept here for its callers."""
    ev = Evaluation.model_validate(result)
    return KINDS["entities"].load("table")(ev.section("entities"), ev.documents, title=title)[0]
