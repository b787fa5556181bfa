"""The stages of a distillation: annotate -> train -> evaluate -> report (see :mod:`smallext.pipeline`).

Artifacts (under the run's output folder):

===========  =====================  ==========================================================================
labels       ``silver.jsonl``       the teacher's labels of the corpus (every document once; failed ones marked)
labels       ``repaired.jsonl``     the labels after the quality stage (when ``quality`` is configured), with
flags        ``flags.jsonl``        its label-error flags of the teacher's labels and ``quality.html``, the page
labels       ``reviewed.jsonl``     the labels with the documents reviewed in the review loop (``review/``) in place
model        ``model/``             the packaged student (int8 ONNX, tokenizer, config, model card)
metrics      ``metrics.json``       test scores, speed and memory of teacher and student, and the run's facts
predictions  ``test_predictions/``  ``teacher.jsonl`` and ``student.jsonl``: both on the teacher's test documents
report       ``report.md``          the report, and ``report.html`` with its plots
examples     ``examples.html``      teacher and student on those documents side by side (:mod:`smallext.visualize`)
===========  =====================  ==========================================================================
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.io.atomic import atomic_directory, atomic_write
from smallext.io.jsonl import write_jsonl
from smallext.pipeline.config import DistillConfig
from smallext.pipeline.runner import Context, Stage
from smallext.report import gold_examples_note, labels_kind, review_notes, training_data

__all__ = ["AnnotateStage", "EvaluateStage", "QualityStage", "ReportStage", "ReviewStage", "TrainStage",
           "read_corpus", "student_data", "train_on"]


def read_corpus(ctx: Context) -> list[Document]:
    """The config's corpus documents (first ``corpus_limit``), read once per run."""
    if "corpus" not in ctx.values:
        from smallext.datasets import load_documents

        cfg: DistillConfig = ctx.cfg
        docs = [d for s in cfg.corpus_specs for d in load_documents(s)]
        ctx.values["corpus"] = docs[: cfg.corpus_limit] if cfg.corpus_limit else docs
    return ctx.values["corpus"]


def _teacher_key(cfg: DistillConfig) -> dict[str, Any]:
    # jump-forward decoding is left out, as it is of the reply cache's key: it changes how fast the replies
    # come, and a finished annotation is not redone for it
    return {"teacher": cfg.teacher, "options": cfg.teacher_options.model_dump(mode="json", exclude={"jump_forward"})}


class AnnotateStage(Stage):
    """The teacher labels the corpus through the store (``silver.store.sqlite``): a crash or a re-run repeats
    no call. The local LLM's weights and KV cache are freed when it is done."""

    name = "annotate"
    writes = {"labels": "silver.jsonl"}

    def key(self, ctx: Context) -> Any:
        return [_teacher_key(ctx.cfg), [d.to_dict() for d in read_corpus(ctx)], ctx.schema.model_dump()]

    def run(self, ctx: Context) -> dict[str, Any]:
        from smallext.teachers import load_teacher
        from smallext.teachers.annotate import annotate

        cfg: DistillConfig = ctx.cfg
        corpus = read_corpus(ctx)
        ctx.log(self.name, f"{len(corpus)} documents with {cfg.teacher}")
        if cfg.engine == "ray":  # each worker builds its own teacher and keeps its shard's store
            import functools

            from smallext.scale.annotate import RayEngine

            opts = cfg.teacher_options
            engine = RayEngine(cfg.ray_address, cpus_per_worker=float(getattr(opts, "threads", None) or 1))
            ann = annotate(corpus, functools.partial(load_teacher, cfg.teacher, ctx.schema, opts),
                           self.outputs(ctx)["labels"], engine=engine, store=ctx.out / "silver.store",
                           progress=ctx.progress)
            ann.pop("documents_out")
            return {"summary": ann}
        teacher = load_teacher(cfg.teacher, ctx.schema, cfg.teacher_options)
        try:  # only the gold teacher reads the corpus's labels; annotate hands the others the bare text
            ann = annotate(corpus, teacher, self.outputs(ctx)["labels"], store=ctx.out / "silver.store.sqlite",
                           progress=ctx.progress)
            ann["teacher_description"] = teacher.describe()
        finally:
            teacher.close()  # a local LLM's weights and KV cache are not needed for training
        ann.pop("documents_out")
        return {"summary": ann}


class QualityStage(Stage):
    """Between annotation and training, when the config has ``quality``: cross-fitted students flag the
    teacher's probable label errors (:mod:`smallext.quality.errors`); with ``escalate``, the most doubted
    documents are labelled again by a second teacher (:mod:`smallext.quality.escalate`) and flagged again;
    the labels are repaired (:mod:`smallext.quality.repair`) for ``rounds`` rounds, and the flags of the
    teacher's labels are written with a page of the worst documents. Training then reads the repaired labels."""

    name = "quality"
    reads = ("labels",)
    writes = {"labels": "repaired.jsonl", "flags": "flags.jsonl", "quality_page": "quality.html"}

    def enabled(self, ctx: Context) -> bool:
        return ctx.cfg.quality is not None

    def key(self, ctx: Context) -> Any:
        cfg: DistillConfig = ctx.cfg
        return [cfg.quality.model_dump(), cfg.student.model_dump(), ctx.schema.model_dump(),
                _teacher_key(cfg) if cfg.quality.escalate else None]

    def _anchors(self, ctx: Context, labelled: list[Document]) -> list[Document]:
        """The first ``quality.anchors`` gold documents of the teacher's example pool whose text is not in the
        labelled corpus (the corpus and the pool may be one dataset)."""
        from smallext.datasets import documents_apart

        cfg: DistillConfig = ctx.cfg
        pool = cfg.example_pool
        if not cfg.quality.anchors or not pool:
            return []
        return documents_apart(pool, [d.text for d in labelled], cfg.quality.anchors, ctx.schema)

    def _escalate(self, ctx: Context, docs: list[Document], flags) -> tuple[list[Document], dict[str, Any]]:
        from smallext.quality.errors import document_scores
        from smallext.quality.escalate import escalate
        from smallext.teachers import load_teacher, teacher_options

        cfg: DistillConfig = ctx.cfg
        e = cfg.quality.escalate
        spec = e.teacher or cfg.teacher
        # the first teacher's options updated by escalate's (validated), or escalate's alone for another teacher
        options = teacher_options(spec, cfg.teacher_options if spec == cfg.teacher else None, **e.teacher_options)
        teacher = load_teacher(spec, ctx.schema, options)
        try:
            ctx.log(self.name, f"escalating {e.share:.0%} of the documents to {spec} "
                               f"{options.model_dump(exclude_unset=True)}")
            return escalate(docs, document_scores(flags), teacher, share=e.share,
                            store=ctx.out / "escalate.store.sqlite", progress=ctx.progress)
        finally:
            teacher.close()

    def run(self, ctx: Context) -> dict[str, Any]:
        from smallext.io import read_jsonl, write_jsonl
        from smallext.quality.errors import counts, label_errors, write_flags
        from smallext.quality.page import write_page
        from smallext.quality.repair import repair

        cfg: DistillConfig = ctx.cfg
        q = cfg.quality
        everything = read_jsonl(ctx.artifacts["labels"])
        labelled = ctx.schema.map_documents([d for d in everything if "teacher_error" not in d.meta])
        options = cfg.student.model_copy(update={"epochs": q.epochs or cfg.student.epochs,
                                                 "layers": q.layers or cfg.student.layers})
        anchors = self._anchors(ctx, labelled)
        t0 = time.perf_counter()
        current, rounds, first, escalated = labelled, [], None, None
        for r in range(q.rounds):
            ctx.log(self.name, f"round {r + 1}: {q.folds} cross-fitted students on {len(current)} documents")
            flags, _ = label_errors(current, ctx.schema, options, folds=q.folds, seed=q.seed + r,
                                    progress=ctx.progress, anchors=anchors)
            first = first if first is not None else flags
            if r == 0 and q.escalate is not None:
                current, escalated = self._escalate(ctx, current, flags)
                current = ctx.schema.map_documents(current)
                flags, _ = label_errors(current, ctx.schema, options, folds=q.folds, seed=q.seed + r,
                                        progress=ctx.progress, anchors=anchors)
            current, changes = repair(current, flags, q)
            rounds.append(changes)
            ctx.log(self.name, ", ".join(f"{changes[k]} {k}" for k in ("dropped", "retyped", "reshaped", "added")))
        out = self.outputs(ctx)
        repaired = {d.id: d for d in current}
        write_jsonl([repaired.get(d.id, d) for d in everything], out["labels"])
        write_flags(first, out["flags"])
        write_page(out["quality_page"], labelled, first, worst=q.worst,
                   title=f"Label errors of {cfg.teacher} on {', '.join(cfg.corpus_specs)}")
        return {"seconds": round(time.perf_counter() - t0, 1), "documents": len(labelled), "anchors": len(anchors),
                "flags": counts(first, 0.5), "rounds": rounds, "escalated": escalated,
                "spans_before": rounds[0]["spans_before"], "spans_after": rounds[-1]["spans_after"]}


def student_data(cfg: DistillConfig, schema, silver: list[Document]) -> tuple[list[Document], list[Document], str, int]:
    """The student's training and model-selection documents: ``(train, dev, description of dev, gold added)``.

    With a gold ``dev`` set, all silver documents train; without one, the reviewed documents when
    ``review.as_dev`` (and there are some), else a seeded ``holdout`` share of them, are kept for early stopping.
    ``gold_examples`` > 0 adds the first N gold documents of the teacher's example
    pool (``teacher_options.examples``) to training, leaving out any whose text is in the silver data or the
    dev set (the corpus, the pool and the dev set may be the same dataset).

    Raises:
        ConfigError: ``gold_examples`` > 0 without ``teacher_options.examples``, or labels the schema lacks.
    """
    from smallext.datasets import documents_apart, load_documents

    reviewed = [d for d in silver if d.meta.get("review")] if cfg.review is not None and cfg.review.as_dev else []
    if cfg.dev:
        train_docs, dev_docs, dev_kind = list(silver), schema.map_documents(load_documents(cfg.dev)), f"gold {cfg.dev}"
    elif reviewed:
        train_docs = [d for d in silver if not d.meta.get("review")]
        dev_docs, dev_kind = reviewed, f"{len(reviewed)} reviewed documents"
    else:
        rng = random.Random(cfg.student.seed)
        idx = list(range(len(silver)))
        rng.shuffle(idx)
        hold = set(idx[: max(1, int(len(silver) * cfg.holdout))])
        train_docs = [d for i, d in enumerate(silver) if i not in hold]
        dev_docs = [d for i, d in enumerate(silver) if i in hold]
        dev_kind = f"{len(dev_docs)} held-out {labels_kind(cfg.teacher)} documents"
    n_gold = 0
    if cfg.gold_examples:
        pool_spec = cfg.example_pool
        if not pool_spec:
            raise ConfigError("field gold_examples: needs teacher_options.examples (the gold example pool)")
        gold = documents_apart(pool_spec, [d.text for d in [*silver, *dev_docs]], cfg.gold_examples, schema)
        train_docs += gold
        n_gold = len(gold)
    return train_docs, dev_docs, dev_kind, n_gold


def train_on(cfg: DistillConfig, schema, labels: list[Document], out, notes: Sequence[str] = (), *,
             log: Callable[[str], None] | None = None, progress: bool = False) -> dict[str, Any]:
    """Train and package the config's student on ``labels`` (documents the teacher failed on are left out;
    dev and gold examples as :func:`student_data` says) into ``out``; ``notes`` go into the model card.
    Returns the training facts (``seconds``, ``train_documents``, ``gold_documents``, ``dev``,
    ``dev_f1_int8``)."""
    from smallext.students.package import ModelCard
    from smallext.students.train import train_student

    silver = [d for d in labels if "teacher_error" not in d.meta]
    train_docs, dev_docs, dev_kind, n_gold = student_data(cfg, schema, silver)
    pool = cfg.example_pool
    if log is not None:
        log(f"student on {training_data(len(train_docs), n_gold, cfg.teacher, pool)} (dev: {dev_kind})"
            + (f", {notes[0]}" if notes else ""))
    card = ModelCard(training_data=f"{cfg.corpus} labelled by the teacher ({len(train_docs) - n_gold} documents)"
                                   + gold_examples_note(n_gold, pool),
                     teacher=cfg.teacher + (" (gold labels copied: an upper bound, not a real teacher)"
                                            if cfg.teacher == "gold" else ""),
                     notes=[f"Early stopping on {dev_kind}."] + list(notes))
    t0 = time.perf_counter()
    summary = train_student(schema, train_docs, dev_docs, out, cfg.student, card=card, progress=progress)
    return {"seconds": round(time.perf_counter() - t0, 1), "train_documents": len(train_docs),
            "gold_documents": n_gold, "dev": dev_kind,
            "dev_f1_int8": summary.dev_int8["micro"]["f1"] if summary.dev_int8 else None}


class ReviewStage(Stage):
    """When the config has ``review``: rounds of train a student -> select documents -> review them -> put the
    reviewed documents in place of their silver versions (:mod:`smallext.quality.review`). With a Label Studio
    reviewer the run stops after writing a round's tasks (:class:`~smallext.quality.review.AwaitingReview`) and
    goes on when the round's export is given. Training then reads the reviewed labels."""

    name = "review"
    reads = ("labels",)
    writes = {"labels": "reviewed.jsonl"}

    def enabled(self, ctx: Context) -> bool:
        return ctx.cfg.review is not None

    def key(self, ctx: Context) -> Any:
        from smallext.pipeline.runner import path_digest

        cfg: DistillConfig = ctx.cfg
        return [cfg.review.model_dump(exclude={"exports"}), [str(path_digest(Path(e))) for e in cfg.review.exports],
                cfg.student.model_dump(), cfg.dev, cfg.holdout, cfg.gold_examples, ctx.schema.model_dump()]

    def run(self, ctx: Context) -> dict[str, Any]:
        from smallext.datasets import load_documents
        from smallext.io import read_jsonl, write_jsonl
        from smallext.quality.review import review_loop

        cfg: DistillConfig = ctx.cfg
        opts = cfg.review
        everything = read_jsonl(ctx.artifacts["labels"])
        labelled = ctx.schema.map_documents([d for d in everything if "teacher_error" not in d.meta])
        gold = ctx.schema.map_documents(load_documents(opts.gold)) if opts.gold else None

        def train(docs: list[Document], out) -> Any:
            return train_on(cfg, ctx.schema, docs, out, ["A student of the review loop (it selects the next "
                                                         "documents)."], log=lambda m: ctx.log(self.name, m),
                            progress=ctx.progress)

        def flags_for(docs: list[Document]) -> list:
            from smallext.quality.errors import label_errors

            return label_errors(docs, ctx.schema, cfg.student, progress=ctx.progress)[0]

        t0 = time.perf_counter()
        res = review_loop(labelled, ctx.schema, opts, ctx.out / "review", train=train, gold=gold,
                          flags_for=flags_for, log=lambda m: ctx.log(self.name, m))
        reviewed = {d.id: d for d in res.labels}
        write_jsonl([reviewed.get(d.id, d) for d in everything], self.outputs(ctx)["labels"])
        return {"seconds": round(time.perf_counter() - t0, 1), "reviewer": opts.reviewer,
                "strategy": opts.strategy, "reviewed": len(res.reviewed), "carried": res.carried, "gold": opts.gold,
                "rounds": [{k: v for k, v in r.items() if k != "selected"} for r in res.rounds]}


class TrainStage(Stage):
    """The student trains on the labels (a held-out share of them for early stopping when no gold dev set is
    given; with ``gold_examples``, also on that many gold documents of the teacher's example pool), then is
    exported and quantized into ``model/``. With ``quality.compare``, a second student trains the same way on the
    labels as the teacher gave them (``model-without-repair/``), for the report's comparison."""

    name = "train"
    reads = ("labels",)
    writes = {"model": "model"}

    def _compare(self, ctx: Context) -> bool:
        q = ctx.cfg.quality
        return q is not None and q.compare

    def outputs(self, ctx: Context) -> dict[str, Any]:
        extra = {"model_without_repair": ctx.out / "model-without-repair"} if self._compare(ctx) else {}
        return {**super().outputs(ctx), **extra}

    def key(self, ctx: Context) -> Any:
        from smallext.pipeline.runner import path_digest

        cfg: DistillConfig = ctx.cfg
        return [cfg.student.model_dump(), cfg.dev, cfg.holdout, cfg.teacher, cfg.gold_examples,
                cfg.example_pool if cfg.gold_examples else None, ctx.schema.model_dump(),
                path_digest(ctx.out / AnnotateStage.writes["labels"]) if self._compare(ctx) else None]

    def _train(self, ctx: Context, labels, out, notes: list[str]) -> dict[str, Any]:
        from smallext.io import read_jsonl

        return train_on(ctx.cfg, ctx.schema, read_jsonl(labels), out, notes, log=lambda m: ctx.log(self.name, m),
                        progress=ctx.progress)

    def run(self, ctx: Context) -> dict[str, Any]:
        out = self.outputs(ctx)
        repaired = ctx.cfg.quality is not None
        notes = ["The teacher's labels were repaired by the quality stage (label errors found by cross-fitted "
                 "students) before training."] if repaired else []
        notes += review_notes(ctx.info.get("review"))
        info = self._train(ctx, ctx.artifacts["labels"], out["model"], notes)
        if self._compare(ctx):
            info["without_repair"] = self._train(ctx, ctx.out / AnnotateStage.writes["labels"],
                                                 out["model_without_repair"], ["For comparison: the teacher's "
                                                 "labels as given, without the quality stage's repair."])
        return info


class EvaluateStage(Stage):
    """On the gold test set, side by side: the teacher (on at most ``teacher_test_limit`` documents, which the
    report says) and the student on the same documents, the student on the whole set, their agreement, and
    each one's throughput, p50/p95 latency and peak RSS (measured in child processes)."""

    name = "evaluate"
    reads = ("model",)
    writes = {"metrics": "metrics.json", "predictions": "test_predictions"}

    def key(self, ctx: Context) -> Any:
        cfg: DistillConfig = ctx.cfg
        return [cfg.test, cfg.teacher_test_limit, cfg.measure_documents, _teacher_key(cfg), cfg.student.threads,
                ctx.schema.model_dump(), ctx.info.get("annotate"), ctx.info.get("quality"), ctx.info.get("review"),
                ctx.info.get("train")]

    def run(self, ctx: Context) -> dict[str, Any]:
        from smallext.datasets import load_documents
        from smallext.evaluate import Evaluation, evaluate, slim
        from smallext.measure import in_child, measure_student, measure_teacher
        from smallext.report import Metrics, StageSeconds, StudentResult, TeacherResult, TestResults
        from smallext.students.extractor import Extractor

        cfg: DistillConfig = ctx.cfg
        model_dir = ctx.artifacts["model"]
        t_eval = time.perf_counter()
        ann, train_info = ctx.info["annotate"]["summary"], ctx.info["train"]
        facts: dict[str, Any] = {"config": cfg.model_dump(by_alias=True), "annotation": ann, "training": train_info}
        if ctx.info.get("quality"):  # a copy: the quality stage's record (and so this stage's key) stays as written
            facts["quality"] = dict(ctx.info["quality"])
        if ctx.info.get("review"):
            facts["review"] = ctx.info["review"]
        if cfg.test:
            test = ctx.schema.map_documents(load_documents(cfg.test))
            sample = test[: cfg.teacher_test_limit] if cfg.teacher_test_limit else test
            ctx.log(self.name, f"teacher on {len(sample)} of {len(test)} test documents")
            t = in_child(measure_teacher, cfg.teacher, cfg.schema_path, cfg.teacher_options,
                         [d.to_dict() for d in sample], str(ctx.out / "teacher_test.store.sqlite"))
            teacher_preds = [Document.from_dict(d) for d in t["preds"]]
            ctx.log(self.name, "student")
            student_preds = Extractor.load(model_dir, threads=cfg.student.threads).extract(test)
            by_id = {d.id: d for d in student_preds}
            student_sample = [by_id[d.id] for d in sample]
            texts = [d.text for d in test[: cfg.measure_documents]]
            s_time = in_child(measure_student, str(model_dir), texts, cfg.student.threads)
            size = sum(p.stat().st_size for p in model_dir.iterdir()) / 1e6
            student_scores = evaluate(test, student_preds, schema=ctx.schema)
            teacher = TeacherResult(scores=evaluate(sample, teacher_preds, schema=ctx.schema), timing=t["timing"],
                                    peak_rss_mb=t["peak_rss_mb"], annotation=t["summary"])
            student: dict[str, Any] = {
                "scores": student_scores,
                "scores_on_teacher_sample": evaluate(sample, student_sample, schema=ctx.schema),
                "timing": s_time, "peak_rss_mb": s_time["peak_rss_mb"], "size_mb": round(size, 1)}
            agreement = Evaluation.model_validate(evaluate(teacher_preds, student_sample, n_boot=0,
                                                           schema=ctx.schema))
            if cfg.engine == "ray":  # the same documents extracted on the cluster, beside the single process
                from smallext.scale.extract import ray_throughput

                ctx.log(self.name, "student throughput on Ray")
                student["timing_ray"] = ray_throughput(model_dir, texts, ctx.out / "ray_throughput",
                                                       address=cfg.ray_address, threads=cfg.student.threads or 1)
            facts["test"] = TestResults(
                dataset=cfg.test, documents=len(test), teacher_documents=len(sample),
                teacher_sampled=len(sample) < len(test), teacher=teacher, student=StudentResult(**student),
                agreement=agreement,
                speedup_documents_per_s=s_time["documents_per_s"] / max(t["timing"]["documents_per_s"], 1e-12))
            if "model_without_repair" in ctx.artifacts and "quality" in facts:
                plain = Extractor.load(ctx.artifacts["model_without_repair"], threads=cfg.student.threads)
                facts["quality"]["student_without_repair"] = slim(evaluate(test, plain.extract(test)))
                facts["quality"]["student_with_repair"] = slim(student_scores)
        facts["stage_seconds"] = StageSeconds(annotate=ann.get("wall_seconds_all_runs") or ann["wall_seconds"],
                                              train=train_info.get("seconds"),
                                              evaluate=round(time.perf_counter() - t_eval, 1))
        facts["wall_seconds"] = round(time.perf_counter() - ctx.started, 1)
        metrics = Metrics(**facts)
        with atomic_directory(self.outputs(ctx)["predictions"]) as folder:  # empty without a test set
            if cfg.test:
                write_jsonl(teacher_preds, folder / "teacher.jsonl")
                write_jsonl(student_sample, folder / "student.jsonl")
        with atomic_write(self.outputs(ctx)["metrics"]) as f:
            f.write(json.dumps(metrics.model_dump(), indent=2, default=str))
        return {"seconds": metrics.stage_seconds.evaluate}


class ReportStage(Stage):
    """``report.md``, ``report.html`` (F1 against throughput on a log axis, per-type F1 bars) from the metrics,
    and with a test set ``examples.html``, the teacher's and the student's test predictions side by side."""

    name = "report"
    reads = ("metrics", "predictions")
    writes = {"report": "report.md", "report_html": "report.html", "examples": "examples.html"}

    def outputs(self, ctx: Context) -> dict[str, Path]:
        out = super().outputs(ctx)
        if not ctx.cfg.test:
            del out["examples"]
        return out

    def run(self, ctx: Context) -> dict[str, Any]:
        from smallext.io.jsonl import read_jsonl
        from smallext.report import write_report

        folder = ctx.artifacts["predictions"]
        examples = ((read_jsonl(folder / "teacher.jsonl"), read_jsonl(folder / "student.jsonl"))
                    if ctx.cfg.test else None)
        md, page = write_report(json.loads(ctx.artifacts["metrics"].read_text(encoding="utf-8")), ctx.out,
                                examples=examples, schema=ctx.schema)
        ctx.log(self.name, f"{md}, {page}" + (f", {ctx.out / 'examples.html'}" if examples else ""))
        return {}
