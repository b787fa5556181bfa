"""The main job: teacher -> silver labels -> student -> evaluation -> report, from one config file.

Config (YAML; keys are the interface)::

    schema: schemas/crossner-ai.yaml
    corpus: crossner-ai:dev            # unlabelled text: a dataset or files; any labels in it are ignored
    teacher: llamacpp:qwen2.5-coder-1.5b
    teacher_options: {shots: 8, examples: crossner-ai:train}
    dev: null                          # optional gold dev set; without one, part of the silver data is held out
    test: crossner-ai:test             # optional gold test set
    student: {base_model: minilm, epochs: 10}    # also: layers: N keeps the encoder's first N layers (faster)
    gold_examples: 0                   # N > 0: the student also trains on N gold documents of the example pool
    output: runs/crossner-ai

Stages, each recorded in ``OUTPUT/stages.json`` with a hash of its inputs so a re-run skips finished ones:

1. ``annotate``: the teacher labels the corpus through the store (``silver.store.sqlite``): a crash or a
   re-run repeats no call.
2. ``train``: the student trains on the silver labels (a held-out share of them for early stopping when no
   gold dev set is given; with ``gold_examples``, also on that many gold documents of the teacher's example
   pool), then is exported and quantized into ``OUTPUT/model``.
3. ``evaluate``: on the gold test set, side by side: the teacher (on at most ``teacher_test_limit``
   documents, which the report says) and the student on the same documents, the student on the whole
   set, their agreement, and each one's throughput, p50/p95 latency and peak RSS (measured in child
   processes).
4. ``report``: ``report.md``, ``report.html`` (F1 against throughput on a log axis, per-type F1 bars) and
   ``metrics.json``.

``force`` (``--force STAGE``) redoes a stage and the ones after it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import random
import statistics
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.io.atomic import atomic_write
from smallext.report import gold_examples_note, labels_kind, training_data

STAGES = ("annotate", "train", "evaluate", "report")


class TeacherOptions(BaseModel):
    """Options of the teacher (see :func:`smallext.teachers.load_teacher`)."""

    model_config = ConfigDict(extra="forbid")
    shots: int = Field(0, ge=0)
    examples: str | None = None
    chunk_chars: int = Field(400, ge=0)
    threads: int | None = None
    constrained: bool = True
    jump_forward: bool = True
    max_repeats: int | None = Field(2, ge=1)
    reply_format: Literal["list", "pairs", "grouped"] = "list"
    occurrences: str = "all"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(4, ge=1)
    ensemble_mode: str = "majority"
    price_per_mtok: float | None = None
    response_format: str = "json_object"


class StudentOptions(BaseModel):
    """Student options (see :class:`smallext.students.train.TrainConfig`)."""

    model_config = ConfigDict(extra="forbid")
    base_model: str = "minilm"
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-4, gt=0)
    seed: int = 13
    casing: bool = True
    threads: int | None = None
    max_length: int = Field(256, ge=16)
    stride: int = Field(64, ge=0)
    layers: int | None = Field(None, ge=1, description="keep the base encoder's first N layers (None: all)")


class DistillConfig(BaseModel):
    """A distillation run (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_path: str = Field(alias="schema")
    corpus: str | list[str]
    teacher: str
    teacher_options: TeacherOptions = Field(default_factory=TeacherOptions)
    dev: str | None = None
    test: str | None = None
    student: StudentOptions = Field(default_factory=StudentOptions)
    output: str
    corpus_limit: int | None = Field(None, ge=1, description="use only the first N corpus documents")
    holdout: float = Field(0.1, gt=0, lt=0.5, description="share of silver data held out when dev is null")
    teacher_test_limit: int | None = Field(None, ge=1, description="evaluate the teacher on at most N test docs")
    measure_documents: int = Field(200, ge=10, description="documents timed for throughput and latency")
    gold_examples: int = Field(0, ge=0, description="add up to N gold documents of teacher_options.examples "
                                                    "(the few-shot pool) to the student's training data")


def load_config(path: str | Path | dict) -> tuple[DistillConfig, Path]:
    """Read and validate a distill config; relative paths are resolved against the current directory.

    Raises:
        ConfigError: missing file, bad YAML, or a field error (named, e.g. ``student.epochs``).
    """
    if isinstance(path, dict):
        data, where = path, "config"
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings")
    try:
        cfg = DistillConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"field {'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{where}: {problems}") from None
    return cfg, Path(cfg.output)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_corpus(cfg: DistillConfig) -> list[Document]:
    from smallext.datasets import load_documents

    specs = cfg.corpus if isinstance(cfg.corpus, list) else [cfg.corpus]
    docs = [d.without_spans() for s in specs for d in load_documents(s)]
    return docs[: cfg.corpus_limit] if cfg.corpus_limit else docs


def student_data(cfg: DistillConfig, schema, silver: list[Document]) -> tuple[list[Document], list[Document], str, int]:
    """The student's training and model-selection documents: ``(train, dev, description of dev, gold added)``.

    With a gold ``dev`` set, all silver documents train; without one, a seeded ``holdout`` share of them is
    kept for early stopping. ``gold_examples`` > 0 adds the first N gold documents of the teacher's example
    pool (``teacher_options.examples``) to training, leaving out any whose text is in the silver data or the
    dev set (the corpus, the pool and the dev set may be the same dataset).

    Raises:
        ConfigError: ``gold_examples`` > 0 without ``teacher_options.examples``, or labels the schema lacks.
    """
    from smallext.datasets import load_documents

    if cfg.dev:
        train_docs, dev_docs, dev_kind = list(silver), schema.map_documents(load_documents(cfg.dev)), f"gold {cfg.dev}"
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
        if not cfg.teacher_options.examples:
            raise ConfigError("field gold_examples: needs teacher_options.examples (the gold example pool)")
        seen = {d.text for d in silver} | {d.text for d in dev_docs}
        pool = [d for d in schema.map_documents(load_documents(cfg.teacher_options.examples)) if d.text not in seen]
        gold = pool[: cfg.gold_examples]
        train_docs += gold
        n_gold = len(gold)
    return train_docs, dev_docs, dev_kind, n_gold


class _Stages:
    def __init__(self, out: Path, force: set[str]) -> None:
        self.path = out / "stages.json"
        self.data = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.force = force

    def fresh(self, stage: str, key: str) -> bool:
        """True when ``stage`` finished before with the same inputs and is not forced (nor an earlier one)."""
        forced = any(STAGES.index(f) <= STAGES.index(stage) for f in self.force)
        return not forced and self.data.get(stage, {}).get("key") == key

    def done(self, stage: str, key: str, **info: Any) -> None:
        self.data[stage] = {"key": key, "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **info}
        with atomic_write(self.path) as f:
            f.write(json.dumps(self.data, indent=2))


# ---------------------------------------------------------------------------------- measurement helpers
def _child(fn, args, queue) -> None:
    try:
        result = fn(*args)
        from smallext.measure import peak_rss_mb

        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        queue.put(("ok", result))
    except BaseException as e:  # reported to the parent
        queue.put(("error", f"{type(e).__name__}: {e}"))


def in_child(fn, *args) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh (spawned) process and return its dict result plus its own
    ``peak_rss_mb``.

    Raises:
        RuntimeError: the child raised (its error is quoted), or it died without a result (killed, out of
            memory, a crash in native code; its exit code is given) instead of leaving the parent waiting.
    """
    import queue

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    while True:
        try:
            status, result = q.get(timeout=0.5)
            break
        except queue.Empty:
            if p.is_alive():
                continue
            try:  # it may have exited just after putting its result
                status, result = q.get(timeout=2.0)
                break
            except queue.Empty:
                name = getattr(fn, "__name__", repr(fn))
                raise RuntimeError(f"the child process running {name} exited with code {p.exitcode} "
                                   "without a result") from None
    p.join()
    if status != "ok":
        raise RuntimeError(result)
    return result


def _timings(latencies_ms: list[float], n_docs: int, n_tokens: int, seconds: float) -> dict[str, float]:
    q = statistics.quantiles(latencies_ms, n=100) if len(latencies_ms) > 1 else [latencies_ms[0]] * 99
    return {"documents_per_s": n_docs / seconds, "tokens_per_s": n_tokens / seconds,
            "latency_p50_ms": q[49], "latency_p95_ms": q[94]}


MIN_PASSES, MIN_TIMED_S = 3, 3.0  # student throughput: timed passes over the measured documents


def measure_student(model_dir: str, texts: list[str], threads: int | None) -> dict[str, Any]:
    """Throughput and per-document latency of a packaged student, in this process.

    Throughput is timed the way :func:`~smallext.students.extractor.extract_file` runs a batch job (calls of
    ``FILE_CHUNK`` documents, windows batched 32 at a time by length), over repeated passes (at least
    ``MIN_PASSES``, and until ``MIN_TIMED_S`` seconds have passed): the median pass gives documents/s (one pass
    over 200 sentences takes under a second here, and single passes varied by 15% or more). Latency is one call
    per document. Returns ``documents_per_s``, ``tokens_per_s`` (whitespace tokens), ``latency_p50_ms``,
    ``latency_p95_ms`` and ``passes``.
    """
    from smallext.students.extractor import FILE_CHUNK, Extractor

    ex = Extractor.load(model_dir, threads=threads)
    ex.extract(texts[:8])
    lat = []
    for t in texts:
        t0 = time.perf_counter()
        ex.extract([t])
        lat.append((time.perf_counter() - t0) * 1000)
    passes: list[float] = []
    start = time.perf_counter()
    while len(passes) < MIN_PASSES or (time.perf_counter() - start < MIN_TIMED_S and len(passes) < 50):
        t0 = time.perf_counter()
        for lo in range(0, len(texts), FILE_CHUNK):
            ex.extract(texts[lo : lo + FILE_CHUNK])
        passes.append(time.perf_counter() - t0)
    out = _timings(lat, len(texts), sum(len(t.split()) for t in texts), statistics.median(passes))
    return {**out, "passes": len(passes)}


def run_teacher_on(spec: str, schema_path: str, opts: dict, docs_json: list[dict], store: str) -> dict[str, Any]:
    """Annotate documents with a teacher in this process (for :func:`in_child`); returns predictions and timing."""
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    docs = [Document.from_dict(d) for d in docs_json]
    price = opts.pop("price_per_mtok", None)
    teacher = load_teacher(spec, schema_path, **opts)
    summary = annotate(docs, teacher, None, store=store, progress=False, price_per_mtok=price)
    preds = summary.pop("documents_out")
    import sqlite3

    with sqlite3.connect(store) as db:
        lat = [r[0] * 1000 for r in db.execute("SELECT latency FROM calls WHERE error IS NULL AND latency > 0")]
    done = summary["annotated_all_runs"]
    if done:  # calls may overlap (concurrency): wall time is the cost, over the runs that did the work
        # (a re-run that finds every document in the store takes no time; its own clock would say so)
        seconds = summary["wall_seconds_all_runs"] * len(docs) / done
        basis = f"wall time over the {done} documents annotated (all runs)"
    elif summary["calls"]:  # a store written before runs kept a clock: the time its calls were in flight
        from smallext.teachers.store import Store

        seconds, basis = Store(store).busy_seconds(), "union of the call intervals recorded in the store"
    else:  # nothing recorded (no store runs)
        seconds, basis = summary["wall_seconds"], "wall time"
    n_tokens = sum(len(d.text.split()) for d in docs)
    timing = {"documents_per_s": len(docs) / max(seconds, 1e-9), "tokens_per_s": n_tokens / max(seconds, 1e-9),
              "seconds": round(seconds, 2), "timing_basis": basis,
              "latency_p50_ms": statistics.median(lat) if lat else None,
              "latency_p95_ms": statistics.quantiles(lat, n=100)[94] if len(lat) > 1 else (lat[0] if lat else None),
              "latency_unit": "per call (several documents per call)"}
    return {"preds": [d.to_dict() for d in preds], "summary": summary, "timing": timing}


# ------------------------------------------------------------------------------------------- the run
def distill(config: str | Path | dict | DistillConfig, *, force: list[str] | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a distillation and return its metrics (also written to ``OUTPUT/metrics.json``).

    Args:
        config: a config file, a dict, or a :class:`DistillConfig`.
        force: stages to redo (with the ones after them): ``annotate``, ``train``, ``evaluate``, ``report``.
        progress: show progress bars.

    Raises:
        ConfigError: invalid config (the field is named) or unknown stage.
    """
    from rich.console import Console

    from smallext.datasets import load_documents
    from smallext.evaluate import evaluate
    from smallext.io import read_jsonl
    from smallext.schema import load_schema
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    console = Console(stderr=True)
    if isinstance(config, DistillConfig):
        cfg, out = config, Path(config.output)
    else:
        cfg, out = load_config(config)
    for f in force or []:
        if f not in STAGES:
            raise ConfigError(f"unknown stage {f!r} for --force; stages: {', '.join(STAGES)}")
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(out, set(force or []))
    schema = load_schema(cfg.schema_path)
    topts = cfg.teacher_options.model_dump()
    price = topts.pop("price_per_mtok")
    t_start = time.perf_counter()

    # 1. annotate ------------------------------------------------------------------------------------
    corpus = _read_corpus(cfg)
    silver_path = out / "silver.jsonl"
    # jump-forward decoding is left out of the key, as it is of the reply cache's: it changes how fast the
    # replies come, and a finished annotation is not redone for it
    key_opts = {k: v for k, v in topts.items() if k != "jump_forward"}
    key1 = _hash([cfg.teacher, key_opts, [d.text for d in corpus], schema.model_dump()])
    if stages.fresh("annotate", key1) and silver_path.is_file():
        console.print(f"[annotate] reusing {silver_path}")
        ann = stages.data["annotate"]["summary"]
    else:
        console.print(f"[annotate] {len(corpus)} documents with {cfg.teacher}")
        teacher = load_teacher(cfg.teacher, schema, **topts)
        if teacher.uses_gold:  # experiments only: copy the corpus's own labels
            corpus = [d for s in ([cfg.corpus] if isinstance(cfg.corpus, str) else cfg.corpus)
                      for d in load_documents(s)][: cfg.corpus_limit or None]
        try:
            ann = annotate(corpus, teacher, silver_path, store=out / "silver.store.sqlite", progress=progress,
                           price_per_mtok=price)
            ann["teacher_description"] = teacher.describe()
        finally:
            teacher.close()  # a local LLM's weights and KV cache are not needed for training
        ann.pop("documents_out")
        stages.done("annotate", key1, summary=ann)
    silver = [d for d in read_jsonl(silver_path) if "teacher_error" not in d.meta]

    # 2. train ---------------------------------------------------------------------------------------
    from smallext.students.train import TrainConfig, train_student

    model_dir = out / "model"
    train_docs, dev_docs, dev_kind, n_gold = student_data(cfg, schema, silver)
    # gold_examples and student.layers enter the key only when used, so runs finished before the options
    # existed stay finished
    key2 = _hash([key1, cfg.student.model_dump(exclude={"layers"} if cfg.student.layers is None else set()),
                  cfg.dev, cfg.holdout]
                 + ([cfg.gold_examples, cfg.teacher_options.examples] if cfg.gold_examples else []))
    if stages.fresh("train", key2) and (model_dir / "model.onnx").is_file():
        console.print(f"[train] reusing {model_dir}")
        train_info = stages.data["train"]["info"]
    else:
        pool = cfg.teacher_options.examples
        console.print(f"[train] student on {training_data(len(train_docs), n_gold, cfg.teacher, pool)} "
                      f"(dev: {dev_kind})")
        tcfg = TrainConfig(**cfg.student.model_dump())
        card = {"training_data": f"{cfg.corpus} labelled by the teacher ({len(train_docs) - n_gold} documents)"
                                 + gold_examples_note(n_gold, pool),
                "teacher": cfg.teacher + (" (gold labels copied: an upper bound, not a real teacher)"
                                          if cfg.teacher == "gold" else ""),
                "notes": [f"Early stopping on {dev_kind}."]}
        t0 = time.perf_counter()
        summary = train_student(schema, train_docs, dev_docs, model_dir, tcfg, card=card, progress=progress)
        train_info = {"seconds": round(time.perf_counter() - t0, 1), "train_documents": len(train_docs),
                      "gold_documents": n_gold, "dev": dev_kind,
                      "dev_f1_int8": summary["dev_int8"]["micro"]["f1"] if summary["dev_int8"] else None}
        stages.done("train", key2, info=train_info)

    # 3. evaluate ------------------------------------------------------------------------------------
    metrics_path = out / "metrics.json"
    key3 = _hash([key2, cfg.test, cfg.teacher_test_limit, cfg.measure_documents])
    if stages.fresh("evaluate", key3) and metrics_path.is_file():
        console.print("[evaluate] reusing metrics.json")
        metrics = json.loads(metrics_path.read_text())
    else:
        t_eval = time.perf_counter()
        metrics = {"config": cfg.model_dump(by_alias=True), "annotation": ann, "training": train_info}
        if cfg.test:
            test = schema.map_documents(load_documents(cfg.test))
            sample = test[: cfg.teacher_test_limit] if cfg.teacher_test_limit else test
            console.print(f"[evaluate] teacher on {len(sample)} of {len(test)} test documents")
            t = in_child(run_teacher_on, cfg.teacher, cfg.schema_path, dict(topts),
                         [d.to_dict() for d in sample], str(out / "teacher_test.store.sqlite"))
            teacher_preds = [Document.from_dict(d) for d in t["preds"]]
            console.print("[evaluate] student")
            from smallext.students.extractor import Extractor

            student_preds = Extractor.load(model_dir, threads=cfg.student.threads).extract(test)
            by_id = {d.id: d for d in student_preds}
            student_sample = [by_id[d.id] for d in sample]
            texts = [d.text for d in test[: cfg.measure_documents]]
            s_time = in_child(measure_student, str(model_dir), texts, cfg.student.threads)
            size = sum(p.stat().st_size for p in model_dir.iterdir()) / 1e6
            metrics["test"] = {
                "dataset": cfg.test, "documents": len(test), "teacher_documents": len(sample),
                "teacher_sampled": len(sample) < len(test),
                "teacher": {"scores": evaluate(sample, teacher_preds), "timing": t["timing"],
                            "peak_rss_mb": t["peak_rss_mb"], "annotation": t["summary"]},
                "student": {"scores": evaluate(test, student_preds),
                            "scores_on_teacher_sample": evaluate(sample, student_sample),
                            "timing": s_time, "peak_rss_mb": s_time["peak_rss_mb"], "size_mb": round(size, 1)},
                "agreement": evaluate(teacher_preds, student_sample, n_boot=0),
            }
            tt, st = metrics["test"]["teacher"]["timing"], s_time
            metrics["test"]["speedup_documents_per_s"] = st["documents_per_s"] / max(tt["documents_per_s"], 1e-12)
        metrics["stage_seconds"] = {"annotate": ann.get("wall_seconds_all_runs") or ann["wall_seconds"],
                                    "train": train_info.get("seconds"),
                                    "evaluate": round(time.perf_counter() - t_eval, 1)}
        metrics["wall_seconds"] = round(time.perf_counter() - t_start, 1)
        with atomic_write(metrics_path) as f:
            f.write(json.dumps(metrics, indent=2, default=str))
        stages.done("evaluate", key3)

    # 4. report --------------------------------------------------------------------------------------
    from smallext.report import write_report

    write_report(metrics, out)
    stages.done("report", _hash([key3, metrics.get("wall_seconds")]))
    console.print(f"[report] {out / 'report.md'}, {out / 'report.html'}")
    return metrics
