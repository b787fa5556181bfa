"""Training the student on any annotated Documents (gold or a teacher's silver labels).

AdamW (Loshchilov & Hutter, 2019) with linear warm-up and decay, gradient clipping, evaluation on a dev set
after each epoch, and the best epoch by dev micro F1 kept. A span's ``score`` (when present) weights its
words in the loss, so a teacher's confidence can soften uncertain labels. Deterministic given a seed.

The student is one encoder with one head per kind of output (:mod:`smallext.students.head`): each step's loss is
the sum of the heads' losses on the batch (the entity tagger's, and with relation types the relation classifier's,
trained jointly on the same encoder as SpERT does: :mod:`smallext.kinds.relations.head`), and the best epoch is the
one with the best sum of the heads' dev scores (entity micro F1, plus strict relation micro F1).
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

from smallext.datasets import load_documents
from smallext.doc import Document
from smallext.evaluate import evaluate, slim
from smallext.io.atomic import atomic_directory
from smallext.students.base import load_tokenizer, resolve_base_model, special_ids
from smallext.students.decode import WordProbs, predict_documents
from smallext.students.features import encode, pad_batch, windows
from smallext.students.head import Head, evaluate_options, head_class, student_heads
from smallext.students.model import TokenClassifier, build_model, torch_runner
from smallext.students.options import StudentOptions
from smallext.students.package import ModelCard, StudentConfig, TrainingFacts, TrainSummary

__all__ = ["TrainResult", "predict", "train", "train_student"]


@dataclass
class TrainResult:
    """What :func:`train` returns: the best model and what it needs to be packaged.

    Attributes:
        heads: the student's heads (:mod:`smallext.students.head`), the entity tagger first.
        history: one row per epoch (``epoch``, ``loss``, ``seconds`` and each head's dev score).
        stats: training counts (``train_documents``, ``train_windows``, ``train_seconds`` and the heads' counts).
    """

    model: TokenClassifier
    tokenizer: Any
    heads: list[Head]
    config: StudentOptions
    base_dir: str
    best_epoch: int
    dev: dict[str, Any] | None
    history: list[dict[str, float]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def head(self, kind: str) -> Head | None:
        """The head of ``kind`` (``"relations"``), or None when the student has none."""
        return next((h for h in self.heads if h.kind == kind), None)

    @property
    def tags(self) -> list[str]:
        """The entity tagger's IOB2 tags."""
        return self.heads[0].tags

    @property
    def entity_types(self) -> list[str]:
        return self.heads[0].entity_types

    def entries(self) -> dict[str, Any]:
        """The heads' keys in ``config.json`` (and in ``checkpoint.json``)."""
        return {k: v for h in self.heads for k, v in h.entries().model_dump().items()}

    def card_facts(self) -> TrainingFacts:
        return TrainingFacts.model_validate({"config": self.config.model_dump(), "best_epoch": self.best_epoch,
                                             "history": self.history, **self.stats})

    def save(self, path: str | Path) -> Path:
        """Save this torch checkpoint as a directory: ``weights.pt`` (the state dict), ``tokenizer.json`` and
        ``checkpoint.json`` (the heads' keys as in ``config.json``, options, base model, best epoch, dev scores,
        history). Written to a temporary folder, then renamed. Returns ``path``."""
        path = Path(path)
        with atomic_directory(path) as tmp:
            torch.save(self.model.state_dict(), tmp / "weights.pt")
            self.tokenizer.save(str(tmp / "tokenizer.json"))
            meta = {"format": "smallext-checkpoint/1", **self.entries(), "config": self.config.model_dump(),
                    "base_dir": self.base_dir, "best_epoch": self.best_epoch,
                    "dev": slim(self.dev) if self.dev else None, "history": self.history, "stats": self.stats}
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
        keys = {k: v for k, v in meta.items() if k not in ("format", "config", "dev", "history", "stats")}
        training = {"config": meta["config"], "best_epoch": meta["best_epoch"]}
        config = StudentConfig.model_validate({**keys, "max_length": cfg.max_length, "stride": cfg.stride,
                                               "casing": cfg.casing, "base_model": cfg.base_model,
                                               "training": training})
        heads = student_heads(config)
        model = build_model(meta["base_dir"], len(heads[0].tags), cfg.casing, cfg.dropout, cfg.layers, heads)
        model.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
        return cls(model.eval(), load_tokenizer(str(path)), heads, cfg, meta["base_dir"], meta["best_epoch"],
                   meta["dev"], meta["history"], meta["stats"])


@dataclass(frozen=True)
class _Types:
    """The types a student learns, in the shape of a :class:`~smallext.schema.Schema` (what the heads read)."""

    labels: list[str]
    relation_types: list[Any]


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
    heads: Sequence[Head] | None = None,
) -> list[Document] | tuple[list[Document], list[WordProbs]]:
    """Run a torch student over Documents; returns copies with predicted spans (same ids and texts), and with
    ``with_probs`` each document's word-level tag probabilities too (see
    :func:`~smallext.students.decode.predict_documents`). ``heads``: the student's heads (``TrainResult.heads``:
    to predict relations with its relation classifier too); default the entity tagger of ``tags``."""
    if heads is None:
        heads = [head_class("entities")([t[2:] for t in tags if t.startswith("B-")], list(tags))]
    cls_id, sep_id = special_ids(tokenizer)
    pad_id = getattr(model.encoder.config, "pad_token_id", 0) or 0
    run = torch_runner(model, any(h.reads_hidden for h in heads))
    return predict_documents(docs, tokenizer, (cls_id, sep_id), run, [(h, h.torch_runtime(model)) for h in heads],
                             n_logits=len(tags), max_length=max_length, stride=stride, batch_size=batch_size,
                             pad_id=pad_id, source=source, with_probs=with_probs)


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


def fit(
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
    heads = student_heads(_Types(list(entity_types), list(relation_types or [])), cfg)
    cls_id, sep_id = special_ids(tokenizer)

    encoded = encode(tokenizer, [d.text for d in train_docs])
    wins = windows(encoded, cls_id, sep_id, cfg.max_length, cfg.stride)
    lengths = [len(w.ids) for w in wins]
    targets = [h.targets(train_docs, encoded, wins) for h in heads]

    model = build_model(base_dir, len(heads[0].tags), cfg.casing, cfg.dropout, cfg.layers, heads).to(device)
    pad_id = getattr(model.encoder.config, "pad_token_id", 0) or 0
    opt = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(wins) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = int(total * cfg.warmup)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    rng = np.random.default_rng(cfg.seed)
    best_f1, best_state, best_epoch, best_dev = -1.0, None, 0, None
    history: list[dict[str, float]] = []
    scoring = evaluate_options(heads)

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
                hidden = model.encode(t["input_ids"], t["attention_mask"], t["case_ids"])
                loss = None
                for h, tg in zip(heads, targets, strict=True):
                    part = h.loss(model, hidden, [tg[k] for k in b], rng) if tg is not None else None
                    if part is not None:
                        loss = part if loss is None else loss + part
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
                bar.update(task, advance=1, loss=ema)
            row = {"epoch": epoch, "loss": float(ema or 0.0), "seconds": round(time.perf_counter() - t0, 1)}
            if dev_docs:
                preds = predict(model, tokenizer, heads[0].tags, dev_docs, max_length=cfg.max_length,
                                stride=cfg.stride, heads=heads)
                dev = evaluate(dev_docs, preds, n_boot=0, **scoring)
                scores = [d for d in (h.dev_score(dev) for h in heads) if d is not None]
                f1 = 0.0
                for k, d in enumerate(scores):
                    row[d.key] = d.value
                    f1 = d.value if k == 0 else f1 + d.value
                shown = " ".join(f"{d.short} {d.value:.4f}".strip() for d in scores)
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
    stats: dict[str, Any] = {"train_documents": len(train_docs), "train_windows": len(wins)}
    for h, tg in zip(heads, targets, strict=True):
        stats.update(h.facts(train_docs, tg))
    stats["train_seconds"] = round(time.perf_counter() - t0, 1)
    return TrainResult(model, tokenizer, heads, cfg, base_dir, best_epoch, best_dev, history, stats)


def train_student(
    schema,
    train_data,
    dev_data,
    out_dir,
    config: StudentOptions | None = None,
    *,
    test_data=None,
    group_documents: bool = False,
    card: ModelCard | dict[str, Any] | None = None,
    progress: bool = True,
    keep_fp32: str | None = None,
) -> TrainSummary:
    """Train, export, quantize and package a student; evaluate the packaged (int8) model.

    Args:
        schema: a :class:`~smallext.schema.Schema` or a path to one; dataset labels are mapped to its entity
            types through names and aliases.
        train_data: the training documents: a dataset spec (``conll2003:train``), a file, or a list of Documents.
        dev_data: the dev documents, given the same ways.
        test_data: the test documents, given the same ways (optional).
        out_dir: the packaged model directory to write.
        config: :class:`~smallext.students.options.StudentOptions`.
        group_documents: train and evaluate on whole articles (``-DOCSTART-``) instead of sentences.
        card: extra model-card facts (:class:`~smallext.students.package.ModelCard`: ``training_data``,
            ``teacher``, ``notes``).
        keep_fp32: also keep the fp32 ONNX file at this path.

    Returns:
        :class:`~smallext.students.package.TrainSummary`: the model directory and the evaluation results
        (``dev_torch``, ``dev_int8``, ``test_int8``; ``None`` where absent).

    Raises:
        ConfigError: invalid schema, or data labels the schema does not know.
    """
    from smallext.schema import load_schema
    from smallext.students.card import write_config
    from smallext.students.export import package
    from smallext.students.extractor import Extractor

    schema = load_schema(schema)

    def docs(spec) -> list[Document]:
        return [] if spec is None else schema.map_documents(load_documents(spec, group_documents=group_documents))

    train_docs, dev_docs, test_docs = docs(train_data), docs(dev_data) or None, docs(test_data) or None
    card = ModelCard.model_validate(card or {}) if not isinstance(card, ModelCard) else card.model_copy()
    if card.training_data is None:
        card.training_data = (f"{train_data if isinstance(train_data, str) else 'documents'} "
                              f"({len(train_docs)} documents)")
    result = fit(train_docs, dev_docs, schema.labels, config, progress=progress,
                   relation_types=getattr(schema, "relation_types", None) or [])
    out = package(result, out_dir, schema=schema, card=card, keep_fp32=keep_fp32)
    ex = Extractor.load(out, threads=(config.threads if config else None))
    summary = TrainSummary(model_dir=str(out), dev_torch=result.dev)
    cfg = ex.student_config.model_copy(deep=True)
    scores = dict(cfg.card.scores)
    if dev_docs:
        summary.dev_int8 = evaluate(dev_docs, ex.extract(dev_docs), schema=schema)
        scores["dev (int8 ONNX)"] = slim(summary.dev_int8)
    if test_docs:
        summary.test_int8 = evaluate(test_docs, ex.extract(test_docs), schema=schema)
        scores["test (int8 ONNX)"] = slim(summary.test_int8)
    cfg.card.scores = scores
    write_config(out, cfg)
    return summary


def train(*args: Any, **kwargs: Any) -> TrainResult:
    """Deprecated alias of :func:`fit` (kept for one release): ``smallext.train`` trained without packaging, which
    its name, shared with ``smallext train`` (that packages), did not say. Use :func:`fit`, or :func:`train_student`
    for a packaged, evaluated model."""
    import warnings

    warnings.warn("smallext.students.train.train is deprecated: use fit (in memory) or train_student (packaged)",
                  DeprecationWarning, stacklevel=2)
    return fit(*args, **kwargs)
