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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
