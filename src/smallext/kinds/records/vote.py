"""How an ensemble of teachers votes on records (:class:`~smallext.teachers.ensemble.EnsembleTeacher`): per
field.

Each member's records of a document are grouped with the other members' records of the same type that they
share most values with (one record per member in a group, greedily in the members' order: KIEval's one-to-one
record matching, without the exact optimum); a group is kept when more than half of the members' weight
proposes it (every group in ``union`` mode). Within a kept group each field's values vote: a value (compared as
values, :func:`~smallext.kinds.records.normalize.value_key`) is kept when more than half of the total weight
gives it; a field that no member gave more than one value keeps only its best-voted value. A kept value is the
first member's instance of it that has offsets (else the first), its score the vote share.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from smallext.doc import Document, Span
from smallext.kinds.records.document import Record
from smallext.kinds.records.normalize import value_key

__all__ = ["RecordVote"]


@dataclass
class _Group:
    type: str
    members: set[int] = field(default_factory=set)
    weight: float = 0.0
    values: dict[str, dict] = field(default_factory=lambda: defaultdict(dict))  # field -> key -> [weight, Value]
    multi: set[str] = field(default_factory=set)  # fields some member gave several values

    def keys(self) -> set[tuple]:
        return {(f, k) for f, vs in self.values.items() for k in vs}


class RecordVote:
    """The ballot box of records, per document (the records kind's ``vote`` part)."""

    field = "records"

    def __init__(self) -> None:
        self.groups: dict[str, list[_Group]] = defaultdict(list)
        self.members: dict[str, int] = defaultdict(int)

    def add(self, doc: Document, weight: float) -> None:
        """One member's records of ``doc``, with the member's ``weight`` (1 in union mode)."""
        member = self.members[doc.id]
        self.members[doc.id] += 1
        for r in doc.records:
            keys = {(f, value_key(v.value)) for f, v in r.values()}
            free = [g for g in self.groups[doc.id] if g.type == r.type and member not in g.members]
            best = max(free, key=lambda g: len(g.keys() & keys), default=None)
            if best is None or not (best.keys() & keys):
                best = _Group(r.type)
                self.groups[doc.id].append(best)
            best.members.add(member)
            best.weight += weight
            for f, vs in r.fields.items():
                if len(vs) > 1:
                    best.multi.add(f)
                for v in vs:
                    slot = best.values[f].setdefault(value_key(v.value), [0.0, v])
                    slot[0] += weight
                    if slot[1].start is None and v.start is not None:
                        slot[1] = v

    def decide(self, doc_id: str, spans: list[Span], total: float, union: bool, source: str) -> list[Record]:
        """The kept records of a document (``spans`` unused: records carry their own offsets)."""
        out = []
        for g in self.groups[doc_id]:
            if not (union or g.weight > total / 2):
                continue
            fields = {}
            for f, votes in g.values.items():
                ranked = sorted(votes.values(), key=lambda s: -s[0])
                kept = [(w, v) for w, v in ranked if union or w > total / 2]
                if f not in g.multi:
                    kept = kept[:1]
                if kept:
                    fields[f] = tuple(replace(v, score=round(w / total, 4)) for w, v in kept)
            if fields:
                out.append(Record(g.type, fields, round(g.weight / total, 4), source))
        return out
