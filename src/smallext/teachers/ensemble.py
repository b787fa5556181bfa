"""Several teachers combined by per-span voting.

Each member annotates the same documents; a span ``(start, end, label)`` collects the weights of the
members that proposed it. Modes:

* ``majority``: kept when its votes exceed half of the members (weight 1 each);
* ``union``: kept when any member proposed it;
* ``weighted``: each member's weight is its micro F1 on a gold dev set (``ensemble_gold``); kept when the
  weights of its supporters exceed half of the total weight.

A kept span's score is its support (share of the total weight), and its alignment the best of its
supporters' (``exact`` before ``fuzzy``). Relations vote the same way: a relation counts for a member when its
two argument spans (offsets and types) and its label agree, and is kept when it wins the vote and both its
arguments are kept spans. Overlapping kept spans: the higher score wins, then the longer span
(:func:`smallext.doc.non_overlapping`). A document that any member failed on is failed (and retried on the
next run).

Chunks are the first LLM member's (so its calls are the ones it makes alone, and its cached replies are
reused), and the ensemble annotates as many chunks at once as its most concurrent member allows: an LLM
member decodes several chunks in parallel while members that must not run in two threads at once (spaCy,
rules, a student) are called one chunk at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.kinds import KINDS
from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.store import CallCache

__all__ = ["EnsembleOptions", "EnsembleTeacher", "MODES", "MemberLoader", "load_ensemble", "member_weights",
           "split_ensemble"]

EnsembleMode = Literal["majority", "union", "weighted"]
MODES: tuple[str, ...] = get_args(EnsembleMode)


class EnsembleOptions(BaseModel):
    """Options of ``ensemble:`` teachers: the voting, plus any option of a member's kind (each member takes the
    options its kind knows)."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)
    ensemble_mode: EnsembleMode = Field("majority", description="how members vote")
    ensemble_gold: str | list[Document] | None = Field(
        None, description="gold dev set (dataset or file) whose F1 weighs each member in weighted voting")


def split_ensemble(members: str, kinds: Sequence[str]) -> list[str]:
    """Split ``SPEC1,SPEC2`` at commas that start a new spec (``kind:`` for a kind in ``kinds``), so paths may
    contain commas."""
    parts: list[str] = []
    for piece in members.split(","):
        if parts and not any(piece.startswith(f"{k}:") or piece == k for k in kinds):
            parts[-1] += "," + piece
        else:
            parts.append(piece)
    return [p for p in parts if p]


def member_weights(members: Sequence[Teacher], gold: Sequence[Document], schema) -> list[float]:
    """Each member's score on gold documents (the weights of ``weighted`` voting): the evaluation's selection score
    (:func:`~smallext.evaluate.selection_score`: entity micro F1 for a schema with entity types)."""
    from smallext.evaluate import evaluate, selection_score

    gold = schema.map_documents(gold, strict=False)
    out = []
    for m in members:
        preds = list(m.annotate([d.unlabelled() for d in gold]))
        out.append(selection_score(evaluate(gold, preds, n_boot=0, schema=schema)))
    return out


class EnsembleTeacher(Teacher):
    """Vote over member teachers (see module docstring).

    Raises:
        ConfigError: fewer than two members, unknown mode, or ``weighted`` without one weight per member.
    """

    def __init__(self, members: Sequence[Teacher], mode: str = "majority", weights: Sequence[float] | None = None):
        if len(members) < 2:
            raise ConfigError("an ensemble needs at least two teachers")
        if mode not in MODES:
            raise ConfigError(f"ensemble mode must be one of {MODES}, got {mode!r}")
        if mode == "weighted" and (weights is None or len(weights) != len(members)):
            raise ConfigError("weighted voting needs one weight per member (their F1 on a gold dev set)")
        self.members = list(members)
        self.mode = mode
        self.weights = list(weights) if weights is not None else [1.0] * len(members)
        self.spec = "ensemble:" + ",".join(m.spec for m in members)
        self.concurrency = max(m.concurrency for m in self.members)
        self.price_per_mtok = next((m.price_per_mtok for m in self.members if m.price_per_mtok is not None), None)
        # a member that must not run in two threads at once is called under its own lock
        self._locks = [threading.Lock() if m.concurrency <= 1 else nullcontext() for m in self.members]

    def plan(self, docs):
        planner = next((m for m in self.members if hasattr(m, "chunk_chars")), None)
        if planner is not None:
            return planner.plan(docs)
        return [list(docs[i : i + 32]) for i in range(0, len(docs), 32)]

    def annotate_chunk(self, docs: Sequence[Document], cache: CallCache) -> ChunkResult:
        res = ChunkResult()
        union = self.mode == "union"
        span_vote = KINDS["entities"].load("vote")()
        layer_votes = [k.load("vote")() for k in KINDS.values() if k.layer is not None and k.has("vote")]
        for member, w, lock in zip(self.members, self.weights, self._locks, strict=True):
            for chunk in member.plan(docs):
                with lock:
                    r = member.annotate_chunk(chunk, cache)
                res.add_costs(r)
                for d in r.docs:
                    for vote in (span_vote, *layer_votes):
                        vote.add(d, 1.0 if union else w)
        total = len(self.members) if union else sum(self.weights)
        for d in docs:
            if d.id in res.failed:
                continue
            spans = span_vote.spans(d.id, total, union, self.spec)
            layers = {v.field: v.decide(d.id, spans, total, union, self.spec) for v in layer_votes}
            res.docs.append(d.unlabelled().with_spans(spans, **layers))
        return res

    def describe(self):
        return {"teacher": self.spec, "mode": self.mode, "weights": self.weights,
                "members": [m.describe() for m in self.members]}

    def close(self) -> None:
        for m in self.members:
            m.close()


class MemberLoader(Protocol):
    """What the registry gives a composite teacher to build its members with."""

    kinds: Sequence[str]  # the registered teacher kinds

    def __call__(self, spec: str, schema, options: BaseModel) -> Teacher:
        """Load the teacher ``spec`` with the fields of ``options`` that its kind knows."""


def load_ensemble(arg: str, schema, opts: EnsembleOptions, load_member: MemberLoader) -> EnsembleTeacher:
    """The ``ensemble:SPEC1,SPEC2,...`` teacher (the registry's loader): each member is loaded by
    ``load_member`` with the options its kind knows.

    Raises:
        ConfigError: ``weighted`` without ``ensemble_gold``, or a member's error.
    """
    members = [load_member(s, schema, opts) for s in split_ensemble(arg, load_member.kinds)]
    weights = None
    if opts.ensemble_mode == "weighted":
        if opts.ensemble_gold is None:
            raise ConfigError("ensemble_mode 'weighted' needs ensemble_gold: a gold dev set to weigh members by F1")
        from smallext.datasets import load_documents

        weights = member_weights(members, load_documents(opts.ensemble_gold), schema)
    return EnsembleTeacher(members, opts.ensemble_mode, weights)
