"""The relations kind's student head: a classifier of pairs of the student's entity spans.

The relation classifier follows SpERT (Eberts & Ulges, 2020, "Span-based Joint Entity and Relation Extraction
with Transformer Pre-training", ECAI): a pair of entity spans is represented by the max-pooled encoder states of
its head, of its tail and of the text between them (zeros when they touch), with a learned embedding of each
argument's entity type and of their distance; a small feed-forward network gives one independent probability per
relation type (sigmoid), and a relation is predicted where it passes a threshold. Candidate pairs are the ordered
pairs of a document's entity spans whose types the schema allows for at least one relation type, within one
encoder window of each other (``max_pair_pieces`` word pieces from the first piece of one to the last of the
other); types the schema does not allow for a pair get probability 0.

Training is joint with the entity tagger, on the same encoder: each step adds the binary cross-entropy of every
candidate pair of gold entity spans in the batch's windows (all pairs with a relation, and at most
``relation_negatives`` pairs without one per window, drawn anew each epoch), summed over relation types and
averaged over pairs. Its dev score is the strict relation micro F1 (added to the entity F1 to choose the best
epoch). Training pools from the window's states in torch; inference pools from each text's piece states (every
piece taken from the window that owns it), so both use this module's pair rules.

The package adds ``relation.onnx`` (the classifier in fp32, over pooled states: :func:`export_relation_onnx`) and
the keys ``relation_types`` and ``relation_threshold`` to ``config.json``. Importing this module never imports
torch (the torch parts are imported when training or exporting).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document, Span
from smallext.errors import ConfigError
from smallext.kinds.relations.document import Relation
from smallext.students.features import EncodedText, Window
from smallext.students.head import Decoding, DevScore, Head
from smallext.students.package import StudentConfig

__all__ = ["DISTANCE_BUCKETS", "HEAD", "RELATION_INPUTS", "RelationEntries", "RelationRunner", "RelationSpec",
           "RelationStudentHead", "RelationTypeEntry", "candidate_pairs", "context_range", "decode_relations",
           "distance_bucket", "export_relation_onnx", "pair_classes", "pool_features", "predict_relations",
           "span_pieces", "span_words"]

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


# ---- the head's keys in config.json -----------------------------------------------------------------------------

class RelationTypeEntry(BaseModel):
    """One relation type as a packaged student knows it (a schema's relation type, less its prose)."""

    model_config = ConfigDict(extra="ignore")
    name: str
    head: list[str]
    tail: list[str]
    symmetric: bool = False


class RelationEntries(BaseModel):
    """The relation head's keys in ``config.json`` (an entity-only student has no relation types)."""

    model_config = ConfigDict(extra="ignore")
    relation_types: list[RelationTypeEntry] = Field(default_factory=list)
    relation_threshold: float | None = Field(None, description="None: the training option's (a checkpoint's)")


# ---- the torch module, its ONNX export and its torch runner ----------------------------------------------------

RELATION_INPUTS = ["head", "tail", "context", "head_type", "tail_type", "distance"]
"""The relation classifier's inputs (see :data:`RelationRunner`)."""


@functools.cache
def _torch_classes() -> tuple[type, type]:
    """The torch module classes (defined on first use, so that importing this module never imports torch)."""
    import torch
    from torch import nn

    class RelationClassifier(nn.Module):
        """SpERT-style relation classifier (Eberts & Ulges, 2020): ``[head; tail; context; type(head); type(tail);
        distance]`` -> a hidden layer -> one logit per relation type.

        Inputs: ``head``, ``tail``, ``context`` (P, H) float pooled encoder states; ``head_type``, ``tail_type``
        (P,) entity type ids; ``distance`` (P,) distance classes. Output: logits (P, n_relation_types) (or, with
        ``probs``, sigmoid probabilities).
        """

        def __init__(self, hidden: int, n_entity_types: int, n_relation_types: int, dropout: float = 0.1,
                     type_dim: int = 32) -> None:
            super().__init__()
            self.types = nn.Embedding(n_entity_types, type_dim)
            self.distance = nn.Embedding(DISTANCE_BUCKETS, type_dim)
            self.ffn = nn.Sequential(nn.Linear(3 * hidden + 3 * type_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, n_relation_types))
            self.dropout = nn.Dropout(dropout)

        def forward(self, head, tail, context, head_type, tail_type, distance, probs: bool = False):
            x = torch.cat([head, tail, context, self.types(head_type), self.types(tail_type),
                           self.distance(distance)], dim=-1)
            logits = self.ffn(self.dropout(x))
            return torch.sigmoid(logits) if probs else logits

    class Probs(nn.Module):
        """The classifier's sigmoid probabilities (what the ONNX export traces)."""

        def __init__(self, head: RelationClassifier) -> None:
            super().__init__()
            self.head = head

        def forward(self, head, tail, context, head_type, tail_type, distance):
            return self.head(head, tail, context, head_type, tail_type, distance, probs=True)

    return RelationClassifier, Probs


def relation_classifier(hidden: int, n_entity_types: int, n_relation_types: int, dropout: float = 0.1):
    """A new relation classifier (a ``torch.nn.Module``; see :func:`_torch_classes`)."""
    return _torch_classes()[0](hidden, n_entity_types, n_relation_types, dropout=dropout)


def export_relation_onnx(model, path: str | Path, opset: int = 17) -> Path:
    """Export the student's relation classifier (sigmoid probabilities, fp32) to ONNX with a dynamic pair axis:
    inputs :data:`RELATION_INPUTS`, output ``probs`` (pairs, n_relation_types). It is a few hundred thousand
    weights, so it stays fp32. Returns ``path``."""
    import warnings

    import torch

    path = Path(path)
    head = model.relations.to("cpu").eval()
    h = model.encoder.config.hidden_size
    args = (torch.zeros(2, h), torch.zeros(2, h), torch.zeros(2, h), torch.zeros(2, dtype=torch.long),
            torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_torch_classes()[1](head), args, str(path), input_names=RELATION_INPUTS,
                          output_names=["probs"], dynamic_axes={k: {0: "pairs"} for k in [*RELATION_INPUTS, "probs"]},
                          opset_version=opset, dynamo=False)
    return path


def torch_relation_runner(model) -> RelationRunner:
    """A :data:`RelationRunner` over the student's relation classifier (no grad)."""
    import torch

    device = next(model.parameters()).device

    def run(feats):
        model.eval()
        with torch.inference_mode():
            out = model.relations(*(torch.from_numpy(feats[k]).to(device) for k in RELATION_INPUTS), probs=True)
        return out.float().cpu().numpy()

    return run


# ---- training targets and loss ---------------------------------------------------------------------------------

@dataclass
class WindowPairs:
    """The gold entity pairs of one training window: piece ranges in window coordinates ([CLS] is 0), classes
    and (P, R) multi-hot relation labels; ``positive`` marks pairs with a relation."""

    ranges: np.ndarray  # (P, 6) head, tail, context [start, end)
    classes: dict[str, np.ndarray]
    labels: np.ndarray
    positive: np.ndarray


def window_pairs(wins: Sequence[Window], encoded: Sequence[EncodedText], docs: Sequence[Document],
                 spec: RelationSpec) -> list[WindowPairs | None]:
    """Candidate pairs of gold spans for each window: both arguments inside it, the head's first piece owned by
    it (so a pair is trained once), with their gold relation labels (both directions for a symmetric type)."""
    rindex = {r: k for k, r in enumerate(spec.labels)}
    per_text = []
    for d, enc in zip(docs, encoded, strict=True):
        d = d.map_spans(lambda s: s if s.label in spec.entity_types else None)  # relations follow their spans
        spans = d.spans
        pieces = [span_pieces(enc, s) for s in spans]
        gold: dict[tuple[int, int], set[int]] = {}
        for r in d.relations:
            if r.label in rindex:
                gold.setdefault((r.head, r.tail), set()).add(rindex[r.label])
                if spec.symmetric[rindex[r.label]]:
                    gold.setdefault((r.tail, r.head), set()).add(rindex[r.label])
        per_text.append((spans, pieces, [span_words(enc, s) for s in spans], gold))
    out: list[WindowPairs | None] = []
    for w in wins:
        spans, pieces, words, gold = per_text[w.text_index]
        pairs = [(i, j) for i, j in candidate_pairs(spans, pieces, spec)
                 if w.own_start <= pieces[i][0] < w.own_end
                 and min(pieces[i][0], pieces[j][0]) >= w.start and max(pieces[i][1], pieces[j][1]) <= w.end]
        if not pairs:
            out.append(None)
            continue
        shift = 1 - w.start
        ranges = np.array([[*pieces[i], *pieces[j], *context_range(pieces[i], pieces[j])] for i, j in pairs]) + shift
        labels = np.zeros((len(pairs), len(spec.labels)), np.float32)
        for k, p in enumerate(pairs):
            labels[k, list(gold.get(p, ()))] = 1.0
        out.append(WindowPairs(ranges, pair_classes(spans, words, pairs, spec), labels, labels.any(axis=1)))
    return out


def relation_loss(model, hidden, batch_pairs: Sequence[WindowPairs | None], rng: np.random.Generator,
                  negatives: int):
    """Binary cross-entropy of the relation classifier over the batch's pairs (see the module docstring), or None
    when the batch has no pair."""
    import torch
    from torch import nn

    rows, ranges, classes, labels = [], [], {k: [] for k in ("head_type", "tail_type", "distance")}, []
    for b, wp in enumerate(batch_pairs):
        if wp is None:
            continue
        pos, neg = np.flatnonzero(wp.positive), np.flatnonzero(~wp.positive)
        if len(neg) > negatives:
            neg = rng.choice(neg, negatives, replace=False)
        pick = np.sort(np.concatenate([pos, neg]))
        if not len(pick):
            continue
        rows.append(np.full(len(pick), b))
        ranges.append(wp.ranges[pick])
        for k in classes:
            classes[k].append(wp.classes[k][pick])
        labels.append(wp.labels[pick])
    if not rows:
        return None
    device = hidden.device
    r = torch.from_numpy(np.concatenate(ranges)).to(device)
    states = hidden[torch.from_numpy(np.concatenate(rows)).to(device)]  # (P, T, H)
    t = states.shape[1]

    def pool(rng_):
        pos = torch.arange(t, device=rng_.device)[None]
        mask = ((pos >= rng_[:, :1]) & (pos < rng_[:, 1:2]))[..., None]
        pooled = states.masked_fill(~mask, float("-inf")).max(dim=1).values
        return torch.where(mask.any(dim=1), pooled, torch.zeros_like(pooled))

    feats = [pool(r[:, 0:2]), pool(r[:, 2:4]), pool(r[:, 4:6])]
    feats += [torch.from_numpy(np.concatenate(classes[k])).to(device) for k in classes]
    logits = model.relations(*feats)
    target = torch.from_numpy(np.concatenate(labels)).to(device)
    return nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1).mean()


# ---- the head ---------------------------------------------------------------------------------------------------

class RelationStudentHead(Head):
    """The relation classifier of a student whose schema has relation types (see the module docstring)."""

    kind = "relations"
    attribute = "relations"
    reads_hidden = True
    entries_model = RelationEntries

    def __init__(self, relation_types: Sequence[RelationTypeEntry], entity_types: Sequence[str],
                 threshold: float = 0.5, max_length: int = 256, negatives: int = 100) -> None:
        self.relation_types = list(relation_types)
        self.entity_types = list(entity_types)
        self.threshold = threshold
        self.negatives = negatives
        self.spec = RelationSpec.from_types([r.model_dump() for r in self.relation_types], self.entity_types,
                                            threshold, max_length)

    @classmethod
    def from_schema(cls, schema: Any, options) -> RelationStudentHead | None:
        """The classifier of ``schema.relation_types`` between ``schema.labels`` (None when it has none)."""
        types = [t if isinstance(t, RelationTypeEntry) else RelationTypeEntry.model_validate(
            t if isinstance(t, dict) else t.model_dump()) for t in getattr(schema, "relation_types", None) or []]
        if not types:
            return None
        return cls(types, list(schema.labels), options.relation_threshold, options.max_length,
                   options.relation_negatives)

    @classmethod
    def from_entries(cls, entries: RelationEntries, config: StudentConfig) -> RelationStudentHead | None:
        if not entries.relation_types:
            return None
        from smallext.kinds.entities.head import EntityEntries

        entity_types = config.entries(EntityEntries).entity_types
        threshold = entries.relation_threshold
        if threshold is None:
            threshold = config.training.config.get("relation_threshold", 0.5)
        return cls(entries.relation_types, entity_types, threshold, config.max_length)

    def entries(self) -> RelationEntries:
        return RelationEntries(relation_types=self.relation_types, relation_threshold=self.threshold)

    @property
    def labels(self) -> list[str]:
        """The relation type names, in the classifier's output order."""
        return list(self.spec.labels)

    # ---- training

    def module(self, hidden_size: int, dropout: float):
        return relation_classifier(hidden_size, len(self.entity_types), len(self.relation_types), dropout)

    def targets(self, docs, encoded, wins) -> list[WindowPairs | None]:
        return window_pairs(wins, encoded, docs, self.spec)

    def loss(self, model, hidden, targets, rng):
        return relation_loss(model, hidden, targets, rng, self.negatives)

    def facts(self, docs, targets) -> dict[str, int]:
        return {"train_relations": sum(len(d.relations) for d in docs),
                "train_pairs_with_a_relation": int(sum(wp.positive.sum() for wp in targets or () if wp is not None))}

    def evaluate_options(self) -> dict[str, Any]:
        return {"relation_labels": self.labels, "symmetric": [r.name for r in self.relation_types if r.symmetric]}

    def dev_score(self, result: dict[str, Any]) -> DevScore:
        return DevScore("dev_relation_f1", result["relations"]["strict"]["micro"]["f1"], "rel")

    # ---- export

    def export(self, model, folder: Path) -> None:
        export_relation_onnx(model, folder / "relation.onnx")

    def card_lines(self, config: StudentConfig) -> list[str]:
        return [f"- Relations: {', '.join(r.name for r in self.relation_types)}, between pairs of predicted entities "
                f"at most {config.max_length - 2} word pieces apart (one encoder window); a relation is predicted at "
                f"probability >= {self.threshold}"]

    # ---- extraction

    def load_runtime(self, model_dir: Path, session_options) -> RelationRunner:
        import onnxruntime as ort

        path = Path(model_dir) / "relation.onnx"
        if not path.is_file():
            raise ConfigError(f"not a smallext model directory: {path} is missing (the config names relation types)")
        session = ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])
        return lambda feats: session.run(["probs"], feats)[0]

    def torch_runtime(self, model) -> RelationRunner:
        return torch_relation_runner(model)

    def decode(self, step: Decoding, runtime: RelationRunner) -> None:
        step.docs = predict_relations(step.docs, step.encoded, step.hidden, runtime, self.spec, source=step.source)


HEAD = RelationStudentHead
