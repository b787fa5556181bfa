"""Input shards: a corpus (files or folders of JSONL, text or Parquet) cut into pieces that workers read alone.

The driver plans shards by streaming over the files once (byte offsets of line starts; Parquet row groups
from the file footer), so it never holds the documents. A worker reads its shard from its byte range or row
groups and knows the 1-based line (row) of every record, so a bad record is reported as ``file:line`` with
the field at fault, and a document's id and meta are those the single-process readers give:

* text (``.txt``): one document per line, empty lines kept, id ``NAME:LINE``, ``meta["line"]`` (as
  :func:`smallext.io.read_text`);
* JSONL (``.jsonl``, ``.json``): one :class:`~smallext.doc.Document` per non-blank line (as
  :func:`smallext.io.iter_jsonl`); a repeated id is caught within a shard, not across shards;
* Parquet (``.parquet``): a ``text`` column (string) and an optional ``id`` column; rows without an id
  get ``NAME:ROW`` (1-based), and ``meta["row"]``.

Lines end with ``\\n`` (or ``\\r\\n``); a lone ``\\r`` does not end a line here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.formats import format_from_path
from smallext.io.jsonl import iter_jsonl

__all__ = ["INPUT_FORMATS", "Shard", "input_files", "plan_shards", "read_shard"]

INPUT_FORMATS = ("jsonl", "text", "parquet")
_READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Shard:
    """A piece of one input file.

    Attributes:
        index: position of the shard in the whole input (0-based); output part ``index`` holds its documents.
        path: the input file.
        fmt: ``jsonl``, ``text`` or ``parquet``.
        start, end: byte range ``[start, end)`` (text, JSONL) or row-group range (Parquet).
        first_line: 1-based line (Parquet: row) of the shard's first record.
        records: documents the shard holds when every record is good.
    """

    index: int
    path: str
    fmt: str
    start: int
    end: int
    first_line: int
    records: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        kind = fmt
    elif path.suffix.lower() == ".parquet":
        kind = "parquet"
    else:
        kind = format_from_path(path)
    if kind not in INPUT_FORMATS:
        raise FormatError(path, None, f"extraction at scale reads {', '.join(INPUT_FORMATS)}, not {kind!r}")
    return kind


def input_files(inputs: str | Path | Sequence[str | Path], fmt: str | None = None) -> list[tuple[Path, str]]:
    """The input files and their formats: each file as given, each folder's files (recursively, sorted by
    path) whose extension names a readable format (hidden files skipped).

    Raises:
        FileNotFoundError: an input does not exist.
        FormatError: a file's format cannot be told from its extension (give ``fmt``) or is not readable here.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    out: list[tuple[Path, str]] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
                if fmt is not None or f.suffix.lower() in (".jsonl", ".json", ".txt", ".parquet"):
                    out.append((f, _format(f, fmt)))
        elif p.is_file():
            out.append((p, _format(p, fmt)))
        else:
            raise FileNotFoundError(f"no such input file or folder: {p}")
    return out


def _line_shards(path: Path, fmt: str, per_shard: int, index: int) -> Iterator[Shard]:
    """Shards of ``per_shard`` documents of a text or JSONL file, found by streaming over its bytes."""
    start = pos = 0
    first = line = 1
    count = 0
    blank = re.compile(rb"\s*")
    with open(path, "rb") as f:
        for raw in f:
            if fmt == "text" or not blank.fullmatch(raw):
                if count == per_shard:
                    yield Shard(index, str(path), fmt, start, pos, first, count)
                    index, start, first, count = index + 1, pos, line, 0
                count += 1
            pos += len(raw)
            line += 1
    if count:
        yield Shard(index, str(path), fmt, start, pos, first, count)


def _parquet_shards(path: Path, per_shard: int, index: int) -> Iterator[Shard]:
    """Shards of whole row groups, about ``per_shard`` rows each."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    lo, rows, first = 0, 0, 1
    for g in range(meta.num_row_groups):
        rows += meta.row_group(g).num_rows
        if rows >= per_shard:
            yield Shard(index, str(path), "parquet", lo, g + 1, first, rows)
            index, lo, first, rows = index + 1, g + 1, first + rows, 0
    if rows:
        yield Shard(index, str(path), "parquet", lo, meta.num_row_groups, first, rows)


def plan_shards(files: Sequence[tuple[Path, str]], per_shard: int) -> Iterator[Shard]:
    """Cut the files into shards of ``per_shard`` documents (the last of each file may hold fewer; Parquet:
    whole row groups, at least ``per_shard`` rows where the file has them). Streams; holds no document."""
    index = 0
    for path, fmt in files:
        shards = _parquet_shards(path, per_shard, index) if fmt == "parquet" else \
            _line_shards(path, fmt, per_shard, index)
        for s in shards:
            yield s
            index = s.index + 1


_FIELD = re.compile(r"field (?:'|\")?([\w.]+)")


def _problem(path: str, line: int, message: str) -> dict[str, Any]:
    """A skipped record: ``{"file", "line", "field" (or None), "error"}``."""
    m = _FIELD.search(message)
    return {"file": path, "line": line, "field": m.group(1) if m else None, "error": message}


def read_shard(shard: Shard, on_error: str = "stop") -> tuple[list[Document], list[dict[str, Any]]]:
    """The documents of a shard and the records skipped.

    Args:
        on_error: ``stop`` (raise on the first bad record) or ``skip`` (leave it out and report it).

    Returns:
        ``(documents, skipped)``; each skipped record is ``{"file", "line", "field", "error"}`` (``field``: the
        field at fault, or None when the record is not readable at all, as invalid JSON).

    Raises:
        FormatError: with ``on_error="stop"``, the first bad record: invalid UTF-8 or JSON, a missing or
            mistyped field, a repeated id within the shard; names the file and line (Parquet: row).
    """
    skipped: list[dict[str, Any]] = []

    def skip(error: FormatError) -> None:
        if on_error == "stop":
            raise error from None
        skipped.append(_problem(shard.path, error.line or 0, error.message))

    docs = list(_documents(shard, skip))
    return docs, skipped


def _documents(shard: Shard, skip: Callable[[FormatError], None]) -> Iterator[Document]:
    """The documents of the shard; each bad record goes to ``skip`` instead."""
    if shard.fmt == "parquet":
        yield from _parquet_documents(shard, skip)
        return
    with open(shard.path, "rb") as f:
        f.seek(shard.start)
        data = f.read(shard.end - shard.start)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if shard.fmt == "jsonl":
        yield from iter_jsonl(lines, shard.path, first_line=shard.first_line, on_error=skip)
        return
    name = Path(shard.path).name
    for lineno, raw in enumerate(lines, shard.first_line):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            skip(FormatError(shard.path, lineno, f"not valid UTF-8: {e.reason} at byte {e.start}"))
            continue
        yield Document(f"{name}:{lineno}", text.rstrip("\r\n"), meta={"line": lineno})


def _parquet_documents(shard: Shard, skip: Callable[[FormatError], None]) -> Iterator[Document]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(shard.path)
    names = set(pf.schema_arrow.names)
    if "text" not in names:
        raise FormatError(shard.path, None, f"field 'text': no such column (columns: {', '.join(sorted(names))})")
    table = pf.read_row_groups(list(range(shard.start, shard.end)), columns=[c for c in ("id", "text") if c in names])
    ids = table.column("id").to_pylist() if "id" in names else [None] * table.num_rows
    name = Path(shard.path).name
    for row, (doc_id, text) in enumerate(zip(ids, table.column("text").to_pylist(), strict=True), shard.first_line):
        if not isinstance(text, str):
            skip(FormatError(shard.path, row, f"field 'text': expected a string, got {type(text).__name__}"))
            continue
        yield Document(str(doc_id) if doc_id is not None else f"{name}:{row}", text, meta={"row": row})
