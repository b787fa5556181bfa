"""The ``smallext`` command line. Every verb is a thin call of a public Python function.

Errors from bad input (:class:`~smallext.errors.SmallextError`, missing files) are printed as one line
naming the file, line or field, and the process exits with status 1.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from smallext.errors import SmallextError

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
    from_fmt: Annotated[str | None, typer.Option("--from", help="conll, tsv, wikiann, jsonl or text.")] = None,
    to_fmt: Annotated[str | None, typer.Option("--to", help="conll, tsv, jsonl or text.")] = None,
    scheme: Annotated[str | None, typer.Option(help="Tag scheme of a conll input: iob1 or iob2 (detected).")] = None,
    group_documents: Annotated[
        bool, typer.Option("--group-documents", help="One document per -DOCSTART- article.")
    ] = False,
) -> None:
    """Convert a corpus between formats (formats from extensions, or --from/--to)."""
    from smallext.io import convert

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
) -> None:
    """Entity-level strict-match precision, recall and F1 (micro, macro, per type) with a bootstrap CI."""
    from smallext.datasets import load_documents
    from smallext.evaluate import evaluate, render_table

    result = evaluate(load_documents(gold), load_documents(pred), subset=subset, n_boot=n_boot)
    out.print(render_table(result))
    m = result["micro"]
    lo, hi = m["ci95"]
    out.print(f"micro F1 {m['f1']:.4f}  (95% CI {lo:.4f}-{hi:.4f}, {result['documents']:,} documents)")
    if json_out is not None:
        write_json(result, json_out)


@app.command("train")
@handle_errors
def train_cmd(
    schema: Annotated[Path, typer.Option(help="Schema file (YAML/JSON).")],
    train: Annotated[str, typer.Option(help="Training data: dataset (conll2003:train) or file.")],
    out: Annotated[Path, typer.Option(help="Packaged model directory to write.")],
    dev: Annotated[str | None, typer.Option(help="Dev data for best-epoch selection.")] = None,
    test: Annotated[str | None, typer.Option(help="Test data, scored with the int8 model.")] = None,
    base_model: Annotated[str, typer.Option(help="minilm, mpnet, a directory or a Hugging Face id.")] = "minilm",
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the encoder.")] = 1e-4,
    seed: Annotated[int, typer.Option()] = 13,
    casing: Annotated[bool, typer.Option(help="Learned casing-feature embedding.")] = True,
    group_documents: Annotated[
        bool, typer.Option("--group-documents", help="Train on whole -DOCSTART- articles (document context).")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch and onnxruntime.")] = None,
) -> None:
    """Train a student, export it to ONNX int8, and write the model directory with its model card."""
    from smallext.students.train import TrainConfig, train_student

    cfg = TrainConfig(
        base_model=base_model, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, casing=casing, threads=threads
    )
    summary = train_student(schema, train, dev, out, cfg, test_data=test, group_documents=group_documents)
    for key in ("dev_torch", "dev_int8", "test_int8"):
        if summary[key] is not None:
            console.print(f"{key}: micro F1 {summary[key]['micro']['f1']:.4f}")
    console.print(f"model written to {summary['model_dir']}")


@app.command("extract")
@handle_errors
def extract_cmd(
    model: Annotated[Path, typer.Option(help="Packaged model directory.")],
    input: Annotated[str | None, typer.Argument(help=".txt (one document per line) or .jsonl; default stdin.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default stdout).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Input format: text or jsonl.")] = None,
    threads: Annotated[int | None, typer.Option(help="onnxruntime threads.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
) -> None:
    """Extract spans with a packaged student; writes JSONL documents."""
    from smallext.students.extractor import extract_file

    n = extract_file(model, input, out, fmt=fmt, threads=threads, batch_size=batch_size)
    if out is not None:
        console.print(f"wrote {n:,} documents to {out}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
