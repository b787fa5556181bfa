"""Relations between a student's entity spans: candidate pairs, their features, and decoding (torch-free).

The relation classifier follows SpERT (Eberts & Ulges, 2020, "Span-based Joint Entity and Relation Extraction
with Transformer Pre-training", ECAI): a pair of entity spans is represented by the max-pooled encoder states of
its head, of its tail and of the text between them (zeros when they touch), with a learned embedding of each
argument's entity type and of their distance; a small feed-forward network gives one independent probability per
relation type (sigmoid), and a relation is predicted where it passes a threshold. Candidate pairs are the ordered
pairs of a document's entity spans whose types the schema allows for at least one relation type, within one
encoder window of each other (``max_pair_pieces`` word pieces from the first piece of one to the last of the
other); types the schema does not allow for a pair get probability 0.

Training (:mod:`smallext.students.train`) pools from the window's states in torch; inference pools from each
text's piece states (every piece taken from the window that owns it), so both use this module's pair rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from smallext.doc import Document, Span
from smallext.kinds.relations import Relation
from smallext.students.features import EncodedText

__all__ = ["DISTANCE_BUCKETS", "RelationSpec", "distance_bucket", "span_pieces", "span_words", "candidate_pairs",
           "pool_features", "pair_classes", "context_range", "decode_relations", "predict_relations", "RelationRunner"]

_GAPS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
DISTANCE_BUCKETS = 2 * (len(_GAPS) + 1)
"""Distance classes: the number of words between the two arguments (0, 1, 2, 3, 4-5, 6-7, 8-11, 12-15, 16-23,
24-31, 32+ and overlapping), times whether the head comes first."""

RelationRunner = Callable[[dict[str, np.ndarray]], np.ndarray]
"""The relation classifier: feature arrays (``head``, ``tail``, ``context`` (P, H) float32; ``head_type``,
``tail_type``, ``distance`` (P,) int64) -> probabilities (P, n_relation_types) in [0, 1]."""


@dataclass(frozen=True)
class RelationSpec:
    """What a relation student knows of its relation types.

    Attributes:
        labels: relation type names, in the classifier's output order.
        entity_types: the entity type names, in the type embedding's order.
        allowed: (n_entity_types, n_entity_types, n_labels) bool: relation ``r`` may hold with a head of type ``a``
            and a tail of type ``b``.
        symmetric: (n_labels,) bool.
        threshold: probability at or above which a relation is predicted, in (0, 1).
        max_pair_pieces: the furthest apart (in word pieces) two arguments may lie.
    """

    labels: tuple[str, ...]
    entity_types: tuple[str, ...]
    allowed: np.ndarray
    symmetric: np.ndarray
    threshold: float = 0.5
    max_pair_pieces: int = 254

    @classmethod
    def from_types(cls, relation_types: Sequence[dict], entity_types: Sequence[str], threshold: float = 0.5,
                   max_length: int = 256) -> RelationSpec:
        """From ``[{"name", "head": [...], "tail": [...], "symmetric"}]`` (a schema's relation types as dicts), for a
        student whose windows hold ``max_length`` word pieces with [CLS] and [SEP]: its arguments may lie at most
        ``max_length - 2`` pieces apart (one window)."""
        index = {t: i for i, t in enumerate(entity_types)}
        allowed = np.zeros((len(entity_types), len(entity_types), len(relation_types)), dtype=bool)
        for r, rt in enumerate(relation_types):
            for h in rt["head"]:
                for t in rt["tail"]:
                    if h in index and t in index:
                        allowed[index[h], index[t], r] = True
                        if rt.get("symmetric"):
                            allowed[index[t], index[h], r] = True
        return cls(tuple(rt["name"] for rt in relation_types), tuple(entity_types), allowed,
                   np.array([bool(rt.get("symmetric")) for rt in relation_types]), threshold, max_length - 2)


def distance_bucket(gap_words: int, head_first: bool) -> int:
    """Distance class (see :data:`DISTANCE_BUCKETS`) of two arguments ``gap_words`` words apart (-1: they
    overlap)."""
    k = len(_GAPS) if gap_words < 0 else int(np.searchsorted(_GAPS, gap_words, side="right")) - 1
    return k + (0 if head_first else len(_GAPS) + 1)


def span_words(enc: EncodedText, span: Span) -> tuple[int, int]:
    """``[first, last)`` word indices of the words overlapping ``span`` (empty range ``(k, k)`` if none)."""
    idx = np.nonzero((enc.words[:, 0] < span.end) & (enc.words[:, 1] > span.start))[0]
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)


def span_pieces(enc: EncodedText, span: Span) -> tuple[int, int]:
    """``[first, last)`` word-piece indices of the pieces overlapping ``span`` (``(0, 0)`` if none)."""
    idx = np.nonzero((enc.offsets[:, 0] < span.end) & (enc.offsets[:, 1] > span.start))[0]
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)


def candidate_pairs(spans: Sequence[Span], pieces: Sequence[tuple[int, int]], spec: RelationSpec
                    ) -> list[tuple[int, int]]:
    """Ordered pairs ``(head, tail)`` of span indices that may hold a relation: two different spans with pieces,
    whose types the schema allows for some relation type, at most ``spec.max_pair_pieces`` pieces apart."""
    index = {t: i for i, t in enumerate(spec.entity_types)}
    ok = spec.allowed.any(axis=2)
    out = []
    for i, a in enumerate(spans):
        for j, b in enumerate(spans):
            if i == j or a.label not in index or b.label not in index or not ok[index[a.label], index[b.label]]:
                continue
            (s1, e1), (s2, e2) = pieces[i], pieces[j]
            if e1 <= s1 or e2 <= s2 or max(e1, e2) - min(s1, s2) > spec.max_pair_pieces:
                continue
            out.append((i, j))
    return out


def pair_classes(spans: Sequence[Span], words: Sequence[tuple[int, int]], pairs: Sequence[tuple[int, int]],
                 spec: RelationSpec) -> dict[str, np.ndarray]:
    """``head_type``, ``tail_type`` (entity type ids) and ``distance`` (distance class), (P,) int64 each, of
    ``pairs`` of spans whose word ranges are ``words``."""
    index = {t: i for i, t in enumerate(spec.entity_types)}
    n = len(pairs)
    htype, ttype, dist = (np.zeros(n, np.int64) for _ in range(3))
    for k, (i, j) in enumerate(pairs):
        htype[k], ttype[k] = index[spans[i].label], index[spans[j].label]
        (w1, x1), (w2, x2) = words[i], words[j]
        gap = -1 if (w1 < x2 and w2 < x1) else max(w2 - x1, w1 - x2)
        dist[k] = distance_bucket(gap, w1 <= w2)
    return {"head_type": htype, "tail_type": ttype, "distance": dist}


def context_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """The pieces strictly between two piece ranges (empty when they touch or overlap)."""
    return min(a[1], b[1]), max(a[0], b[0])


def pool_features(hidden: np.ndarray, spans: Sequence[Span], pieces: Sequence[tuple[int, int]],
                  words: Sequence[tuple[int, int]], pairs: Sequence[tuple[int, int]], spec: RelationSpec
                  ) -> dict[str, np.ndarray]:
    """Feature arrays of the :data:`RelationRunner` for ``pairs`` of one text.

    Args:
        hidden: (n_pieces, H) the text's encoder states.
        spans, pieces, words: the text's spans with their piece and word ranges.
        pairs: ``(head, tail)`` span indices.
    """
    n, h = len(pairs), hidden.shape[1]
    head, tail, ctx = (np.zeros((n, h), np.float32) for _ in range(3))
    for k, (i, j) in enumerate(pairs):
        (s1, e1), (s2, e2) = pieces[i], pieces[j]
        head[k] = hidden[s1:e1].max(axis=0)
        tail[k] = hidden[s2:e2].max(axis=0)
        lo, hi = context_range(pieces[i], pieces[j])
        if hi > lo:
            ctx[k] = hidden[lo:hi].max(axis=0)
    return {"head": head, "tail": tail, "context": ctx, **pair_classes(spans, words, pairs, spec)}


def decode_relations(probs: np.ndarray, pairs: Sequence[tuple[int, int]], types: Sequence[tuple[int, int]],
                     spec: RelationSpec, source: str | None = None) -> list[Relation]:
    """Relations from (P, R) probabilities of ``pairs`` whose entity type ids are ``types``: those at or above the
    threshold and allowed for the pair's types; a symmetric type keeps one direction (the more probable; the
    earlier head on a tie). Scores are rounded to 4 decimals."""
    best: dict[tuple, tuple[float, int, int]] = {}
    for k, (i, j) in enumerate(pairs):
        a, b = types[k]
        for r in np.nonzero((probs[k] >= spec.threshold) & spec.allowed[a, b])[0].tolist():
            p = float(probs[k, r])
            key = (r, min(i, j), max(i, j)) if spec.symmetric[r] else (r, i, j)
            if key not in best or p > best[key][0]:
                best[key] = (p, i, j)
    return [Relation(i, j, spec.labels[r], round(p, 4), source)
            for (r, *_), (p, i, j) in sorted(best.items(), key=lambda kv: (kv[1][1], kv[1][2], kv[0][0]))]


def predict_relations(docs: Sequence[Document], encoded: Sequence[EncodedText], piece_hidden: Sequence[np.ndarray],
                      run: RelationRunner, spec: RelationSpec, *, source: str | None = None,
                      batch_pairs: int = 4096) -> list[Document]:
    """Documents with relations between their (predicted) spans.

    Args:
        docs: documents with spans (the entity student's output).
        encoded: their :func:`~smallext.students.features.encode` results; piece_hidden: (n_pieces, H) each.
        run: the relation classifier; ``batch_pairs`` pairs per call.

    Returns:
        Copies of ``docs`` with ``relations`` (their previous relations are replaced).
    """
    feats, where = [], []
    for d, enc, hid in zip(docs, encoded, piece_hidden, strict=True):
        pieces = [span_pieces(enc, s) for s in d.spans]
        words = [span_words(enc, s) for s in d.spans]
        pairs = candidate_pairs(d.spans, pieces, spec)
        where.append(pairs)
        if pairs:
            feats.append(pool_features(hid, d.spans, pieces, words, pairs, spec))
    probs_all = np.zeros((0, len(spec.labels)), np.float32)
    if feats:
        keys = feats[0].keys()
        cat = {k: np.concatenate([f[k] for f in feats]) for k in keys}
        n = len(cat["head"])
        probs_all = np.concatenate([run({k: v[lo:lo + batch_pairs] for k, v in cat.items()})
                                    for lo in range(0, n, batch_pairs)])
        types_all = np.stack([cat["head_type"], cat["tail_type"]], axis=1)
    out, at = [], 0
    for d, pairs in zip(docs, where, strict=True):
        n = len(pairs)
        rels = decode_relations(probs_all[at:at + n], pairs, [tuple(t) for t in types_all[at:at + n].tolist()],
                                spec, source) if n else []
        at += n
        out.append(d.replace(relations=rels))
    return out
