"""Repairing labels with their flags before a student trains on them.

For each document, from its :class:`~smallext.quality.errors.Flag` s:

- a given span flagged ``type`` or ``boundary`` with a suggestion, at or above ``fix_above``: replaced by the
  suggestion (retyped, or its edges moved);
- else a given span at or above ``drop_above``: dropped;
- a ``missing`` entity at or above ``add_above``: added, when it overlaps no span kept so far (self-training:
  the students' confident readings fill in what the teacher missed);
- with ``weight``, every kept given span gets ``score = 1 - its error score``, which the student's loss uses
  as the weight of its words (a doubtful span teaches less).

Relations between spans are kept with their spans (:meth:`smallext.doc.Document.map_spans`); a relation loses
its span only when the span is dropped. A span moved to new edges may come to overlap another; the student's
tagger then keeps the first of them (IOB2 cannot hold both). Rounds: :func:`repair` is one round; the quality
stage cross-fits again on the repaired labels for each further round (the "noisy student" loop).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document, Span
from smallext.quality.errors import Flag
from smallext.quality.escalate import EscalateOptions

__all__ = ["QualityOptions", "repair"]


class QualityOptions(BaseModel):
    """The quality stage of a distillation (``quality:`` in the config): find label errors, then repair."""

    model_config = ConfigDict(extra="forbid")
    folds: int = Field(4, ge=2, description="cross-fitting folds")
    epochs: int | None = Field(None, ge=1, description="epochs of each cross-fitted student (default: the "
                                                       "student's)")
    layers: int | None = Field(None, ge=1, description="encoder layers of the cross-fitted students (default: the "
                                                       "student's)")
    anchors: int = Field(100, ge=0, description="gold documents of the teacher's example pool "
                                                "(teacher_options.examples) every cross-fitted student also trains "
                                                "on (0: none)")
    drop_above: float = Field(0.75, ge=0, le=1.01, description="drop a given span whose error score is at least "
                                                               "this")
    fix_above: float = Field(0.65, ge=0, le=1.01, description="retype or move a span to its suggestion from this "
                                                              "score")
    add_above: float = Field(0.8, ge=0, le=1.01, description="add a missing entity whose confidence is at least this")
    weight: bool = Field(True, description="weigh each kept span in the loss by 1 - its error score")
    rounds: int = Field(1, ge=1, le=5, description="find-and-repair rounds (each cross-fits again)")
    seed: int = Field(13, description="fold assignment seed")
    worst: int = Field(50, ge=0, description="documents on the review page")
    escalate: EscalateOptions | None = Field(None, description="label the most doubted documents again with a "
                                                               "second, more expensive teacher first")
    compare: bool = Field(False, description="also train a student on the labels as the teacher gave them, and "
                                             "report its test F1 beside the repaired student's")


def _fix(s: Span, f: Flag | None, opts: QualityOptions, source: str, changes: Counter,
         per_type: dict[str, Counter]) -> Span | None:
    """One given span after its flag: kept (weighted), moved to its suggestion, or dropped (None)."""
    if f is None:
        changes["kept"] += 1
        return s
    if f.kind in ("type", "boundary") and f.suggestion and f.score >= opts.fix_above:
        what = "retyped" if (f.suggestion["start"], f.suggestion["end"]) == (s.start, s.end) else "reshaped"
        changes[what] += 1
        per_type[s.label][what] += 1
        return replace(s, start=f.suggestion["start"], end=f.suggestion["end"], label=f.suggestion["label"],
                       alignment=None, source=source, score=round(f.score, 4) if opts.weight else s.score)
    if f.score >= opts.drop_above:
        changes["dropped"] += 1
        per_type[s.label]["dropped"] += 1
        return None
    changes["kept"] += 1
    return replace(s, score=round(1.0 - f.score, 4)) if opts.weight else s


def repair(docs: Sequence[Document], flags: Sequence[Flag], options: QualityOptions | None = None,
           *, source: str = "quality") -> tuple[list[Document], dict[str, Any]]:
    """Apply the flags to the documents (see the module docstring).

    Returns:
        ``(repaired documents in input order, changes)``; ``changes`` counts ``dropped``, ``retyped``,
        ``reshaped`` (edges moved), ``added`` and ``kept``, overall and per type (``per_type``), and
        ``spans_before``/``spans_after``.
    """
    opts = options or QualityOptions()
    by_doc: dict[str, list[Flag]] = defaultdict(list)
    for f in flags:
        by_doc[f.id].append(f)
    changes: Counter = Counter()
    per_type: dict[str, Counter] = defaultdict(Counter)
    out = []
    for d in docs:
        given = {(f.start, f.end, f.label): f for f in by_doc.get(d.id, []) if f.kind != "missing"}
        fixed = d.map_spans(lambda s, given=given: _fix(s, given.get(s.key), opts, source, changes, per_type))
        spans = list(fixed.spans)
        for f in sorted((f for f in by_doc.get(d.id, []) if f.kind == "missing" and f.score >= opts.add_above),
                        key=lambda f: -f.score):
            if not any(f.start < s.end and s.start < f.end for s in spans):
                spans.append(Span(f.start, f.end, f.label, round(f.score, 4) if opts.weight else None, source))
                changes["added"] += 1
                per_type[f.label]["added"] += 1
        out.append(fixed.with_spans(spans, **fixed.layers) if len(spans) > len(fixed.spans) else fixed)
    before = sum(len(d.spans) for d in docs)
    return out, {**{k: changes[k] for k in ("dropped", "retyped", "reshaped", "added", "kept")},
                 "spans_before": before, "spans_after": sum(len(d.spans) for d in out),
                 "per_type": {t: dict(c) for t, c in sorted(per_type.items())}}
