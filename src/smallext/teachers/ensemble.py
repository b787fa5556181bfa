"""Several teachers combined by per-span voting.

Each member annotates the same documents; a span ``(start, end, label)`` collects the weights of the
members that proposed it. Modes:

* ``majority``: kept when its votes exceed half of the members (weight 1 each);
* ``union``: kept when any member proposed it;
* ``weighted``: each member's weight is its micro F1 on a gold dev set; kept when the weights of its
  supporters exceed half of the total weight.

A kept span's score is its support (share of the total weight). Overlapping kept spans: the higher score
wins, then the longer span. A document that any member failed on is failed (and retried on the next run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from smallext.doc import Document, Span
from smallext.errors import ConfigError
from smallext.teachers.base import ChunkResult, Teacher

MODES = ("majority", "union", "weighted")


def member_weights(members: Sequence[Teacher], gold: Sequence[Document], schema) -> list[float]:
    """Micro F1 of each member on gold documents (the weights of ``weighted`` voting)."""
    from smallext.evaluate import evaluate

    gold = schema.map_documents(gold, strict=False)
    out = []
    for m in members:
        preds = list(m.annotate([d.without_spans() for d in gold]))
        out.append(evaluate(gold, preds, n_boot=0)["micro"]["f1"])
    return out


class EnsembleTeacher(Teacher):
    """Vote over member teachers (see module docstring).

    Raises:
        ConfigError: fewer than two members, unknown mode, or ``weighted`` without one weight per member.
    """

    def __init__(self, members: Sequence[Teacher], mode: str = "majority", weights: Sequence[float] | None = None):
        super().__init__()
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

    @property
    def cache(self):
        return self._cache

    @cache.setter
    def cache(self, value) -> None:
        self._cache = value
        for m in getattr(self, "members", []):
            m.cache = value

    def plan(self, docs):
        """The chunks of the first member that groups documents by itself (an LLM teacher: so its calls
        are the ones it makes alone, and its cached replies are reused), else 32 documents per chunk."""
        planner = next((m for m in self.members if hasattr(m, "chunk_chars")), None)
        if planner is not None:
            return planner.plan(docs)
        return [list(docs[i : i + 32]) for i in range(0, len(docs), 32)]

    def annotate_chunk(self, docs: Sequence[Document]) -> ChunkResult:
        res = ChunkResult()
        votes: dict[str, dict[tuple[int, int, str], float]] = {d.id: defaultdict(float) for d in docs}
        for member, w in zip(self.members, self.weights, strict=True):
            for chunk in member.plan(docs):
                r = member.annotate_chunk(chunk)
                res.failed.update(r.failed)
                res.stats += r.stats
                res.tokens_in += r.tokens_in
                res.tokens_out += r.tokens_out
                res.calls += r.calls
                res.cache_hits += r.cache_hits
                for d in r.docs:
                    for s in {s.key for s in d.spans}:
                        votes[d.id][s] += w if self.mode != "union" else 1.0
        total = sum(self.weights) if self.mode != "union" else len(self.members)
        for d in docs:
            if d.id in res.failed:
                continue
            cands = []
            for (a, b, lab), v in votes[d.id].items():
                if self.mode == "union" or v > total / 2:
                    cands.append((a, b, lab, v / total))
            kept: list[tuple[int, int, str, float]] = []
            for c in sorted(cands, key=lambda c: (-c[3], -(c[1] - c[0]), c[0])):
                if not any(c[0] < k[1] and k[0] < c[1] for k in kept):
                    kept.append(c)
            res.docs.append(d.with_spans([Span(a, b, lab, round(sc, 4), self.spec) for a, b, lab, sc in kept]))
        return res

    def describe(self):
        return {"teacher": self.spec, "mode": self.mode, "weights": self.weights,
                "members": [m.describe() for m in self.members]}

    def close(self) -> None:
        for m in self.members:
            m.close()


__all__ = ["EnsembleTeacher", "member_weights", "MODES"]
