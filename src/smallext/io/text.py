"""Plain text: one document per line. Line ``k`` (1-based) becomes document ``f"{prefix}:{k}"``.

Empty lines are kept as empty documents so that output lines align with input lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.atomic import atomic_write


def read_text(path: str | Path, id_prefix: str | None = None) -> list[Document]:
    """Read one Document per line (line endings stripped).

    Raises:
        FormatError: the file is not valid UTF-8 (names the line).
    """
    path = Path(path)
    prefix = id_prefix if id_prefix is not None else path.name
    docs = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise FormatError(path, lineno, f"not valid UTF-8: {e.reason} at byte {e.start}") from None
            docs.append(Document(f"{prefix}:{lineno}", line, meta={"line": lineno}))
    return docs


def write_text(docs: Iterable[Document], path: str | Path) -> int:
    """Write each document's text on one line (newlines inside a text become spaces). Returns the count."""
    n = 0
    with atomic_write(path) as f:
        for doc in docs:
            f.write(doc.text.replace("\r", " ").replace("\n", " ") + "\n")
            n += 1
    return n
