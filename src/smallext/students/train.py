"""Training the student on any annotated Documents (gold or a teacher's silver labels).

AdamW (Loshchilov & Hutter, 2019) with linear warm-up and decay, gradient clipping, evaluation on a dev set
after each epoch, and the best epoch by dev micro F1 kept. A span's ``score`` (when present) weights its
words in the loss, so a teacher's confidence can soften uncertain labels. Deterministic given a seed.

With relation types, the relation classifier (:class:`~smallext.students.model.RelationHead`) is trained jointly
on the same encoder, as SpERT does (Eberts & Ulges, 2020): each step adds the binary cross-entropy of every
candidate pair of gold entity spans in the batch's windows (all pairs with a relation, and at most
``relation_negatives`` pairs without one per window, drawn anew each epoch), summed over relation types and
averaged over pairs. The best epoch is then the one with the best sum of dev entity and strict relation micro F1.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smallext.datasets import load_documents
from smallext.doc import Document
from smallext.evaluate import evaluate, slim
from smallext.io.atomic import atomic_directory
from smallext.students.base import load_tokenizer, resolve_base_model, special_ids
from smallext.students.decode import WordProbs, predict_documents
from smallext.students.features import bio_labels, encode, label_words, pad_batch, windows
from smallext.students.model import TokenClassifier, build_model, torch_relation_runner, torch_runner
from smallext.students.options import StudentOptions
from smallext.students.relations import (
    RelationSpec,
    candidate_pairs,
    context_range,
    pair_classes,
    span_pieces,
    span_words,
)

__all__ = ["TrainResult", "predict", "train", "train_student"]


@dataclass
class TrainResult:
    """What :func:`train` returns: the best model and what it needs to be packaged."""

    model: TokenClassifier
    tokenizer: Any
    tags: list[str]
    entity_types: list[str]
    config: StudentOptions
    base_dir: str
    best_epoch: int
    dev: dict[str, Any] | None
    history: list[dict[str, float]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    relation_types: list[dict[str, Any]] = field(default_factory=list)

    @property
    def relation_spec(self) -> RelationSpec | None:
        """The relation rules of this student (None for an entity-only student)."""
        if not self.relation_types:
            return None
        return RelationSpec.from_types(self.relation_types, self.entity_types, self.config.relation_threshold,
                                       self.config.max_length)

    def card_facts(self) -> dict[str, Any]:
        return {"config": self.config.model_dump(), "best_epoch": self.best_epoch, "history": self.history,
                **self.stats}

    def save(self, path: str | Path) -> Path:
        """Save this torch checkpoint as a directory: ``weights.pt`` (the state dict), ``tokenizer.json`` and
        ``checkpoint.json`` (tags, entity types, options, base model, best epoch, dev scores, history).
        Written to a temporary folder, then renamed. Returns ``path``."""
        path = Path(path)
        with atomic_directory(path) as tmp:
            torch.save(self.model.state_dict(), tmp / "weights.pt")
            self.tokenizer.save(str(tmp / "tokenizer.json"))
            meta = {"format": "smallext-checkpoint/1", "tags": self.tags, "entity_types": self.entity_types,
                    "config": self.config.model_dump(), "base_dir": self.base_dir, "best_epoch": self.best_epoch,
                    "dev": slim(self.dev) if self.dev else None, "history": self.history, "stats": self.stats,
                    "relation_types": self.relation_types}
            (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainResult:
        """Load a checkpoint written by :meth:`save` (the model on CPU, in eval mode).

        Raises:
            ConfigError: ``path`` is not a checkpoint directory.
        """
        from smallext.errors import ConfigError

        path = Path(path)
        if not (path / "checkpoint.json").is_file():
            raise ConfigError(f"not a smallext checkpoint: {path / 'checkpoint.json'} is missing")
        meta = json.loads((path / "checkpoint.json").read_text(encoding="utf-8"))
        cfg = StudentOptions.model_validate(meta["config"])
        rel = meta.get("relation_types") or []
        model = build_model(meta["base_dir"], len(meta["tags"]), cfg.casing, cfg.dropout, cfg.layers,
                            (len(meta["entity_types"]), len(rel)) if rel else None)
        model.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
        return cls(model.eval(), load_tokenizer(str(path)), meta["tags"], meta["entity_types"], cfg, meta["base_dir"],
                   meta["best_epoch"], meta["dev"], meta["history"], meta["stats"], rel)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict(
    model: TokenClassifier,
    tokenizer,
    tags: Sequence[str],
    docs: Sequence[Document],
    *,
    max_length: int = 256,
    stride: int = 64,
    batch_size: int = 64,
    source: str | None = None,
    with_probs: bool = False,
    relations: RelationSpec | None = None,
) -> list[Document] | tuple[list[Document], list[WordProbs]]:
    """Run a torch student over Documents; returns copies with predicted spans (same ids and texts), and with
    ``with_probs`` each document's word-level tag probabilities too (see
    :func:`~smallext.students.decode.predict_documents`). ``relations``: the student's relation rules, to
    predict relations with its relation head."""
    cls_id, sep_id = special_ids(tokenizer)
    pad_id = getattr(model.encoder.config, "pad_token_id", 0) or 0
    rel = (relations, torch_relation_runner(model)) if relations is not None else None
    return predict_documents(docs, tokenizer, (cls_id, sep_id), torch_runner(model, rel is not None), tags,
                             max_length=max_length, stride=stride, batch_size=batch_size, pad_id=pad_id, source=source,
                             with_probs=with_probs, relations=rel)


@dataclass
class _WindowPairs:
    """The gold entity pairs of one training window: piece ranges in window coordinates ([CLS] is 0), classes
    and (P, R) multi-hot relation labels; ``positive`` marks pairs with a relation."""

    ranges: np.ndarray  # (P, 6) head, tail, context [start, end)
    classes: dict[str, np.ndarray]
    labels: np.ndarray
    positive: np.ndarray


def _window_pairs(wins, encoded, docs: Sequence[Document], spec: RelationSpec) -> list[_WindowPairs | None]:
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
    out: list[_WindowPairs | None] = []
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
        out.append(_WindowPairs(ranges, pair_classes(spans, words, pairs, spec), labels, labels.any(axis=1)))
    return out


def _range_mask(ranges: torch.Tensor, t: int) -> torch.Tensor:
    """(P, T) bool mask of ``[start, end)`` ranges (P, 2) over ``t`` positions."""
    pos = torch.arange(t, device=ranges.device)[None]
    return (pos >= ranges[:, :1]) & (pos < ranges[:, 1:2])


def _relation_loss(model: TokenClassifier, hidden: torch.Tensor, batch_pairs, rng: np.random.Generator,
                   negatives: int) -> torch.Tensor | None:
    """Binary cross-entropy of the relation head over the batch's pairs (see the module docstring)."""
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

    def pool(rng_: torch.Tensor) -> torch.Tensor:
        mask = _range_mask(rng_, t)[..., None]
        pooled = states.masked_fill(~mask, float("-inf")).max(dim=1).values
        return torch.where(mask.any(dim=1), pooled, torch.zeros_like(pooled))

    feats = [pool(r[:, 0:2]), pool(r[:, 2:4]), pool(r[:, 4:6])]
    feats += [torch.from_numpy(np.concatenate(classes[k])).to(device) for k in classes]
    logits = model.relations(*feats)
    target = torch.from_numpy(np.concatenate(labels)).to(device)
    return nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1).mean()


def _batches(n_windows: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within chunks of 50 batches, shuffle batches."""
    idx = rng.permutation(len(n_windows))
    chunk = batch_size * 50
    batches = []
    for lo in range(0, len(idx), chunk):
        part = sorted(idx[lo : lo + chunk], key=lambda k: n_windows[k])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[k] for k in order]


def _optimizer(model: TokenClassifier, cfg: StudentOptions) -> torch.optim.Optimizer:
    decay, no_decay, head_decay, head_no_decay = [], [], [], []
    for name, p in model.named_parameters():
        is_head = not name.startswith("encoder.")
        nd = p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        target = (head_no_decay if nd else head_decay) if is_head else (no_decay if nd else decay)
        target.append(p)
    groups = [
        {"params": decay, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "lr": cfg.lr, "weight_decay": 0.0},
        {"params": head_decay, "lr": cfg.head_lr, "weight_decay": cfg.weight_decay},
        {"params": head_no_decay, "lr": cfg.head_lr, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def train(
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document] | None,
    entity_types: Sequence[str],
    config: StudentOptions | None = None,
    *,
    progress: bool = True,
    device: str | None = None,
    relation_types: Sequence[dict[str, Any]] | None = None,
) -> TrainResult:
    """Train a student on ``train_docs`` and keep the epoch with the best dev micro F1 (entity, plus strict
    relation micro F1 for a relation student).

    Args:
        train_docs: annotated Documents (gold or silver; span ``score`` weights the loss).
        dev_docs: gold (or held-out silver) Documents for model selection; ``None`` keeps the last epoch.
        entity_types: the labels to learn, in order; spans with other labels are ignored.
        config: options (:class:`~smallext.students.options.StudentOptions`).
        progress: show a rich progress bar with loss and dev F1.
        device: torch device (``"cpu"`` default, ``"cuda"`` where available).
        relation_types: ``[{"name", "head": [entity types], "tail": [...], "symmetric": bool}]`` (a schema's
            relation types as dicts): train a relation classifier too, on the documents' relations.

    Returns:
        :class:`TrainResult` with the best model (on CPU, in eval mode).

    Raises:
        ValueError: no training documents, or no entity types.
    """
    cfg = config or StudentOptions()
    if not train_docs:
        raise ValueError("no training documents")
    if not entity_types:
        raise ValueError("no entity types to learn")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    device = device or "cpu"
    base_dir = resolve_base_model(cfg.base_model)
    tokenizer = load_tokenizer(base_dir)
    tags = bio_labels(entity_types)
    tag_index = {t: i for i, t in enumerate(tags)}
    cls_id, sep_id = special_ids(tokenizer)

    encoded = encode(tokenizer, [d.text for d in train_docs])
    used = misaligned = 0
    for enc, d in zip(encoded, train_docs, strict=True):
        u, m = label_words(enc, d.spans, tag_index)
        used, misaligned = used + u, misaligned + m
    wins = windows(encoded, cls_id, sep_id, cfg.max_length, cfg.stride)
    lengths = [len(w.ids) for w in wins]
    rel_types = [{"name": r["name"], "head": list(r["head"]), "tail": list(r["tail"]),
                  "symmetric": bool(r.get("symmetric"))} for r in (relation_types or [])]
    spec = RelationSpec.from_types(rel_types, entity_types, cfg.relation_threshold, cfg.max_length) if (
        rel_types) else None
    win_pairs = _window_pairs(wins, encoded, train_docs, spec) if spec else None

    model = build_model(base_dir, len(tags), cfg.casing, cfg.dropout, cfg.layers,
                        (len(entity_types), len(rel_types)) if spec else None).to(device)
    pad_id = getattr(model.encoder.config, "pad_token_id", 0) or 0
    opt = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(wins) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = int(total * cfg.warmup)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    loss_fn = nn.CrossEntropyLoss(reduction="none", ignore_index=-100)
    rng = np.random.default_rng(cfg.seed)
    best_f1, best_state, best_epoch, best_dev = -1.0, None, 0, None
    history: list[dict[str, float]] = []

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  dev F1 {task.fields[f1]}"),
    ]
    t0 = time.perf_counter()
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("training", total=total, loss=0.0, f1="-")
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            ema = None
            for b in _batches(lengths, cfg.batch_size, rng):
                arrays = pad_batch([wins[k] for k in b], pad_id)
                t = {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}
                logits, hidden = model(t["input_ids"], t["attention_mask"], t["case_ids"], return_hidden=True)
                per_tok = loss_fn(logits.reshape(-1, logits.shape[-1]), t["labels"].reshape(-1))
                w = t["weights"].reshape(-1)
                n_lab = (t["labels"].reshape(-1) != -100).sum().clamp(min=1)
                loss = (per_tok * w).sum() / n_lab
                if win_pairs is not None:
                    rel_loss = _relation_loss(model, hidden, [win_pairs[k] for k in b], rng, cfg.relation_negatives)
                    if rel_loss is not None:
                        loss = loss + rel_loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
                bar.update(task, advance=1, loss=ema)
            row = {"epoch": epoch, "loss": float(ema or 0.0), "seconds": round(time.perf_counter() - t0, 1)}
            if dev_docs:
                preds = predict(model, tokenizer, tags, dev_docs, max_length=cfg.max_length, stride=cfg.stride,
                                relations=spec)
                dev = evaluate(dev_docs, preds, n_boot=0, labels=entity_types,
                               relation_labels=spec.labels if spec else None,
                               symmetric=[r["name"] for r in rel_types if r["symmetric"]])
                f1 = row["dev_f1"] = dev["micro"]["f1"]
                shown = f"{f1:.4f}"
                if spec:
                    row["dev_relation_f1"] = dev["relations"]["strict"]["micro"]["f1"]
                    f1 += row["dev_relation_f1"]
                    shown += f" rel {row['dev_relation_f1']:.4f}"
                bar.update(task, f1=f"{shown} (epoch {epoch})")
                if f1 > best_f1:
                    best_f1, best_epoch, best_dev = f1, epoch, dev
                    best_state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
            history.append(row)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = cfg.epochs
    model = model.to("cpu").eval()
    stats = {
        "train_documents": len(train_docs),
        "train_windows": len(wins),
        "train_spans": used,
        "train_spans_off_word_boundaries": misaligned,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    if spec:
        stats["train_relations"] = sum(len(d.relations) for d in train_docs)
        stats["train_pairs_with_a_relation"] = int(sum(wp.positive.sum() for wp in win_pairs if wp is not None))
    return TrainResult(model, tokenizer, tags, list(entity_types), cfg, base_dir, best_epoch, best_dev, history, stats,
                       rel_types)


def train_student(
    schema,
    train_data,
    dev_data,
    out_dir,
    config: StudentOptions | None = None,
    *,
    test_data=None,
    group_documents: bool = False,
    card: dict[str, Any] | None = None,
    progress: bool = True,
    keep_fp32: str | None = None,
) -> dict[str, Any]:
    """Train, export, quantize and package a student; evaluate the packaged (int8) model.

    Args:
        schema: a :class:`~smallext.schema.Schema` or a path to one; dataset labels are mapped to its entity
            types through names and aliases.
        train_data, dev_data, test_data: dataset specs (``conll2003:train``), files, or lists of Documents.
        out_dir: the packaged model directory to write.
        config: :class:`~smallext.students.options.StudentOptions`.
        group_documents: train and evaluate on whole articles (``-DOCSTART-``) instead of sentences.
        card: extra model-card facts (``training_data``, ``teacher``, ``notes``).
        keep_fp32: also keep the fp32 ONNX file at this path.

    Returns:
        ``{"model_dir", "dev_torch", "dev_int8", "test_int8"}`` (evaluation results; ``None`` where absent).

    Raises:
        ConfigError: invalid schema, or data labels the schema does not know.
    """
    from smallext.schema import load_schema
    from smallext.students.export import package, write_config
    from smallext.students.extractor import Extractor

    schema = load_schema(schema)

    def docs(spec) -> list[Document]:
        return [] if spec is None else schema.map_documents(load_documents(spec, group_documents=group_documents))

    train_docs, dev_docs, test_docs = docs(train_data), docs(dev_data) or None, docs(test_data) or None
    card = dict(card or {})
    card.setdefault("training_data", f"{train_data if isinstance(train_data, str) else 'documents'} "
                    f"({len(train_docs)} documents)")
    result = train(train_docs, dev_docs, schema.labels, config, progress=progress,
                   relation_types=[r.model_dump() for r in schema.relation_types])
    out = package(result, out_dir, schema=schema, card=card, keep_fp32=keep_fp32)
    ex = Extractor.load(out, threads=(config.threads if config else None))
    summary: dict[str, Any] = {"model_dir": str(out), "dev_torch": result.dev, "dev_int8": None, "test_int8": None}
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    scores = cfg["card"].setdefault("scores", {})
    if dev_docs:
        summary["dev_int8"] = evaluate(dev_docs, ex.extract(dev_docs), schema=schema)
        scores["dev (int8 ONNX)"] = slim(summary["dev_int8"])
    if test_docs:
        summary["test_int8"] = evaluate(test_docs, ex.extract(test_docs), schema=schema)
        scores["test (int8 ONNX)"] = slim(summary["test_int8"])
    write_config(out, cfg)
    return summary
