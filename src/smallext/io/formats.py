"""Reading and writing a corpus file in any format (see :mod:`smallext.io` for the table of formats)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.columns import read_columns, write_columns
from smallext.io.docbin import read_docbin, write_docbin
from smallext.io.jsonl import read_jsonl, write_jsonl
from smallext.io.record_formats import EXTENSIONS as _RECORD_EXTENSIONS
from smallext.io.record_formats import FORMATS as _RECORD_FORMATS
from smallext.io.scierc import read_scierc
from smallext.io.spert import read_spert
from smallext.io.sroie import read_sroie
from smallext.io.text import read_text, write_text

__all__ = ["FORMATS", "WRITABLE", "format_from_path", "read", "write"]

FORMATS = ("conll", "tsv", "wikiann", "jsonl", "text", "spacy", "spert", "scierc", "sroie", *_RECORD_FORMATS)
WRITABLE = ("conll", "tsv", "jsonl", "text", "spacy")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".conll": "conll",
    ".tsv": "tsv",
    ".bio": "tsv",
    ".iob": "tsv",
    ".iob2": "tsv",
    ".spacy": "spacy",
    **_RECORD_EXTENSIONS,
}


def format_from_path(path: str | Path) -> str:
    """The format implied by a file's extension.

    Raises:
        FormatError: the extension is not one of ``.jsonl .json .txt .conll .tsv .bio .iob .iob2 .spacy``.
    """
    ext = Path(path).suffix.lower()
    if ext not in _EXTENSIONS:
        raise FormatError(
            path, None, f"cannot tell the format from the extension {ext!r} (known: {' '.join(_EXTENSIONS)}); "
            f"give one of {', '.join(FORMATS)}"
        )
    return _EXTENSIONS[ext]


def read(path: str | Path, fmt: str | None = None, **options: Any) -> list[Document]:
    """Read a corpus file.

    Args:
        path: the file.
        fmt: one of :data:`FORMATS`; ``None`` infers it from the extension.
        **options: passed to the format's reader (for column formats: ``group_documents``, ``scheme``,
            ``id_prefix``; ``spert``: ``id_prefix``; ``scierc``: ``id_prefix``, ``group_documents``; ``sroie``
            (a data folder): ``first``, ``last``, ``id_prefix``).

    Raises:
        FormatError: malformed content (file and line named) or unknown format.
        FileNotFoundError: ``path`` does not exist.
    """
    fmt = fmt or format_from_path(path)
    if fmt in ("conll", "tsv", "wikiann"):
        return read_columns(path, fmt, **options)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "text":
        return read_text(path, **options)
    if fmt == "spacy":
        return read_docbin(path, **options)
    if fmt == "spert":
        return read_spert(path, **options)
    if fmt == "scierc":
        return read_scierc(path, **options)
    if fmt == "sroie":
        return read_sroie(path, **options)
    if fmt in _RECORD_FORMATS:
        return _RECORD_FORMATS[fmt](path, **options)
    raise FormatError(path, None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write(docs: Iterable[Document], path: str | Path, fmt: str | None = None, **options: Any) -> int:
    """Write Documents atomically in ``fmt`` (inferred from the extension when ``None``). Returns the count.

    Raises:
        FormatError: the format cannot be written.
        DocumentError: the documents cannot be expressed in the format (e.g. overlapping spans as IOB2).
    """
    fmt = fmt or format_from_path(path)
    if fmt in ("conll", "tsv"):
        return write_columns(docs, path, fmt, **options)
    if fmt == "jsonl":
        return write_jsonl(docs, path)
    if fmt == "text":
        return write_text(docs, path)
    if fmt == "spacy":
        return write_docbin(docs, path, **options)
    raise FormatError(path, None, f"cannot write format {fmt!r}; writable formats: {', '.join(WRITABLE)}")

