"""Human-readable reports of a distillation: ``report.md`` and a one-page ``report.html`` with plots.

The report is rendered from ``metrics.json``, whose typed form is :class:`Metrics` (the evaluate stage builds one
and writes its dump; :func:`render_markdown` and the kinds' report sections read one). Each kind of output with a
``report`` part (``kinds/<kind>/report.py``: ``section(test) -> lines``) adds its section of the test results, in
registration order; :func:`per_type_table` is the per-type F1 table they share.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_serializer, model_validator

from smallext.doc import Document
from smallext.evaluate import Evaluation, TypeScores
from smallext.io.atomic import atomic_write
from smallext.kinds import KINDS
from smallext.schema import Schema
from smallext.students.base import layers_phrase

__all__ = ["AnnotationClock", "AnnotationSummary", "Facts", "Metrics", "RayTiming", "RunConfig", "StageSeconds",
           "StudentResult", "TeacherResult", "TestResults", "Timing", "TrainingFacts", "annotation_time",
           "gold_examples_note", "html_page", "kind_sections", "labels_kind", "per_type_table", "plots",
           "quality_lines", "render_html", "render_markdown", "review_curve", "review_lines", "review_notes",
           "training_data", "write_report"]

Number = int | float
"""A count of seconds and the like, kept as written (an int stays an int in the JSON)."""


class Facts(BaseModel):
    """A part of ``metrics.json``: the fields its readers use, typed; every other key kept as it came. Its dump has
    the keys it was given, in the order given (a field left out stays out), so that a file read and written again,
    and the file the writer builds, keep the shape they have always had."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        if isinstance(data, dict):
            model._order = tuple(data)
        return model

    @model_serializer(mode="wrap")
    def _as_given(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        fields = type(self).model_fields
        given = {fields[n].alias or n if n in fields else n for n in self.model_fields_set}
        names = {n: fields[n].alias or n for n in fields}
        order = [names.get(k, k) for k in self._order]
        rank = {k: i for i, k in enumerate(order)}
        return {k: out[k] for k in sorted((k for k in out if k in given), key=lambda k: rank.get(k, len(rank)))}


class StudentFacts(Facts):
    """The config's ``student`` (:class:`~smallext.students.options.StudentOptions` as written)."""

    base_model: str
    epochs: int
    layers: int | None = None


class TeacherOptionsFacts(Facts):
    """The config's ``teacher_options`` (the teacher kind's options as written)."""

    examples: str | None = None


class RunConfig(Facts):
    """``config``: the distill config as run (:class:`~smallext.pipeline.config.DistillConfig`'s dump by alias)."""

    schema_path: str = Field(alias="schema")
    corpus: str | list[str]
    teacher: str
    student: StudentFacts
    teacher_options: TeacherOptionsFacts | None = None
    dev: str | None = None
    notes: list[str] = Field(default_factory=list)


class AnnotationClock(Facts):
    """What :func:`annotation_time` reads of an annotation summary."""

    documents: int
    wall_seconds: Number
    annotated_this_run: int | None = None
    annotated_all_runs: int | None = None
    wall_seconds_all_runs: Number | None = None


class AnnotationSummary(AnnotationClock):
    """``annotation``: the teacher's :func:`~smallext.teachers.annotate.annotate` summary of the corpus."""

    spans: int
    failed: int
    ungrounded_rate: float
    tokens_in: int
    tokens_out: int
    estimated_cost: Number | None = None


class TrainingFacts(Facts):
    """``training``: what the student trained on (the train stage's result)."""

    train_documents: int
    gold_documents: int | None = None
    dev: str | None = None
    seconds: Number | None = None
    dev_f1_int8: float | None = None


class Timing(Facts):
    """Throughput and latency of one system (:mod:`smallext.measure`)."""

    documents_per_s: float
    tokens_per_s: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_unit: str | None = None
    passes: int | None = None


class RayTiming(Facts):
    """The student's batch throughput on a Ray cluster (:func:`~smallext.scale.extract.ray_throughput`)."""

    documents: int
    workers: int
    threads: int
    documents_per_s: float


class TeacherResult(Facts):
    """The teacher on the test sample: its scores, speed and memory."""

    scores: Evaluation
    timing: Timing
    peak_rss_mb: float
    annotation: dict[str, Any] | None = None


class StudentResult(Facts):
    """The student on the whole test set (and on the teacher's sample): scores, speed, memory, size."""

    scores: Evaluation
    scores_on_teacher_sample: Evaluation
    timing: Timing
    peak_rss_mb: float
    size_mb: float
    timing_ray: RayTiming | None = None


class TestResults(Facts):
    """``test``: teacher and student on the gold test set, side by side, and their agreement."""

    __test__ = False  # not a pytest class

    dataset: str
    documents: int
    teacher_documents: int
    teacher_sampled: bool
    teacher: TeacherResult
    student: StudentResult
    agreement: Evaluation
    speedup_documents_per_s: float


class StageSeconds(Facts):
    """``stage_seconds``: wall time of the annotate, train and evaluate stages."""

    annotate: Number
    train: Number | None = None
    evaluate: Number


class Metrics(Facts):
    """``metrics.json``, a distill run's measurements (written by the pipeline's evaluate stage).

    ``quality`` and ``review`` are the quality and review stages' summaries as they wrote them. Files written by
    earlier releases validate too (their evaluation results have entity scores at the top level only)."""

    config: RunConfig
    annotation: AnnotationSummary
    training: TrainingFacts
    quality: dict[str, Any] | None = None
    review: dict[str, Any] | None = None
    test: TestResults | None = None
    stage_seconds: StageSeconds | None = None
    wall_seconds: Number | None = None


def annotation_time(ann: AnnotationClock | dict[str, Any]) -> str:
    """The teacher's annotation wall time, in words, from an :func:`~smallext.teachers.annotate.annotate`
    summary: over every run of its store when they kept a clock, else the last run's and for how many documents."""
    a = AnnotationClock.model_validate(ann)
    if a.annotated_all_runs:
        n = a.annotated_all_runs
        return f"{(a.wall_seconds_all_runs or 0) / 60:.1f} min for {n} documents" + (
            "" if n == a.documents else f" (of {a.documents}; the rest from earlier runs without a clock)")
    n = a.documents if a.annotated_this_run is None else a.annotated_this_run
    if n and n != a.documents:
        return f"{a.wall_seconds / 60:.1f} min for the {n} documents annotated by the last run"
    return f"{a.wall_seconds / 60:.1f} min"


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def _rows(m: Metrics) -> list[list[str]]:
    t = m.test
    rows = []
    for r, label in ((t.teacher, f"teacher ({m.config.teacher})"), (t.student, "student (int8 ONNX)")):
        s, tm = r.scores.entities.micro, r.timing
        rows.append([
            label, f"{s.f1:.3f} ({s.ci95[0]:.3f}-{s.ci95[1]:.3f})", _f(s.precision), _f(s.recall),
            str(r.scores.documents), _f(tm.documents_per_s, ",.2f"), _f(tm.tokens_per_s, ",.0f"),
            _f(tm.latency_p50_ms, ",.1f"), _f(tm.latency_p95_ms, ",.1f"), _f(r.peak_rss_mb, ",.0f"),
        ])
    return rows


HEAD = ["system", "F1 (95% CI)", "precision", "recall", "documents", "documents/s", "tokens/s", "p50 ms",
        "p95 ms", "peak RSS MB"]


def labels_kind(teacher: str) -> str:
    """What the corpus's labels are called: ``silver`` (a teacher's), or ``gold`` for the ``gold`` teacher,
    which copies the corpus's own labels."""
    return "gold" if teacher == "gold" else "silver"


def gold_examples_note(gold_documents: int, pool: str | None, *, markdown: bool = False) -> str:
    """``" and M gold documents of POOL"`` (POOL in backticks for Markdown) when gold examples were added
    to the student's training data, else ``""``."""
    if not gold_documents:
        return ""
    return f" and {gold_documents} gold documents of " + (f"`{pool}`" if markdown else str(pool))


def training_data(train_documents: int, gold_documents: int, teacher: str, pool: str | None, *,
                  markdown: bool = False) -> str:
    """What the student trained on: ``"N silver documents"`` (``gold`` for the ``gold`` teacher, see
    :func:`labels_kind`) followed by :func:`gold_examples_note`; ``train_documents`` counts both."""
    return (f"{train_documents - gold_documents} {labels_kind(teacher)} documents"
            + gold_examples_note(gold_documents, pool, markdown=markdown))


def _training_data(t: TrainingFacts, cfg: RunConfig) -> str:
    return training_data(t.train_documents, t.gold_documents or 0, cfg.teacher,
                         cfg.teacher_options.examples if cfg.teacher_options else None, markdown=True)


def quality_lines(q: dict[str, Any] | None) -> list[str]:
    """The report's section on the quality stage: flags of the teacher's labels and what the repair changed."""
    if not q:
        return []
    f, rounds = q["flags"], q["rounds"]
    total = {k: sum(r[k] for r in rounds) for k in ("dropped", "retyped", "reshaped", "added")}
    lines = ["## Quality of the teacher's labels", "",
             f"Cross-fitted students read the {q['documents']} labelled documents"
             + (f" (each also trained on {q['anchors']} gold documents of the example pool)"
                if q.get("anchors") else "")
             + f": {f['flags']} flags with an "
             f"error score of at least {f['threshold']} ("
             + ", ".join(f"{n} {k}" for k, n in sorted(f["per_kind"].items())) + "). "
             f"The repair ({len(rounds)} round{'s' if len(rounds) > 1 else ''}) dropped {total['dropped']} spans, "
             f"retyped {total['retyped']}, moved the edges of {total['reshaped']} and added {total['added']}: "
             f"{q['spans_before']} spans before, {q['spans_after']} after. The flags and a page of the worst "
             "documents are `flags.jsonl` and `quality.html`.", ""]
    e = q.get("escalated")
    if e:
        lines[-2:-1] = [lines[-2] + f" Before repairing, the {e['documents']} most doubted documents "
                        f"({e['share']:.0%}) were labelled again by `{e['teacher']}`: {e['calls']} calls, "
                        f"{e['tokens_in']:,} tokens in and {e['tokens_out']:,} out, {e['wall_seconds'] / 60:.1f} min"
                        + (f", {e['failed']} failed (their first labels kept)" if e["failed"] else "") + "."]
    if q.get("student_without_repair"):
        w, wo = (Evaluation.model_validate(q[k]).entities.micro for k in ("student_with_repair",
                                                                          "student_without_repair"))
        lines += [f"Student F1 on the test set with the repair {w.f1:.3f} (P {w.precision:.3f}, R "
                  f"{w.recall:.3f}); without it, on the teacher's labels as given, {wo.f1:.3f} (P "
                  f"{wo.precision:.3f}, R {wo.recall:.3f}).", ""]
    per_type: dict[str, dict[str, int]] = {}
    for r in rounds:
        for t, c in r["per_type"].items():
            for k, n in c.items():
                per_type.setdefault(t, {})[k] = per_type.get(t, {}).get(k, 0) + n
    if per_type:
        lines += ["| type | dropped | retyped | moved | added |", "|---|---|---|---|---|"]
        lines += [f"| {t} | {c.get('dropped', 0)} | {c.get('retyped', 0)} | {c.get('reshaped', 0)} "
                  f"| {c.get('added', 0)} |" for t, c in sorted(per_type.items())]
        lines.append("")
    return lines


def review_notes(review: dict[str, Any] | None) -> list[str]:
    """The model card's and report's sentence on the review stage: how many documents, selected how, reviewed
    by whom (a simulated reviewer is named as one)."""
    if not review:
        return []
    who = (f"a simulated reviewer (the gold labels of {review.get('gold')} copied for the selected documents, "
           "not a person)" if review["reviewer"] == "simulated" else "a person in Label Studio")
    carried = review.get("carried") or 0
    return [f"{review['reviewed'] - carried} documents selected by `{review['strategy']}` in "
            f"{len(review['rounds'])} round(s) were reviewed by {who}"
            + (f", beside {carried} reviewed by a person in Label Studio under earlier settings" if carried else "")
            + "; their reviewed labels replace the teacher's."]


def review_curve(m: Metrics | dict[str, Any]) -> tuple[list[int], list[float]] | None:
    """F1 on the gold dev set against documents reviewed: each review round's selecting student (trained on the
    labels reviewed so far) and the final student, or ``None`` when there is no gold dev set (``dev`` in the
    config) or fewer than two such students (strategies ``random`` and ``errors`` train none in the rounds).
    Returns ``(documents reviewed, micro F1 (strict, int8 ONNX))``."""
    m = Metrics.model_validate(m)
    review = m.review
    if not review or not m.config.dev:
        return None
    xs, ys, seen = [], [], review.get("carried") or 0  # documents reviewed under earlier settings count too
    for r in review["rounds"]:
        if r.get("dev_f1") is not None:
            xs.append(seen)
            ys.append(r["dev_f1"])
        seen += r["reviewed"]
    if m.training.dev_f1_int8 is not None:
        xs.append(seen)
        ys.append(m.training.dev_f1_int8)
    return (xs, ys) if len(xs) >= 2 else None


def review_lines(m: Metrics | dict[str, Any]) -> list[str]:
    """The report's section on the review loop: who reviewed, what each round changed, and (with a gold dev
    set) the dev F1 of the student trained on the labels reviewed so far (:func:`review_curve`)."""
    m = Metrics.model_validate(m)
    review = m.review
    if not review:
        return []
    lines = ["## Review", "", *review_notes(review), "", "| round | reviewed | spans before | spans after | "
             "span changes | not reviewed |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['round']} | {r['reviewed']} | {r['spans_before']} | {r['spans_after']} | {r['changed']} "
              f"| {len(r.get('skipped') or [])} |" for r in review["rounds"]]
    curve = review_curve(m)
    if curve:
        lines += ["", f"Student F1 on the gold dev set (`{m.config.dev}`) against documents reviewed (the "
                      "students of the rounds, then the final one):", "",
                  "| documents reviewed | " + " | ".join(str(x) for x in curve[0]) + " |",
                  "|---|" + "---|" * len(curve[0]),
                  "| dev F1 | " + " | ".join(f"{y:.3f}" for y in curve[1]) + " |"]
    return [*lines, ""]


def per_type_table(first: str, teacher: dict[str, TypeScores], student: dict[str, TypeScores],
                   columns: tuple[str, str] = ("teacher", "student")) -> list[str]:
    """A Markdown table of F1 per type, teacher and student side by side, with each type's gold support (the
    student's count, else the teacher's): the one per-type table every kind's report section uses.

    Args:
        first: the first column's heading (``type``, ``relation type``).
        teacher: the teacher's per-type scores (a section's ``per_type``); a type missing from one side is ``-``.
        student: the student's.
        columns: the headings of the teacher's and the student's columns.
    """
    lines = [f"| {first} | {columns[0]} | {columns[1]} | support |", "|---|---|---|---|"]
    for typ in sorted(set(teacher) | set(student)):
        t, s = teacher.get(typ), student.get(typ)
        lines.append(f"| {typ} | {_f(t.f1 if t else None)} | {_f(s.f1 if s else None)} | {(s or t).support} |")
    return lines


def kind_sections(t: TestResults) -> list[list[str]]:
    """The report sections of the kinds of output with a ``report`` part (``section(test) -> lines``), in
    registration order; a kind with nothing to show (no section in the scores) gives none."""
    out = []
    for kind in KINDS.values():
        if kind.has("report"):
            lines = kind.load("report")(t)
            if lines:
                out.append(lines)
    return out


def render_markdown(m: Metrics | dict[str, Any], examples: str | None = None) -> str:
    """``report.md`` of a distill run's metrics (a :class:`Metrics` or the ``metrics.json`` it validates from);
    ``examples``, the examples page's file name beside it, adds a link to it in the test section."""
    m = Metrics.model_validate(m)
    cfg, ann = m.config, m.annotation
    lines = ["# smallext distillation report", "",
             f"- Schema: `{cfg.schema_path}`; corpus: `{cfg.corpus}`; teacher: `{cfg.teacher}`",
             f"- Student: `{cfg.student.base_model}`{layers_phrase(cfg.student.layers)}, "
             f"{cfg.student.epochs} epochs; "
             f"trained on {_training_data(m.training, cfg)}; early stopping on {m.training.dev}",
             f"- Annotation: {ann.documents} documents, {ann.spans} spans, {ann.failed} failed, "
             f"ungrounded rate {ann.ungrounded_rate:.1%}, tokens in/out {ann.tokens_in:,}/{ann.tokens_out:,}, "
             f"annotation wall time {annotation_time(ann)}"
             + (f", estimated cost {ann.estimated_cost}" if ann.estimated_cost is not None else ""), ""]
    if cfg.notes:
        lines += ["## Why this configuration", "", *[f"- {n}" for n in cfg.notes], ""]
    if cfg.teacher == "gold":
        lines += ["> The teacher is `gold`: it copies the gold labels. This is an upper bound for experiments, "
                  "not a real teacher.", ""]
    lines += quality_lines(m.quality)
    lines += review_lines(m)
    if m.test is None:
        lines += ["No gold test set was given, so there are no test scores.", ""]
        return "\n".join(lines)
    t = m.test
    lines += [f"## Test: `{t.dataset}` ({t.documents} documents)", ""]
    if t.teacher_sampled:
        lines += [f"> The teacher was evaluated on the first {t.teacher_documents} of {t.documents} test "
                  "documents to bound its run time; the student on all of them (and on the same sample, below).", ""]
    lines += ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(m)]
    same, ray, timing = t.student.scores_on_teacher_sample.entities.micro, t.student.timing_ray, t.student.timing
    lines += ["",
              f"- Student F1 on the teacher's documents: {same.f1:.3f} "
              f"(teacher {t.teacher.scores.entities.micro.f1:.3f})",
              f"- Agreement (student scored against the teacher's labels): F1 {t.agreement.entities.micro.f1:.3f}",
              *([f"- Student on Ray ({ray.workers} workers x {ray.threads} threads): "
                 f"{ray.documents_per_s:,.1f} documents/s over {ray.documents} documents"] if ray else []),
              f"- Student speed-up over the teacher: {t.speedup_documents_per_s:,.0f}x documents/s; "
              f"model size {t.student.size_mb} MB",
              f"- Teacher latency is {t.teacher.timing.latency_unit or 'per document'}; "
              "student latency is per document at batch 1, its throughput that of a batch job "
              "(`smallext extract` on a file)" + (f", the median of {timing.passes} timed passes "
                                                   "over the measured documents"
                                                   if timing.passes is not None else ""),
              *([f"- Examples: [{examples}]({examples}), the test documents the teacher labelled with the "
                 "teacher's and the student's labels side by side, those they disagree on most first"]
                if examples else [])]
    for section in kind_sections(t):
        lines += ["", *section]
    st = m.stage_seconds
    stages = (f"; by stage: annotation {st.annotate / 60:.1f} min, training {(st.train or 0) / 60:.1f} min, "
              f"evaluation {st.evaluate / 60:.1f} min") if st else ""
    lines += ["", "Wall time of the distill run that made these measurements: "
                  f"{(m.wall_seconds or 0) / 60:.1f} min{stages}", ""]
    return "\n".join(lines)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(m: Metrics | dict[str, Any]) -> list[str]:
    """Base64 PNGs: F1 against documents/s (log axis), per-type F1 bars, and with a review loop and a gold dev
    set, dev F1 against documents reviewed (:func:`review_curve`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = Metrics.model_validate(m)
    t = m.test
    out = []
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for who, r, colour in (("teacher", t.teacher, "tab:red"), ("student", t.student, "tab:blue")):
        x = r.timing.documents_per_s
        y = r.scores.entities.micro.f1
        lo, hi = r.scores.entities.micro.ci95
        ax.errorbar([x], [y], yerr=[[y - lo], [hi - y]], fmt="o", color=colour, capsize=4, label=who)
        ax.annotate(who, (x, y), textcoords="offset points", xytext=(8, 6))
    ax.set_xscale("log")
    ax.set_xlabel("documents per second (log scale)")
    ax.set_ylabel("F1 (strict, micro)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Accuracy against throughput")
    out.append(_png(fig))
    plt.close(fig)
    tp, sp = t.teacher.scores.entities.per_type, t.student.scores.entities.per_type
    types = sorted(set(tp) | set(sp))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(types)), 3.6))
    xs = range(len(types))
    ax.bar([x - 0.2 for x in xs], [tp[k].f1 if k in tp else 0 for k in types], 0.4, label="teacher",
           color="tab:red")
    ax.bar([x + 0.2 for x in xs], [sp[k].f1 if k in sp else 0 for k in types], 0.4, label="student",
           color="tab:blue")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(types, rotation=45, ha="right")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("F1 per entity type")
    out.append(_png(fig))
    plt.close(fig)
    curve = review_curve(m)
    if curve:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.plot(*curve, marker="o", label=m.review["strategy"])
        ax.set_xlabel("documents reviewed")
        ax.set_ylabel("F1 on the gold dev set (strict, micro)")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title("What the review budget bought")
        out.append(_png(fig))
        plt.close(fig)
    return out


def _links(text: str) -> str:
    """``text`` escaped, with its Markdown links to local files (``[name](file.html)``) as links."""
    return re.sub(r"\[([^\]]+)\]\(([\w.-]+)\)", r'<a href="\2">\1</a>', html.escape(text))


def render_html(m: Metrics | dict[str, Any], markdown: str) -> str:
    """One self-contained page: the report's facts as HTML, with the plots embedded."""
    m = Metrics.model_validate(m)
    body = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
            else:
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{html.escape(line[2:])}</blockquote>")
        elif line.startswith("- "):
            body.append(f"<li>{_links(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{_links(line)}</p>")
    if in_table:
        body.append("</table>")
    if m.test is not None:
        body += [f'<img alt="plot" src="data:image/png;base64,{p}">' for p in plots(m)]
    return html_page("smallext report", "".join(body))


STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
         "th:first-child,td:first-child{text-align:left}"
         "blockquote{background:#fff6e0;padding:.5em 1em;margin:1em 0}"
         "img{display:block;margin:1em 0;max-width:100%}")


def html_page(title: str, body: str, style: str = "") -> str:
    """A self-contained HTML page in the reports' style; ``body`` is HTML, ``style`` extra CSS."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}{style}</style></head><body>{body}</body></html>")


def write_report(metrics: Metrics | dict[str, Any], out_dir: str | Path, *,
                 examples: tuple[Sequence[Document], Sequence[Document]] | None = None,
                 schema: Schema | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` (atomically) from a run's metrics (a
    :class:`Metrics` or the ``metrics.json`` it validates from). Returns their paths.

    With ``examples``, ``(teacher's documents, student's documents)`` of the test set, also ``examples.html``
    beside them (:func:`smallext.visualize.write_examples`, ``schema`` the schema they follow), linked from the
    report's test section; raises :class:`~smallext.errors.DocumentError` as that function does."""
    metrics = Metrics.model_validate(metrics)
    out_dir = Path(out_dir)
    if examples is not None:
        from smallext.visualize import write_examples

        write_examples(out_dir / "examples.html", *examples, schema=schema, title="smallext examples: teacher "
                       "and student on the test documents")
    md = render_markdown(metrics, "examples.html" if examples is not None and metrics.test is not None else None)
    with atomic_write(out_dir / "report.md") as f:
        f.write(md)
    with atomic_write(out_dir / "report.html") as f:
        f.write(render_html(metrics, md))
    return out_dir / "report.md", out_dir / "report.html"
