"""JSON Lines: the package's one reader and one atomic writer of them, and on top of those the native format,
one :class:`~smallext.doc.Document` per line (see :mod:`smallext.doc`).

:func:`iter_json_lines` and :func:`write_json_lines` read and write JSON objects of any kind (documents,
label-error flags, SciERC abstracts, skipped-record reports); :func:`iter_jsonl` and :func:`write_jsonl` are
them for documents.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import DocumentError, FormatError
from smallext.io.atomic import atomic_write

__all__ = ["documents_digest", "dumps", "iter_json_lines", "iter_jsonl", "read_jsonl", "write_json_lines",
           "write_jsonl"]

_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def iter_json_lines(
    source: str | Path | Iterable[str | bytes],
    name: str | Path | None = None,
    *,
    convert: Callable[[int, dict[str, Any]], Any] | None = None,
    first_line: int = 1,
    on_error: Callable[[FormatError], None] | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(line number, object)`` for each non-blank line of a JSON Lines file; blank lines are skipped.

    Args:
        source: a file, or its lines already read (``str``, or ``bytes`` decoded as UTF-8), such as
            ``sys.stdin`` or a byte range of a file. A file's lines end at ``\\n`` (``\\r\\n`` too); a lone
            ``\\r`` does not end one.
        name: the file that errors name (default: ``source`` when it is a path, else ``<input>``).
        convert: ``convert(line number, object)`` gives what is yielded instead of the object; a
            ``ValueError`` it raises (a :class:`~smallext.errors.DocumentError`, say) is that line's error, its
            message the error's (so it should name the field).
        first_line: the number of the first line (for lines that start inside a file).
        on_error: called with each bad line's :class:`~smallext.errors.FormatError`, and the line skipped;
            ``None``: the error is raised.

    Raises:
        FormatError: a line that is not valid UTF-8, not valid JSON, not a JSON object, or that ``convert``
            refuses; names the file and the line.
    """
    is_path = isinstance(source, (str, os.PathLike))
    if name is None:
        name = source if is_path else "<input>"
    with open(source, "rb") if is_path else contextlib.nullcontext(source) as lines:
        for lineno, raw in enumerate(lines, first_line):
            try:
                obj = _parse(raw)
                if obj is None:
                    continue
                item = obj if convert is None else convert(lineno, obj)
            except ValueError as e:
                error = FormatError(name, lineno, str(e))
                if on_error is None:
                    raise error from None
                on_error(error)
                continue
            yield lineno, item


def _parse(raw: str | bytes) -> dict[str, Any] | None:
    """The object on one line, ``None`` for a blank line; a ``ValueError`` says what is wrong."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"not valid UTF-8: {e.reason} at byte {e.start}") from None
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw.rstrip("\r\n"))  # without its line end, an error's column is on this line
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {_JSON_TYPES.get(type(obj), type(obj).__name__)}")
    return obj


def iter_jsonl(
    source: str | Path | Iterable[str | bytes],
    name: str | Path | None = None,
    *,
    first_line: int = 1,
    on_error: Callable[[FormatError], None] | None = None,
    unique_ids: bool = True,
) -> Iterator[Document]:
    """Yield Documents from a JSONL file, or its lines (``source``, ``name``, ``first_line`` and ``on_error`` as
    :func:`iter_json_lines`); blank lines are allowed. ``unique_ids``: refuse a document id an earlier line has.

    Raises:
        FormatError: invalid UTF-8 or JSON, a line that is not an object, a missing or mistyped field, a bad
            span offset, or a repeated document id; names the file, the line and the field.
    """
    seen: dict[str, int] = {}

    def document(lineno: int, obj: dict[str, Any]) -> Document:
        doc = Document.from_dict(obj)
        if unique_ids:
            if doc.id in seen:
                raise DocumentError(f"document id {doc.id!r} repeats line {seen[doc.id]}")
            seen[doc.id] = lineno
        return doc

    for _, doc in iter_json_lines(source, name, convert=document, first_line=first_line, on_error=on_error):
        yield doc


def read_jsonl(path: str | Path) -> list[Document]:
    """All Documents of a JSONL file (see :func:`iter_jsonl` for errors)."""
    return list(iter_jsonl(path))


def dumps(doc: Document) -> str:
    """One JSON line (no trailing newline) for ``doc``; non-ASCII characters are kept as they are."""
    return json.dumps(doc.to_dict(), ensure_ascii=False)


def documents_digest(docs: Iterable[Document]) -> str:
    """SHA-256 (hex) of documents' content: their JSON forms with sorted keys, one per line, in order. Equal
    documents in the same order give the same digest (a cache key for what was computed from them)."""
    text = "\n".join(json.dumps(d.to_dict(), sort_keys=True) for d in docs)
    return hashlib.sha256(text.encode()).hexdigest()


def write_json_lines(objects: Iterable[Any], path: str | Path) -> int:
    """Write JSON values, one per line (non-ASCII characters kept as they are), atomically: to a temporary file
    renamed over ``path`` at the end (:func:`~smallext.io.atomic.atomic_write`), so that an exception
    part-way, raised by ``objects`` or by the writing, leaves ``path`` as it was. Returns the count written."""
    n = 0
    with atomic_write(path) as f:
        for obj in objects:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_jsonl(docs: Iterable[Document], path: str | Path) -> int:
    """Write Documents as JSONL atomically (see :func:`write_json_lines`). Returns the count written."""
    return write_json_lines((d.to_dict() for d in docs), path)
