"""The native format: JSON Lines, one :class:`~smallext.doc.Document` per line (see :mod:`smallext.doc`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from smallext.doc import Document
from smallext.errors import DocumentError, FormatError
from smallext.io.atomic import atomic_write


def iter_jsonl(path: str | Path) -> Iterator[Document]:
    """Yield Documents from a JSONL file; blank lines are allowed.

    Raises:
        FormatError: invalid JSON, a missing or mistyped field, a bad span offset, or a repeated document
            id; names the file and line.
    """
    path = Path(path)
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise FormatError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
            try:
                doc = Document.from_dict(obj)
            except DocumentError as e:
                raise FormatError(path, lineno, str(e)) from None
            if doc.id in seen:
                raise FormatError(path, lineno, f"document id {doc.id!r} repeats line {seen[doc.id]}")
            seen[doc.id] = lineno
            yield doc


def read_jsonl(path: str | Path) -> list[Document]:
    """All Documents of a JSONL file (see :func:`iter_jsonl` for errors)."""
    return list(iter_jsonl(path))


def dumps(doc: Document) -> str:
    """One JSON line (no trailing newline) for ``doc``; non-ASCII characters are kept as they are."""
    return json.dumps(doc.to_dict(), ensure_ascii=False)


def digest(docs: Iterable[Document]) -> str:
    """SHA-256 (hex) of documents' content: their JSON forms with sorted keys, one per line, in order. Equal
    documents in the same order give the same digest (a cache key for what was computed from them)."""
    text = "\n".join(json.dumps(d.to_dict(), sort_keys=True) for d in docs)
    return hashlib.sha256(text.encode()).hexdigest()


def write_jsonl(docs: Iterable[Document], path: str | Path) -> int:
    """Write Documents as JSONL atomically (temporary file, then rename). Returns the count written."""
    n = 0
    with atomic_write(path) as f:
        for doc in docs:
            f.write(dumps(doc) + "\n")
            n += 1
    return n
