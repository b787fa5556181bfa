"""The entities kind's student head: the tagger every student has.

Each word gets one IOB2 tag (:func:`smallext.students.features.bio_labels`), carried by its first word piece; the
classifier is the student's ``classifier`` (a linear layer over the encoder's states, after dropout: it is part of
the encoder's graph, whose ``logits`` output it is). Training is the cross-entropy of the first pieces' tags, each
word weighted by its span's ``score`` when it has one. Decoding keeps only valid IOB2 paths (constrained Viterbi,
:mod:`smallext.students.decode`) and turns them into the Document's spans. The package adds ``head.npz`` (the
classifier in fp32, for MC dropout without torch) and the keys ``tags`` and ``entity_types`` to ``config.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from smallext.doc import Document
from smallext.students.decode import WordProbs, allowed_transitions, decode_words, softmax
from smallext.students.features import EncodedText, Window, bio_labels, label_words, piece_labels, window_labels
from smallext.students.head import Decoding, DevScore, Head
from smallext.students.package import StudentConfig

__all__ = ["HEAD", "EntityEntries", "EntityHead"]


class EntityEntries(BaseModel):
    """The entity tagger's keys in ``config.json``."""

    model_config = ConfigDict(extra="ignore")
    tags: list[str]
    entity_types: list[str]


class _Targets(list):
    """Per-window ``(labels, weights)`` piece arrays, with the counts of the spans they come from."""

    used = 0
    misaligned = 0


class EntityHead(Head):
    """The IOB2 tagger over entity types (see the module docstring)."""

    kind = "entities"
    attribute = "classifier"
    entries_model = EntityEntries

    def __init__(self, entity_types: Sequence[str], tags: Sequence[str] | None = None) -> None:
        self.entity_types = list(entity_types)
        self.tags = list(tags) if tags is not None else bio_labels(self.entity_types)
        self.constraints = allowed_transitions(self.tags)

    @classmethod
    def from_schema(cls, schema: Any, options) -> EntityHead:
        """The tagger of ``schema.labels`` (its entity type names, in order)."""
        return cls(list(schema.labels))

    @classmethod
    def from_entries(cls, entries: EntityEntries, config: StudentConfig) -> EntityHead:
        return cls(entries.entity_types, entries.tags)

    def entries(self) -> EntityEntries:
        return EntityEntries(tags=self.tags, entity_types=self.entity_types)

    # ---- training

    def targets(self, docs: Sequence[Document], encoded: Sequence[EncodedText], wins: Sequence[Window]) -> _Targets:
        tag_index = {t: i for i, t in enumerate(self.tags)}
        out = _Targets()
        pieces = []
        for enc, d in zip(encoded, docs, strict=True):
            u, m = label_words(enc, d.spans, tag_index)
            out.used, out.misaligned = out.used + u, out.misaligned + m
            pieces.append(piece_labels(enc))
        out.extend(window_labels(pieces[w.text_index], w) for w in wins)
        return out

    def loss(self, model, hidden, targets: Sequence[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator):
        """The tags' cross-entropy, weighted per word, summed and divided by the number of tagged pieces."""
        import torch
        from torch import nn

        from smallext.students.features import IGNORE

        b, t = hidden.shape[0], hidden.shape[1]
        labels = np.full((b, t), IGNORE, dtype=np.int64)
        weights = np.zeros((b, t), dtype=np.float32)
        for i, (lab, w) in enumerate(targets):
            labels[i, : len(lab)], weights[i, : len(w)] = lab, w
        logits = model.classifier(model.dropout(hidden))
        lab_t = torch.from_numpy(labels).to(hidden.device).reshape(-1)
        per_tok = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), lab_t, reduction="none",
                                              ignore_index=IGNORE)
        n_lab = (lab_t != IGNORE).sum().clamp(min=1)
        return (per_tok * torch.from_numpy(weights).to(hidden.device).reshape(-1)).sum() / n_lab

    def facts(self, docs: Sequence[Document], targets: _Targets | None) -> dict[str, int]:
        return {"train_spans": targets.used if targets is not None else 0,
                "train_spans_off_word_boundaries": targets.misaligned if targets is not None else 0}

    def evaluate_options(self) -> dict[str, Any]:
        return {"labels": list(self.entity_types)}

    def dev_score(self, result: dict[str, Any]) -> DevScore:
        return DevScore("dev_f1", result["micro"]["f1"])

    # ---- export

    def export(self, model, folder: Path) -> None:
        from smallext.students.export import save_head

        save_head(model, folder / "head.npz")

    def card_title(self) -> list[str]:
        return list(self.entity_types)

    # ---- extraction

    def decode(self, step: Decoding, runtime: Any = None) -> None:
        """Spans from each word's tag probabilities (softmax of its first piece's logits), by constrained
        decoding; the probabilities go to ``step.extras["word_probs"]`` (:class:`WordProbs` per document)."""
        n = len(self.tags)
        probs = [softmax(r[e.first_piece, :n]) if len(e.first_piece) else np.zeros((0, 1))
                 for e, r in zip(step.encoded, step.logits, strict=True)]
        step.docs = [d.with_spans(decode_words(p, e.words, self.tags, self.constraints, step.source))
                     for d, e, p in zip(step.docs, step.encoded, probs, strict=True)]
        names = tuple(self.tags)
        step.extras["word_probs"] = [WordProbs(e.words, p if len(e.words) else np.zeros((0, n), np.float32), names)
                                     for e, p in zip(step.encoded, probs, strict=True)]


HEAD = EntityHead
